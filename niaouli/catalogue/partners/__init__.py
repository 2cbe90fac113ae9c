"""Partner administrations (issue 22 §2): partnership status and agreement, open-data
contacts, publication obligations, and the public list of partners (docs/partners.md)."""
