"""How clients find the raster collections: the /collections page and the OpenAPI document.

pygeoapi builds both from its configuration, which holds the vector layers and the
records only; rasters are served by our own routes (`raster_routes.py`). Without this,
`/collections?f=html` and `/openapi` left them out, and QGIS's, GDAL's or a browser's
discovery never saw them. Here:

- `collections`: pygeoapi's list (as JSON), the rasters the viewer may see appended,
  then rendered as JSON or as our HTML template;
- `collection_page`: a raster collection's HTML page (the same template as a layer's);
- `with_rasters`: the OpenAPI document with the paths of each raster collection
  (description, coverage, domain set, range type, map tiles, preview, point value),
  kept per (document, rasters) so that it is built once per catalogue change.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import pygeoapi.api as core_api
from pygeoapi.api import API, APIRequest
from pygeoapi.util import render_j2_template

from niaouli.services.ogc.jsonout import to_json  # ours: the data unaltered (jsonout.py)

JSON = "application/json"
OPENAPI_CACHE_SIZE = 8


def collections(
    api: API, api_request: APIRequest, rasters: Sequence[dict[str, Any]]
) -> tuple[dict, int, Any]:
    """`/collections` with the raster collections' descriptions `rasters` appended."""
    html = api_request.format == "html"
    if html:
        api_request._format = "json"  # noqa: SLF001 - the JSON document feeds our page
    headers, status, content = core_api.describe_collections(api, api_request)
    if status != HTTPStatus.OK or api_request.format not in (None, "json"):
        return headers, status, content  # an error, or JSON-LD: pygeoapi's as it is
    document = json.loads(content)
    document.setdefault("collections", []).extend(rasters)
    if not html:
        return headers, status, to_json(document, api.pretty_print)
    document["base_url"] = api.base_url
    document["collections_path"] = api.get_collections_url()
    headers["Content-Type"] = "text/html; charset=utf-8"
    page = render_j2_template(
        api.tpl_config,
        api.config["server"]["templates"],
        "collections/index.html",
        document,
        api_request.locale,
    )
    return headers, status, page


def collection_page(
    api: API, api_request: APIRequest, document: dict[str, Any]
) -> tuple[dict, int, Any]:
    """A raster collection's description as an HTML page (`collections/collection.html`
    shows the coverage's links when `itemType` is `coverage`)."""
    headers = api_request.get_response_headers(**api.api_headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    data = {
        **document,
        "base_url": api.base_url,
        "collections_path": api.get_collections_url(),
    }
    page = render_j2_template(
        api.tpl_config,
        api.config["server"]["templates"],
        "collections/collection.html",
        data,
        api_request.locale,
    )
    return headers, HTTPStatus.OK, page


# --- OpenAPI ------------------------------------------------------------------------------


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": False,
    }


