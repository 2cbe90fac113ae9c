"""CSW at /csw: pycsw 2.6 serving the catalogue's public datasets.

pycsw runs as its own process in its own environment (`.venv-pycsw`, Python 3.11 with
SQLAlchemy 1.4: pycsw 2.6 cannot share our SQLAlchemy 2 environment, see docs/csw.md);
this package holds the side that lives in the main environment: the `csw_records` table
and its sync hook (`view`, `records`, `sync`, `iso`; the table itself is
`niaouli.catalogue.csw_table`, the record parser `niaouli.metadata_parse`), the import of
metadata records (`importer`), the pycsw process (`process`) and the reverse proxy that
the main ASGI app mounts (`proxy`).
"""
