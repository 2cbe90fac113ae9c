"""All SQL on layer tables, for both backends, in one place.

Layer tables are named by the server (`lyr_<hex>`), never from user input; columns come
from `ColumnSpec`s and are always quoted. PostGIS tables live in the `layers` schema and
are filled with one binary `COPY` per layer (`niaouli.db.pgcopy`); SpatiaLite tables are
filled with batched INSERTs. Geometries arrive as WKB in EPSG:4326 (or shapely objects).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from queue import Queue
from typing import Any, Protocol

import numpy as np
import psycopg
import pyarrow as pa
import shapely
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection, text

from niaouli.db import pgcopy
from niaouli.db.schema import LAYER_SCHEMA
from niaouli.i18n import _

COPY_QUEUE_CHUNKS = 64  # of up to 128 KB: COPY data read but not yet sent to the server
PG_TYPES = {
    "integer": "bigint",
    "number": "double precision",
    "boolean": "boolean",
    "string": "text",
    "date": "date",
    "datetime": "timestamptz",
    "time": "time",
    "binary": "bytea",
    "json": "jsonb",
}
SQLITE_TYPES = {
    "integer": "INTEGER",
    "number": "REAL",
    "boolean": "INTEGER",
    "string": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "time": "TEXT",
    "binary": "BLOB",
    "json": "TEXT",
}


def _drop_stored_tiles(conn: Connection, table: str) -> None:
    """The stored low-zoom tiles of `table` go with it (`niaouli.db.tile_overviews`)."""
    conn.execute(text("DELETE FROM tile_overviews WHERE table_name = :t"), {"t": table})


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # as in the source
    column: str  # in the database
    type: str  # integer | number | boolean | string | date | datetime | time | binary | json

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "column": self.column, "type": self.type}


def _is_json_text(arrow_type: pa.DataType) -> bool:
    """GDAL's JSON fields (a GeoJSON property holding an array of objects) arrive as
    `arrow.json` extension values: JSON text already, not Python values to encode."""
    return getattr(arrow_type, "extension_name", None) == "arrow.json"


def _json_text(value: Any, text_already: bool) -> str | None:
    """The JSON text stored for one value (an unreadable JSON text is kept as a string)."""
    if value is None:
        return None
    if text_already and isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value, ensure_ascii=False)
        return value
    return json.dumps(value, default=str)


def to_loadable(array: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array | pa.ChunkedArray:
    """Arrow values the database loaders accept as they are (JSON as text)."""
    if kind == "json":
        text_already = _is_json_text(array.type)
        return pa.array(
            [_json_text(v, text_already) for v in array.to_pylist()],
            type=pa.string(),
        )
    if kind == "string" and not (
        pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    ):
        return array.cast(pa.string())
    return array


def as_wkb(geoms: np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Geometries as an Arrow array of WKB (in EPSG:4326, without SRID), None as NULL.

    Layer stores take WKB (so that a loader can pass a source's WKB through untouched)
    or, as before, an array of shapely geometries.
    """
    if isinstance(geoms, pa.Array | pa.ChunkedArray):
        return geoms
    return pa.array(shapely.to_wkb(np.asarray(geoms, dtype=object)), type=pa.binary())


