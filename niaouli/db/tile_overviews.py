"""Low-zoom vector tiles of large layers, made once at publication and kept in the database.

Why: a low-zoom tile over a dense layer is tens of thousands of features, complete (never
truncated, see `niaouli.db.tiles`): 0.4 s or more of database work (a z8 tile of 24,000
hexagons), for the very tiles every map opens with. The in-memory cache
(`services/ogc/tilecache.py`) keeps them per worker, but each worker pays the first one
and a restart pays them all. So the tiles of a layer that meet at least `MIN_FEATURES`
features (a descent from z0 that stops where tiles get lighter, at `MAX_STORED_ZOOM` at
the latest) are rendered once, after the layer is published, by the same `render_tile`
that serves the others, and stored here; serving one is a primary-key read.

Kept in step with the data: a stored tile is keyed by the layer's *tag* — its table (a
new one at every re-ingestion, replace or append) and a digest of its collection id and
tiled attributes (what the tile is made of, `tile_tag`) — so a replaced, renamed or
re-described layer never finds tiles that are not its own; they go with the table
(`niaouli.db.layers` drops them with it). Until a layer's tiles are stored, its tiles are
computed on request as before: complete, only slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from niaouli.db import tiles
from niaouli.db.engine import writing
from niaouli.db.features import LayerTable

LOGGER = logging.getLogger(__name__)

MIN_FEATURES = 8_000
"""A tile meeting at least this many features is stored (about 0.1 s or more of database
work each); lighter tiles are computed on request, as fast as a stored read or nearly.
Only layers of `tiles.HEAVY_CANDIDATES` features or more have stored tiles."""
MAX_STORED_ZOOM = 14
"""The descent stops here whatever the density (at most 4**z tiles per level, and only
where features are)."""
TABLE = sa.table(
    "tile_overviews",
    sa.column("tag", sa.String),
    sa.column("table_name", sa.String),
    sa.column("z", sa.Integer),
    sa.column("x", sa.Integer),
    sa.column("y", sa.Integer),
    sa.column("body", sa.LargeBinary),
)


def tile_tag(table: str, collection_id: str, attributes: Sequence[dict]) -> str:
    """What a layer's tiles are made of: its table, its MVT layer name (the collection id)
    and its attributes. Also the tiles' ETag (`services/ogc/tile_routes.py`)."""
    own = json.dumps([collection_id, list(attributes)], sort_keys=True)
    return f"{table}-{hashlib.sha256(own.encode()).hexdigest()[:12]}"


def stored_tile(conn: Connection, tag: str, tile: tiles.Tile) -> bytes | None:
    """The stored tile, or None when it was not stored (light, or not made yet)."""
    found = conn.execute(
        sa.select(TABLE.c.body).where(
            TABLE.c.tag == tag, TABLE.c.z == tile.z, TABLE.c.x == tile.x, TABLE.c.y == tile.y
        )
    ).first()
    return None if found is None else bytes(found[0])


def eligible(layer: LayerTable, tile: tiles.Tile, candidates: int | None) -> bool:
    """Whether this tile is one to store: heavy enough, low enough, of a large layer."""
    return (
        layer.has_geometry
        and layer.feature_count >= tiles.HEAVY_CANDIDATES
        and tile.z <= MAX_STORED_ZOOM
        and (candidates is None or candidates >= MIN_FEATURES)
    )


def store(engine: Engine, layer: LayerTable, tag: str, tile: tiles.Tile, body: bytes) -> bool:
    """Keep `body` as the stored `tile` (its own short transaction on the primary: the
    tile may have been read from a replica); False if another request stored it first."""
    try:
        with writing(engine).begin() as conn:
            conn.execute(
                sa.insert(TABLE).values(
                    tag=tag, table_name=layer.table, z=tile.z, x=tile.x, y=tile.y, body=body
                )
            )
    except sa.exc.IntegrityError:
        return False
    except sa.exc.DBAPIError as exc:  # a busy SQLite file: the tile is served all the same
        LOGGER.warning("tuile %s/%s/%s de %s non stockée : %s", tile.z, tile.y, tile.x, tag, exc)
        return False
    return True


def drop_stored(conn: Connection, table: str) -> None:
    """Forget the stored tiles of layer table `table` (dropped or replaced)."""
    conn.execute(sa.delete(TABLE).where(TABLE.c.table_name == table))


@dataclass
class WarmReport:
    stored: int = 0
    bytes: int = 0
    seconds: float = 0.0


def warm(engine: Engine, layer: LayerTable, name: str, tag: str) -> WarmReport:
    """Render and store the heavy low-zoom tiles of `layer` (MVT layer `name`).

    From z0 down: a tile meeting `MIN_FEATURES` features or more (counted through the
    spatial index, bounded) is rendered and stored, and its four children are looked
    at; a lighter one ends that branch. One short transaction per tile: serving goes on
    meanwhile, and a tile already stored (an earlier run) is not made again."""
    report = WarmReport()
    if not eligible(layer, tiles.Tile(0, 0, 0), None):
        return report
    started = time.monotonic()
    todo = [tiles.Tile(0, 0, 0)]
    while todo:
        tile = todo.pop()
        body = _warm_one(engine, layer, name, tag, tile, todo)
        if body is None:
            continue
        report.stored += 1
        report.bytes += len(body)
    report.seconds = round(time.monotonic() - started, 3)
    LOGGER.info(
        "tuiles de %s : %d stockées (%d octets) en %.1f s",
        name,
        report.stored,
        report.bytes,
        report.seconds,
    )
    return report


def _warm_one(
    engine: Engine, layer: LayerTable, name: str, tag: str, tile: tiles.Tile, todo: list
) -> bytes | None:
    """Store `tile` if heavy enough and not stored yet (its children go to `todo`).
    Made on a reading connection, stored in a short write transaction of its own (on
    SQLite a transaction that has read cannot write once another has committed)."""
    with engine.connect() as conn:
        count = tiles.count_candidates(conn, layer, tile, tiles.HEAVY_CANDIDATES)
        if count < MIN_FEATURES:
            return None
        if tile.z < MAX_STORED_ZOOM:
            todo += [
                tiles.Tile(tile.z + 1, 2 * tile.x + dx, 2 * tile.y + dy)
                for dx in (0, 1)
                for dy in (0, 1)
            ]
        if stored_tile(conn, tag, tile) is not None:
            return None
        try:
            body = tiles.render_tile(conn, layer, name, tile, count)
        except tiles.TileTooLargeError:
            return None  # refused on request too: nothing to store
    return body if store(engine, layer, tag, tile, body) else None
