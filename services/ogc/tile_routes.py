"""OGC API Tiles routes: vector tiles (MVT) of every published layer, in WebMercatorQuad.

The descriptions (tilesets list, tileset metadata, tile matrix sets) are pygeoapi's own
`pygeoapi.api.tiles` functions over our `tileprovider.LayerTileProvider`. The tiles are
made by our own handler over `niaouli.db.tiles`, not by pygeoapi's
`get_collection_tiles_data`: that one refuses a request without `f=mvt` or a matching
`Accept` (MapLibre and QGIS send neither), answers in English, builds a provider and an
`APIRequest` per tile, and has no ETag. A tile costs here one thread hop and, on
PostGIS, one SQL round trip.

The collection list is the live pygeoapi configuration of the request's viewer, as for
the rest of /ogc: a tile follows publication and access (a layer of a removed dataset,
or of one the viewer may not see, is absent: 404) from the next request. Signed-in answers are
made `private` by the accounts middleware; anonymous ones are public and cacheable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pygeoapi.api.tiles as tiles_api
from pygeoapi.api import API, APIRequest
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.util import render_j2_template
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.db import tile_overviews
from niaouli.db import tiles as db_tiles
from niaouli.db.features import LayerTable
from niaouli.db.readroute import on_replica
from niaouli.services.ogc import runtime
from niaouli.services.ogc.live import LiveApi
from niaouli.services.ogc.tilecache import TileCache
from niaouli.services.ogc.tilegate import TileBusyError, TileGate, gate_from_environment
from niaouli.services.ogc.tileprovider import MVT_MEDIA_TYPE, TILESET_ID
from niaouli.settings import get_settings

LOGGER = logging.getLogger(__name__)

INDEX_RE = re.compile(r"^[0-9]{1,9}$")
TILE_FORMATS = frozenset({"mvt", "pbf"})
METADATA_FORMATS = frozenset({"json", "html", "jsonld", "tilejson"})
CACHE_CONTROL = "public, max-age=60"
"""Short: a tile must not outlive the publication of its dataset for long in caches;
revalidation with the ETag is cheap (304 without any query)."""
GZIP_MIN_BYTES = 1024
"""Tiles are sent gzipped to clients that accept it (MVT shrinks 1.3-2x) above this."""
NO_CACHE = TileCache(0)
KNOWN_TILE_MATRIX_SETS = frozenset(e.value.tileMatrixSet for e in TileMatrixSetEnum)
RETRY_AFTER_SECONDS = 5


@dataclass
class TileAnswer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    heavy: bool = False
    """Not an answer yet: the tile is heavy, ask again holding a slot of the gate."""


class _HeavyTileError(Exception):
    """Raised inside the cache's `make` when the tile needs a slot first."""


def _error(status: int, code: str, message: str) -> TileAnswer:
    body = json.dumps({"code": code, "type": code, "description": message}, ensure_ascii=False)
    return TileAnswer(
        status, body.encode("utf-8"), {"content-type": "application/json; charset=utf-8"}
    )


def tile_providers(api: API, collection_id: str) -> tuple[dict, dict] | None:
    """(feature provider, tile provider) definitions of a published collection with tiles."""
    resource = api.config["resources"].get(collection_id)
    if resource is None:
        return None
    providers = resource.get("providers", [])
    tile = next((p for p in providers if p.get("type") == "tile"), None)
    feature = next((p for p in providers if p.get("type") == "feature"), None)
    if tile is None or feature is None:
        return None
    return feature, tile


def _layer_table(feature: dict[str, Any], postgis: bool) -> LayerTable:
    layer = feature["layer"]
    return LayerTable.from_schema(
        feature["data"],
        layer["attributes"],
        has_geometry=layer["has_geometry"],
        feature_count=layer["feature_count"],
        postgis=postgis,
    )


