"""SQLite's trigram indexes: FTS5 tables that serve `LIKE '%word%'` on long texts.

PostgreSQL serves the two substring filters of the catalogue with GIN trigram indexes
(`0036_trigram_indexes`): CSW's `csw:AnyText like '%ecoles%'` (pycsw writes
`anytext like :pvalue0`) and the `q` of OGC API Records and of the JSON API
(`search_text LIKE '%word%'`, `catalogue.search.text.matches`). SQLite has no such
index, and its scans were slow for a reason beyond the LIKE itself: each row's `anytext`
sits after its 44 kB `xml`, so reading it walked the record's overflow pages (2 s for
100,000 records).

SQLite's own answer is an FTS5 table with the `trigram` tokenizer: `LIKE` on its column
is served by the index (three characters or more between wildcards), and SQLite checks
every row the index proposes with the real `LIKE` again, so the answer is the same as
the scan's (case folded for ASCII only, `_` and `%` as usual). Each is an
*external-content* table (the text is not stored twice) keyed by an integer that never
changes — `csw_records.dataset_id`, `datasets.id` — and kept in step by triggers on the
table it indexes, whatever writes it (our code, pycsw, a migration).

Caution for migrations: SQLite's table rebuild (Alembic's batch mode recreating
`csw_records` or `datasets`) drops the triggers; such a migration calls `create()` again
afterwards. `tests/test_sqlite_trigram.py` checks the triggers are there at head.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection


class TrigramIndex(NamedTuple):
    name: str  # the FTS5 table
    table: str  # the indexed table
    key: str  # its integer key, the FTS5 rowid
    column: str  # the indexed text column (same name in both)


CSW_ANYTEXT = TrigramIndex("csw_records_trigram", "csw_records", "dataset_id", "anytext")
DATASET_TEXT = TrigramIndex("datasets_trigram", "datasets", "id", "search_text")
INDEXES = (CSW_ANYTEXT, DATASET_TEXT)


def statements(index: TrigramIndex) -> list[str]:
    """The DDL of one index: its FTS5 table and the three triggers."""
    name, table, key, column = index
    add = f"INSERT INTO {name}(rowid, {column}) VALUES (new.{key}, new.{column});"
    remove = (
        f"INSERT INTO {name}({name}, rowid, {column}) VALUES ('delete', old.{key}, old.{column});"
    )
    return [
        f"CREATE VIRTUAL TABLE {name} USING fts5({column}, content='{table}', "
        f"content_rowid='{key}', tokenize='trigram')",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {key}, {column} ON {table} "
        f"BEGIN {remove} {add} END",
    ]


def create(conn: Connection) -> None:
    """Create both indexes (dropped first if there) and fill them from their tables."""
    drop(conn)
    for index in INDEXES:
        for statement in statements(index):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"INSERT INTO {index.name}({index.name}) VALUES ('rebuild')")


def drop(conn: Connection) -> None:
    for index in INDEXES:
        for suffix in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {index.name}_{suffix}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {index.name}")
