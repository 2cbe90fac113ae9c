"""Trigram indexes (migration 0036): CSW AnyText and OGC API Records `q` on PostGIS.

Why: both match word parts anywhere in a long text (pycsw's `anytext ILIKE '%word%'`,
`q`'s `search_text LIKE '%word%'`), which at 100,000 datasets read every row (4.4 s for
a CSW count). On PostGIS GIN trigram indexes serve them; SQLite has none and is unchanged.
These check that the indexes exist where they should, that PostgreSQL's own plans read
them for exactly those queries, and that answers are those of a full read either way,
including a Records page sorted from its matches (`page_ids` given the count).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, select, text

from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import AccessLevel, Dataset
from niaouli.catalogue.search.record_query import (
    RecordQuery,
    conditions,
    count_records,
    page_ids,
)
from niaouli.catalogue.search.text import query_terms
from niaouli.demo import load_demo

INDEXES = {
    "ix_csw_records_anytext_trgm": ("csw_records", "anytext"),
    "ix_datasets_search_text_trgm": ("datasets", "search_text"),
}
# pycsw's repository filter for an anonymous viewer (pycsw/niaouli_csw.py PUBLIC_ONLY).
PUBLIC_ONLY = "(access_level = 'public')"
# Records `q`: accents, capitals, several words, fewer than three letters (no trigram:
# PostgreSQL must still answer right), a word found nowhere.
QUERIES = ["Nouméa", "NOUMEA communes", "cal", "nc", "2019", "introuvablexyz"]
# CSW AnyText: pycsw's pattern as the visitor typed it (ILIKE on PostgreSQL).
WORDS = ["noumea", "NOUMÉA", "Caledonie", "nc", "introuvablexyz"]


def explain(conn: Connection, statement: sa.Executable, params: dict | None = None) -> str:
    """PostgreSQL's plan of `statement`, as text."""
    compiled = statement.compile(dialect=conn.dialect)
    bound = {**compiled.params, **(params or {})}
    return "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}", bound).scalars())


def test_the_indexes_exist_on_postgis_only(backend):
    with backend.engine.connect() as conn:
        if backend.name == "sqlite":
            names = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
            assert "ix_csw_records_access_org" in names  # (the query does list indexes)
            assert not names & {*INDEXES, "fts_gin_idx"}
            return
        rows = conn.execute(
            text(
                "SELECT indexname, tablename, indexdef FROM pg_indexes"
                " WHERE indexname LIKE '%trgm%' OR indexname = 'fts_gin_idx'"
            )
        ).all()
        assert {r.indexname: r.tablename for r in rows} == {
            name: table for name, (table, _c) in INDEXES.items()
        }
        for row in rows:  # not named fts_gin_idx: pycsw would switch to its tsvector query
            column = INDEXES[row.indexname][1]
            assert f"USING gin ({column} gin_trgm_ops)" in row.indexdef
        assert conn.scalar(text("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'"))


ROWS = 3_000
RARE = 1_000  # one row in RARE holds "noumea": 3 of ROWS