def layer_tag(feature: dict[str, Any], collection_id: str) -> str:
    """A tile's validator: what this layer's tiles are made of, and nothing else.

    Its table (a new one at every re-ingestion, replace or append), the MVT layer's name
    and the attributes the tiles carry. Never the catalogue version: that moves with every
    change anywhere, hidden drafts included, and would let anyone count them."""
    return tile_overviews.tile_tag(feature["data"], collection_id, feature["layer"]["attributes"])


def render(
    live: LiveApi,
    base_url: str,
    viewer: Viewer,
    collection_id: str,
    tile_matrix_set: str,
    indexes: tuple[str, str, str],
    if_none_match: str | None,
    gzip_ok: bool = False,
    cache: TileCache | None = None,
    holding_slot: bool = True,
    retry: bool = True,
) -> TileAnswer:
    """One tile request, start to end (runs in a worker thread).

    Without `holding_slot`, a tile that meets `db_tiles.HEAVY_CANDIDATES` features or
    more (a bounded count through the spatial index) is not made: the answer says
    `heavy`, and the caller asks again once it holds a slot of its `TileGate`."""
    api = live.api(base_url, viewer)
    providers = tile_providers(api, collection_id)
    if providers is None:
        return _error(
            HTTPStatus.NOT_FOUND,
            "NotFound",
            f"collection introuvable ou sans tuiles : « {collection_id[:100]} »",
        )
    if tile_matrix_set != TILESET_ID:
        return _error(
            HTTPStatus.NOT_FOUND,
            "NotFound",
            f"jeu de tuiles inconnu : « {tile_matrix_set[:100]} » (seul {TILESET_ID} est proposé)",
        )
    if not all(INDEX_RE.match(i) for i in indexes):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "InvalidParameterValue",
            "niveau, ligne et colonne de tuile : des entiers positifs ou nuls",
        )
    z, y, x = (int(i) for i in indexes)
    if z > db_tiles.MAX_ZOOM:
        return _error(
            HTTPStatus.BAD_REQUEST,
            "InvalidParameterValue",
            f"niveau de zoom {z} hors limites (0 à {db_tiles.MAX_ZOOM})",
        )
    try:
        tile = db_tiles.Tile.checked(z, x, y)
    except db_tiles.TileOutOfRangeError as exc:
        return _error(HTTPStatus.NOT_FOUND, "NotFound", str(exc))
    feature, _tile_def = providers
    version = layer_tag(feature, collection_id)
    headers = {"etag": f'"{version}"', "cache-control": CACHE_CONTROL, "vary": "Accept-Encoding"}
    if if_none_match and _matches(if_none_match, version):
        return TileAnswer(HTTPStatus.NOT_MODIFIED, b"", headers)
    layer = _layer_table(feature, runtime.is_postgis())

    def produce(conn: Connection) -> bytes:
        keep = tile_overviews.eligible(layer, tile, None)
        if keep:  # a heavy low-zoom tile stored once made (`tile_overviews`)
            found = tile_overviews.stored_tile(conn, version, tile)
            if found is not None:
                return found
        candidates = None  # a layer smaller than the threshold has no heavy tile
        if layer.feature_count >= db_tiles.HEAVY_CANDIDATES:
            candidates = db_tiles.count_candidates(conn, layer, tile, db_tiles.HEAVY_CANDIDATES)
            if candidates >= db_tiles.HEAVY_CANDIDATES and not holding_slot:
                raise _HeavyTileError
        body = db_tiles.render_tile(conn, layer, collection_id, tile, candidates)
        if keep and tile_overviews.eligible(layer, tile, candidates):
            made.append(body)  # stored after the read connection is given back
        return body

    made: list[bytes] = []

    def make() -> bytes:
        # The reader engine: autocommit, no pre-ping (one round trip on PostGIS, two for
        # the tiles of a layer large enough to have heavy ones).
        body = runtime.run_read(produce)
        if made and not on_replica():
            tile_overviews.store(runtime.engine(), layer, version, tile, made[0])
        return body

    try:
        made = (cache or NO_CACHE).tile(live.version, (feature["data"], z, x, y), make)
    except _HeavyTileError:
        return TileAnswer(HTTPStatus.SERVICE_UNAVAILABLE, b"", heavy=True)
    except db_tiles.TileTooLargeError:
        LOGGER.warning("tile %s/%s/%s of %s: too many features", z, y, x, collection_id)
        return _error(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "TileTooLarge",
            f"tuile trop lourde : plus de {db_tiles.MAX_FEATURES} entités distinctes à ce"
            " niveau de zoom ; demandez des tuiles d'un niveau plus détaillé",
        )
    except DBAPIError as exc:
        if retry and live.moved():
            # The layer's table was swapped (re-ingested) since this configuration was
            # built, and the old one dropped: answer from the new one rather than fail.
            return render(
                live,
                base_url,
                viewer,
                collection_id,
                tile_matrix_set,
                indexes,
                if_none_match,
                gzip_ok,
                cache,
                holding_slot,
                retry=False,
            )
        LOGGER.warning("tile %s/%s/%s of %s failed: %s", z, y, x, collection_id, exc)
        return _error(
            HTTPStatus.INTERNAL_SERVER_ERROR, "ServerError", "la tuile n'a pas pu être produite"
        )
    headers["content-type"] = MVT_MEDIA_TYPE
    body = made.body
    if gzip_ok and len(body) >= GZIP_MIN_BYTES:
        body = made.gzipped()
        headers["content-encoding"] = "gzip"
        headers["etag"] = f'"{version}-gz"'  # another representation, another tag
    return TileAnswer(HTTPStatus.OK, body, headers)


