"""Mapbox vector tiles (MVT) of layer tables in WebMercatorQuad, for both backends.

Why here: all SQL on the server-named layer tables stays under `niaouli.db` (see
`features.py` for the shared conventions: identifiers from the catalogue, quoted; every
value bound). The OGC API Tiles routes only ask for `render_tile(conn, layer, name, tile)`
(and `count_candidates` to know whether a tile is heavy to make).

- PostGIS writes the whole tile in one statement: ``ST_AsMVT`` over ``ST_AsMVTGeom`` of
  the features whose box meets the tile (GiST: ``geom && <the tile's lon/lat box>``),
  transformed with an *integer* SRID (stock pygeoapi passes a text CRS, which makes
  PostGIS look the CRS up for every row).
- SpatiaLite has no MVT encoder: the candidates come through the layer's R*Tree table
  (``idx_<table>_geom``, which SpatiaLite does not use on its own) in batches; shapely
  projects them to tile pixels, clips and snaps them to the pixel grid (vectorised in
  GEOS); only the features kept (below) are then read with their attributes, and the
  `mapbox-vector-tile` package encodes the tile.
- Complete, yet bounded: every *visible* location is in the tile, however many features
  meet it. Lines and polygons are simplified to half a tile pixel, then quantised to
  the grid as MVT requires. A tile that meets fewer than `HEAVY_CANDIDATES` features
  holds them all, as they are. A heavier one (a low zoom over a dense layer) sends once
  what the 4096 grid cannot tell apart: of features whose quantised geometry is
  identical, only the lowest fid is kept (drawn on the same pixels), so points are kept
  one per grid cell — at low zoom thousands of points fall on one cell. If its points
  still occupy more than `POINT_BUDGET` cells (a dense layer spread over the whole
  tile), the cell doubles (2, 4, 8, then 16 grid units, 1/256 of the tile side) until
  they fit; each kept point stays at its own position on the 4096 grid. Both backends
  keep the same features. A tile of more than `MAX_FEATURES` distinct features after
  that (only dense lines or polygons) is refused (`TileTooLargeError`) instead of
  exhausting memory.

A tile with no feature is an empty (zero-byte) MVT: a valid tile with no layer.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import Connection

from niaouli.db.features import Attribute, LayerTable
from niaouli.db.schema import LAYER_SCHEMA
from niaouli.settings import get_settings

EXTENT = 4096
"""Tile coordinate grid (the MVT default): 4096 units per tile side."""
BUFFER = 64
"""Units kept around the tile so that lines and outlines join across tile edges."""
MAX_ZOOM = 24
"""Deepest level of the WebMercatorQuad tile matrix set (OGC 17-083r4, levels 0 to 24)."""
EARTH_RADIUS = 6378137.0
HALF_WORLD = math.pi * EARTH_RADIUS  # 20037508.342789244 m
MAX_LATITUDE = 85.0511287798066
SIMPLIFY_PIXELS = 0.5
"""Douglas-Peucker tolerance in tile pixels (of the 4096 grid): below quantisation."""
SKIPPED_TYPES = frozenset({"binary"})
"""Attribute types left out of tiles (MVT values are strings, numbers and booleans)."""
POINT_BUDGET = 32_768
"""Most points a tile holds on the 4096 grid; beyond, points are kept one per cell of
2, 4, 8 then 16 grid units (see the module docstring). A cell of 4 units is still one
device pixel of a 512-pixel tile on a 2x screen; the bench's 4 attributes make such a
tile about 2 MB."""
MAX_SHIFT = 4
"""Coarsest point cell: 2**4 = 16 grid units, a 256 x 256 grid (at most ~70,000 cells
with the margin) — still one cell per screen pixel of a 256-pixel tile."""
MAX_FEATURES = 100_000
"""Most features a tile may hold after thinning; beyond, `TileTooLargeError` (only dense
lines or polygons get there: points are bounded by the coarsest grid)."""
HEAVY_CANDIDATES = 20_000
"""A tile meeting at least this many features is heavy: thinned here, and made a few at
a time by the server (`services/ogc/tilegate.py`). Lighter tiles are sent whole."""
SCAN_BATCH = 16_384
"""SpatiaLite candidates read and thinned per batch (bounded memory per tile)."""


class TileOutOfRangeError(ValueError):
    """z, x or y outside WebMercatorQuad; the message is for the user (French)."""


class TileTooLargeError(RuntimeError):
    """More than `MAX_FEATURES` distinct features in one tile: refused, not truncated."""


@dataclass(frozen=True)
class Tile:
    """One WebMercatorQuad tile: level `z`, column `x`, row `y` (row 0 is north)."""

    z: int
    x: int
    y: int

    @classmethod
    def checked(cls, z: int, x: int, y: int) -> Tile:
        if not 0 <= z <= MAX_ZOOM:
            raise TileOutOfRangeError(f"niveau de zoom {z} hors limites (0 à {MAX_ZOOM})")
        size = 1 << z
        if not (0 <= x < size and 0 <= y < size):
            raise TileOutOfRangeError(
                f"tuile {z}/{y}/{x} hors de la grille : ligne et colonne de 0 à {size - 1}"
            )
        return cls(z, x, y)

    @property
    def span(self) -> float:
        """Side of the tile in Web Mercator metres."""
        return 2 * HALF_WORLD / (1 << self.z)

    def mercator_bounds(self) -> tuple[float, float, float, float]:
        west = -HALF_WORLD + self.x * self.span
        north = HALF_WORLD - self.y * self.span
        return west, north - self.span, west + self.span, north

    def lonlat_bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """West, south, east, north in degrees, widened by `margin` tile sides."""
        west, south, east, north = self.mercator_bounds()
        pad = margin * self.span
        return (
            _longitude(west - pad),
            _latitude(south - pad),
            _longitude(east + pad),
            _latitude(north + pad),
        )

    def search_box(self) -> tuple[float, float, float, float]:
        """The lon/lat box of the tile and its margin, where candidates are looked for.

        Longitudes are clamped to -180..180: the margin of a tile on the antimeridian
        (x = 0 or 2**z - 1) would otherwise reach past it, and a box transformed from
        Web Mercator by PostGIS wraps there (180.7 becomes -179.3, which turned the
        z1-z4 tiles of New Caledonia into empty ones)."""
        west, south, east, north = self.lonlat_bounds(margin=BUFFER / EXTENT)
        return max(west, -180.0), south, min(east, 180.0), north

    def simplify_degrees(self) -> float:
        """A tolerance in degrees no coarser than `SIMPLIFY_PIXELS` anywhere in the tile
        (a degree of latitude spans 1/cos(lat) times more pixels than one of longitude)."""
        _west, south, _east, north = self.lonlat_bounds()
        widest = max(abs(south), abs(north))
        pixel = 360.0 / ((1 << self.z) * EXTENT)
        return SIMPLIFY_PIXELS * pixel * math.cos(math.radians(widest))


def _longitude(x: float) -> float:
    return x / HALF_WORLD * 180.0


def _latitude(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)


def render_tile(
    conn: Connection, layer: LayerTable, name: str, tile: Tile, candidates: int | None = None
) -> bytes:
    """The MVT of `tile` for `layer`, its one layer called `name` (b"" when empty).

    `candidates`: how many features meet the tile, if the caller counted them
    (`count_candidates` up to `HEAVY_CANDIDATES`); counted here otherwise, when the layer
    is large enough for the tile to be heavy. Raises `TileTooLargeError` when a heavy tile
    would hold more than `MAX_FEATURES`."""
    if not layer.has_geometry:
        return b""
    if candidates is None:
        candidates = 0
        if layer.feature_count >= HEAVY_CANDIDATES:
            candidates = count_candidates(conn, layer, tile, HEAVY_CANDIDATES)
    heavy = candidates >= HEAVY_CANDIDATES
    if layer.postgis:
        return _postgis_tile(conn, layer, name, tile, heavy)
    return _spatialite_tile(conn, layer, name, tile, heavy)


def count_candidates(conn: Connection, layer: LayerTable, tile: Tile, limit: int) -> int:
    """How many features meet the tile (through the spatial index), counted up to
    `limit` only: what says that a tile is heavy to make, at a bounded cost."""
    if not layer.has_geometry:
        return 0
    west, south, east, north = tile.search_box()
    if layer.postgis:
        quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
        statement = (
            f"SELECT count(*) FROM (SELECT 1 FROM {quote(LAYER_SCHEMA)}.{quote(layer.table)}"
            " WHERE geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
            " LIMIT %(limit)s) AS candidates"
        )
        parameters = {"west": west, "south": south, "east": east, "north": north}
        return conn.exec_driver_sql(statement, {**parameters, "limit": limit}).scalar_one()
    rtree = sa.dialects.sqlite.dialect().identifier_preparer.quote(f"idx_{layer.table}_geom")
    statement = (
        f"SELECT count(*) FROM (SELECT 1 FROM {rtree}"
        " WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ? LIMIT ?)"
    )
    return conn.exec_driver_sql(statement, (east, west, north, south, limit)).scalar_one()


# --- PostGIS ---------------------------------------------------------------------------


def _tiled(layer: LayerTable) -> list[Attribute]:
    return [a for a in layer.attributes if a.type not in SKIPPED_TYPES and a.name != "fid"]


def _postgis_values(layer: LayerTable) -> list[str]:
    """The attribute columns of the tile statements, from the layer table `l`."""
    quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
    values = []
    for attribute in _tiled(layer):
        column = f"l.{quote(attribute.column)}"
        if attribute.type in ("date", "datetime", "time"):
            column = f"to_json({column}) #>> '{{}}'"  # ISO 8601, as SQLite stores them
        elif attribute.type == "json":
            column = f"{column}::text"
        values.append(f"{column} AS {quote(attribute.name)}")
    return values


@functools.lru_cache(maxsize=512)
def _postgis_light_sql(layer: LayerTable) -> str:
    """The statement of a light tile: every feature that meets it, as it is."""
    quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
    table = f"{quote(LAYER_SCHEMA)}.{quote(layer.table)}"
    return (
        f"SELECT ST_AsMVT(t, %(name)s, {EXTENT}, 'mvt_geom', 'fid'), count(*) FROM ("
        " SELECT l.fid, ST_AsMVTGeom(ST_Transform(ST_Simplify(l.geom, %(tolerance)s, true),"
        f" 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {EXTENT}, {BUFFER}, true) AS mvt_geom,"
        f" {', '.join(['l.fid', *_postgis_values(layer)])}"
        f" FROM {table} AS l"
        " WHERE l.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
        ") AS t WHERE mvt_geom IS NOT NULL"
    )


@functools.lru_cache(maxsize=512)
def _postgis_sql(layer: LayerTable) -> str:
    """The statement of a heavy tile (built once: identifiers only, values bound).

    `c`: the candidates on the tile's grid (NULL when nothing is left of one). `cells`:
    points, the lowest fid per cell of the 4096 grid; `level`: the finest grid (shift
    0..MAX_SHIFT) on which they number at most the budget (each count is evaluated only
    when the finer one was too high); `kept`: one point per cell of that grid, at its
    own position, and lines and polygons whose grid geometry no lower fid has. The
    attributes are read for the kept features only; `count(*)` tells an overfull tile
    (at most MAX_FEATURES + 1 are ever encoded)."""
    quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
    values = _postgis_values(layer)
    table = f"{quote(LAYER_SCHEMA)}.{quote(layer.table)}"
    coarser = "".join(
        f" WHEN (SELECT count(*) FROM (SELECT FROM cells GROUP BY px >> {shift}, py >> {shift})"
        f" AS q) <= %(budget)s THEN {shift}"
        for shift in range(1, MAX_SHIFT)
    )
    return (
        "WITH c AS MATERIALIZED ("
        " SELECT fid, ST_AsMVTGeom(ST_Transform(ST_Simplify(geom, %(tolerance)s, true), 3857),"
        f" ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {EXTENT}, {BUFFER}, true) AS g"
        f" FROM {table}"
        " WHERE geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
        "), cells AS MATERIALIZED ("
        " SELECT min(fid) AS fid, ST_X(g)::bigint AS px, ST_Y(g)::bigint AS py"
        " FROM c WHERE GeometryType(g) = 'POINT' GROUP BY 2, 3"
        "), level AS MATERIALIZED ("
        " SELECT CASE WHEN (SELECT count(*) FROM cells) <= %(budget)s THEN 0"
        f"{coarser} ELSE {MAX_SHIFT} END AS shift"
        "), kept AS ("
        " SELECT a[1] AS fid, ST_Point(a[2], a[3]) AS g FROM ("
        "  SELECT min(ARRAY[fid, px, py]) AS a FROM cells, level"
        "  GROUP BY px >> shift, py >> shift) AS p"
        " UNION ALL"
        " SELECT c.fid, c.g FROM c JOIN (SELECT min(fid) AS fid FROM c"
        "  WHERE GeometryType(g) <> 'POINT' GROUP BY ST_AsBinary(g)) AS s ON s.fid = c.fid"
        ")"
        f" SELECT ST_AsMVT(t, %(name)s, {EXTENT}, 'mvt_geom', 'fid'), count(*) FROM ("
        f" SELECT kept.fid, kept.g AS mvt_geom, {', '.join(['l.fid', *values])}"
        f" FROM kept JOIN {table} AS l ON l.fid = kept.fid LIMIT %(limit)s) AS t"
    )


def _without_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT off for this connection.

    The planner prices ST_AsMVTGeom high, so every dense tile crosses `jit_above_cost`
    and pays 0.3-0.5 s of LLVM compilation that the query never wins back (measured on
    a 25,000-polygon tile: 0.85-1.1 s with JIT, 0.4-0.55 s without). On an autocommit
    connection the setting lasts for the session: set once, remembered in the pooled
    connection's `info`; inside a transaction it is set for that transaction only.
    Behind PgBouncer in transaction pooling mode a session setting would land on a
    server connection other clients share, and not on the next one we get: nothing is
    set there (docs/scaling.md: `ALTER DATABASE … SET jit = off` instead).
    """
    dbapi = conn.connection.dbapi_connection
    if getattr(dbapi, "autocommit", False):
        if get_settings().database_transaction_pooling:
            return
        if not conn.connection.info.get("niaouli_jit_off"):
            conn.exec_driver_sql("SET jit = off")
            conn.connection.info["niaouli_jit_off"] = True
    else:
        conn.exec_driver_sql("SET LOCAL jit = off")


