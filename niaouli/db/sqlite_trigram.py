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
the scan's (case folded for ASCII only, `_` and `%` as usual). Each is keyed by an
integer that never changes — `csw_records.dataset_id`, `datasets.id` (a `VACUUM` may
renumber an implicit rowid) — and kept in step by triggers on the table it indexes,
whatever writes it (our code, pycsw, a migration). The datasets' one reads its texts in
`datasets` (*external content*); CSW's keeps a copy (see `CSW_ANYTEXT`). `detail='none'`:
no positions are kept, which halves the cost of indexing a text (0.67 → 0.33 ms for a
GeoNetwork record's 9 kB AnyText) and still serves `LIKE` (the index proposes the rows
holding every trigram; SQLite checks them).

Caution for migrations: SQLite's table rebuild (Alembic's batch mode recreating
`csw_records` or `datasets`) drops the triggers; such a migration calls `create()` again
afterwards. `tests/test_sqlite_trigram.py` checks the triggers are there at head.
"""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

from sqlalchemy import Connection, Engine

LOGGER = logging.getLogger(__name__)


class TrigramIndex(NamedTuple):
    name: str  # the FTS5 table
    table: str  # the indexed table
    key: str  # its integer key, the FTS5 rowid
    column: str  # the indexed text column (same name in both)
    stored: bool  # the FTS5 table keeps its own copy of the text (see below)


# CSW AnyText keeps a copy: SQLite checks each candidate the index proposes by reading
# its text, and in `csw_records` that text sits after the 44 kB XML (an external-content
# index read it there: 370 ms for the 2,700 candidates of `%ecoles%` at 100,000). The
# datasets' search text is short and near the row's start: read where it is.
CSW_ANYTEXT = TrigramIndex("csw_records_trigram", "csw_records", "dataset_id", "anytext", True)
DATASET_TEXT = TrigramIndex("datasets_trigram", "datasets", "id", "search_text", False)
INDEXES = (CSW_ANYTEXT, DATASET_TEXT)


def statements(index: TrigramIndex) -> list[str]:
    """The DDL of one index: its FTS5 table and the three triggers."""
    name, table, key, column, stored = index
    add = f"INSERT INTO {name}(rowid, {column}) VALUES (new.{key}, new.{column});"
    if stored:
        content = ""
        remove = f"DELETE FROM {name} WHERE rowid = old.{key};"
    else:
        content = f"content='{table}', content_rowid='{key}', "
        remove = (
            f"INSERT INTO {name}({name}, rowid, {column}) "
            f"VALUES ('delete', old.{key}, old.{column});"
        )
    return [
        f"CREATE VIRTUAL TABLE {name} USING fts5({column}, {content}tokenize='trigram', "
        "detail='none')",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {add} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {remove} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {key}, {column} ON {table} "
        f"BEGIN {remove} {add} END",
    ]


def fill(index: TrigramIndex) -> str:
    """The statement that indexes what the table already holds."""
    if index.stored:
        return (
            f"INSERT INTO {index.name}(rowid, {index.column}) "
            f"SELECT {index.key}, {index.column} FROM {index.table}"
        )
    return f"INSERT INTO {index.name}({index.name}) VALUES ('rebuild')"


def create(conn: Connection) -> None:
    """Create both indexes (dropped first if there) and fill them from their tables."""
    drop(conn)
    for index in INDEXES:
        for statement in statements(index):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(fill(index))


def drop(conn: Connection) -> None:
    for index in INDEXES:
        for suffix in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {index.name}_{suffix}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {index.name}")


def refresh_statistics(conn: Connection) -> None:
    """`ANALYZE csw_records` on SQLite (about a second at 100,000 records).

    Without statistics SQLite's planner takes an equality on an indexed column for a
    rare one: for pycsw's count of `dataset_id IN (<the trigram index's matches>) AND
    access_level = 'public'` it read every public record through the access index (270 ms
    at 100,000) instead of looking up the few matches (55 ms). The statistics only need
    to say roughly how many records share an access level, so they are refreshed after a
    harvest wrote records, when the embedded server starts and by migration 0038; an
    empty table gets none (SQLite writes no row for it). No-op elsewhere."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"ANALYZE {CSW_ANYTEXT.table}")


def refresh_statistics_quietly(engine: Engine) -> None:
    """`refresh_statistics` in a writing transaction of its own, for the chores that
    call it (after a harvest, at `niaouli serve`): a failure is logged, never raised."""
    from niaouli.db.engine import writing

    if engine.dialect.name != "sqlite":
        return
    try:
        with writing(engine).begin() as conn:
            refresh_statistics(conn)
    except Exception:  # noqa: BLE001 - statistics only
        LOGGER.exception("statistiques SQLite des fiches CSW")


def refresh_statistics_in_background(engine: Engine) -> threading.Thread:
    """`refresh_statistics_quietly` in a daemon thread (`niaouli serve` on SQLite, at
    start: the server answers meanwhile)."""
    thread = threading.Thread(
        target=refresh_statistics_quietly, args=(engine,), name="sqlite-statistics", daemon=True
    )
    thread.start()
    return thread
