"""French full-text index of everything the portal searches, on PostGIS and SQLite.

One document per searchable object (dataset — with its layers' names and attributes —,
code project, reuse, organisation, event): a *title* (weighted high) and a *body*.
Both backends index the same normalised words (lower case, no diacritics, letters and
digits only, `search.normalise`) and stem them with the same Snowball French algorithm:

- PostGIS: table `search_documents` whose stored `document` column is
  `to_tsvector('niaouli_fr', ...)`, a text search configuration made of `unaccent` then
  the French Snowball stemmer (migration 0013_fulltext), GIN-indexed; queries go
  through `websearch_to_tsquery('niaouli_fr', ...)` and are ranked with `ts_rank`.
- SQLite: FTS5 table `search_fts` (tokenizer `unicode61 remove_diacritics 2`) holding
  words already stemmed in Python by `snowballstemmer` (the same Snowball French
  algorithm PostgreSQL ships), ranked with `bm25`. Its rowid encodes (kind, id).

So "écoles" finds "Ecole" and "Hienghene" finds "Hienghène" on both, with the same
results. The visitor's query is parsed once here (words, "phrases", -exclusions, `or`)
and rendered for each backend, so both understand the same syntax; French stop words
are dropped from the query on both sides (PostgreSQL drops them from documents too).
The index is rewritten inside the writing transaction by change hooks (datasets via
`changes.on_datasets_changed`, the other kinds by a flush listener), never lagging.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import snowballstemmer
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.orm import Session

from niaouli.catalogue import changes
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    Layer,
    Organisation,
    Reuse,
)
from niaouli.catalogue.search.text import normalise

# Kinds of documents; the code is part of the SQLite rowid (object id * 8 + code).
KINDS = {"dataset": 1, "code": 2, "reuse": 3, "organisation": 4, "event": 5}
KIND_OF_CODE = {code: kind for kind, code in KINDS.items()}
ROWID_FACTOR = 8
CONFIG = "niaouli_fr"
MAX_QUERY_LENGTH = 300
MAX_CLAUSES = 12
# Title matches weigh more than body matches (FTS5 bm25 column weights; tsvector A/B).
TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
TOKEN = re.compile(r"[^\W_]+")
QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
# PostgreSQL's French stop words (tsearch_data/french.stop, PostgreSQL licence) that can
# still occur in normalised text: the accented ones never survive `normalise`.
_STOP_WORDS = (
    "au aux avec ce ces dans de des du elle en et eux il je la le leur lui ma mais me mes "
    "moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes "
    "toi ton tu un une vos votre vous c d j l m n s t y suis es est sommes sont serai "
    "seras sera serons serez seront serais serait serions seriez seraient fus fut furent "
    "sois soit soyons soyez soient fusse fusses fussions fussiez fussent ayant ayante "
    "ayantes ayants eu eue eues eus ai as avons avez ont aurai auras aura aurons aurez "
    "auront aurais aurait aurions auriez auraient avais avait avions aviez avaient eut "
    "eurent aie aies ait ayons ayez aient eusse eusses eussions eussiez eussent"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())
# A snowballstemmer object keeps its state while it works: one per thread (the portal's
# handlers run in a thread pool).
_local = threading.local()


def words(value: str | None) -> list[str]:
    """Normalised words of `value`: "L'Île-des-Pins (2024)" -> l ile des pins 2024."""
    return TOKEN.findall(normalise(value))


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("french")
    return stemmer.stemWord(word)


def _plain(values: Iterable[Any]) -> str:
    return " ".join(" ".join(words(str(v))) for v in values if v not in (None, ""))


# --- the visitor's query ---------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """A word or a "phrase" (normalised words), possibly excluded with a leading -."""

    words: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """AND of groups; each group is an OR of clauses. Exclusions apply to everything."""

    groups: tuple[tuple[Clause, ...], ...]
    excluded: tuple[Clause, ...]

    @property
    def empty(self) -> bool:
        return not self.groups and not self.excluded


def parse(raw: str | None) -> Query:
    """The visitor's query, bounded (untrusted input), in websearch syntax."""
    groups: list[list[Clause]] = []
    excluded: list[Clause] = []
    join_next = False
    for match in QUERY_PART.finditer((raw or "")[:MAX_QUERY_LENGTH]):
        quoted = match.group(2) is not None
        negated = bool(match.group(1) if quoted else match.group(3))
        part = match.group(2) if quoted else match.group(4)
        if not quoted and part.lower() == "or":
            join_next = bool(groups)
            continue
        found = tuple(words(part))
        if not quoted:  # a bare word: stop words mean nothing (PostgreSQL drops them)
            found = tuple(w for w in found if w not in STOP_WORDS)
        elif all(w in STOP_WORDS for w in found):
            found = ()
        if not found:
            continue
        clause = Clause(found, negated)
        if negated:
            excluded.append(clause)
        elif join_next:
            groups[-1].append(clause)
        else:
            groups.append([clause])
        join_next = False
        if len(groups) + len(excluded) >= MAX_CLAUSES:
            break
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))


