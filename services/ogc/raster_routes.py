"""Raster collections at /ogc: OGC API Coverages, map tiles, a preview and point values.

A raster layer (a COG in storage) is a collection like a vector layer: listed in
`/collections` (with its extent and links), described at `/collections/{id}`, and
answering, for the viewer who may see its dataset (else 404, as for vectors):

- `/coverage` (OGC API - Coverages: subset, bbox, scale-size, scale-factor, properties;
  GeoTIFF or PNG), `/coverage/domainset`, `/coverage/rangetype` (`coverage.py`);
- `/map/tiles`, `/map/tiles/WebMercatorQuad` (OGC API Tiles metadata, `f=tilejson`) and
  `/map/tiles/WebMercatorQuad/{z}/{y}/{x}` (PNG or WebP, ETag/304), drawn by
  `niaouli.rasterview` (colour table, RGB, colour ramp, `style=hillshade`);
- `/map` (a preview image of the whole raster, the dataset page's picture) and
  `/value?lon=&lat=` (each band's value at a point, the map's click), Niaouli's own.

Where the rasters come from is a `RasterCatalogue` (`raster_catalogue.py`: the
catalogue's raster layers through the access rule, the COG opened from storage).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import pygeoapi.api as core_api
from rasterio.errors import RasterioIOError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.rasterview import style as styles
from niaouli.rasterview import tiles
from niaouli.services.ogc import conformance as declared_classes
from niaouli.services.ogc import coverage, raster_discovery
from niaouli.settings import get_settings
from niaouli.storage.http import RangeNotSatisfiableError, parse_range

LOGGER = logging.getLogger(__name__)
TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS84 = coverage.CRS84
CACHE_CONTROL = "public, max-age=60"
JSON = "application/json"
PREVIEW_MAX = 1024
COVERAGE_PARAMETERS = frozenset(
    {"f", "lang", "subset", "bbox", "bbox-crs", "scale-size", "scale-factor", "properties"}
)


@dataclass(frozen=True)
class RasterSource:
    """One raster collection as the routes see it."""

    collection_id: str
    title: str
    description: str
    version: str
    """Changes whenever the COG does (the ETag of tiles and coverages)."""
    kind: str
    """orthophoto, elevation, classified or other: the default style."""
    extent: tuple[float, float, float, float] | None
    open: Callable[[], AbstractContextManager[Any]]
    """Opens the COG (a rasterio dataset, closed on leaving the `with`)."""
    links: list[dict[str, Any]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)


class RasterCatalogue(Protocol):
    def find(self, collection_id: str, viewer: Viewer) -> RasterSource | None: ...

    def visible(self, viewer: Viewer) -> list[RasterSource]: ...


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, headers=self.headers)


def error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"code": code, "type": code, "description": message}, ensure_ascii=False)
    return Answer(status, body.encode(), {"content-type": "application/json; charset=utf-8"})


def not_found(collection_id: str) -> Answer:
    return error(
        HTTPStatus.NOT_FOUND,
        "NotFound",
        f"collection raster introuvable : « {collection_id[:100]} »",
    )


def as_json(document: Any, media_type: str = JSON) -> Answer:
    body = json.dumps(document, ensure_ascii=False).encode()
    return Answer(HTTPStatus.OK, body, {"content-type": media_type})


def _etag(version: str, extra: str = "") -> str:
    digest = hashlib.sha256(f"{version}|{extra}".encode()).hexdigest()[:20]
    return f'"{digest}"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return bool(tags & {"*", tag})


def collection_links(base: str, source: RasterSource) -> list[dict[str, Any]]:
    here = f"{base}/collections/{source.collection_id}"
    return [
        {"rel": "self", "type": JSON, "title": "Cette collection", "href": f"{here}?f=json"},
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/coverage",
            "type": coverage.GEOTIFF,
            "title": "Couverture (GeoTIFF)",
            "href": f"{here}/coverage?f=geotiff",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/coverage-domainset",
            "type": JSON,
            "title": "Domaine de la couverture",
            "href": f"{here}/coverage/domainset?f=json",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/coverage-rangetype",
            "type": JSON,
            "title": "Bandes de la couverture",
            "href": f"{here}/coverage/rangetype?f=json",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map",
            "type": JSON,
            "title": "Tuiles de carte",
            "href": f"{here}/map/tiles?f=json",
        },
        {
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/map",
            "type": "image/png",
            "title": "Aperçu",
            "href": f"{here}/map?f=png",
        },
        *source.links,
    ]


def describe(base: str, source: RasterSource) -> dict[str, Any]:
    """The collection's description (OGC API Common), with its extent and links."""
    extent = list(source.extent) if source.extent else [-180.0, -90.0, 180.0, 90.0]
    return {
        "id": source.collection_id,
        "title": source.title,
        "description": source.description or source.title,
        "keywords": source.keywords,
        "itemType": "coverage",
        "dataType": "coverage",
        "extent": {"spatial": {"bbox": [extent], "crs": CRS84}},
        "crs": [CRS84],
        "links": collection_links(base, source),
    }