def _postgis_tile(conn: Connection, layer: LayerTable, name: str, tile: Tile, heavy: bool) -> bytes:
    _without_jit(conn)
    west, south, east, north = tile.search_box()
    parameters = {
        "name": name,
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "west": west,
        "south": south,
        "east": east,
        "north": north,
        "tolerance": tile.simplify_degrees(),
        "budget": POINT_BUDGET,
        "limit": MAX_FEATURES + 1,
    }
    statement = _postgis_sql(layer) if heavy else _postgis_light_sql(layer)
    data, count = conn.exec_driver_sql(statement, parameters).one()
    if count > MAX_FEATURES:
        raise TileTooLargeError(tile)
    return bytes(data) if data else b""


# --- SpatiaLite ------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _spatialite_geometry_sql(layer: LayerTable) -> str:
    """The candidates of a tile (fid and geometry) through the layer's R*Tree."""
    quote = sa.dialects.sqlite.dialect().identifier_preparer.quote
    rtree = quote(f"idx_{layer.table}_geom")
    return (
        f"SELECT fid, AsBinary(geom) FROM {quote(layer.table)} WHERE fid IN ("
        f"SELECT pkid FROM {rtree} WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ?)"
    )


@functools.lru_cache(maxsize=512)
def _spatialite_attributes_sql(layer: LayerTable) -> str:
    """The attributes of the features a tile keeps (fids bound as one JSON array)."""
    quote = sa.dialects.sqlite.dialect().identifier_preparer.quote
    columns = ", ".join(["fid", *(quote(a.column) for a in _tiled(layer))])
    return (
        f"SELECT {columns} FROM {quote(layer.table)}"
        " WHERE fid IN (SELECT value FROM json_each(?)) ORDER BY fid"
    )


