"""Reading layer tables as features, for both backends (the other half of `layers.py`).

Why a module of its own: the services (OGC API Features now, tiles later) need fast,
safe reads of the server-named layer tables, and all SQL on those tables stays under
`niaouli.db`. Every value is a bound parameter; every identifier comes from the
catalogue (`Layer.table_name`, `Layer.attribute_schema`) and is quoted by SQLAlchemy.

Speed choices, measured against stock pygeoapi (see docs/ogc.md):

- no exact ``count(*)`` per page: an unfiltered collection's size is the catalogue's
  `Layer.feature_count` (exact: layer tables are written only together with it); a
  filtered one is counted with a cap, and `numberMatched` is omitted past the cap;
- stable paging ordered on the primary key `fid`; when the fids are dense (as every
  ingestion writes them), an unfiltered `offset` becomes the keyset condition
  ``fid > offset``, so a deep page costs one index probe, not a scan;
- `bbox` goes through the spatial index (PostGIS GiST via ``ST_Intersects``;
  SpatiaLite's R*Tree table ``idx_<table>_geom`` explicitly, as SpatiaLite does not use
  it on its own);
- output CRS through ``ST_Transform(geom, <integer srid>)``, GeoJSON written by the
  database.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from niaouli.db import trouble
from niaouli.db.schema import LAYER_SCHEMA

GEOJSON_DIGITS = 9
"""Decimals in GeoJSON output: well below a millimetre in degrees and in metres."""

_PG_TYPES: dict[str, Any] = {
    "integer": sa.BigInteger,
    "number": sa.Float,
    "boolean": sa.Boolean,
    "string": sa.Text,
    "date": sa.Date,
    "datetime": sa.DateTime(timezone=True),
    "time": sa.Time,
    "binary": sa.LargeBinary,
    "json": sa.JSON,
}
# SQLite keeps dates as ISO 8601 text: read them back as text (no lossy re-parsing).
_SQLITE_TYPES: dict[str, Any] = {
    "integer": sa.Integer,
    "number": sa.Float,
    "boolean": sa.Integer,
    "string": sa.Text,
    "date": sa.Text,
    "datetime": sa.Text,
    "time": sa.Text,
    "binary": sa.LargeBinary,
    "json": sa.Text,
}


@dataclass(frozen=True)
class Attribute:
    """One attribute of a layer: public `name`, database `column`, schema `type`."""

    name: str
    column: str
    type: str


@dataclass(frozen=True)
class LayerTable:
    """What is needed to read one layer table, taken from its catalogue row."""

    table: str
    attributes: tuple[Attribute, ...]
    has_geometry: bool
    feature_count: int
    postgis: bool

    @classmethod
    def from_schema(
        cls,
        table: str,
        attribute_schema: Sequence[dict[str, str]],
        *,
        has_geometry: bool,
        feature_count: int,
        postgis: bool,
    ) -> LayerTable:
        attributes = tuple(Attribute(a["name"], a["column"], a["type"]) for a in attribute_schema)
        return cls(table, attributes, has_geometry, feature_count, postgis)

    def attribute(self, name: str) -> Attribute | None:
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None

    @functools.cached_property
    def table_clause(self) -> sa.TableClause:
        """A lightweight SQLAlchemy table (no metadata, no reflection), one per layer
        object so that every condition built for a query refers to the same FROM."""
        types = _PG_TYPES if self.postgis else _SQLITE_TYPES
        columns = [sa.column("fid", sa.BigInteger)]
        if self.has_geometry:
            columns.append(sa.column("geom", sa.types.NullType))
        columns += [sa.column(a.column, types[a.type]) for a in self.attributes]
        return sa.table(self.table, *columns, schema=LAYER_SCHEMA if self.postgis else None)

    def column(self, name: str) -> sa.ColumnClause:
        """The column of attribute `name` (a public name, already checked)."""
        attribute = self.attribute(name)
        if attribute is None:
            raise KeyError(name)
        return self.table_clause.c[attribute.column]


@dataclass(frozen=True)
class OutputCrs:
    """How geometries are written: integer SRID (None = stored lon/lat) and axis swap."""

    srid: int | None = None
    swap_axes: bool = False


@dataclass
class FeatureQuery:
    """One page request. `bbox` is in lon/lat (CRS84); `where` holds extra conditions."""

    offset: int = 0
    limit: int = 10
    bbox: tuple[float, float, float, float] | None = None
    where: list[ColumnElement[bool]] = field(default_factory=list)
    properties: Sequence[str] | None = None  # public names; None = all
    sortby: Sequence[tuple[str, bool]] = ()  # (public name, ascending)
    skip_geometry: bool = False
    output: OutputCrs = field(default_factory=OutputCrs)

    @property
    def filtered(self) -> bool:
        return bool(self.bbox or self.where)


@dataclass
class FeaturePage:
    features: list[dict[str, Any]]
    number_matched: int | None


def _geometry_sql(layer: LayerTable, geom: sa.ColumnElement, output: OutputCrs) -> ColumnElement:
    expr = geom
    if output.srid is not None and output.srid != 4326:
        expr = sa.func.ST_Transform(expr, sa.literal(output.srid, sa.Integer))
    if output.swap_axes:
        expr = sa.func.ST_FlipCoordinates(expr) if layer.postgis else sa.func.SwapCoordinates(expr)
    as_json = sa.func.ST_AsGeoJSON if layer.postgis else sa.func.AsGeoJSON
    return as_json(expr, GEOJSON_DIGITS)


def _bbox_conditions(
    layer: LayerTable, table: sa.TableClause, bbox: tuple[float, float, float, float]
) -> list[ColumnElement[bool]]:
    west, south, east, north = (float(v) for v in bbox)
    geom = table.c.geom
    if layer.postgis:
        envelope = sa.func.ST_MakeEnvelope(west, south, east, north, sa.literal(4326, sa.Integer))
        return [sa.func.ST_Intersects(geom, envelope)]
    rtree = sa.table(
        f"idx_{layer.table}_geom",
        sa.column("pkid"),
        sa.column("xmin"),
        sa.column("xmax"),
        sa.column("ymin"),
        sa.column("ymax"),
    )
    candidates = sa.select(rtree.c.pkid).where(
        rtree.c.xmin <= east, rtree.c.xmax >= west, rtree.c.ymin <= north, rtree.c.ymax >= south
    )
    envelope = sa.func.BuildMbr(west, south, east, north, sa.literal(4326, sa.Integer))
    return [table.c.fid.in_(candidates), sa.func.ST_Intersects(geom, envelope) == 1]


def _conditions(
    layer: LayerTable, table: sa.TableClause, query: FeatureQuery
) -> list[ColumnElement[bool]]:
    conditions = list(query.where)
    if query.bbox is not None:
        if not layer.has_geometry:
            return [sa.false()]
        conditions += _bbox_conditions(layer, table, query.bbox)
    return conditions


_DENSE: dict[tuple[str, int], bool] = {}


def _dense_fids(conn: Connection, layer: LayerTable, table: sa.TableClause) -> bool:
    """True when fids are exactly 1..feature_count (two index probes, no scan; remembered
    per table and count: a layer table is written once, with its catalogue row)."""
    key = (layer.table, layer.feature_count)
    dense = _DENSE.get(key)
    if dense is None:
        low, high = conn.execute(
            sa.select(sa.func.min(table.c.fid), sa.func.max(table.c.fid))
        ).one()
        dense = layer.feature_count == 0 or (low == 1 and high == layer.feature_count)
        if len(_DENSE) > 10_000:
            _DENSE.clear()
        _DENSE[key] = dense
    return dense


def _selected(layer: LayerTable, names: Sequence[str] | None) -> list[Attribute]:
    if names is None:
        return list(layer.attributes)
    wanted = set(names)
    return [a for a in layer.attributes if a.name in wanted]


def _temporal(value: Any) -> Any:
    return value if isinstance(value, str) else value.isoformat()


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _binary(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


# How a database value becomes JSON-ready Python, per attribute type (both backends give
# the same output); types not listed are returned as they are.
_CONVERTERS: dict[str, Any] = {
    "boolean": bool,
    "date": _temporal,
    "datetime": _temporal,
    "time": _temporal,
    "json": _json,
    "binary": _binary,
}


def _features(
    rows: Sequence[Sequence[Any]], attributes: list[Attribute], with_geometry: bool
) -> list[dict[str, Any]]:
    """GeoJSON features from rows (fid, [geometry as GeoJSON text], attributes...)."""
    first = 2 if with_geometry else 1
    names = [a.name for a in attributes]
    converters = [
        (first + i, a.name, _CONVERTERS[a.type])
        for i, a in enumerate(attributes)
        if a.type in _CONVERTERS
    ]
    result = []
    for row in rows:
        geometry = None
        if with_geometry and row[1] is not None:
            geometry = orjson.loads(row[1])
        properties = dict(zip(names, row[first:], strict=True))
        for index, name, convert in converters:
            if row[index] is not None:
                properties[name] = convert(row[index])
        result.append(
            {"type": "Feature", "id": row[0], "geometry": geometry, "properties": properties}
        )
    return result


def _columns(
    layer: LayerTable, table: sa.TableClause, attributes: list[Attribute], query: FeatureQuery
) -> tuple[list[ColumnElement], bool]:
    with_geometry = layer.has_geometry and not query.skip_geometry
    columns: list[ColumnElement] = [table.c.fid]
    if with_geometry:
        columns.append(_geometry_sql(layer, table.c.geom, query.output))
    columns += [table.c[a.column] for a in attributes]
    return columns, with_geometry


def count_matching(
    conn: Connection, layer: LayerTable, query: FeatureQuery, cap: int
) -> int | None:
    """Exact number of matching features, or None when more than `cap` (bounded cost)."""
    table = layer.table_clause
    conditions = _conditions(layer, table, query)
    if not conditions:
        return layer.feature_count
    inner = sa.select(sa.literal(1)).select_from(table).where(*conditions).limit(cap + 1)
    counted = conn.execute(sa.select(sa.func.count()).select_from(inner.subquery())).scalar_one()
    return int(counted) if counted <= cap else None


def query_page(
    conn: Connection, layer: LayerTable, query: FeatureQuery, count_cap: int = 10_000
) -> FeaturePage:
    """One page of features ordered by `sortby` then `fid`, and `numberMatched` if cheap."""
    table = layer.table_clause
    attributes = _selected(layer, query.properties)
    conditions = _conditions(layer, table, query)
    if not conditions and not query.sortby:
        return _plain_page(conn, layer, query, attributes)
    columns, with_geometry = _columns(layer, table, attributes, query)
    statement = sa.select(*columns).select_from(table)
    offset = query.offset
    if conditions:
        statement = statement.where(*conditions)
    elif not query.sortby and offset and _dense_fids(conn, layer, table):
        statement = statement.where(table.c.fid > offset)
        offset = 0
    order = [
        table.c[layer.attribute(name).column].asc().nulls_last()
        if ascending
        else table.c[layer.attribute(name).column].desc().nulls_last()
        for name, ascending in query.sortby
    ]
    statement = statement.order_by(*order, table.c.fid).limit(query.limit + 1).offset(offset)
    rows = conn.execute(statement).all()
    has_more = len(rows) > query.limit
    features = _features(rows[: query.limit], attributes, with_geometry)

    if not conditions:
        matched: int | None = layer.feature_count
    elif not has_more and (features or query.offset == 0):
        matched = query.offset + len(features)  # the last page tells the exact total
    else:
        matched = count_matching(conn, layer, query, count_cap)
    return FeaturePage(features, matched)


# The two most frequent statements, unfiltered pages and one feature by id, are built once
# per layer and output shape with bound parameters: SQLAlchemy then reuses the statement
# object's memoized cache key instead of rebuilding and re-keying it on every request.


@functools.lru_cache(maxsize=4096)
def _compiled(statement: sa.Select, dialect: sa.Dialect) -> sa.engine.Compiled:
    return statement.compile(dialect=dialect)


def _fetch(conn: Connection, statement: sa.Select, values: dict[str, Any]) -> list[Any]:
    """Rows of a cached statement. On PostGIS its SQL is compiled once and sent by psycopg
    itself (a prepared statement), which skips SQLAlchemy's per-execution work (result
    metadata, events): about 45 µs of CPU per query, a tenth of a by-id request. Behind
    PgBouncer in transaction pooling mode the connection has `prepare_threshold=None`
    (`niaouli.db.engine.postgres_connect_args`), with which psycopg prepares nothing,
    `prepare=True` included."""
    if conn.dialect.name != "postgresql":
        return list(conn.execute(statement, values).all())
    compiled = _compiled(statement, conn.dialect)
    try:
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.execute(compiled.string, compiled.construct_params(values), prepare=True)
            return cursor.fetchall()
    except psycopg.Error as exc:  # as SQLAlchemy would: wrapped, a dead connection dropped
        dead = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        trouble.note(exc, dead)  # no engine event on this path: a 503, not a 500
        if dead:  # the server went away: its other pooled connections are gone too
            conn.invalidate()
            conn.engine.dispose()
        raise sa.exc.DBAPIError.instance(
            compiled.string, None, exc, psycopg.Error, connection_invalidated=dead
        ) from exc


@functools.lru_cache(maxsize=2048)
def _plain_page_statement(
    layer: LayerTable,
    attributes: tuple[Attribute, ...],
    skip_geometry: bool,
    output: OutputCrs,
    keyset: bool,
) -> tuple[sa.Select, bool]:
    table = layer.table_clause
    query = FeatureQuery(skip_geometry=skip_geometry, output=output)
    columns, with_geometry = _columns(layer, table, list(attributes), query)
    statement = sa.select(*columns).select_from(table)
    if keyset:
        statement = statement.where(table.c.fid > sa.bindparam("after", type_=sa.BigInteger))
    statement = statement.order_by(table.c.fid).limit(sa.bindparam("rows", type_=sa.Integer))
    if not keyset:
        statement = statement.offset(sa.bindparam("skip", type_=sa.BigInteger))
    return statement, with_geometry


def _plain_page(
    conn: Connection, layer: LayerTable, query: FeatureQuery, attributes: list[Attribute]
) -> FeaturePage:
    """A page of an unfiltered, unsorted request: fid order, keyset when fids are dense."""
    keyset = bool(query.offset) and _dense_fids(conn, layer, layer.table_clause)
    statement, with_geometry = _plain_page_statement(
        layer, tuple(attributes), query.skip_geometry, query.output, keyset
    )
    values = {"rows": query.limit}
    values["after" if keyset else "skip"] = query.offset
    rows = _fetch(conn, statement, values)
    return FeaturePage(_features(rows, attributes, with_geometry), layer.feature_count)


@functools.lru_cache(maxsize=1024)
def _by_id_statement(layer: LayerTable, output: OutputCrs) -> tuple[sa.Select, bool]:
    table = layer.table_clause
    query = FeatureQuery(output=output)
    columns, with_geometry = _columns(layer, table, list(layer.attributes), query)
    statement = sa.select(*columns).select_from(table)
    return statement.where(table.c.fid == sa.bindparam("fid", type_=sa.BigInteger)), with_geometry


def get_feature(
    conn: Connection, layer: LayerTable, fid: int, output: OutputCrs | None = None
) -> dict[str, Any] | None:
    statement, with_geometry = _by_id_statement(layer, output or OutputCrs())
    rows = _fetch(conn, statement, {"fid": fid})
    if not rows:
        return None
    return _features(rows[:1], list(layer.attributes), with_geometry)[0]


_CATALOGUE_STATE = sa.table("catalogue_state", sa.column("id"), sa.column("version"))


@functools.lru_cache(maxsize=2048)
def _versioned_by_id_statement(layer: LayerTable) -> tuple[sa.Select, bool]:
    """The catalogue version beside the feature, in one statement (one snapshot): the
    version row outer-joined with the feature row, so a missing fid still gives it."""
    table = layer.table_clause
    columns, with_geometry = _columns(layer, table, list(layer.attributes), FeatureQuery())
    state = (
        sa.select(_CATALOGUE_STATE.c.version)
        .where(_CATALOGUE_STATE.c.id == 1)
        .subquery("catalogue_state_now")
    )
    found = sa.and_(sa.true(), table.c.fid == sa.bindparam("fid", type_=sa.BigInteger))
    statement = sa.select(state.c.version, *columns).select_from(state.outerjoin(table, found))
    return statement, with_geometry


def get_feature_and_version(
    conn: Connection, layer: LayerTable, fid: int
) -> tuple[int, dict[str, Any] | None]:
    """(catalogue version, the feature in CRS84 or None) read together: a caller holding
    a configuration built for some version knows in one round trip whether it still
    holds (`services/ogc/fastitems.py`)."""
    statement, _with_geometry = _versioned_by_id_statement(layer)
    return feature_and_version(layer, _fetch(conn, statement, {"fid": fid}))


def feature_and_version_query(
    layer: LayerTable, dialect: sa.Dialect, fid: int
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters `get_feature_and_version` sends on PostGIS, for a caller
    that sends them itself (`services/ogc/asyncread.py`: psycopg's own async
    connection); its rows go to `feature_and_version`."""
    statement, _with_geometry = _versioned_by_id_statement(layer)
    compiled = _compiled(statement, dialect)
    return compiled.string, compiled.construct_params({"fid": fid})


