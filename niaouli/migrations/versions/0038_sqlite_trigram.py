"""SQLite trigram indexes: CSW AnyText and the datasets' search text (FTS5 `trigram`)

The embedded database's counterpart of `0036_trigram_indexes`: an FTS5 table with the
trigram tokenizer for `csw_records.anytext` and one for `datasets.search_text`, kept in
step by triggers, which pycsw's `anytext like` and `search.text.matches` query on SQLite
(`niaouli/db/sqlite_trigram.py`), and SQLite's statistics of `csw_records` (ANALYZE).
About 30 s at 100,000 records. Nothing on PostgreSQL.

Revision ID: 0038_sqlite_trigram
Revises: 0037_anytext_searchable
"""

from __future__ import annotations

from alembic import op

revision = "0038_sqlite_trigram"
down_revision = "0037_anytext_searchable"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    from niaouli.db import sqlite_trigram

    sqlite_trigram.create(bind)
    sqlite_trigram.refresh_statistics(bind)  # see there: the planner's choice for pycsw


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    from niaouli.db import sqlite_trigram

    sqlite_trigram.drop(bind)