def describe_full(base: str, source: RasterSource, dataset: Any) -> dict[str, Any]:
    """With the storage CRS, the domain set and range type (Coverages' current draft)."""
    document = describe(base, source)
    storage = coverage.crs_uri(dataset.crs)
    document["storageCrs"] = storage
    document["crs"] = [CRS84, storage] if storage != CRS84 else [CRS84]
    document["extent"]["spatial"]["grid"] = [
        {"cellsCount": dataset.width, "resolution": abs(dataset.transform.a)},
        {"cellsCount": dataset.height, "resolution": abs(dataset.transform.e)},
    ]
    document["domainSet"] = coverage.domain_set(dataset)
    document["rangeType"] = coverage.range_type(dataset)
    return document


STYLE_CACHE_SIZE = 256
_styles: dict[tuple[str, str], styles.Style] = {}
_styles_lock = threading.Lock()


def _style(source: RasterSource, dataset: Any, asked: str | None) -> styles.Style:
    """The asked style (`auto` by default), kept per COG version: without statistics tags
    in the COG, choosing a ramp reads an overview, once per process and not per tile."""
    key = (source.version, asked or "auto")
    with _styles_lock:
        known = _styles.get(key)
    if known is not None:
        return known
    chosen = styles.choose(dataset, asked or "auto")
    with _styles_lock:
        if len(_styles) >= STYLE_CACHE_SIZE:
            _styles.clear()
        _styles[key] = chosen
    return chosen


def _tile_url(base: str, source: RasterSource, fmt: str = "png") -> str:
    return (
        f"{base}/collections/{source.collection_id}/map/tiles/{TMS}"
        f"/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f={fmt}"
    )


def tileset(base: str, source: RasterSource, dataset: Any) -> dict[str, Any]:
    """OGC API Tiles tileset metadata of the map tiles, with `tileMatrixSetLimits`."""
    zooms = tiles.zooms(dataset)
    here = f"{base}/collections/{source.collection_id}/map/tiles/{TMS}"
    bbox = list(source.extent) if source.extent else None
    document: dict[str, Any] = {
        "title": source.title,
        "dataType": "map",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": tiles.tile_matrix_limits(dataset, zooms),
        "links": [
            {"rel": "self", "type": JSON, "href": f"{here}?f=json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": JSON,
                "href": f"{base}/tileMatrixSets/{TMS}?f=json",
            },
            {
                "rel": "item",
                "type": "image/png",
                "templated": True,
                "href": _tile_url(base, source, "png"),
            },
            {
                "rel": "item",
                "type": "image/webp",
                "templated": True,
                "href": _tile_url(base, source, "webp"),
            },
            {"rel": "alternate", "type": JSON, "title": "TileJSON", "href": f"{here}?f=tilejson"},
        ],
    }
    if bbox:
        document["boundingBox"] = {
            "lowerLeft": bbox[:2],
            "upperRight": bbox[2:],
            "crs": CRS84,
        }
    return document