def _property(attribute: Attribute, value: Any) -> Any:
    if value is None:
        return None
    if attribute.type == "boolean":
        return bool(value)
    return value


def _to_pixels(tile: Tile) -> Any:
    """lon/lat (N x 2 array) -> tile pixels of the 4096 grid, y down."""
    west, _south, _east, north = tile.mercator_bounds()
    scale = EXTENT / tile.span

    def transform(coords: np.ndarray) -> np.ndarray:
        lon = np.radians(coords[:, 0])
        lat = np.radians(np.clip(coords[:, 1], -MAX_LATITUDE, MAX_LATITUDE))
        x = EARTH_RADIUS * lon
        y = EARTH_RADIUS * np.log(np.tan(np.pi / 4 + lat / 2))
        return np.column_stack(((x - west) * scale, (north - y) * scale))

    return transform


def _same_kind(geometry: shapely.Geometry, dimension: int) -> shapely.Geometry | None:
    """The parts of `geometry` of the source's dimension (MVT has no collections; a
    polygon that collapsed into a line is dropped, as ST_AsMVTGeom does)."""
    if geometry.geom_type != "GeometryCollection":
        return geometry if shapely.get_dimensions(geometry) == dimension else None
    parts = [p for p in shapely.get_parts(geometry) if not p.is_empty]
    kept = [p for p in parts if shapely.get_dimensions(p) == dimension]
    if not kept:
        return None
    return shapely.union_all(kept) if len(kept) > 1 else kept[0]