def _websearch(query: Query) -> str:
    """The query for PostgreSQL's `websearch_to_tsquery` (only letters, digits, quotes)."""

    def one(clause: Clause) -> str:
        body = " ".join(clause.words)
        body = f'"{body}"' if len(clause.words) > 1 else body
        return f"-{body}" if clause.negated else body

    parts = [" or ".join(one(c) for c in group) for group in query.groups]
    parts += [one(c) for c in query.excluded]
    return " ".join(parts)


def _fts5(clauses: Iterable[Clause]) -> str:
    """An FTS5 OR expression of the clauses' stemmed words (each a quoted phrase)."""
    return " OR ".join('"' + " ".join(stem(w) for w in c.words) + '"' for c in clauses)


# --- matching --------------------------------------------------------------------------


class Matches(dict[tuple[str, int], float]):
    """{(kind, object id): relevance}, and each kind's ids and relevances as arrays, made
    once in one pass when first asked: a common word matches every dataset (100,000),
    and the search wants the datasets' as columns and each other kind's ids apart."""

    _by_kind: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def of_kind(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, relevances) of this kind's matches, in no particular order."""
        if self._by_kind is None:
            grouped: dict[str, tuple[list[int], list[float]]] = {}
            for (found, oid), rank in self.items():
                ids, ranks = grouped.get(found) or grouped.setdefault(found, ([], []))
                ids.append(oid)
                ranks.append(rank)
            self._by_kind = {
                k: (np.array(ids, dtype=np.int64), np.array(ranks, dtype=np.float64))
                for k, (ids, ranks) in grouped.items()
            }
        return self._by_kind.get(kind) or (
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.float64),
        )


