"""Alembic migrations of the catalogue schema (`niaouli db upgrade`).

A migration that changes what the CSW records are built from (a column the SQLAlchemy
models map on `datasets` or `layers`, or the records' shape) calls
`request_csw_rebuild()` instead of rebuilding itself: the rebuild reads through the
current models, so it can only run once every mapped column exists. `env.py` runs it once
at the end of an upgrade that reached head, in the same transaction. (Until 0023 the
rebuild was itself a migration kept last in the chain; appending after it would then have
broken upgrades from before 0018.)
"""

from __future__ import annotations

REBUILD_FLAG = "niaouli_csw_rebuild"


def request_csw_rebuild() -> None:
    """Ask for the CSW records to be rebuilt when this upgrade has reached head."""
    from alembic import op

    op.get_context().config.attributes[REBUILD_FLAG] = True