def _pixel_geometries(wkb: list[bytes | None], tile: Tile) -> tuple[np.ndarray, np.ndarray]:
    """Source geometries as valid geometries on the tile's integer grid, with their
    source dimensions (0 points, 1 lines, 2 polygons), all in vectorised GEOS calls."""
    geometries = shapely.from_wkb(wkb)
    dimensions = shapely.get_dimensions(geometries)
    if np.any(dimensions > 0):
        geometries = shapely.simplify(geometries, tile.simplify_degrees(), preserve_topology=False)
    geometries = shapely.transform(geometries, _to_pixels(tile))
    if np.any(dimensions > 0):
        geometries = shapely.clip_by_rect(
            geometries, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER
        )
    # Snap to the integer grid, then repair only what snapping (or clipping) broke: the
    # repair re-nodes, costly, and is rarely needed (ST_AsMVTGeom does the same).
    snapped = shapely.set_precision(geometries, 1.0, mode="pointwise")
    broken = ~shapely.is_valid(snapped) & (dimensions > 0)
    if broken.any():  # from the unsnapped ones: GEOS leaves on-grid input as it is
        snapped[broken] = shapely.set_precision(geometries[broken], 1.0)
    geometries = snapped
    # MVT rings: exteriors of positive area in tile coordinates (y down), holes negative;
    # done here for the whole array rather than polygon by polygon in the encoder.
    geometries = shapely.orient_polygons(geometries, exterior_cw=False)
    return geometries, dimensions