def match(conn: Connection, query: Query) -> Matches:
    """{(kind, object id): relevance} of every document matching `query` (not empty)."""
    if conn.dialect.name == "postgresql":
        result = conn.exec_driver_sql(
            "SELECT kind, object_id, ts_rank(document, q) FROM search_documents, "
            f"websearch_to_tsquery('{CONFIG}', %(query)s) AS q WHERE document @@ q",
            {"query": _websearch(query)},
        )
        # The driver's rows at once: a common word matches every document (100,000
        # rows), and SQLAlchemy's row-by-row processing cost 160 ms of CPU against 65.
        rows = result.cursor.fetchall()
        result.close()
        return Matches(((kind, oid), rank) for kind, oid, rank in rows)
    rowids, ranks = _fts5_rows(conn, query)
    return Matches(
        ((KIND_OF_CODE[rowid % ROWID_FACTOR], rowid // ROWID_FACTOR), rank)
        for rowid, rank in zip(rowids.tolist(), ranks.tolist(), strict=True)
    )


def _fts5_rows(conn: Connection, query: Query) -> tuple[np.ndarray, np.ndarray]:
    """SQLite: the matching rowids and their relevance (`bm25`), as arrays."""
    sql = (
        f"SELECT rowid, -bm25(search_fts, {TITLE_WEIGHT}, {BODY_WEIGHT}) FROM search_fts"
        " WHERE search_fts MATCH :positive"
    )
    params: dict[str, str] = {}
    if query.groups:
        params["positive"] = " AND ".join(f"({_fts5(g)})" for g in query.groups)
    else:
        sql = "SELECT rowid, 0.0 FROM search_fts WHERE 1 = 1"
    if query.excluded:
        sql += " AND rowid NOT IN (SELECT rowid FROM search_fts WHERE search_fts MATCH :negative)"
        params["negative"] = _fts5(query.excluded)
    # The driver's rows at once (100,000 for a common word), not row by row.
    result = conn.execute(text(sql), params)
    rows = result.cursor.fetchall()
    result.close()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    rowids, ranks = zip(*rows, strict=True)
    return np.array(rowids, dtype=np.int64), np.array(ranks, dtype=np.float64)


@dataclass
class Found:
    """Each kind's matching ids (int64, in no particular order) and relevances (float64,
    the same order).

    On PostgreSQL the datasets' relevances are left out unless asked (`rank_datasets`):
    only the relevance order needs them, and a common word (« donnees ») matches every
    dataset: `ts_rank` of 100,000 documents is a sixth of that query's time."""

    ids: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray | None]

    def of_kind(self, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
        ids = self.ids.get(kind)
        if ids is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return ids, self.ranks[kind]

    def others(self) -> dict[tuple[str, int], float]:
        """{(kind, id): relevance} of every kind but datasets (hundreds at most)."""
        return {
            (kind, oid): rank
            for kind, ids in self.ids.items()
            if kind != "dataset"
            for oid, rank in zip(ids.tolist(), self.ranks[kind].tolist(), strict=True)
        }


# Two statements of one row each. The datasets': their ids and relevances as binary
# arrays (`int4send`, `float4send`: big-endian, read with `numpy.frombuffer`); 100,000
# rows through the driver cost ~100 ms of the server's CPU, the bytes a millisecond. The
# relevance is PostgreSQL's float4, as `match` gives it; two aggregates of one query read
# the same rows in the same order, so ids and relevances stay aligned. Then the other
# kinds' (hundreds at most), read through the primary key (kind, object_id). One
# statement with an aggregate per kind under FILTERs cost a third more for a word in
# every dataset (« donnees »: each FILTER is tested on each of the 100,000 rows).
_MATCHING = f" FROM search_documents, websearch_to_tsquery('{CONFIG}', %(query)s) AS q"
_DATASETS_SQL = (
    "SELECT string_agg(int4send(object_id), ''::bytea)"
    + _MATCHING
    + " WHERE kind = 'dataset' AND document @@ q"
)
_RANKED_DATASETS_SQL = (
    "SELECT string_agg(int4send(object_id), ''::bytea),"
    " string_agg(float4send(ts_rank(document, q)), ''::bytea)"
    + _MATCHING
    + " WHERE kind = 'dataset' AND document @@ q"
)
_OTHERS_SQL = (
    "SELECT array_agg(kind), array_agg(object_id),"
    " string_agg(float4send(ts_rank(document, q)), ''::bytea)"
    + _MATCHING
    + " WHERE kind IN ("
    + ", ".join(f"'{kind}'" for kind in KINDS if kind != "dataset")
    + ") AND document @@ q"
)


def _ints(raw: bytes | None) -> np.ndarray:
    return np.frombuffer(raw or b"", dtype=">i4").astype(np.int64)


def _floats(raw: bytes | None) -> np.ndarray:
    return np.frombuffer(raw or b"", dtype=">f4").astype(np.float64)


def find(conn: Connection, query: Query, rank_datasets: bool = False) -> Found:
    """What `match` finds, as arrays per kind; datasets unranked on PostgreSQL unless
    `rank_datasets` (SQLite's FTS5 ranks as it matches: always ranked there)."""
    if conn.dialect.name != "postgresql":
        rowids, ranks = _fts5_rows(conn, query)
        codes, ids = rowids % ROWID_FACTOR, rowids // ROWID_FACTOR
        found = Found({}, {})
        for code in np.unique(codes).tolist():
            at = codes == code
            found.ids[KIND_OF_CODE[code]] = ids[at]
            found.ranks[KIND_OF_CODE[code]] = ranks[at]
        return found
    found = find_others(conn, query)
    ids, ranks = find_datasets(conn, query, rank_datasets)
    if len(ids):
        found.ids["dataset"], found.ranks["dataset"] = ids, ranks
    return found


def find_datasets(
    conn: Connection, query: Query, rank_datasets: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """PostgreSQL: the matching datasets' ids and, if asked, relevances (`find`)."""
    sql = _RANKED_DATASETS_SQL if rank_datasets else _DATASETS_SQL
    result = conn.exec_driver_sql(sql, {"query": _websearch(query)})
    ids, *ranks = result.cursor.fetchone()
    result.close()
    return _ints(ids), (_floats(ranks[0]) if rank_datasets else None)


def find_others(conn: Connection, query: Query) -> Found:
    """PostgreSQL: the matches of every kind but datasets, ranked (`find`)."""
    result = conn.exec_driver_sql(_OTHERS_SQL, {"query": _websearch(query)})
    other_kinds, other_ids, other_ranks = result.cursor.fetchone()
    result.close()
    found = Found({}, {})
    if other_kinds:
        kinds = np.array(other_kinds)
        oids, oranks = np.array(other_ids, dtype=np.int64), _floats(other_ranks)
        for kind in set(other_kinds):
            at = kinds == kind
            found.ids[kind], found.ranks[kind] = oids[at], oranks[at]
    return found


# --- the documents ---------------------------------------------------------------------


def _attribute_names(schema: Any) -> list[str]:
    names = []
    for attribute in schema or ():
        if isinstance(attribute, dict):
            names += [str(attribute[k]) for k in ("name", "title") if attribute.get(k)]
    return names


def _dataset_documents(conn: Connection, ids: list[int]) -> list[tuple[int, str, str]]:
    d, o, layer = Dataset.__table__, Organisation.__table__, Layer.__table__
    layers: dict[int, list[str]] = {}
    for row in conn.execute(
        select(layer.c.dataset_id, layer.c.name, layer.c.source_layer, layer.c.attribute_schema)
        .where(layer.c.dataset_id.in_(ids))
        .order_by(layer.c.id)
    ):
        found = layers.setdefault(row.dataset_id, [])
        found += [row.name, row.source_layer or "", *_attribute_names(row.attribute_schema)]
    rows = conn.execute(
        select(d.c.id, d.c.title, d.c.description, d.c.themes, d.c.keywords, o.c.name)
        .join(o, o.c.id == d.c.organisation_id)
        .where(d.c.id.in_(ids))
    )
    return [
        (
            row.id,
            _plain([row.title]),
            _plain(
                [
                    row.description,
                    *(v for v in row.themes or () if not isinstance(v, dict)),
                    *(v for v in row.keywords or () if not isinstance(v, dict)),
                    row.name,
                    *layers.get(row.id, ()),
                ]
            ),
        )
        for row in rows
    ]


def _documents(conn: Connection, kind: str, ids: list[int]) -> list[tuple[int, str, str]]:
    if kind == "dataset":
        return _dataset_documents(conn, ids)
    o = Organisation.__table__
    if kind == "organisation":
        query = select(o.c.id, o.c.name, o.c.description).where(o.c.id.in_(ids))
        return [(r.id, _plain([r.name]), _plain([r.description])) for r in conn.execute(query)]
    if kind == "code":
        c = CodeProject.__table__
        query = (
            select(c.c.id, c.c.name, c.c.description, c.c.languages, o.c.name.label("org"))
            .add_columns(*([c.c.topics] if "topics" in c.c else []))
            .join(o, o.c.id == c.c.organisation_id)
            .where(c.c.id.in_(ids))
        )
        return [
            (
                r.id,
                _plain([r.name]),
                _plain(
                    [
                        r.description,
                        *(r.languages or ()),
                        *(r[5] or () if len(r) > 5 else ()),
                        r.org,
                    ]
                ),
            )
            for r in conn.execute(query)
        ]
    table = Reuse.__table__ if kind == "reuse" else Event.__table__
    extra = table.c.author if kind == "reuse" else table.c.location
    query = (
        select(table.c.id, table.c.title, table.c.description, extra.label("extra"), o.c.name)
        .outerjoin(o, o.c.id == table.c.organisation_id)
        .where(table.c.id.in_(ids))
    )
    return [
        (r.id, _plain([r.title]), _plain([r.description, r.extra, r.name]))
        for r in conn.execute(query)
    ]


def _stemmed(plain: str) -> str:
    return " ".join(map(stem, plain.split()))  # (a generator: twice the time, ≈ 280 words)


def refresh(conn: Connection, kind: str, ids: Iterable[int] | None = None) -> int:
    """Rewrite the documents of `kind` for `ids` (all when None); missing ones go away."""
    if ids is None:
        table = {
            "dataset": Dataset,
            "code": CodeProject,
            "reuse": Reuse,
            "organisation": Organisation,
            "event": Event,
        }[kind].__table__
        wanted = list(conn.execute(select(table.c.id)).scalars())
    else:
        wanted = sorted(set(ids))
    if not wanted:
        return 0
    docs: list[tuple[int, str, str]] = []
    for start in range(0, len(wanted), 500):
        docs += _documents(conn, kind, wanted[start : start + 500])
    remove(conn, kind, wanted)
    if not docs:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "INSERT INTO search_documents (kind, object_id, title, body)"
                " VALUES (:kind, :oid, :title, :body)"
            ),
            [{"kind": kind, "oid": i, "title": t, "body": b} for i, t, b in docs],
        )
    else:
        code = KINDS[kind]
        conn.execute(
            text("INSERT INTO search_fts (rowid, title, body) VALUES (:rowid, :title, :body)"),
            [
                {"rowid": i * ROWID_FACTOR + code, "title": _stemmed(t), "body": _stemmed(b)}
                for i, t, b in docs
            ],
        )
    return len(docs)


def remove(conn: Connection, kind: str, ids: Iterable[int]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "DELETE FROM search_documents WHERE kind = :kind AND object_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"kind": kind, "ids": chunk},
            )
        else:
            rowids = [i * ROWID_FACTOR + KINDS[kind] for i in chunk]
            conn.execute(
                text("DELETE FROM search_fts WHERE rowid IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": rowids},
            )


def rebuild(conn: Connection) -> int:
    """Index everything again (migration, `niaouli` maintenance)."""
    return sum(refresh(conn, kind) for kind in KINDS)


# --- keeping it current ----------------------------------------------------------------


def install() -> None:
    """Keep the index current in every catalogue write (called at start-up)."""
    changes.on_datasets_changed(_datasets_changed)
    changes.after_catalogue_flush(_others_changed)


def _datasets_changed(conn: Connection, changed: set[int], deleted: set[int]) -> None:
    if deleted:
        remove(conn, "dataset", deleted)
    if changed:
        refresh(conn, "dataset", changed)


OTHER_KINDS = {CodeProject: "code", Reuse: "reuse", Organisation: "organisation", Event: "event"}


def _others_changed(session: Session) -> None:
    """Code projects, reuses, organisations and events: not tracked by `changes`."""
    changed: dict[str, set[int]] = {}
    deleted: dict[str, set[int]] = {}
    renamed: set[int] = set()
    for obj in [*session.new, *session.dirty]:
        kind = OTHER_KINDS.get(type(obj))
        if kind is None or obj.id is None:
            continue
        if obj in session.dirty and not session.is_modified(obj):
            continue
        changed.setdefault(kind, set()).add(obj.id)
        if kind == "organisation" and obj not in session.new:
            renamed.add(obj.id)  # its name is in its datasets' and projects' documents
    for obj in session.deleted:
        kind = OTHER_KINDS.get(type(obj))
        if kind is not None and obj.id is not None:
            deleted.setdefault(kind, set()).add(obj.id)
    if not changed and not deleted:
        return
    conn = session.connection()
    for kind, ids in deleted.items():
        remove(conn, kind, ids)
    for kind, ids in changed.items():
        refresh(conn, kind, ids)
    if renamed:
        for model, kind in ((Dataset, "dataset"), (CodeProject, "code")):
            table = model.__table__
            ids = conn.execute(
                select(table.c.id).where(table.c.organisation_id.in_(sorted(renamed)))
            ).scalars()
            refresh(conn, kind, list(ids))