def tilejson(base: str, source: RasterSource, dataset: Any, asked_style: str | None) -> dict:
    """TileJSON 3.0.0: what MapLibre's `{"type": "raster", "url": ...}` source reads."""
    zooms = tiles.zooms(dataset)
    template = f"{base}/collections/{source.collection_id}/map/tiles/{TMS}/{{z}}/{{y}}/{{x}}?f=png"
    if asked_style:
        template += f"&style={asked_style}"
    style = _style(source, dataset, asked_style)
    return {
        "tilejson": "3.0.0",
        "name": source.title,
        "description": source.description,
        "tiles": [template],
        "minzoom": 0,
        "maxzoom": zooms.maxzoom,
        "bounds": list(source.extent) if source.extent else [-180, -85.05, 180, 85.05],
        "scheme": "xyz",
        "tileSize": tiles.TILE_SIZE,
        "legend": style.legend(),
    }


class RasterService:
    """The handlers' work, each run in one worker thread."""

    def __init__(self, catalogue: RasterCatalogue, max_pixels: int | None = None) -> None:
        self.catalogue = catalogue
        self.max_pixels = max_pixels

    @property
    def pixel_cap(self) -> int:
        return self.max_pixels or get_settings().coverage_max_pixels

    def collection(self, base: str, viewer: Viewer, collection_id: str) -> Answer | None:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return None
        with source.open() as dataset:
            return as_json(describe_full(base, source, dataset))

    def coverage(
        self,
        viewer: Viewer,
        collection_id: str,
        query: dict[str, str],
        accept: str | None,
        range_header: str | None = None,
    ) -> Answer:
        """The coverage; a `Range` is answered from the (size-capped) encoded answer, so
        that GDAL's `/vsicurl/`, which needs ranges, opens a coverage URL like a file."""
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        unknown = sorted(set(query) - COVERAGE_PARAMETERS)
        if unknown:
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                f"paramètre inconnu : {unknown[0][:40]} (admis : "
                f"{', '.join(sorted(COVERAGE_PARAMETERS))})",
            )
        with source.open() as dataset:
            try:
                plan = coverage.plan(dataset, query, accept, self.pixel_cap)
            except coverage.CoverageError as exc:
                return error(HTTPStatus.BAD_REQUEST, exc.code, str(exc))
            body = coverage.read(dataset, plan)
        extension = "png" if plan.media_type == coverage.PNG else "tif"
        headers = {
            "content-type": plan.media_type,
            "content-disposition": f'inline; filename="{collection_id}.{extension}"',
            "content-crs": f"<{coverage.crs_uri(dataset.crs)}>",
            "cache-control": CACHE_CONTROL,
            "accept-ranges": "bytes",
            "etag": _etag(source.version, json.dumps(sorted(query.items())) + plan.media_type),
        }
        try:
            wanted = parse_range(range_header, len(body))
        except RangeNotSatisfiableError:
            headers["content-range"] = f"bytes */{len(body)}"
            return Answer(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", headers)
        if wanted is None:
            return Answer(HTTPStatus.OK, body, headers)
        start, end = wanted
        headers["content-range"] = f"bytes {start}-{end - 1}/{len(body)}"
        return Answer(HTTPStatus.PARTIAL_CONTENT, body[start:end], headers)

    def describe_part(self, viewer: Viewer, collection_id: str, part: str) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        with source.open() as dataset:
            if part == "domainset":
                return as_json(coverage.domain_set(dataset))
            return as_json(coverage.range_type(dataset))

    def tilesets(self, base: str, viewer: Viewer, collection_id: str) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        with source.open() as dataset:
            one = tileset(base, source, dataset)
        one["links"] = [
            {
                "rel": "self",
                "type": JSON,
                "href": f"{base}/collections/{collection_id}/map/tiles/{TMS}?f=json",
            },
            *one["links"][1:2],
        ]
        one.pop("tileMatrixSetLimits")
        return as_json({"links": [], "tilesets": [one]})

    def tileset(
        self, base: str, viewer: Viewer, collection_id: str, fmt: str, asked_style: str | None
    ) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        with source.open() as dataset:
            try:
                if fmt == "tilejson":
                    return as_json(tilejson(base, source, dataset, asked_style))
            except styles.StyleError as exc:
                return error(HTTPStatus.BAD_REQUEST, "InvalidParameterValue", str(exc))
            return as_json(tileset(base, source, dataset))

    def tile(
        self,
        viewer: Viewer,
        collection_id: str,
        z: int,
        x: int,
        y: int,
        fmt: str,
        asked_style: str | None,
        if_none_match: str | None,
    ) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        tag = _etag(source.version, f"{asked_style}|{fmt}")
        headers = {"etag": tag, "cache-control": CACHE_CONTROL}
        if _matches(if_none_match, tag):
            return Answer(HTTPStatus.NOT_MODIFIED, b"", headers)
        with source.open() as dataset:
            try:
                style = _style(source, dataset, asked_style)
                body = tiles.render_tile(dataset, style, z, x, y, fmt)
            except styles.StyleError as exc:
                return error(HTTPStatus.BAD_REQUEST, "InvalidParameterValue", str(exc))
            except tiles.OutsideError:
                return error(
                    HTTPStatus.NOT_FOUND, "NotFound", "tuile hors de l'étendue de la couche"
                )
        headers["content-type"] = tiles.FORMATS[fmt][1]
        return Answer(HTTPStatus.OK, body, headers)

    def preview(
        self, viewer: Viewer, collection_id: str, size: int, asked_style: str | None
    ) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        with source.open() as dataset:
            try:
                body = tiles.render_preview(dataset, _style(source, dataset, asked_style), size)
            except styles.StyleError as exc:
                return error(HTTPStatus.BAD_REQUEST, "InvalidParameterValue", str(exc))
        return Answer(
            HTTPStatus.OK,
            body,
            {
                "content-type": "image/png",
                "cache-control": CACHE_CONTROL,
                "etag": _etag(source.version, f"preview|{size}|{asked_style}"),
            },
        )

    def value(self, viewer: Viewer, collection_id: str, lon: float, lat: float) -> Answer:
        source = self.catalogue.find(collection_id, viewer)
        if source is None:
            return not_found(collection_id)
        with source.open() as dataset:
            names = coverage.band_names(dataset)
            try:
                values = tiles.point_values(dataset, lon, lat)
            except tiles.OutsideError:
                values = [None] * dataset.count
            units = list(dataset.units or [None] * dataset.count)
        return as_json(
            {
                "collection": collection_id,
                "lon": lon,
                "lat": lat,
                "bands": [
                    {"name": n, "value": v, "unit": u or None}
                    for n, v, u in zip(names, values, units, strict=True)
                ],
            }
        )


def _viewer(request: Request) -> Viewer:
    return request.scope.get("state", {}).get("viewer", ANONYMOUS)


def _wants_html(request: Request) -> bool:
    """`f=html`, or a browser's Accept without `f` (pygeoapi's rule for its own pages)."""
    asked = request.query_params.get("f")
    if asked is not None:
        return asked.lower() == "html"
    return "text/html" in request.headers.get("accept", "")


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def raster_routes(service: Any, catalogue: RasterCatalogue) -> list[BaseRoute]:
    """The routes; `service` is the `OgcService` (base URL, pygeoapi fall-back)."""
    rasters = RasterService(catalogue)

    async def run(function: Callable[..., Answer], *args: Any) -> Response:
        try:
            answer = await asyncio.to_thread(function, *args)
        except RasterioIOError as exc:
            LOGGER.error("raster read failed: %s", exc)
            answer = error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "le fichier raster est momentanément illisible ; réessayez",
            )
        return answer.response()

    async def collections(request: Request) -> Response:
        base = service.base_url(request)
        viewer = _viewer(request)

        def listing(api: Any, api_request: Any) -> tuple[dict, int, Any]:
            shown = [describe(base, s) for s in catalogue.visible(viewer)]
            return raster_discovery.collections(api, api_request, shown)

        return await service.call(request, listing)

    async def collection(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        answer = await asyncio.to_thread(
            rasters.collection, service.base_url(request), _viewer(request), collection_id
        )
        if answer is None:  # a vector layer, the records, or nothing: pygeoapi answers
            return await service.call(request, core_api.describe_collections, collection_id)
        if not _wants_html(request):
            return answer.response()
        document = json.loads(answer.body)
        return await service.call(request, raster_discovery.collection_page, document)

    async def coverage_data(request: Request) -> Response:
        query = dict(request.query_params)
        return await run(
            rasters.coverage,
            _viewer(request),
            request.path_params["collection_id"],
            query,
            request.headers.get("accept"),
            request.headers.get("range"),
        )

    async def domainset(request: Request) -> Response:
        return await run(
            rasters.describe_part,
            _viewer(request),
            request.path_params["collection_id"],
            "domainset",
        )

    async def rangetype(request: Request) -> Response:
        return await run(
            rasters.describe_part,
            _viewer(request),
            request.path_params["collection_id"],
            "rangetype",
        )

    async def map_tilesets(request: Request) -> Response:
        return await run(
            rasters.tilesets,
            service.base_url(request),
            _viewer(request),
            request.path_params["collection_id"],
        )

    async def map_tileset(request: Request) -> Response:
        if request.path_params["tile_matrix_set"] != TMS:
            return error(
                HTTPStatus.NOT_FOUND, "NotFound", f"jeu de tuiles inconnu (seul {TMS})"
            ).response()
        fmt = request.query_params.get("f", "json").lower()
        if fmt not in ("json", "tilejson"):
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "format inconnu : f vaut json ou tilejson",
            ).response()
        return await run(
            rasters.tileset,
            service.base_url(request),
            _viewer(request),
            request.path_params["collection_id"],
            fmt,
            request.query_params.get("style"),
        )

    async def map_tile(request: Request) -> Response:
        params = request.path_params
        z, y, x = _int(params["z"]), _int(params["y"]), _int(params["x"])
        fmt = request.query_params.get("f", "png").lower()
        if params["tile_matrix_set"] != TMS:
            return error(
                HTTPStatus.NOT_FOUND, "NotFound", f"jeu de tuiles inconnu (seul {TMS})"
            ).response()
        if z is None or y is None or x is None or z > 24 or x >= 2**z or y >= 2**z:
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "niveau, ligne et colonne de tuile : des entiers dans la grille (niveau 0 à 24)",
            ).response()
        if fmt not in tiles.FORMATS:
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "format de tuile inconnu : f vaut png ou webp",
            ).response()
        return await run(
            rasters.tile,
            _viewer(request),
            params["collection_id"],
            z,
            x,
            y,
            fmt,
            request.query_params.get("style"),
            request.headers.get("if-none-match"),
        )

    async def preview(request: Request) -> Response:
        size = _int(request.query_params.get("width", "512"))
        if (
            size is None
            or not 16 <= size <= PREVIEW_MAX
            or request.query_params.get("f", "png") != "png"
        ):
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                f"aperçu : width de 16 à {PREVIEW_MAX} pixels, f=png",
            ).response()
        return await run(
            rasters.preview,
            _viewer(request),
            request.path_params["collection_id"],
            size,
            request.query_params.get("style"),
        )

    async def value(request: Request) -> Response:
        try:
            lon = float(request.query_params.get("lon", ""))
            lat = float(request.query_params.get("lat", ""))
        except ValueError:
            lon = lat = float("nan")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "lon et lat : des degrés WGS 84 (lon de -180 à 180, lat de -90 à 90)",
            ).response()
        return await run(
            rasters.value, _viewer(request), request.path_params["collection_id"], lon, lat
        )

    async def conformance(request: Request) -> Response:
        public = await asyncio.to_thread(catalogue.visible, ANONYMOUS)
        return await service.call(request, declared_classes.conformance, bool(public))

    here = "/collections/{collection_id}"
    return [
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route(here, collection),
        Route(here + "/coverage", coverage_data),
        Route(here + "/coverage/domainset", domainset),
        Route(here + "/coverage/rangetype", rangetype),
        Route(here + "/map", preview),
        Route(here + "/map/tiles", map_tilesets),
        Route(here + "/map/tiles/{tile_matrix_set}", map_tileset),
        Route(here + "/map/tiles/{tile_matrix_set}/{z}/{y}/{x}", map_tile),
        Route(here + "/value", value),
    ]