def synthetic_catalogue(backend) -> None:  # noqa: ANN001
    """ROWS datasets and their CSW rows, as `bench/portal.py` writes them (SQL Core): a
    catalogue large enough for PostgreSQL's own choice of plan, unlike the demo's ten."""
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "service-essai", "Service", "public_body")
        org_id = org.id
    levels = [AccessLevel.PUBLIC] * 17 + [AccessLevel.REGISTERED, AccessLevel.DRAFT]
    boilerplate = " ".join(["donnees produites et mises a jour par les services"] * 10)
    rows, records = [], []
    for n in range(ROWS):
        place = "noumea" if n % RARE == 7 else "kone"
        words = f" ecoles primaires {place} {n} {boilerplate} "
        rows.append(
            {
                "slug": f"jeu-{n:05d}",
                "organisation_id": org_id,
                "title": f"Écoles — {place} {n}",
                "search_text": words,
                "access_level": levels[n % len(levels)],
            }
        )
    with backend.engine.begin() as conn:
        ids = list(
            conn.scalars(
                sa.insert(Dataset.__table__).returning(
                    Dataset.__table__.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
        )
        for dataset_id, row in zip(ids, rows, strict=True):
            records.append(
                {
                    "identifier": row["slug"],
                    "dataset_id": dataset_id,
                    "access_level": row["access_level"].value,
                    "organisation_id": org_id,
                    "insert_date": "2026-12-07T00:00:00Z",
                    "xml": "<x/>",
                    "anytext": row["search_text"],
                }
            )
        conn.execute(sa.insert(csw_records), records)
    # What autovacuum does soon after such an insert: without it the GIN indexes' rows
    # wait in their pending list and their statistics say nothing (a plan then prices
    # the index at 50 times its cost and reads the access index instead).
    if backend.name != "postgis":
        return
    with backend.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE csw_records"))
        conn.execute(text("VACUUM ANALYZE datasets"))


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_postgresql_reads_them_for_anytext_and_q(backend):
    """PostgreSQL's own plans (no planner setting) for a rare word in 3,000 rows: pycsw's
    count and page with and without the viewer's filter, and the Records `q` count and
    page for an anonymous visitor and for the platform, go through the trigram indexes
    (rather than reading the table or the access indexes)."""
    synthetic_catalogue(backend)
    with backend.engine.begin() as conn:
        for where in ("", f" AND {PUBLIC_ONLY}"):
            # pycsw's count and page, the pattern bound as pycsw binds it
            for select_ in ("count(*)", "identifier"):
                statement = text(f"SELECT {select_} FROM csw_records WHERE anytext ILIKE :p{where}")
                plan = explain(conn, statement, {"p": "%noumea%"})
                assert "ix_csw_records_anytext_trgm" in plan, plan
        query = RecordQuery(text="Nouméa")
        for viewer in (Viewer.anonymous(), Viewer.system()):
            where = conditions(query, viewer, "postgresql")
            for statement in (
                select(sa.func.count(Dataset.id)).where(*where),
                select(Dataset.id).where(*where).order_by(Dataset.title, Dataset.id).limit(10),
            ):
                plan = explain(conn, statement)
                assert "ix_datasets_search_text_trgm" in plan, plan
        # ... and their answers are right (3 rows hold the word; 17 in 19 are public)
        assert count_records(conn, query, Viewer.system()) == ROWS // RARE
        assert (
            conn.scalar(text("SELECT count(*) FROM csw_records WHERE anytext ILIKE '%%NOUMEA%%'"))
            == ROWS // RARE
        )


def _plans(backend_name: str) -> list[str]:
    """Each way the database may answer: on PostGIS through the indexes, then by reading
    the tables (index and bitmap scans off), in one transaction each (SET LOCAL)."""
    if backend_name == "sqlite":
        return [""]
    return [
        "SET LOCAL enable_seqscan = off",
        "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexscan = off",
    ]


def test_answers_are_those_of_a_full_read(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    with backend.engine.connect() as conn:
        datasets = conn.execute(select(Dataset.id, Dataset.search_text, Dataset.access_level)).all()
        records = conn.execute(select(csw_records.c.identifier, csw_records.c.anytext)).all()
    postgis = backend.name == "postgis"
    found_some = set()
    for settings in _plans(backend.name):
        with backend.engine.begin() as conn:
            for statement in filter(None, settings.split("; ")):
                conn.execute(text(statement))
            for q in QUERIES:
                terms = query_terms(q)
                expected = {
                    i
                    for i, words, level in datasets
                    if level == AccessLevel.PUBLIC and all(t in words for t in terms)
                }
                query = RecordQuery(text=q, limit=1000)
                viewer = Viewer.anonymous()
                assert set(page_ids(conn, query, viewer)) == expected, (settings, q)
                assert count_records(conn, query, viewer) == len(expected), (settings, q)
                # A page sorted from the matches (given their count) is the walk's page.
                for sortby, offset in [((), 0), ((), 1), ((("updated", False),), 0)]:
                    page = RecordQuery(text=q, sortby=sortby, offset=offset, limit=3)
                    walked = page_ids(conn, page, viewer)
                    assert page_ids(conn, page, viewer, len(expected)) == walked, (q, sortby)
                    assert len(walked) == min(3, max(0, len(expected) - offset))
                if expected:
                    found_some.add(q)
            for word in WORDS:
                # pycsw's own comparison: ILIKE on PostgreSQL, LIKE (ASCII-insensitive) on
                # SQLite; Python's casefold agrees for these words.
                operator = "ILIKE" if postgis else "LIKE"
                got = set(
                    conn.scalars(
                        text(f"SELECT identifier FROM csw_records WHERE anytext {operator} :p"),
                        {"p": f"%{word}%"},
                    )
                )
                if postgis or word.isascii():
                    expected = {i for i, a in records if word.casefold() in a.casefold()}
                    assert got == expected, (settings, word)
                if got:
                    found_some.add(word)
    # The test would prove nothing if every query found nothing (or everything).
    assert {"Nouméa", "nc", "noumea", "Caledonie"} <= found_some
    assert "introuvablexyz" not in found_some
    assert len({i for i, words, _l in datasets if "noumea" in words}) < len(datasets)
