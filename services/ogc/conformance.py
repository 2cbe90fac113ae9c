"""The conformance classes /ogc declares, and the small fixes that keep them true.

pygeoapi 0.24 declares conformance classes from the *kinds* of providers configured, not
from what a server does: every `feature` provider adds OGC API Features Part 4
(create/replace/delete) although our layers' collections are read-only (the campaigns'
staging collections take writes: `part4_routes.py` adds Part 4 for the signed-in callers
who see one), and the `record` provider adds Records "sorting" and "opensearch"
although we serve neither the sortables resource nor an OpenSearch description
document. Clients read this list to decide what to offer (QGIS 3.32+ offers editing on
a layer whose server declares Part 4, then fails), so `/conformance` answers from our
own list below instead: a class is declared only when the platform implements it, and
`tests/test_ogc_features.py` holds one request per declared class that exercises it.

The fixes: pygeoapi writes the queryables and schema documents with
`"$schema": "http://json-schema.org/draft/2019-09/schema"` and the queryables `$id` with
the request's query string, where OGC API Features Part 3 and Common Part 3 (Schemas)
require `https://json-schema.org/draft/2020-12/schema` and the URI without query; it
lists a `geometry` for tables without geometry; and its queryables say nothing of
unknown properties, which we refuse with a 400 (`additionalProperties: false`). It
types features and records `application/json` where the GeoJSON media type is required
(`as_geojson`). Its OpenAPI document has no path for a collection's tileset (OGC API
Tiles "oas30" asks for every tileset resource); `complete_openapi` adds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi.api import API, APIRequest
from pygeoapi.formats import F_HTML
from pygeoapi.util import render_j2_template, to_json

OGC = "http://www.opengis.net/spec/"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_MEDIA_TYPE = "application/schema+json"
GEOJSON_MEDIA_TYPE = "application/geo+json"

COMMON = (
    OGC + "ogcapi-common-1/1.0/conf/core",
    OGC + "ogcapi-common-1/1.0/conf/landing-page",
    OGC + "ogcapi-common-1/1.0/conf/json",
    OGC + "ogcapi-common-1/1.0/conf/html",
    OGC + "ogcapi-common-1/1.0/conf/oas30",
    OGC + "ogcapi-common-2/1.0/conf/collections",
)
# With at least one feature collection (a layer).
FEATURES = (
    OGC + "ogcapi-features-1/1.0/conf/core",
    OGC + "ogcapi-features-1/1.0/conf/oas30",
    OGC + "ogcapi-features-1/1.0/conf/html",
    OGC + "ogcapi-features-1/1.0/conf/geojson",
    OGC + "ogcapi-features-2/1.0/conf/crs",
    OGC + "ogcapi-features-3/1.0/conf/queryables",
    OGC + "ogcapi-features-3/1.0/conf/queryables-query-parameters",
    OGC + "ogcapi-common-3/1.0/conf/schemas",
    OGC + "ogcapi-common-3/1.0/conf/advanced-property-roles",
    OGC + "cql2/1.0/conf/cql2-text",
    OGC + "cql2/1.0/conf/basic-cql2",
)
# The `catalogue` collection (always there).
RECORDS = (
    OGC + "ogcapi-records-1/1.0/conf/core",
    OGC + "ogcapi-records-1/1.0/conf/json",
    OGC + "ogcapi-records-1/1.0/conf/html",
)
# With at least one layer with geometry (its vector tiles).
TILES = (
    OGC + "ogcapi-tiles-1/1.0/conf/core",
    OGC + "ogcapi-tiles-1/1.0/conf/tileset",
    OGC + "ogcapi-tiles-1/1.0/conf/tilesets-list",
    OGC + "ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    OGC + "ogcapi-tiles-1/1.0/conf/mvt",
    OGC + "ogcapi-tiles-1/1.0/conf/oas30",
)
# With at least one public raster collection (services/ogc/raster_routes.py, coverage.py).
COVERAGES = (
    OGC + "ogcapi-coverages-1/1.0/conf/core",
    OGC + "ogcapi-coverages-1/1.0/conf/subsetting",
    OGC + "ogcapi-coverages-1/1.0/conf/scaling",
    OGC + "ogcapi-coverages-1/1.0/conf/field-selection",
    OGC + "ogcapi-coverages-1/1.0/conf/geotiff",
    OGC + "ogcapi-coverages-1/1.0/conf/png",
    OGC + "ogcapi-tiles-1/1.0/conf/core",
    OGC + "ogcapi-tiles-1/1.0/conf/tileset",
    OGC + "ogcapi-tiles-1/1.0/conf/tilesets-list",
    OGC + "ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    OGC + "ogcapi-tiles-1/1.0/conf/png",
)
# What pygeoapi 0.24 would declare and we do not, and why (docs/ogc.md).
NOT_DECLARED = {
    OGC + "ogcapi-features-4/1.0/conf/create-replace-delete": (
        "the layers' collections are read-only: no POST of features, no PUT, no DELETE; "
        "a signed-in caller who sees a campaign's staging collection gets Part 4 added "
        "(part4_routes.PART4), and OPTIONS tells QGIS which collections take writes"
    ),
    OGC + "ogcapi-records-1/1.0/conf/sorting": (
        "sortby works, but the sortables resource and defaultSortOrder are not served"
    ),
    OGC + "ogcapi-records-1/1.0/conf/opensearch": "no OpenSearch description document",
}


def _provider_types(config: dict[str, Any]) -> set[str]:
    return {
        provider.get("type")
        for resource in config.get("resources", {}).values()
        for provider in resource.get("providers", [])
    }


def declared(config: dict[str, Any], rasters: bool = False) -> list[str]:
    """The conformance classes of a configuration (and of the rasters if any), sorted."""
    kinds = _provider_types(config)
    classes = list(COMMON)
    if rasters:
        classes += COVERAGES
    if "feature" in kinds:
        classes += FEATURES
    if "record" in kinds:
        classes += RECORDS
    if "tile" in kinds:
        classes += TILES
    return sorted(set(classes))


def conformance(api: API, request: APIRequest, rasters: bool = False) -> tuple[dict, int, Any]:
    """`/conformance` (JSON or HTML, as pygeoapi renders it) with our list of classes."""
    document = {"conformsTo": declared(api.config, rasters)}
    headers = request.get_response_headers(**api.api_headers)
    if request.format == F_HTML:
        content = render_j2_template(
            api.tpl_config,
            api.config["server"]["templates"],
            "conformance.html",
            document,
            request.locale,
        )
        return headers, 200, content
    return headers, 200, to_json(document, api.pretty_print)


def _feature_provider(api: API, collection_id: str) -> dict[str, Any] | None:
    resource = api.config["resources"].get(collection_id) or {}
    for provider in resource.get("providers", []):
        if provider.get("type") == "feature":
            return provider
    return None


def _fixed_schema(
    api: API, collection_id: str, answer: tuple[dict, int, Any], *, queryables: bool
) -> tuple[dict, int, Any]:
    headers, status, content = answer
    if status != 200 or not headers.get("Content-Type", "").startswith(SCHEMA_MEDIA_TYPE):
        return answer
    try:
        document = json.loads(content)
    except (TypeError, ValueError):
        return answer
    document["$schema"] = JSON_SCHEMA
    document["$id"] = str(document.get("$id", "")).split("?", 1)[0]
    provider = _feature_provider(api, collection_id)
    if provider is not None:
        if not provider.get("layer", {}).get("has_geometry", True):
            document.get("properties", {}).pop("geometry", None)
        if queryables:  # unknown property names are refused (params.py, cql.py)
            document["additionalProperties"] = False
        # The labels and descriptions the dataset's editors gave the columns (pygeoapi
        # titles every property with its name).
        described = provider.get("layer", {}).get("columns") or {}
        for name, entry in document.get("properties", {}).items():
            note = described.get(name) or {}
            if isinstance(entry, dict) and note.get("label"):
                entry["title"] = note["label"]
            if isinstance(entry, dict) and note.get("description"):
                entry["description"] = note["description"]
    return headers, status, to_json(document, api.pretty_print)


def collection_schema(api: API, request: APIRequest, collection_id: str) -> tuple:
    """pygeoapi's `/collections/{id}/schema`, fixed (see the module docstring)."""
    answer = core_api.get_collection_schema(api, request, collection_id)
    return _fixed_schema(api, collection_id, answer, queryables=False)