def feature_and_version(
    layer: LayerTable, rows: Sequence[Sequence[Any]]
) -> tuple[int, dict[str, Any] | None]:
    """(catalogue version, the feature or None) from the rows of the by-id statement."""
    _statement, with_geometry = _versioned_by_id_statement(layer)
    version = int(rows[0][0] or 0) if rows else 0
    if not rows or rows[0][1] is None:
        return version, None
    return version, _features([rows[0][1:]], list(layer.attributes), with_geometry)[0]


@functools.lru_cache(maxsize=2048)
def _versioned_page_statement(layer: LayerTable, keyset: bool) -> tuple[sa.Select, bool]:
    """The catalogue version beside an unfiltered page in CRS84, in one statement: the
    version row outer-joined with the page (`_plain_page_statement`'s, as a subquery),
    so an empty page still gives the version."""
    page, with_geometry = _plain_page_statement(layer, layer.attributes, False, OutputCrs(), keyset)
    rows = page.subquery("page")
    state = (
        sa.select(_CATALOGUE_STATE.c.version)
        .where(_CATALOGUE_STATE.c.id == 1)
        .subquery("catalogue_state_now")
    )
    statement = (
        sa.select(state.c.version, *rows.c)
        .select_from(state.outerjoin(rows, sa.true()))
        .order_by(rows.c.fid)
    )
    return statement, with_geometry


def get_page_and_version(
    conn: Connection, layer: LayerTable, offset: int, limit: int
) -> tuple[int, FeaturePage]:
    """(catalogue version, the unfiltered page `_plain_page` gives) read together, for a
    caller holding a configuration built for some version (`services/ogc/fastitems.py`)."""
    keyset = bool(offset) and _dense_fids(conn, layer, layer.table_clause)
    statement, with_geometry = _versioned_page_statement(layer, keyset)
    values = {"rows": limit, "after" if keyset else "skip": offset}
    rows = _fetch(conn, statement, values)
    version = int(rows[0][0] or 0) if rows else 0
    found = [row[1:] for row in rows if row[1] is not None]
    page = FeaturePage(_features(found, list(layer.attributes), with_geometry), layer.feature_count)
    return version, page