def _matches(if_none_match: str, version: str) -> bool:
    """`If-None-Match` names this tile in either encoding (or is `*`)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return bool(tags & {"*", f'"{version}"', f'"{version}-gz"'})


def _matrix_sets(
    api: API, api_request: APIRequest, identifier: str | None
) -> tuple[dict, int, Any]:
    """pygeoapi's tile matrix set documents; their HTML with our templates (pygeoapi
    passes its whole configuration as template settings there, so it never finds ours)."""
    html = api_request.format == "html"
    if html:
        api_request._format = "json"  # noqa: SLF001 - the JSON document feeds our page
    if identifier is None:
        headers, status, content = tiles_api.tilematrixsets(api, api_request)
        template = "tilematrixsets/index.html"
    else:
        headers, status, content = tiles_api.tilematrixset(api, api_request, identifier)
        template = "tilematrixsets/tilematrixset.html"
    if html and status == HTTPStatus.OK:
        content = render_j2_template(
            api.tpl_config,
            api.config["server"]["templates"],
            template,
            json.loads(content),
            api_request.locale,
        )
        headers["Content-Type"] = "text/html; charset=utf-8"
    return headers, status, content


def cache_from_environment() -> TileCache:
    """`NIAOULI_TILE_CACHE_MB` megabytes per worker (default 64; 0 turns it off)."""
    return TileCache(int(get_settings().tile_cache_mb * 1024 * 1024))


def busy() -> TileAnswer:
    """Every heavy-tile slot stayed taken: come back in a few seconds."""
    answer = _error(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "serveur occupé : trop de tuiles lourdes demandées en même temps ;"
        f" réessayez dans {RETRY_AFTER_SECONDS} secondes",
    )
    answer.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return answer


def tile_routes(service: Any, gate: TileGate | None = None) -> list[BaseRoute]:
    """OGC API Tiles (core, tileset, tilesets-list, geodata-tilesets, MVT)."""
    cache = cache_from_environment()
    gate = gate or gate_from_environment()

    async def refuse(request: Request, status: int, code: str, message: str) -> Response:
        api = await service.api(request)
        api_request = await APIRequest.from_starlette(request, api.locales)
        headers = api_request.get_response_headers(**api.api_headers)
        fmt = api_request.format if api_request.format == "html" else "json"
        headers, status, content = api.get_exception(status, headers, fmt, code, message)
        return Response(content, status_code=status, headers=headers)

    async def check_collection(request: Request) -> Response | None:
        collection_id = request.path_params["collection_id"]
        api = await service.api(request)
        if tile_providers(api, collection_id) is None:
            return await refuse(
                request,
                HTTPStatus.NOT_FOUND,
                "NotFound",
                f"collection introuvable ou sans tuiles : « {collection_id[:100]} »",
            )
        if request.query_params.get("f", "json").lower() not in METADATA_FORMATS:
            return await refuse(
                request,
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "format inconnu : f vaut json, html ou tilejson",
            )
        return None

    async def tilesets(request: Request) -> Response:
        refused = await check_collection(request)
        if refused is not None:
            return refused
        collection_id = request.path_params["collection_id"]
        return await service.call(request, tiles_api.get_collection_tiles, collection_id)

    async def tileset(request: Request) -> Response:
        refused = await check_collection(request)
        if refused is not None:
            return refused
        tile_matrix_set = request.path_params["tile_matrix_set"]
        if tile_matrix_set != TILESET_ID:
            return await refuse(
                request,
                HTTPStatus.NOT_FOUND,
                "NotFound",
                f"jeu de tuiles inconnu : « {tile_matrix_set[:100]} » "
                f"(seul {TILESET_ID} est proposé)",
            )
        return await service.call(
            request,
            tiles_api.get_collection_tiles_metadata,
            request.path_params["collection_id"],
            tile_matrix_set,
            check_format=False,
        )

    async def tile(request: Request) -> Response:
        fmt = request.query_params.get("f")
        if fmt is not None and fmt.lower() not in TILE_FORMATS:
            answer = _error(
                HTTPStatus.BAD_REQUEST,
                "InvalidParameterValue",
                "format de tuile inconnu : f vaut mvt (Mapbox Vector Tiles)",
            )
        else:
            params = request.path_params
            arguments = (
                service.live,
                service.base_url(request),
                request.scope.get("state", {}).get("viewer", ANONYMOUS),
                params["collection_id"],
                params["tile_matrix_set"],
                (params["z"], params["y"], params["x"]),
                request.headers.get("if-none-match"),
                "gzip" in request.headers.get("accept-encoding", ""),
                cache,
            )
            answer = await asyncio.to_thread(render, *arguments, False)
            if answer.heavy:
                try:
                    async with gate.slot():  # waits in the loop, holding no thread
                        answer = await asyncio.to_thread(render, *arguments, True)
                except TileBusyError:
                    answer = busy()
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    async def matrix_sets(request: Request) -> Response:
        return await service.call(request, _matrix_sets, None)

    async def matrix_set(request: Request) -> Response:
        identifier = request.path_params["tile_matrix_set"]
        if identifier not in KNOWN_TILE_MATRIX_SETS:
            return await refuse(
                request,
                HTTPStatus.NOT_FOUND,
                "NotFound",
                f"jeu de tuiles inconnu : « {identifier[:100]} »",
            )
        return await service.call(request, _matrix_sets, identifier)

    tiles_path = "/collections/{collection_id}/tiles"
    return [
        Route("/tileMatrixSets", matrix_sets),
        Route("/tileMatrixSets/{tile_matrix_set}", matrix_set),
        # pygeoapi's landing page and tilesets links spell it with a capital T.
        Route("/TileMatrixSets", matrix_sets),
        Route("/TileMatrixSets/{tile_matrix_set}", matrix_set),
        Route(tiles_path, tilesets),
        Route(tiles_path + "/{tile_matrix_set}", tileset),
        Route(tiles_path + "/{tile_matrix_set}/{z}/{y}/{x}", tile),
    ]