def collection_queryables(api: API, request: APIRequest, collection_id: str) -> tuple:
    """pygeoapi's `/collections/{id}/queryables`, fixed (see the module docstring)."""
    answer = itemtypes_api.get_collection_queryables(api, request, collection_id)
    return _fixed_schema(api, collection_id, answer, queryables=True)


def as_geojson(function: Callable[..., tuple[dict, int, Any]]) -> Callable[..., tuple]:
    """`function`, its JSON answers typed `application/geo+json` (pygeoapi says
    `application/json`; Features Part 1 "geojson" and the Records JSON class ask for the
    GeoJSON media type for features and records)."""

    def answer(api: API, request: APIRequest, *args: Any) -> tuple[dict, int, Any]:
        headers, status, content = function(api, request, *args)
        if status == 200 and headers.get("Content-Type") == "application/json":
            headers["Content-Type"] = GEOJSON_MEDIA_TYPE
        return headers, status, content

    return answer


def complete_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Add the tileset path of each collection with tiles (pygeoapi leaves it out)."""
    paths = document.get("paths", {})
    for path, item in list(paths.items()):
        if not (path.startswith("/collections/") and path.endswith("/tiles")):
            continue
        listing = item.get("get", {})
        operation = str(listing.get("operationId", ""))
        if not operation.endswith(".collection.vector.getTileSetsList"):
            continue
        data_path = f"{path}/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
        tile_parameters = paths.get(data_path, {}).get("get", {}).get("parameters", [])
        paths.setdefault(
            f"{path}/{{tileMatrixSetId}}",
            {
                "get": {
                    "summary": "Métadonnées du jeu de tuiles (tileset)",
                    "description": listing.get("description", ""),
                    "tags": listing.get("tags", []),
                    "operationId": operation.replace(".getTileSetsList", ".getTileSet"),
                    "parameters": [
                        *tile_parameters[:1],  # tileMatrixSetId
                        {
                            "name": "f",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["json", "html", "tilejson"]},
                            "style": "form",
                            "explode": False,
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "les métadonnées du jeu de tuiles",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **{
                            code: response
                            for code, response in listing.get("responses", {}).items()
                            if code != "200"
                        },
                    },
                }
            },
        )
    return document