def new_table_name() -> str:
    return f"lyr_{secrets.token_hex(8)}"


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (both backends)."""
    return '"' + identifier.replace('"', '""') + '"'


class LayerStore(Protocol):
    def create(
        self, conn: Connection, table: str, columns: Sequence[ColumnSpec], geometry_type: str | None
    ) -> None: ...

    def append(
        self,
        conn: Connection,
        table: str,
        columns: Sequence[ColumnSpec],
        fids: np.ndarray,
        attributes: pa.Table,
        geoms: np.ndarray | pa.Array | None,
    ) -> None: ...

    def writer(
        self, conn: Connection, table: str, columns: Sequence[ColumnSpec], has_geometry: bool
    ) -> AbstractContextManager[Callable[[np.ndarray, pa.Table, Any], None]]:
        """`append` for the successive batches of one layer, as one load."""
        ...

    def finish(self, conn: Connection, table: str, has_geometry: bool) -> None: ...

    def drop(self, conn: Connection, table: str, has_geometry: bool) -> None: ...

    def exists(self, conn: Connection, table: str) -> bool: ...

    def count(self, conn: Connection, table: str) -> int: ...

    def max_fid(self, conn: Connection, table: str) -> int: ...

    def copy_rows(
        self,
        conn: Connection,
        source: str,
        target: str,
        columns: Sequence[tuple[str, str]],
        has_geometry: bool,
    ) -> None:
        """Copy every row of `source` into `target` (`columns`: source -> target names)."""
        ...

    def list_tables(self, conn: Connection) -> list[str]: ...


class _Writer(QueuedLibpqWriter):
    """psycopg's writer thread, with at most 8 MB queued (psycopg allows 128 MB)."""

    def __init__(self, cursor) -> None:  # noqa: ANN001
        super().__init__(cursor)
        self._queue = Queue(maxsize=COPY_QUEUE_CHUNKS)


@contextmanager
def _server_limits() -> Iterator[None]:
    """PostgreSQL's size limits met during a COPY, as a `CopyValueError` in French.

    A row holds at most 8 KB besides its long texts (moved out of line), so a file with
    a thousand numeric columns can fail although it has fewer than 1,600 columns; the
    server reports it (SQLSTATE class 54) while or after the rows are sent.
    """
    try:
        yield
    except psycopg.Error as exc:
        if not (exc.sqlstate or "").startswith("54"):
            raise
        detail = exc.diag.message_primary or str(exc)
        raise pgcopy.CopyValueError(
            _("ligne trop grande pour PostgreSQL, trop de colonnes remplies (%(detail)s)")
            % {"detail": detail}
        ) from None


class _PortableSql:
    """The statements both backends write the same way, on their own table names."""

    def qualified(self, table: str) -> str:
        raise NotImplementedError

    def count(self, conn, table):  # noqa: ANN001, ANN201
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {self.qualified(table)}").scalar())

    def max_fid(self, conn, table):  # noqa: ANN001, ANN201
        return int(
            conn.exec_driver_sql(
                f"SELECT coalesce(max(fid), 0) FROM {self.qualified(table)}"
            ).scalar()
        )

    def copy_rows(self, conn, source, target, columns, has_geometry):  # noqa: ANN001, ANN201
        into = ["fid", *(["geom"] if has_geometry else []), *(quote(t) for _, t in columns)]
        out = ["fid", *(["geom"] if has_geometry else []), *(quote(s) for s, _ in columns)]
        conn.exec_driver_sql(
            f"INSERT INTO {self.qualified(target)} ({', '.join(into)}) "
            f"SELECT {', '.join(out)} FROM {self.qualified(source)}"
        )


