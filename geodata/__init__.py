"""Package data, not code: the demo data (see README.md), installed as `niaouli.geodata`
(see niaouli/resources.py)."""
