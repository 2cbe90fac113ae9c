"""The catalogue's raster layers as the /ogc raster routes see them (`RasterSource`).

Every lookup goes through `niaouli.rasters.lookup` with the request's viewer, so the
dataset's access level holds on the coverage, the tiles, the preview and the point
values alike: a raster the viewer may not see is absent (404), never "forbidden". The
COG is opened from storage, local folder or S3, by `niaouli.rasters.reading`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.changes import read_version
from niaouli.catalogue.models import RasterLayer
from niaouli.rasters import lookup
from niaouli.rasters.handles import OPEN_RASTERS
from niaouli.services.ogc.raster_routes import RasterSource
from niaouli.settings import Settings

ANONYMOUS_KEPT = 256


def title_of(layer: RasterLayer) -> str:
    """The dataset's title, with the layer's name when its collection is not named after
    the dataset (one of several layers). Decided from the row alone: a tile request makes
    one query, not three (the dataset's other layers are not loaded)."""
    dataset = layer.dataset
    if layer.collection_id == dataset.slug or layer.name == dataset.slug:
        return dataset.title
    return f"{dataset.title} — {layer.name}"


def source_of(
    settings: Settings, layer: RasterLayer, portal_url: str | None = None
) -> RasterSource:
    dataset = layer.dataset
    links: list[dict[str, Any]] = []
    if portal_url:
        links.append(
            {
                "type": "text/html",
                "rel": "describedby",
                "title": "Fiche du jeu de données sur le portail",
                "href": f"{portal_url.rstrip('/')}/jeux-de-donnees/{dataset.slug}",
                "hreflang": "fr",
            }
        )
    version = f"{layer.cog_key}:{layer.cog_checksum or layer.cog_size}"
    kind = str(getattr(layer.kind, "value", layer.kind))

    def opened() -> Any:
        # An opened handle of this process if one is idle (`niaouli.rasters.handles`).
        return OPEN_RASTERS.borrow(settings, layer.cog_key, layer.cog_filename)

    return RasterSource(
        collection_id=layer.collection_id,
        title=title_of(layer),
        description=dataset.description or "",
        version=version,
        kind=kind,
        extent=layer.extent,
        open=opened,
        links=links,
        keywords=[str(k) for k in (dataset.keywords or [])],
    )


class StoredRasters:
    """`RasterCatalogue` over the database and the file storage."""

    def __init__(self, engine: Engine, settings: Settings, portal_url: str | None = None):
        self.engine, self.settings, self.portal_url = engine, settings, portal_url
        # Anonymous lookups by collection id, each with the catalogue version it was made
        # at: a tile asks one single-row read (the version) instead of the raster's query,
        # and any change to the catalogue (a dataset withdrawn, a raster replaced) is seen
        # by the next request, as the vector collections see it (`live.py`).
        self._anonymous: OrderedDict[str, tuple[int, RasterSource | None]] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, collection_id: str, viewer: Viewer) -> RasterSource | None:
        if viewer != ANONYMOUS:
            return self._find(collection_id, viewer)
        version = read_version(self.engine)
        with self._lock:
            kept = self._anonymous.get(collection_id)
        if kept is not None and kept[0] == version:
            return kept[1]
        found = self._find(collection_id, viewer)
        with self._lock:
            self._anonymous[collection_id] = (version, found)
            self._anonymous.move_to_end(collection_id)
            while len(self._anonymous) > ANONYMOUS_KEPT:
                self._anonymous.popitem(last=False)
        return found

    def _find(self, collection_id: str, viewer: Viewer) -> RasterSource | None:
        with Session(self.engine) as session:
            layer = lookup.visible_raster(session, collection_id, viewer)
            if layer is None:
                return None
            session.expunge_all()
        return source_of(self.settings, layer, self.portal_url)

    def visible(self, viewer: Viewer) -> list[RasterSource]:
        with Session(self.engine) as session:
            layers = lookup.visible_rasters(session, viewer)
            session.expunge_all()
        return [source_of(self.settings, layer, self.portal_url) for layer in layers]