class PostgisLayers(_PortableSql):
    schema = LAYER_SCHEMA

    def qualified(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}"

    def create(self, conn, table, columns, geometry_type):  # noqa: ANN001, ANN201
        defs = ["fid bigint NOT NULL"]
        if geometry_type:
            defs.append(f"geom geometry({geometry_type},4326)")
        defs += [f"{quote(c.column)} {PG_TYPES[c.type]}" for c in columns]
        conn.exec_driver_sql(f"CREATE TABLE {self.qualified(table)} ({', '.join(defs)})")

    def append(self, conn, table, columns, fids, attributes, geoms):  # noqa: ANN001, ANN201
        with self.writer(conn, table, columns, geoms is not None) as write:
            write(fids, attributes, geoms)

    @contextmanager
    def writer(self, conn, table, columns, has_geometry):  # noqa: ANN001, ANN201
        """One binary COPY for all the batches of a layer (see `niaouli.db.pgcopy`).

        Batches are encoded column-wise and sent by psycopg's queued writer thread, so the
        server inserts one batch while the next is read; the queue bounds the memory.
        Zone-less date-time columns are loaded as `timestamp` then converted by the server
        with the session's time zone, exactly as it reads zone-less text.
        """
        qualified = self.qualified(table)
        names = ["fid", *(["geom"] if has_geometry else []), *(c.column for c in columns)]
        statement = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(self.schema),
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(n) for n in names),
        )
        pg_types = [PG_TYPES[c.type] for c in columns]
        naive: list[str] = []
        raw = conn.connection.driver_connection
        with _server_limits(), ExitStack() as stack:
            copy = None

            def write(fids, attributes, geoms):  # noqa: ANN001, ANN202
                nonlocal copy
                if copy is None:
                    for i, spec in enumerate(columns):
                        if spec.type == "datetime" and pgcopy.is_naive_datetime(
                            attributes.schema.field(spec.name).type
                        ):
                            pg_types[i] = "timestamp"
                            naive.append(spec.column)
                            conn.exec_driver_sql(
                                f"ALTER TABLE {qualified} ALTER COLUMN {quote(spec.column)} "
                                "TYPE timestamp"
                            )
                    cursor = stack.enter_context(raw.cursor())
                    copy = stack.enter_context(cursor.copy(statement, writer=_Writer(cursor)))
                    copy.write(pgcopy.HEADER)
                fields = [pgcopy.column_segments(pa.array(fids, type=pa.int64()), "bigint")]
                if has_geometry:
                    geometry = pgcopy.ewkb(as_wkb(geoms), 4326)
                    fields.append(pgcopy.column_segments(geometry, "geometry"))
                for spec, pg_type in zip(columns, pg_types, strict=True):
                    values = to_loadable(attributes.column(spec.name), spec.type)
                    try:
                        fields.append(pgcopy.column_segments(values, pg_type))
                    except (pgcopy.CopyValueError, pa.ArrowInvalid) as exc:
                        raise pgcopy.CopyValueError(f"champ « {spec.name} » : {exc}") from None
                copy.write(pgcopy.encode_rows(fields, len(fids)))

            yield write
            if copy is not None:
                copy.write(pgcopy.TRAILER)
        for column in naive:
            conn.exec_driver_sql(
                f"ALTER TABLE {qualified} ALTER COLUMN {quote(column)} TYPE timestamptz "
                f"USING {quote(column)}"
            )

    def finish(self, conn, table, has_geometry):  # noqa: ANN001, ANN201
        qualified = self.qualified(table)
        # Index builds sort in memory up to maintenance_work_mem: at the default 64 MB the
        # GiST sort of a million points spills to disk (about 1.5 s more). Raised for
        # this transaction only, never lowered.
        conn.exec_driver_sql(
            "SELECT set_config('maintenance_work_mem', '256MB', true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 256 * 1024 * 1024"
        )
        conn.exec_driver_sql(f"ALTER TABLE {qualified} ADD PRIMARY KEY (fid)")
        if has_geometry:
            conn.exec_driver_sql(f"CREATE INDEX ON {qualified} USING gist (geom)")
        conn.exec_driver_sql(f"ANALYZE {qualified}")

    def drop(self, conn, table, has_geometry):  # noqa: ANN001, ANN201, ARG002
        _drop_stored_tiles(conn, table)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.qualified(table)}")

    def exists(self, conn, table):  # noqa: ANN001, ANN201
        return bool(
            conn.execute(
                text("SELECT to_regclass(:name) IS NOT NULL"),
                {"name": f"{self.schema}.{table}"},
            ).scalar()
        )

    def list_tables(self, conn):  # noqa: ANN001, ANN201
        rows = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename LIKE 'lyr\\_%'"
            ),
            {"s": self.schema},
        )
        return [r[0] for r in rows]


