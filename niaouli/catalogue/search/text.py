"""Accent- and case-insensitive dataset search, identical on PostGIS and SQLite.

Why a normalised column rather than `unaccent` or FTS5: one code path for both backends,
no database extension to install, and "Hienghene" finds "Hienghène" everywhere. The
column `datasets.search_text` holds the title, description, themes, keywords and the
organisation's name, lower-cased and stripped of diacritics. It is rewritten by a change
hook inside the very transaction that changes a dataset (`changes.on_datasets_changed`),
and for every dataset of an organisation whose name changes, so it never lags behind.
The portal's search uses the full-text index instead (`fulltext`, which reuses
`normalise`); this column serves the JSON API's and OGC API Records' text filters
(`catalogue.service.search_datasets`, `record_query`): see the package's docstring.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    String,
    and_,
    bindparam,
    column,
    select,
    table,
    true,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from niaouli.catalogue import changes
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.db import sqlite_trigram
from niaouli.marks import strip_marks

MAX_QUERY_TERMS = 12
MAX_QUERY_LENGTH = 300
# Letters that NFKD does not decompose but people type without them.
LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o"})
WORD = re.compile(r"\w+")


_LIGATURE = re.compile("[œŒæÆøØ]")


# Texts up to this long are normalised once for the full-text index and the search text
# (both rewrite the same datasets' titles, descriptions and keywords after each write).
CACHED_UP_TO = 4_000  # (bounded: 4,096 texts of 4,000 characters at most)


def normalise(text: str | None) -> str:
    """Lower-case words without diacritics: "Hienghène, L'Île" -> "hienghene l ile"."""
    if not text:
        return ""
    if len(text) <= CACHED_UP_TO:
        return _normalise_cached(text)
    return _normalise(text)


@lru_cache(maxsize=4096)
def _normalise_cached(text: str) -> str:
    return _normalise(text)


def _normalise(text: str) -> str:
    if not text.isascii():  # ASCII has nothing to decompose, no ligature, no mark
        if _LIGATURE.search(text):  # (translating with a table is slow: only if needed)
            text = text.translate(LIGATURES)
        text = strip_marks(text)
    return " ".join(WORD.findall(text.casefold()))


def _words(values: Iterable[Any]) -> list[str]:
    return [normalise(str(v)) for v in values if v is not None and not isinstance(v, dict)]


def search_text(
    title: str | None,
    description: str | None,
    themes: Iterable[Any] | None,
    keywords: Iterable[Any] | None,
    organisation_name: str | None,
) -> str:
    """The searchable text of one dataset, padded with spaces so word starts are ` word`."""
    parts = [
        normalise(title),
        normalise(description),
        *_words(themes or ()),
        *_words(keywords or ()),
    ]
    parts.append(normalise(organisation_name))
    return " " + " ".join(p for p in parts if p) + " "


def query_terms(query: str | None) -> list[str]:
    """The normalised words of a visitor's query (bounded: a query is untrusted input)."""
    return normalise((query or "")[:MAX_QUERY_LENGTH]).split()[:MAX_QUERY_TERMS]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(query: str | None) -> ColumnElement[bool]:
    """Datasets whose text contains every word of `query` (as a substring: "noum" works)."""
    terms = query_terms(query)
    if not terms:
        return true()
    return and_(*(_Contains(t) for t in terms))


class _Contains(ColumnElement[bool]):
    """`datasets.search_text LIKE pattern`; on SQLite through the trigram index
    (`niaouli.db.sqlite_trigram`: the same rows, without reading every dataset). The
    pattern is a bound parameter of the element itself, so SQLAlchemy caches the
    compiled statement as for a plain LIKE (one entry whatever the words)."""

    inherit_cache = True
    _traverse_internals = [
        ("pattern", InternalTraversal.dp_clauseelement),
        ("escape", InternalTraversal.dp_string),
    ]
    # Typed as a comparison is (SQLite would otherwise be given `(...) = 1`, which no
    # index serves).
    type = Boolean()
    _is_implicitly_boolean = True

    def __init__(self, term: str) -> None:
        # An ESCAPE clause keeps SQLite from using the trigram index: only when needed
        # (normalised words hold letters and digits only).
        special = any(c in term for c in "\\%_")
        value = f"%{_like_escape(term)}%" if special else f"%{term}%"
        self.pattern = bindparam(None, value, type_=String())
        self.escape = "\\" if special else None

    def like(self, text_column: Any) -> ColumnElement[bool]:  # noqa: ANN401 - a column
        return text_column.like(self.pattern, escape=self.escape)


@compiles(_Contains)
def _contains_default(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.like(Dataset.search_text), **kw)


@compiles(_Contains, "sqlite")
def _contains_sqlite(element: _Contains, compiler: SQLCompiler, **kw: Any) -> str:
    index = sqlite_trigram.DATASET_TEXT
    trigram = table(index.name, column("rowid"), column(index.column))
    found = select(trigram.c.rowid).where(element.like(trigram.c[index.column]))
    return compiler.process(Dataset.id.in_(found), **kw)


def refresh(conn: Connection, dataset_ids: Iterable[int] | None = None) -> int:
    """Rewrite `search_text` of the given datasets (all when None) from their current rows."""
    datasets = Dataset.__table__
    organisations = Organisation.__table__
    query = select(
        datasets.c.id,
        datasets.c.title,
        datasets.c.description,
        datasets.c.themes,
        datasets.c.keywords,
        organisations.c.name,
    ).join(organisations, organisations.c.id == datasets.c.organisation_id)
    if dataset_ids is not None:
        ids = sorted(set(dataset_ids))
        if not ids:
            return 0
        query = query.where(datasets.c.id.in_(ids))
    query = query.add_columns(datasets.c.search_text)
    # A dataset inserted by the writes being notified, whose text was computed as it was
    # inserted (`service.create_dataset`), already holds what this would write: rewriting
    # the row (its producer's XML included) only moved its `updated_at` by milliseconds.
    inserted = changes.created()
    values = []
    for row in conn.execute(query):
        wanted = search_text(*row[1:6])
        if row.id not in inserted or row.search_text != wanted:
            values.append({"row_id": row.id, "text": wanted})
    if values:
        conn.execute(
            update(datasets)
            .where(datasets.c.id == bindparam("row_id"))
            .values(search_text=bindparam("text")),
            values,
        )
    return len(values)


def install() -> None:
    """Keep `search_text` current in every catalogue write (called at start-up)."""
    changes.on_datasets_changed(_refresh_changed)
    changes.after_catalogue_flush(_refresh_renamed_organisations)


def _refresh_changed(conn: Connection, changed: set[int], _deleted: set[int]) -> None:
    refresh(conn, changed)


def _refresh_renamed_organisations(session: Session) -> None:
    """An organisation's name is part of its datasets' text: follow renames."""
    renamed = [
        o.id
        for o in session.dirty
        if isinstance(o, Organisation) and session.is_modified(o) and o.id is not None
    ]
    if not renamed:
        return
    conn = session.connection()
    ids = conn.execute(
        select(Dataset.__table__.c.id).where(Dataset.__table__.c.organisation_id.in_(renamed))
    ).scalars()
    refresh(conn, list(ids))
