"""Cartoparty campaigns: volunteers' contributions, their review and their merge into an
organisation's authoritative layer (issue 18). Tables in `campaign_tables.py`."""