class SpatialiteLayers(_PortableSql):
    def qualified(self, table: str) -> str:
        return quote(table)

    def create(self, conn, table, columns, geometry_type):  # noqa: ANN001, ANN201
        defs = ["fid INTEGER PRIMARY KEY"]
        defs += [f"{quote(c.column)} {SQLITE_TYPES[c.type]}" for c in columns]
        conn.exec_driver_sql(f"CREATE TABLE {quote(table)} ({', '.join(defs)})")
        if geometry_type:
            ok = conn.execute(
                text("SELECT AddGeometryColumn(:t, 'geom', 4326, :g, 'XY')"),
                {"t": table, "g": geometry_type.upper()},
            ).scalar()
            if ok != 1:
                raise RuntimeError(f"SpatiaLite refused the geometry column of {table}")

    def append(self, conn, table, columns, fids, attributes, geoms):  # noqa: ANN001, ANN201
        names = ["fid"]
        placeholders = ["?"]
        series: list[list] = [fids.tolist()]
        if geoms is not None:
            names.append("geom")
            placeholders.append("GeomFromWKB(?, 4326)")
            series.append(as_wkb(geoms).to_pylist())
        for spec in columns:
            values = to_loadable(attributes.column(spec.name), spec.type).to_pylist()
            if spec.type in ("date", "datetime", "time"):
                values = [None if v is None else v.isoformat() for v in values]
            elif spec.type == "boolean":
                values = [None if v is None else int(v) for v in values]
            names.append(spec.column)
            placeholders.append("?")
            series.append(values)
        statement = (
            f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join(placeholders)})"
        )
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(statement, zip(*series, strict=True))
        finally:
            cursor.close()

    @contextmanager
    def writer(self, conn, table, columns, has_geometry):  # noqa: ANN001, ANN201, ARG002
        yield lambda fids, attributes, geoms: self.append(
            conn, table, columns, fids, attributes, geoms
        )

    def finish(self, conn, table, has_geometry):  # noqa: ANN001, ANN201
        if has_geometry:
            conn.execute(text("SELECT CreateSpatialIndex(:t, 'geom')"), {"t": table})

    def drop(self, conn, table, has_geometry):  # noqa: ANN001, ANN201
        _drop_stored_tiles(conn, table)
        if has_geometry:
            conn.execute(text("SELECT DisableSpatialIndex(:t, 'geom')"), {"t": table})
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote('idx_' + table + '_geom')}")
            conn.execute(text("SELECT DiscardGeometryColumn(:t, 'geom')"), {"t": table})
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table)}")

    def exists(self, conn, table):  # noqa: ANN001, ANN201
        return bool(
            conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
            ).scalar()
        )

    def list_tables(self, conn):  # noqa: ANN001, ANN201
        rows = conn.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name LIKE 'lyr\\_%' ESCAPE '\\'"
            )
        )
        return [r[0] for r in rows]


def layer_store(conn: Connection) -> LayerStore:
    return PostgisLayers() if conn.dialect.name == "postgresql" else SpatialiteLayers()


# --- reading a whole layer (exports, previews) -----------------------------------------

ARROW_TYPES = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "binary": pa.binary(),
    "json": pa.string(),
}
GEOMETRY_FIELD = "geometry"


def _to_arrow_value(value: Any, kind: str) -> Any:
    """A value as the database returned it -> what `ARROW_TYPES[kind]` accepts.

    SpatiaLite keeps dates as ISO text and booleans as integers; PostGIS returns JSON as
    Python objects. Callers get the same Arrow types from both.
    """
    if value is None:
        return None
    if kind == "boolean":
        return bool(value)
    if kind == "json":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if kind == "datetime":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if kind == "time" and isinstance(value, str):
        return time.fromisoformat(value)
    if kind == "binary":
        return bytes(value)
    return value


def layer_arrow_schema(columns: Sequence[ColumnSpec], has_geometry: bool) -> pa.Schema:
    """Fields of `read_layer` batches: `fid`, WKB `geometry` if any, then the db columns."""
    fields = [pa.field("fid", pa.int64())]
    if has_geometry:
        fields.append(pa.field(GEOMETRY_FIELD, pa.binary()))
    fields += [pa.field(c.column, ARROW_TYPES[c.type]) for c in columns]
    return pa.schema(fields)


