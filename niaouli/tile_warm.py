"""After a publication, the heavy low-zoom tiles of its large layers are made once and
stored (`niaouli.db.tile_overviews`), so that no map waits for them.

Called by the ingestion after its commit, like the prebuilt exports: in a server (an
upload through the portal or the API) a background thread makes them; a command
(`niaouli ingest`) would exit under it, so there the first request of each such tile
makes and stores it (`services/ogc/tile_routes.py`). Never raises: a publication is done
whatever happens here, and a tile not stored is computed on request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli import export_jobs
from niaouli.catalogue.models import Layer
from niaouli.db import tile_overviews
from niaouli.db.features import LayerTable

LOGGER = logging.getLogger(__name__)


def after_publication(engine: Engine, tables: list[str]) -> threading.Thread | None:
    """Warm the tiles of `tables` in a background thread when this process serves."""
    if not export_jobs.in_server() or not tables:
        return None
    thread = threading.Thread(
        target=warm_tables, args=(engine, tables), name="niaouli-tile-warm", daemon=True
    )
    thread.start()
    return thread


def warm_tables(engine: Engine, tables: Iterable[str]) -> int:
    """Store the heavy low-zoom tiles of the layers of `tables`; how many were stored."""
    stored = 0
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(
                    Layer.table_name,
                    Layer.collection_id,
                    Layer.attribute_schema,
                    Layer.geometry_type,
                    Layer.feature_count,
                ).where(Layer.table_name.in_(list(tables)))
            ).all()
        for table, collection_id, schema, geometry_type, count in rows:
            if geometry_type is None or (count or 0) < tile_overviews.MIN_FEATURES:
                continue
            attributes = [dict(a) for a in schema or []]
            layer = LayerTable.from_schema(
                table,
                attributes,
                has_geometry=True,
                feature_count=int(count),
                postgis=engine.dialect.name == "postgresql",
            )
            tag = tile_overviews.tile_tag(table, collection_id, attributes)
            stored += tile_overviews.warm(engine, layer, collection_id, tag).stored
    except Exception:  # noqa: BLE001 - see the module docstring
        LOGGER.exception("tuiles de %s non préparées", list(tables))
    return stored


def warm_all(engine: Engine) -> int:
    """Every layer's (`bench/features.py` on a database loaded before this existed)."""
    with Session(engine) as session:
        tables = list(session.scalars(select(Layer.table_name)))
    return warm_tables(engine, tables)
