"""Catalogue search for OGC API Records: which datasets match, in which order, how many.

The Records service (`niaouli.services.ogc.records_collection`) only turns request parameters into a
`RecordQuery` and datasets into records; the SQL lives here, next to the catalogue, and
goes through `visible_datasets` like every other dataset query. Text search is the
portal's (`search.matches`: accent- and case-insensitive), every value is a bound
parameter, and the same code runs on PostGIS and SpatiaLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.search import text as search

# Record property -> column, for `sortby`.
SORTABLE = {
    "title": Dataset.title,
    "updated": Dataset.updated_at,
    "created": Dataset.created_at,
}
RECORD_TYPE = "dataset"
MAX_IDS = 100

Moment = date | datetime


@dataclass(frozen=True)
class RecordQuery:
    """One search of the catalogue; every field optional (None: no condition)."""

    text: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north (CRS84)
    start: Moment | None = None  # `datetime`: open at either end, both None = no filter
    end: Moment | None = None
    timed: bool = False
    ids: Sequence[str] | None = None
    record_type: str | None = None
    sortby: Sequence[tuple[str, bool]] = field(default_factory=tuple)  # (property, ascending)
    offset: int = 0
    limit: int = 10


def _day(value: Moment) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value


def _instant(value: Moment, *, end: bool) -> datetime | None:
    """A moment as UTC; a date is its whole day (start at 00:00, end before next 00:00).
    None for the end of 9999-12-31: no bound (the next day is not a `datetime`)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    moment = datetime.combine(value, time(0), tzinfo=UTC)
    if not end:
        return moment
    try:
        return moment + timedelta(days=1)
    except OverflowError:
        return None


def time_condition(start: Moment | None, end: Moment | None) -> ColumnElement[bool]:
    """Datasets whose temporal coverage meets [start, end]; without one, the update date.

    A coverage open at one end (only a start or only an end date) is open on that side.
    """
    has_coverage = sa.or_(Dataset.temporal_start.is_not(None), Dataset.temporal_end.is_not(None))
    covered = [has_coverage]
    updated = [sa.not_(has_coverage)]
    if end is not None:
        last_day = _day(end)
        covered.append(sa.or_(Dataset.temporal_start.is_(None), Dataset.temporal_start <= last_day))
        last = _instant(end, end=True)
        if isinstance(end, datetime):
            updated.append(Dataset.updated_at <= last)
        elif last is not None:
            updated.append(Dataset.updated_at < last)
    if start is not None:
        first_day = _day(start)
        covered.append(sa.or_(Dataset.temporal_end.is_(None), Dataset.temporal_end >= first_day))
        updated.append(Dataset.updated_at >= _instant(start, end=False))
    return sa.or_(sa.and_(*covered), sa.and_(*updated))


def bbox_condition(dialect: str, bbox: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """Datasets whose spatial coverage intersects the box (datasets without one never do)."""
    west, south, east, north = (float(v) for v in bbox)
    srid = sa.literal(4326, sa.Integer)
    if dialect == "postgresql":
        envelope = sa.func.ST_MakeEnvelope(west, south, east, north, srid)
        return sa.func.ST_Intersects(Dataset.spatial_coverage, envelope)
    envelope = sa.func.BuildMbr(west, south, east, north, srid)
    return sa.func.ST_Intersects(Dataset.spatial_coverage, envelope) == 1


def conditions(query: RecordQuery, viewer: Viewer, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE clause of `query` for `viewer` (the access rule always comes first)."""
    where = [visible_datasets(viewer), search.matches(query.text)]
    if query.record_type is not None and query.record_type != RECORD_TYPE:
        where.append(sa.false())
    if query.ids is not None:
        where.append(Dataset.slug.in_(list(query.ids)[:MAX_IDS]))
    if query.bbox is not None:
        where.append(bbox_condition(dialect, query.bbox))
    if query.timed:
        where.append(time_condition(query.start, query.end))
    return where


def count_records(conn: Connection, query: RecordQuery, viewer: Viewer) -> int:
    where = conditions(query, viewer, conn.dialect.name)
    return int(conn.scalar(sa.select(sa.func.count(Dataset.id)).where(*where)) or 0)


# Up to this many matches of a text search, a page is sorted from the matches (PostGIS).
FEW_MATCHES = 5_000


def page_ids(
    conn: Connection, query: RecordQuery, viewer: Viewer, matched: int | None = None
) -> list[int]:
    """Dataset ids of one page, in order (title by default; id breaks ties: stable pages).

    `matched` (the count, when the caller has it) picks the plan of a text search on
    PostGIS. PostgreSQL walks the visible datasets in title order (`ix_datasets_access_title`)
    until the page is full, expecting the matches spread along it; `q=ecoles` matched
    2,015 of 100,000 datasets, all titled « Écoles … », which sorts after every other
    letter: the walk read 82,852 rows (108 ms). A few thousand matches are instead found
    through the trigram index (0036_trigram_indexes, 7 ms) and sorted; many matches
    keep the walk, which then stops early."""
    where = conditions(query, viewer, conn.dialect.name)
    few = matched is not None and matched <= FEW_MATCHES
    if few and conn.dialect.name == "postgresql" and search.query_terms(query.text):
        # MATERIALIZED: the matches first, the order on the CTE's columns (no index).
        source = (
            sa.select(Dataset.id, *SORTABLE.values())
            .where(*where)
            .cte("matching")
            .prefix_with("MATERIALIZED")
        )
        columns = {name: source.c[column.key] for name, column in SORTABLE.items()}
        key = source.c.id
        statement = sa.select(key)
    else:
        columns, key = dict(SORTABLE), Dataset.id
        statement = sa.select(key).where(*where)
    order = []
    for name, ascending in query.sortby:
        column = columns[name]
        order.append(column.asc() if ascending else column.desc())
    if not query.sortby:
        order.append(columns["title"].asc())
    order.append(key.asc())
    return list(conn.scalars(statement.order_by(*order).offset(query.offset).limit(query.limit)))


def find_record(conn: Connection, slug: str, viewer: Viewer) -> int | None:
    """The id of dataset `slug` if `viewer` may see it, else None (same answer as absent)."""
    return conn.scalar(sa.select(Dataset.id).where(visible_datasets(viewer), Dataset.slug == slug))