def read_layer(
    conn: Connection,
    table: str,
    columns: Sequence[ColumnSpec],
    has_geometry: bool,
    limit: int | None = None,
    batch_size: int = 10_000,
) -> Iterator[pa.RecordBatch]:
    """Stream a layer's rows, ordered by `fid`, as Arrow batches (geometry as WKB, 4326).

    On PostGIS the rows come through a server-side cursor, so a million-feature export
    holds one batch in memory, not the table.
    """
    postgis = conn.dialect.name == "postgresql"
    qualified = PostgisLayers().qualified(table) if postgis else quote(table)
    selected = ["fid"]
    if has_geometry:
        selected.append("ST_AsBinary(geom)" if postgis else "AsBinary(geom)")
    selected += [quote(c.column) for c in columns]
    statement = f"SELECT {', '.join(selected)} FROM {qualified} ORDER BY fid"
    if limit is not None:
        statement += f" LIMIT {int(limit)}"
    schema = layer_arrow_schema(columns, has_geometry)
    kinds = ["integer"] + (["binary"] if has_geometry else []) + [c.type for c in columns]
    # Options of this statement only: the connection itself is left as it was (a caller
    # may go on writing on it, as the guard's `rewrite_layer` does).
    result = conn.exec_driver_sql(
        statement, execution_options={"stream_results": True, "yield_per": batch_size}
    )
    for rows in result.partitions(batch_size):
        arrays = [
            pa.array([_to_arrow_value(row[i], kind) for row in rows], type=field.type)
            for i, (kind, field) in enumerate(zip(kinds, schema, strict=True))
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


MAX_PREVIEW_ROWS = 50


def first_rows(
    conn: Connection, table: str, columns: Sequence[ColumnSpec], limit: int
) -> list[dict[str, Any]]:
    """The first `limit` rows (by `fid`, at most MAX_PREVIEW_ROWS) without geometry.

    For the table preview of dataset pages: values keyed by database column, the same
    Python types on both backends (`read_layer`'s conversions).
    """
    bounded = max(0, min(int(limit), MAX_PREVIEW_ROWS))
    if bounded == 0:
        return []
    batches = read_layer(conn, table, columns, False, limit=bounded, batch_size=bounded)
    return [row for batch in batches for row in batch.to_pylist()]


# --- the personal-data guard (niaouli.privacy) -----------------------------------------


def sample_values(
    conn: Connection, table: str, columns: Sequence[ColumnSpec], rows: int, max_chars: int
) -> dict[str, list[str]]:
    """Up to `rows` rows spread over the whole table, each value as text cut to
    `max_chars` characters, keyed by database column (NULLs left out).

    Bounded whatever the table holds: the rows are primary-key look-ups of evenly spaced
    `fid`s (never a scan of the table), and a value of a gigabyte is cut by the database
    before it is sent.
    """
    if not columns:
        return {}
    postgis = conn.dialect.name == "postgresql"
    qualified = PostgisLayers().qualified(table) if postgis else quote(table)
    low, high = conn.exec_driver_sql(f"SELECT min(fid), max(fid) FROM {qualified}").one()
    out: dict[str, list[str]] = {c.column: [] for c in columns}
    if low is None:
        return out
    span = int(high) - int(low) + 1
    if span <= rows:
        where = f"fid BETWEEN {int(low)} AND {int(high)}"
    else:
        step = span / rows
        fids = sorted({int(low) + int(i * step) for i in range(rows)})
        where = f"fid IN ({', '.join(str(f) for f in fids)})"
    n = int(max_chars)
    cut = [
        f"left(CAST({quote(c.column)} AS text), {n})"
        if postgis
        else f"substr(CAST({quote(c.column)} AS TEXT), 1, {n})"
        for c in columns
    ]
    statement = f"SELECT {', '.join(cut)} FROM {qualified} WHERE {where} LIMIT {int(rows)}"
    for row in conn.exec_driver_sql(statement):
        for spec, value in zip(columns, row, strict=True):
            if value is not None and value != "":
                out[spec.column].append(str(value))
    return out


def rewrite_layer(
    conn: Connection,
    source: str,
    target: str,
    columns: Sequence[ColumnSpec],
    geometry_type: str | None,
    changes: dict[str, tuple[ColumnSpec | None, Callable[[Any], Any] | None]],
) -> list[ColumnSpec]:
    """Copy the layer table `source` into the new table `target`, each column kept, dropped
    (`changes[column] = (None, None)`) or rewritten value by value (`(new spec, function)`),
    then drop `source`; the new columns are returned. For the personal-data guard's
    anonymising actions: a new table name also retires every cache keyed by it (exports,
    tiles), so every interface serves the changed data.

    Streamed batch by batch (a server-side cursor on PostGIS, one COPY per batch), so a
    large layer is never held in memory.
    """
    store = layer_store(conn)
    has_geometry = geometry_type is not None
    plan: list[tuple[ColumnSpec, str, Callable[[Any], Any] | None]] = []
    for spec in columns:
        new, function = changes.get(spec.column, (spec, None))
        if new is not None:
            plan.append((new, spec.column, function))
    new_columns = [new for new, _c, _f in plan]
    store.create(conn, target, new_columns, geometry_type)
    for batch in read_layer(conn, source, columns, has_geometry):
        arrays = []
        for new, column, function in plan:
            values = batch.column(column)
            if function is not None:
                values = pa.array(
                    [None if v is None else function(v) for v in values.to_pylist()],
                    type=ARROW_TYPES[new.type],
                )
            arrays.append(values)
        attributes = pa.table(arrays, names=[n.name for n in new_columns]) if plan else pa.table({})
        geoms = batch.column(GEOMETRY_FIELD) if has_geometry else None
        store.append(conn, target, new_columns, batch.column("fid").to_numpy(), attributes, geoms)
    store.finish(conn, target, has_geometry)
    store.drop(conn, source, has_geometry)
    return new_columns


# --- feature by feature (campaign merges) ------------------------------------------------
#
# A merge changes a few features of a big layer in place: statements keyed by `fid` (the
# primary key on both backends) and the spatial index kept by the database, so the cost
# follows the number of features changed, never the size of the layer.


@dataclass(frozen=True)
class FeatureRow:
    """One feature to write: `values` keyed by database column, as Python values of the
    column's logical type (str, int, float, bool, date, datetime, time, bytes, or any
    JSON value for `json`); `wkb` in EPSG:4326 (None: no geometry, or unchanged)."""

    fid: int
    wkb: bytes | None
    values: dict[str, Any]


def _db_value(value: Any, kind: str, postgis: bool) -> Any:  # noqa: ANN401
    """A Python value as the backend's column takes it (what `_to_arrow_value` reverses)."""
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "boolean":
        return bool(value) if postgis else int(bool(value))
    if kind in ("date", "datetime", "time") and not postgis:
        return value.isoformat() if not isinstance(value, str) else value
    return value


def _geometry_sql(postgis: bool) -> str:
    return "ST_GeomFromWKB(:geom, 4326)" if postgis else "GeomFromWKB(:geom, 4326)"


def _placeholder(column: ColumnSpec, key: str, postgis: bool) -> str:
    if postgis and column.type == "json":
        return f"CAST(:{key} AS jsonb)"
    return f":{key}"


def add_columns(conn: Connection, table: str, columns: Sequence[ColumnSpec]) -> None:
    """New nullable attribute columns (a constant-time change of the table's definition on
    both backends: no row is rewritten)."""
    store = layer_store(conn)
    types = PG_TYPES if conn.dialect.name == "postgresql" else SQLITE_TYPES
    for column in columns:
        conn.exec_driver_sql(
            f"ALTER TABLE {store.qualified(table)} ADD COLUMN {quote(column.column)} "
            f"{types[column.type]}"
        )


def insert_features(
    conn: Connection,
    table: str,
    columns: Sequence[ColumnSpec],
    has_geometry: bool,
    rows: Sequence[FeatureRow],
) -> None:
    """Insert `rows` with the fids they carry (the caller allocates them)."""
    if not rows:
        return
    postgis = conn.dialect.name == "postgresql"
    store = layer_store(conn)
    names = ["fid", *(["geom"] if has_geometry else []), *(c.column for c in columns)]
    if postgis:  # psycopg's pipelined executemany, without SQLAlchemy's per-row work
        marks = ["%s", *(["ST_GeomFromWKB(%s, 4326)"] if has_geometry else [])]
        marks += ["CAST(%s AS jsonb)" if c.type == "json" else "%s" for c in columns]
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {store.qualified(table)} ({', '.join(quote(n) for n in names)}) "
                f"VALUES ({', '.join(marks)})",
                [
                    (
                        row.fid,
                        *([row.wkb] if has_geometry else []),
                        *(_db_value(row.values.get(c.column), c.type, True) for c in columns),
                    )
                    for row in rows
                ],
            )
        return
    values = [":fid", *([_geometry_sql(postgis)] if has_geometry else [])]
    values += [_placeholder(c, f"c{i}", postgis) for i, c in enumerate(columns)]
    statement = text(
        f"INSERT INTO {store.qualified(table)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join(values)})"
    )
    conn.execute(
        statement,
        [
            {
                "fid": row.fid,
                **({"geom": row.wkb} if has_geometry else {}),
                **{
                    f"c{i}": _db_value(row.values.get(c.column), c.type, postgis)
                    for i, c in enumerate(columns)
                },
            }
            for row in rows
        ],
    )


