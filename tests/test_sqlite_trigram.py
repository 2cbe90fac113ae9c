"""SQLite's trigram indexes (migration 0038, `niaouli/db/sqlite_trigram.py`): CSW AnyText
and OGC API Records' `q` on the embedded database.

Why: at 100,000 records pycsw's `anytext like '%ecoles%'` took 2 s on SQLite (each row's
AnyText sits after its 44 kB XML) and Records' `search_text LIKE` half a second. FTS5
tables with the trigram tokenizer, kept in step by triggers, serve both. These check the
tables and triggers are there at head, that they stay in step through inserts, updates
and deletes (FTS5's own integrity check, and answers equal to the plain LIKE scan for
patterns of every kind), that SQLite's plans read them, and pycsw's rewritten filter.
"""

from __future__ import annotations

import random
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.search.record_query import RecordQuery, count_records, page_ids
from niaouli.catalogue.search.text import matches, query_terms
from niaouli.db import sqlite_trigram
from niaouli.demo import load_demo
from tests.test_trigram_indexes import synthetic_catalogue

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

# Patterns as pycsw writes them: words, parts, capitals, accents (LIKE folds ASCII only),
# fewer than three letters (no trigram: the index must still answer right), wildcards
# inside, a word found nowhere.
PATTERNS = [
    "%ecoles%",
    "%ECOLES%",
    "%Écoles%",
    "%nou%",
    "%noumea%",
    "%NOUMÉA%",
    "%nc%",
    "%e%",
    "%ecol_s%",
    "%ecoles%primaires%",
    "%introuvablexyz%",
    "%kone 1%",
]


def _rewrite():  # noqa: ANN202 - the pycsw process's function, loaded as the tests do
    import importlib.util
    import types

    from tests.conftest import REPO

    stand_in = types.ModuleType("pycsw")
    stand_in.server = None  # type: ignore[attr-defined]
    previous = sys.modules.get("pycsw")
    sys.modules["pycsw"] = stand_in
    try:
        spec = importlib.util.spec_from_file_location(
            "niaouli_csw_trigram", REPO / "pycsw/niaouli_csw.py"
        )
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            sys.modules.pop("pycsw", None)
        else:
            sys.modules["pycsw"] = previous
    return module.anytext_through_trigrams


def _in_step(conn: sa.Connection) -> None:
    """FTS5's integrity check: raises when an index differs from its table's texts."""
    for index in sqlite_trigram.INDEXES:
        conn.exec_driver_sql(f"INSERT INTO {index.name}({index.name}) VALUES ('integrity-check')")


@SQLITE_ONLY
def test_the_indexes_and_their_triggers_are_there_at_head(backend):
    with backend.engine.connect() as conn:
        rows = conn.execute(text("SELECT type, name FROM sqlite_master")).all()
    names = {(t, n) for t, n in rows}
    for index in sqlite_trigram.INDEXES:
        assert ("table", index.name) in names
        for suffix in ("insert", "delete", "update"):
            assert ("trigger", f"{index.name}_{suffix}") in names