class _Kept:
    """The features a tile keeps, gathered batch by batch in bounded memory.

    Points: the lowest fid per cell of a grid of `2**shift` units, with its own position
    on the 4096 grid; the grid coarsens as soon as the cells exceed `POINT_BUDGET`. The
    counts of a grid only grow with more candidates, so this ends on the same grid as
    counting everything first (what the PostGIS statement does). Lines, polygons and
    multipoints: the lowest fid per identical grid geometry (its WKB). A light tile
    (`thin` false) keeps everything."""

    def __init__(self, thin: bool) -> None:
        self.thin = thin
        self.shift = 0
        self.fids = np.empty(0, dtype=np.int64)
        self.xs = np.empty(0, dtype=np.int64)
        self.ys = np.empty(0, dtype=np.int64)
        self.shapes: dict[bytes, tuple[int, shapely.Geometry]] = {}

    def __len__(self) -> int:
        return len(self.fids) + len(self.shapes)

    def add_points(self, fids: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
        if not self.thin:
            self.fids = np.concatenate((self.fids, fids))
            self.xs = np.concatenate((self.xs, xs))
            self.ys = np.concatenate((self.ys, ys))
            return
        self._reduce(
            np.concatenate((self.fids, fids)),
            np.concatenate((self.xs, xs)),
            np.concatenate((self.ys, ys)),
        )
        while len(self.fids) > POINT_BUDGET and self.shift < MAX_SHIFT:
            self.shift += 1
            self._reduce(self.fids, self.xs, self.ys)

    def _reduce(self, fids: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
        cx, cy = xs >> self.shift, ys >> self.shift  # floor division, negatives included
        order = np.lexsort((fids, cy, cx))
        cx, cy = cx[order], cy[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (cx[1:] != cx[:-1]) | (cy[1:] != cy[:-1])
        keep = order[first]
        self.fids, self.xs, self.ys = fids[keep], xs[keep], ys[keep]

    def add_shape(self, fid: int, geometry: shapely.Geometry) -> None:
        key = shapely.to_wkb(geometry) if self.thin else fid.to_bytes(8, signed=True)
        known = self.shapes.get(key)
        if known is None or fid < known[0]:
            self.shapes[key] = (fid, geometry)
        if len(self.shapes) > MAX_FEATURES:
            raise TileTooLargeError(f"more than {MAX_FEATURES} features")

    def geometries(self) -> dict[int, shapely.Geometry]:
        """fid -> geometry on the tile's grid, in fid order."""
        points = shapely.points(self.xs.astype(np.float64), self.ys.astype(np.float64))
        kept = dict(zip(self.fids.tolist(), points, strict=True))
        kept.update(self.shapes.values())
        return dict(sorted(kept.items()))


_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _round_like_geos(values: np.ndarray) -> np.ndarray:
    """GEOS's rounding to the grid (`set_precision`): halves go up, towards +inf."""
    whole = np.trunc(values)
    fraction = np.abs(values - whole)
    up = np.where(values >= 0, fraction >= 0.5, fraction <= 0.5)
    return np.where(up, np.ceil(values), np.floor(values)).astype(np.int64)


def _plain_points(wkb: list[bytes | None], tile: Tile) -> np.ndarray | None:
    """Fast path for a batch of plain 2D points (little-endian WKB, 21 bytes): their
    pixels, N x 2, exactly as the shapely path gives them, without a GEOS object per
    point (300 times faster); None when the batch holds anything else."""
    if any(item is None or len(item) != _POINT_WKB.itemsize for item in wkb):
        return None
    points = np.frombuffer(b"".join(wkb), dtype=_POINT_WKB)  # type: ignore[arg-type]
    if not ((points["order"] == 1).all() and (points["type"] == 1).all()):
        return None
    coordinates = np.column_stack((points["x"], points["y"]))
    if not np.isfinite(coordinates).all():  # POINT EMPTY is written as NaN, NaN
        return None
    return _round_like_geos(_to_pixels(tile)(coordinates))


def _thin(kept: _Kept, rows: list[tuple[int, bytes | None]], tile: Tile) -> None:
    """Add one batch of candidates (fid, WKB) to what the tile keeps."""
    fids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    wkb = [row[1] for row in rows]
    pixels = _plain_points(wkb, tile)
    if pixels is not None:
        kept.add_points(fids, pixels[:, 0], pixels[:, 1])
        return
    geometries, dimensions = _pixel_geometries(wkb, tile)
    present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    points = present & (shapely.get_type_id(geometries) == shapely.GeometryType.POINT)
    if points.any():
        coordinates = shapely.get_coordinates(geometries[points]).astype(np.int64)
        kept.add_points(fids[points], coordinates[:, 0], coordinates[:, 1])
    for index in np.flatnonzero(present & ~points):
        geometry = _same_kind(geometries[index], dimensions[index])
        if geometry is not None:
            kept.add_shape(int(fids[index]), geometry)


def _spatialite_tile(
    conn: Connection, layer: LayerTable, name: str, tile: Tile, heavy: bool
) -> bytes:
    west, south, east, north = tile.search_box()
    result = conn.exec_driver_sql(_spatialite_geometry_sql(layer), (east, west, north, south))
    kept = _Kept(thin=heavy)
    try:
        while rows := result.fetchmany(SCAN_BATCH):
            _thin(kept, rows, tile)
    finally:
        result.close()
    if len(kept) > MAX_FEATURES:
        raise TileTooLargeError(f"more than {MAX_FEATURES} features")
    geometries = kept.geometries()
    if not geometries:
        return b""
    attributes = _tiled(layer)
    features = []
    fids = list(geometries)
    for start in range(0, len(fids), SCAN_BATCH):
        chunk = json.dumps(fids[start : start + SCAN_BATCH])
        for row in conn.exec_driver_sql(_spatialite_attributes_sql(layer), (chunk,)):
            fid = row[0]
            properties = {"fid": fid}
            for attribute, value in zip(attributes, row[1:], strict=True):
                value = _property(attribute, value)
                if value is not None:
                    properties[attribute.name] = value
            features.append({"geometry": geometries[fid], "properties": properties, "id": fid})
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": name, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": False},
    )