def update_features(
    conn: Connection,
    table: str,
    columns: Sequence[ColumnSpec],
    has_geometry: bool,
    rows: Sequence[FeatureRow],
) -> int:
    """Replace, in each row's feature, its geometry (unless None) and the columns its
    `values` name (others stay as they are); how many features were found."""
    postgis = conn.dialect.name == "postgresql"
    store = layer_store(conn)
    by_column = {c.column: (i, c) for i, c in enumerate(columns)}
    groups: dict[tuple[bool, tuple[str, ...]], list[FeatureRow]] = {}
    for row in rows:  # one statement per shape of change, each run for many rows
        key = (has_geometry and row.wkb is not None, tuple(sorted(row.values)))
        groups.setdefault(key, []).append(row)
    found = 0
    for (with_geometry, names), group in groups.items():
        sets = [f"geom = {_geometry_sql(postgis)}"] if with_geometry else []
        sets += [
            f"{quote(n)} = {_placeholder(by_column[n][1], f'c{by_column[n][0]}', postgis)}"
            for n in names
        ]
        if not sets:
            continue
        statement = text(f"UPDATE {store.qualified(table)} SET {', '.join(sets)} WHERE fid = :fid")
        params = [
            {
                "fid": row.fid,
                **({"geom": row.wkb} if with_geometry else {}),
                **{
                    f"c{by_column[n][0]}": _db_value(row.values[n], by_column[n][1].type, postgis)
                    for n in names
                },
            }
            for row in group
        ]
        result = conn.execute(statement, params)
        found += result.rowcount if result.rowcount >= 0 else len(group)
    return found


def delete_features(conn: Connection, table: str, fids: Sequence[int]) -> int:
    """Delete the features `fids`; how many there were."""
    if not fids:
        return 0
    store = layer_store(conn)
    deleted = 0
    for start in range(0, len(fids), 1000):
        chunk = [int(f) for f in fids[start : start + 1000]]
        result = conn.exec_driver_sql(
            f"DELETE FROM {store.qualified(table)} WHERE fid IN ({', '.join(map(str, chunk))})"
        )
        deleted += result.rowcount
    return deleted
