"""The public map (`/carte`, alias `/map`): every layer the visitor may see, as vector tiles,
and every raster layer as map tiles (`/ogc/collections/{id}/map/tiles`, read through its
TileJSON, which carries the legend: colour ramp or classes), with an opacity slider each
and each band's value at a clicked point (`/ogc/collections/{id}/value`).

The layer list comes from the catalogue with the request's viewer (the same rule as OGC
API, so a draft layer is never listed); the browser then reads each layer's tiles from
`/ogc/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}`. The page is rendered in HTML
(real checkboxes, links) and `static/js/carte.js` turns it into the map: no inline
script, the settings go in a JSON data block.

The background is `NIAOULI_MAP_BACKGROUND`: a raster tile URL template (OpenStreetMap by
default) whose origin is added to the page's CSP, or `none`. Whatever happens to it, the
layers and a bundled outline of the communes are drawn over a plain background.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from niaouli.catalogue import columns, service
from niaouli.catalogue.models import Layer, RasterLayer
from niaouli.i18n import N_, _
from niaouli.portal.common import Portal, viewer_for
from niaouli.portal.security import page_csp
from niaouli.rasters import lookup as raster_lookup

PALETTE_SIZE = 12
"""Distinct layer colours, `.couleur-0` ... `.couleur-11` in niaouli.css (the JS reads them)."""
SHOWN_BY_DEFAULT = 8
"""With at most this many layers all are shown on arrival; with more, the visitor picks."""
NEW_CALEDONIA = (163.5, -22.9, 168.2, -19.5)
TILES = "/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}"
RASTER_TILEJSON = "/ogc/collections/{collection}/map/tiles/WebMercatorQuad?f=tilejson"
RASTER_VALUE = "/ogc/collections/{collection}/value"
RASTER_OPACITY = 80
"""Percent: a raster starts slightly see-through, the background's names show under it."""
OUTLINE = "/static/carte/communes-nc.geojson"
OSM_ATTRIBUTION = N_("© les contributeurs d’OpenStreetMap")


@dataclass(frozen=True)
class Background:
    """A raster tile background: URL template, origin (for the CSP) and tile host."""

    template: str
    origin: str
    host: str

    @property
    def attribution(self) -> str:
        """The credit line, in the language of the request being answered."""
        if self.host.endswith("openstreetmap.org"):
            return _(OSM_ATTRIBUTION)
        return _("Fond : %(host)s") % {"host": self.host}


def parse_background(value: str) -> Background | None:
    """`NIAOULI_MAP_BACKGROUND` → a background, or None for `none` (plain background)."""
    text = value.strip()
    if text.lower() in ("", "none", "aucun"):
        return None
    parts = urlsplit(text)
    placeholders = all(p in text for p in ("{z}", "{x}", "{y}"))
    if parts.scheme not in ("http", "https") or not parts.netloc or not placeholders:
        raise ValueError(
            "NIAOULI_MAP_BACKGROUND must be an http(s) raster tile URL template with {z}, "
            f"{{x}} and {{y}} (e.g. https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png) "
            f"or 'none', not {value!r}"
        )
    host = parts.hostname or parts.netloc
    return Background(text, f"{parts.scheme}://{parts.netloc}", host)


def geometry_kind(geometry_type: str | None) -> str | None:
    """How a layer is drawn: polygon, line, point, mixed; None for a table."""
    if not geometry_type:
        return None
    kind = geometry_type.lower()
    for name in ("polygon", "line", "point"):
        if name in kind:
            return name
    return "mixed"


def _folded(text: str) -> str:
    """Lower-case text without accents, for the layer search box."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def layer_views(layers: list[Layer]) -> list[dict[str, Any]]:
    """What the template shows for each spatial layer, sorted by title, coloured in turn."""
    spatial = [layer for layer in layers if geometry_kind(layer.geometry_type)]
    spatial.sort(key=lambda layer: (_folded(layer.dataset.title), layer.name))
    titles = [layer.dataset.title for layer in spatial]
    views = []
    for index, layer in enumerate(spatial):
        dataset = layer.dataset
        title = dataset.title
        if titles.count(title) > 1 or len(dataset.layers) > 1:
            title = f"{title} — {layer.name}"
        organisation = dataset.organisation.name
        views.append(
            {
                "collection_id": layer.collection_id,
                "title": title,
                "organisation": organisation,
                "dataset_slug": dataset.slug,
                "kind": geometry_kind(layer.geometry_type),
                "geometry_type": layer.geometry_type,
                "feature_count": layer.feature_count,
                "bbox": ",".join(f"{v:.6f}" for v in layer.extent) if layer.extent else "",
                "colour": index % PALETTE_SIZE,
                "search": _folded(f"{title} {layer.collection_id} {organisation}"),
            }
        )
    return views


def raster_views(rasters: list[RasterLayer]) -> list[dict[str, Any]]:
    """What the template shows for each raster layer, sorted by title."""
    views = []
    for layer in sorted(rasters, key=lambda r: (_folded(r.dataset.title), r.name)):
        dataset = layer.dataset
        title = dataset.title
        if len(dataset.raster_layers) + len(dataset.layers) > 1:
            title = f"{title} — {layer.name}"
        organisation = dataset.organisation.name
        views.append(
            {
                "collection_id": layer.collection_id,
                "title": title,
                "organisation": organisation,
                "dataset_slug": dataset.slug,
                "raster_kind": str(getattr(layer.kind, "value", layer.kind)),
                "width": layer.width,
                "height": layer.height,
                "resolution": layer.resolution_x,
                "bands": layer.band_count,
                "bbox": ",".join(f"{v:.6f}" for v in layer.extent) if layer.extent else "",
                "search": _folded(f"{title} {layer.collection_id} {organisation}"),
            }
        )
    return views


class PublicMap:
    """The map page and its English alias."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.background = parse_background(portal.settings.map_background)

    def page(self, request: Request) -> HTMLResponse:
        with Session(self.portal.engine) as session:
            viewer = viewer_for(request)
            visible = list(service.list_layers(session, viewer))
            layers = layer_views(visible)
            rasters = raster_views(raster_lookup.visible_rasters(session, viewer))
            config = {
                "tiles": TILES,
                "rasterTileJson": RASTER_TILEJSON,
                "rasterValue": RASTER_VALUE,
                "outline": OUTLINE,
                "bounds": NEW_CALEDONIA,
                "showAll": len(layers) + len(rasters) <= SHOWN_BY_DEFAULT,
                # What the editors said about columns: the pop-ups' labels and hidden ones.
                "columns": {
                    layer.collection_id: described
                    for layer in visible
                    if (described := columns.described(layer))
                },
                "background": (
                    {
                        "tiles": self.background.template,
                        "attribution": self.background.attribution,
                    }
                    if self.background
                    else None
                ),
            }
            response = self.portal.render(
                request,
                "carte.html",
                layers=layers,
                rasters=rasters,
                opacity=RASTER_OPACITY,
                config=config,
            )
        if self.background:
            response.headers["Content-Security-Policy"] = page_csp(self.background.origin)
        return response

    def alias(self, request: Request) -> RedirectResponse:
        """`/map` → `/carte` (browsers keep the `#map=...` fragment across redirects)."""
        query = request.url.query
        return RedirectResponse("/carte" + (f"?{query}" if query else ""), status_code=308)
