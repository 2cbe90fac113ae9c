"""Package data for the pycsw process (`base.cfg`, `niaouli_csw.py`, run by pycsw's own
Python 3.11), installed as `niaouli.pycsw` (see niaouli/resources.py). Not imported."""