def _path_integer(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def _responses(ok: str, content: dict[str, Any]) -> dict[str, Any]:
    error = {JSON: {"schema": {"type": "object"}}}
    return {
        "200": {"description": ok, "content": content},
        "400": {"description": "paramètre invalide", "content": error},
        "404": {"description": "collection introuvable ou non visible", "content": error},
    }


def _json(description: str) -> dict[str, Any]:
    return _responses(description, {JSON: {"schema": {"type": "object"}}})


def _image(description: str, *media_types: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return _responses(description, {media: binary for media in media_types})


def raster_paths(collection_id: str, title: str) -> dict[str, Any]:
    """The OpenAPI path items of one raster collection."""
    here = f"/collections/{collection_id}"
    tag = [collection_id]
    op = f"{collection_id}.coverage"
    coverage_parameters = [
        _query(
            "f",
            "format : GeoTIFF (défaut) ou PNG (données sur 8 bits)",
            {"type": "string", "enum": ["geotiff", "png"]},
        ),
        _query(
            "subset",
            "fenêtre par axe, en coordonnées natives (E(a:b),N(c:d)) ou Lat(..),Lon(..)",
            {"type": "string"},
        ),
        _query(
            "bbox",
            "emprise ouest,sud,est,nord (CRS84 par défaut)",
            {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        ),
        _query("bbox-crs", "CRS de bbox (URI)", {"type": "string", "format": "uri"}),
        _query("scale-size", "taille de la réponse par axe, p. ex. E(512)", {"type": "string"}),
        _query("scale-factor", "divise les deux tailles", {"type": "number", "minimum": 1}),
        _query("properties", "bandes (numéros ou noms)", {"type": "string"}),
    ]
    style = _query(
        "style",
        "rendu : auto (défaut) ou hillshade (modèles d'élévation)",
        {"type": "string", "enum": ["auto", "hillshade"]},
    )
    tile_parameters = [
        {
            "name": "tileMatrixSetId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": ["WebMercatorQuad"]},
        },
        _path_integer("tileMatrix", "niveau de zoom"),
        _path_integer("tileRow", "ligne"),
        _path_integer("tileCol", "colonne"),
        _query("f", "format de la tuile", {"type": "string", "enum": ["png", "webp"]}),
        style,
    ]
    return {
        here: {
            "get": {
                "summary": f"Collection raster « {title} »",
                "description": "grille, CRS de stockage, domaine et bandes",
                "tags": tag,
                "operationId": f"{collection_id}.describeCollection",
                "parameters": [_query("f", "format", {"type": "string", "enum": ["json", "html"]})],
                "responses": _json("la description de la collection"),
            }
        },
        here + "/coverage": {
            "get": {
                "summary": f"Couverture « {title} » (OGC API - Coverages)",
                "description": "le raster ou une partie, jamais plus que le plafond de pixels",
                "tags": tag,
                "operationId": f"{op}.getCoverage",
                "parameters": coverage_parameters,
                "responses": _image(
                    "la couverture", "image/tiff; application=geotiff", "image/png"
                ),
            }
        },
        here + "/coverage/domainset": {
            "get": {
                "summary": "Domaine de la couverture (CIS 1.1)",
                "tags": tag,
                "operationId": f"{op}.getCoverageDomainSet",
                "responses": _json("le domaine (grille, axes, CRS)"),
            }
        },
        here + "/coverage/rangetype": {
            "get": {
                "summary": "Bandes de la couverture (CIS 1.1)",
                "tags": tag,
                "operationId": f"{op}.getCoverageRangeType",
                "responses": _json("les bandes"),
            }
        },
        here + "/map": {
            "get": {
                "summary": "Aperçu de tout le raster",
                "tags": tag,
                "operationId": f"{collection_id}.map.getPreview",
                "parameters": [
                    _query("width", "taille en pixels", {"type": "integer", "minimum": 16}),
                    _query("f", "format", {"type": "string", "enum": ["png"]}),
                    style,
                ],
                "responses": _image("l'aperçu", "image/png"),
            }
        },
        here + "/map/tiles": {
            "get": {
                "summary": "Jeux de tuiles de carte",
                "tags": tag,
                "operationId": f"{collection_id}.map.getTileSetsList",
                "responses": _json("la liste des jeux de tuiles"),
            }
        },
        here + "/map/tiles/{tileMatrixSetId}": {
            "get": {
                "summary": "Métadonnées du jeu de tuiles (ou TileJSON)",
                "tags": tag,
                "operationId": f"{collection_id}.map.getTileSet",
                "parameters": [
                    tile_parameters[0],
                    _query("f", "format", {"type": "string", "enum": ["json", "tilejson"]}),
                    style,
                ],
                "responses": _json("les métadonnées du jeu de tuiles"),
            }
        },
        here + "/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {
            "get": {
                "summary": "Une tuile de carte (256 pixels)",
                "tags": tag,
                "operationId": f"{collection_id}.map.getTile",
                "parameters": tile_parameters,
                "responses": _image("la tuile", "image/png", "image/webp"),
            }
        },
        here + "/value": {
            "get": {
                "summary": "Valeur de chaque bande en un point",
                "tags": tag,
                "operationId": f"{collection_id}.getValue",
                "parameters": [
                    {**_query("lon", "longitude WGS 84", {"type": "number"}), "required": True},
                    {**_query("lat", "latitude WGS 84", {"type": "number"}), "required": True},
                ],
                "responses": _json("les valeurs"),
            }
        },
    }


class OpenApiWithRasters:
    """The OpenAPI document of an API object with the raster collections' paths, kept
    while neither the document (rebuilt at each catalogue change) nor the rasters move."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[int, tuple], tuple[dict, dict]] = OrderedDict()

    def document(self, base: dict[str, Any], rasters: Sequence[tuple[str, str]]) -> dict:
        """`base` with the paths and tags of `rasters`, (collection id, title) pairs."""
        key = (id(base), tuple(rasters))
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] is base:
                self._kept.move_to_end(key)
                return kept[1]
        document = copy.copy(base)
        document["paths"] = dict(base.get("paths", {}))
        document["tags"] = list(base.get("tags", []))
        known_tags = {tag.get("name") for tag in document["tags"]}
        for collection_id, title in rasters:
            document["paths"].update(raster_paths(collection_id, title))
            if collection_id not in known_tags:
                document["tags"].append({"name": collection_id, "description": title})
        with self._lock:
            self._kept[key] = (base, document)
            while len(self._kept) > OPENAPI_CACHE_SIZE:
                self._kept.popitem(last=False)
        return document

    def answer(
        self, api: API, api_request: APIRequest, base: dict, rasters: Sequence[tuple[str, str]]
    ) -> tuple[dict, int, Any]:
        """`/openapi?f=json` with the rasters (the HTML viewer loads that same document)."""
        headers = api_request.get_response_headers(**api.api_headers)
        headers["Content-Type"] = "application/vnd.oai.openapi+json;version=3.0"
        return headers, HTTPStatus.OK, to_json(self.document(base, rasters), api.pretty_print)
