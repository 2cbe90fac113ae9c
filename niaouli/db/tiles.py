"""Mapbox vector tiles (MVT) of layer tables in WebMercatorQuad, for both backends.

Why here: all SQL on the server-named layer tables stays under `niaouli.db` (see
`features.py` for the shared conventions: identifiers from the catalogue, quoted; every
value bound). The OGC API Tiles routes only ask for `render_tile(conn, layer, name, tile)`.

- PostGIS writes the whole tile in one statement: ``ST_AsMVT`` over ``ST_AsMVTGeom`` of
  the features whose box meets the tile (GiST: ``geom && ST_Transform(ST_TileEnvelope(z,
  x, y, margin), 4326)``), transformed with an *integer* SRID (stock pygeoapi passes a
  text CRS, which makes PostGIS look the CRS up for every row).
- SpatiaLite has no MVT encoder: the candidates come through the layer's R*Tree table
  (``idx_<table>_geom``, which SpatiaLite does not use on its own), then shapely projects
  them to tile pixels, clips and snaps them to the pixel grid (vectorised in GEOS), and
  the `mapbox-vector-tile` package encodes the tile.
- Nothing is ever cut off: every feature that meets a tile is in it. Lines and polygons
  are simplified to half a tile pixel first (invisible at that zoom, and the dominant
  cost of low-zoom tiles), then quantised to the 4096 grid as MVT requires.

A tile with no feature is an empty (zero-byte) MVT: a valid tile with no layer.
"""

from __future__ import annotations

import functools
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


class TileOutOfRangeError(ValueError):
    """z, x or y outside WebMercatorQuad; the message is for the user (French)."""


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


def render_tile(conn: Connection, layer: LayerTable, name: str, tile: Tile) -> bytes:
    """The MVT of `tile` for `layer`, its one layer called `name` (b"" when empty)."""
    if not layer.has_geometry:
        return b""
    if layer.postgis:
        return _postgis_tile(conn, layer, name, tile)
    return _spatialite_tile(conn, layer, name, tile)


# --- PostGIS ---------------------------------------------------------------------------


def _tiled(layer: LayerTable) -> list[Attribute]:
    return [a for a in layer.attributes if a.type not in SKIPPED_TYPES and a.name != "fid"]


@functools.lru_cache(maxsize=512)
def _postgis_sql(layer: LayerTable) -> str:
    """The tile statement of a layer (built once: identifiers only, values bound)."""
    quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
    values = []
    for attribute in _tiled(layer):
        column = quote(attribute.column)
        if attribute.type in ("date", "datetime", "time"):
            column = f"to_json({column}) #>> '{{}}'"  # ISO 8601, as SQLite stores them
        elif attribute.type == "json":
            column = f"{column}::text"
        values.append(f"{column} AS {quote(attribute.name)}")
    table = f"{quote(LAYER_SCHEMA)}.{quote(layer.table)}"
    return (
        "SELECT ST_AsMVT(t, %(name)s, 4096, 'mvt_geom', 'fid') FROM ("
        " SELECT fid, ST_AsMVTGeom(ST_Transform(ST_Simplify(geom, %(tolerance)s, true), 3857),"
        f" ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {EXTENT}, {BUFFER}, true) AS mvt_geom,"
        f" {', '.join(['fid', *values])}"
        f" FROM {table}"
        " WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s,"
        " margin => %(margin)s), 4326)"
        ") AS t WHERE mvt_geom IS NOT NULL"
    )


def _without_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT off for this connection.

    The planner prices ST_AsMVTGeom high, so every dense tile crosses `jit_above_cost`
    and pays 0.3-0.5 s of LLVM compilation that the query never wins back (measured on
    a 25,000-polygon tile: 0.85-1.1 s with JIT, 0.4-0.55 s without). On an autocommit
    connection the setting lasts for the session: set once, remembered in the pooled
    connection's `info`; inside a transaction it is set for that transaction only.
    """
    dbapi = conn.connection.dbapi_connection
    if getattr(dbapi, "autocommit", False):
        if not conn.connection.info.get("niaouli_jit_off"):
            conn.exec_driver_sql("SET jit = off")
            conn.connection.info["niaouli_jit_off"] = True
    else:
        conn.exec_driver_sql("SET LOCAL jit = off")


def _postgis_tile(conn: Connection, layer: LayerTable, name: str, tile: Tile) -> bytes:
    _without_jit(conn)
    statement = _postgis_sql(layer)
    parameters = {
        "name": name,
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "margin": BUFFER / EXTENT,
        "tolerance": tile.simplify_degrees(),
    }
    data = conn.exec_driver_sql(statement, parameters).scalar()
    return bytes(data) if data else b""


# --- SpatiaLite ------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _spatialite_sql(layer: LayerTable) -> str:
    quote = sa.dialects.sqlite.dialect().identifier_preparer.quote
    columns = ", ".join(["fid", "AsBinary(geom)", *(quote(a.column) for a in _tiled(layer))])
    rtree = quote(f"idx_{layer.table}_geom")
    return (
        f"SELECT {columns} FROM {quote(layer.table)} WHERE fid IN ("
        f"SELECT pkid FROM {rtree} WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ?)"
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


def _spatialite_tile(conn: Connection, layer: LayerTable, name: str, tile: Tile) -> bytes:
    west, south, east, north = tile.lonlat_bounds(margin=BUFFER / EXTENT)
    rows = conn.exec_driver_sql(_spatialite_sql(layer), (east, west, north, south)).all()
    if not rows:
        return b""
    geometries, dimensions = _pixel_geometries([row[1] for row in rows], tile)
    attributes = _tiled(layer)
    features = []
    for row, geometry, dimension in zip(rows, geometries, dimensions, strict=True):
        if geometry is None or geometry.is_empty:
            continue
        geometry = _same_kind(geometry, dimension)
        if geometry is None:
            continue
        properties = {"fid": row[0]}
        for attribute, value in zip(attributes, row[2:], strict=True):
            value = _property(attribute, value)
            if value is not None:
                properties[attribute.name] = value
        features.append({"geometry": geometry, "properties": properties, "id": row[0]})
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": name, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True, "check_winding_order": False},
    )