@SQLITE_ONLY
def test_they_stay_in_step_and_answer_as_the_scan(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    synthetic_catalogue(backend)
    rng = random.Random(7)
    with backend.engine.begin() as conn:
        _in_step(conn)
        ids = list(conn.scalars(select(csw_records.c.dataset_id)))
        # Updates (the text, then the key), deletions, through plain SQL as pycsw would.
        for dataset_id in rng.sample(ids, 40):
            conn.execute(
                sa.update(csw_records)
                .where(csw_records.c.dataset_id == dataset_id)
                .values(anytext=f"Écoles maternelles de Koné {dataset_id}")
            )
        conn.execute(sa.delete(csw_records).where(csw_records.c.dataset_id.in_(ids[:25])))
        conn.execute(
            sa.update(Dataset.__table__)
            .where(Dataset.__table__.c.id.in_(ids[100:140]))
            .values(search_text=" routes provinciales noumea ")
        )
        conn.execute(sa.delete(Dataset.__table__).where(Dataset.__table__.c.id.in_(ids[25:30])))
        _in_step(conn)
        rewrite = _rewrite()
        for pattern in PATTERNS:
            scan = set(
                conn.scalars(
                    text("SELECT identifier FROM csw_records WHERE anytext like :p"), {"p": pattern}
                )
            )
            where = rewrite("anytext like :pvalue0")
            assert "csw_records_trigram" in where
            indexed = set(
                conn.scalars(
                    text(f"SELECT identifier FROM csw_records WHERE {where}"), {"pvalue0": pattern}
                )
            )
            assert indexed == scan, pattern
        texts = conn.execute(select(Dataset.id, Dataset.search_text)).all()
    with backend.engine.connect() as conn:
        found = 0
        for q in ["ecoles", "noumea", "routes noumea", "nc", "kone 12", "introuvablexyz"]:
            terms = query_terms(q)
            expected = {i for i, words in texts if all(t in (words or "") for t in terms)}
            got = set(conn.scalars(select(Dataset.id).where(matches(q))))
            assert got == expected, q
            found += bool(got)
            query = RecordQuery(text=q, limit=10_000)
            assert count_records(conn, query, Viewer.system()) == len(expected)
            assert set(page_ids(conn, query, Viewer.system())) == expected
        assert found >= 4  # the test would prove nothing if nothing were found


@SQLITE_ONLY
def test_sqlite_plans_read_them(backend):
    with backend.engine.connect() as conn:
        statement = select(Dataset.id).where(matches("noumea ecoles"))
        compiled = statement.compile(dialect=conn.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
        details = " | ".join(row[-1] for row in plan)
        assert "datasets_trigram VIRTUAL TABLE INDEX 0:L" in details, details
        where = _rewrite()("anytext like :pvalue0 and access_level = 'public'")
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT count(*) FROM csw_records WHERE {where}",
            {"pvalue0": "%ecoles%"},
        ).all()
        details = " | ".join(row[-1] for row in plan)
        assert "csw_records_trigram VIRTUAL TABLE INDEX 0:L" in details, details


def test_the_rewrite_touches_anytext_only():
    rewrite = _rewrite()
    where = "title like :pvalue0 and anytext like :pvalue1 or not anytext like :pvalue2"
    assert rewrite(where) == (
        "title like :pvalue0 and dataset_id IN (SELECT rowid FROM csw_records_trigram "
        "WHERE anytext LIKE :pvalue1) or not dataset_id IN (SELECT rowid FROM "
        "csw_records_trigram WHERE anytext LIKE :pvalue2)"
    )
    assert rewrite("anytext_tsvector @@ x") == "anytext_tsvector @@ x"


@SQLITE_ONLY
def test_statistics_make_pycsw_count_look_up_the_matches(backend):
    """With SQLite's statistics of `csw_records` (refreshed after a harvest that wrote
    records, at `niaouli serve` and by migration 0038), pycsw's AnyText count looks up
    the trigram index's matches by `dataset_id` instead of reading every public record
    through the access index (270 → 55 ms at 100,000)."""
    from niaouli.ingest.harvest.harvest_tables import ItemAction
    from niaouli.ingest.harvest.job_report import ItemReport, JobReport
    from niaouli.ingest.harvest.runner import _refresh_statistics

    synthetic_catalogue(backend)

    def stats() -> int:
        with backend.engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'csw_records'"))

    with backend.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
    unchanged = JobReport("essai", False, items=[ItemReport("a", ItemAction.UNCHANGED)])
    _refresh_statistics(backend.engine, unchanged)  # nothing written: nothing to do
    assert stats() == 0
    created = JobReport("essai", False, items=[ItemReport("a", ItemAction.CREATED)])
    _refresh_statistics(backend.engine, created)
    assert stats() > 0
    where = _rewrite()("anytext like :pvalue0")
    with backend.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT count(*) FROM csw_records WHERE ({where})"
            " AND (access_level = 'public')",
            {"pvalue0": "%noumea%"},
        ).all()
    details = " | ".join(row[-1] for row in plan)
    assert "(dataset_id=?)" in details and "access_level=?" not in details, details


@SQLITE_ONLY
def test_an_executemany_insert_is_one_statement_and_the_index_follows(backend):
    """The engine sends an `executemany` INSERT as multi-row statements (`db.engine`):
    a statement a row made FTS5 flush a segment a row through the trigram trigger (2.6
    against 1.2 ms of CPU a GeoNetwork record). One statement here, and the index still
    answers as the scan."""
    load_demo(backend.settings, echo=lambda _m: None)
    with backend.engine.connect() as conn:
        base = conn.execute(select(csw_records).limit(1)).mappings().one()
        first = conn.scalar(select(sa.func.max(csw_records.c.dataset_id))) + 1
    rows = [
        {**base, "identifier": f"lot-{n}", "dataset_id": first + n, "anytext": f"Lot {n} rivière"}
        for n in range(50)
    ]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:  # noqa: ANN001
        statements.append(statement)

    sa.event.listen(backend.engine, "before_cursor_execute", seen)
    try:
        with backend.engine.begin() as conn:
            conn.execute(sa.insert(csw_records), rows)
    finally:
        sa.event.remove(backend.engine, "before_cursor_execute", seen)
    inserts = [s for s in statements if s.startswith("INSERT INTO csw_records")]
    assert len(inserts) == 1, statements  # one statement, holding the 50 rows
    assert inserts[0].count("), (") == 49, inserts[0][:300]
    with backend.engine.begin() as conn:
        _in_step(conn)
        rewrite = _rewrite()
        for pattern in ["%lot 4%", "%rivière%", "%LOT 49 %"]:
            scan = set(
                conn.scalars(
                    text("SELECT identifier FROM csw_records WHERE anytext like :p"), {"p": pattern}
                )
            )
            where = rewrite("anytext like :pvalue0")
            indexed = set(
                conn.scalars(
                    text(f"SELECT identifier FROM csw_records WHERE {where}"), {"pvalue0": pattern}
                )
            )
            assert indexed == scan and scan, pattern
