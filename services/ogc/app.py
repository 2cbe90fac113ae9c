"""Our Starlette adapter for pygeoapi's framework-neutral API, mounted at /ogc.

pygeoapi's own `starlette_app` reads one global configuration at import time and so
cannot follow the catalogue live; this adapter asks `LiveApi` for the current API object
on every request (checked against the catalogue version in the same worker thread
as the call) and calls the same `pygeoapi.api.*` functions. Routes are grouped by
OGC API part (`feature_routes`; Records and Tiles will add their own groups through
`create_app(extra_routes=...)`), and every response gets the same security headers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi import l10n
from pygeoapi.api import API, APIRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.changes import current_version
from niaouli.db.engine import get_engine, get_read_engine
from niaouli.db.readroute import on_replica
from niaouli.i18n import COOKIE as LANGUAGE_COOKIE
from niaouli.i18n import DEFAULT as DEFAULT_LANGUAGE
from niaouli.i18n import LANGUAGES
from niaouli.services.ogc import (
    asyncread,
    fastitems,
    params,
    raster_discovery,
    records_collection,
    runtime,
)
from niaouli.services.ogc import config as ogc_config
from niaouli.services.ogc import conformance as declared_classes
from niaouli.services.ogc.live import LiveApi, ensure_openapi
from niaouli.services.ogc.part4_routes import part4_routes, read_only_options_routes
from niaouli.services.ogc.raster_catalogue import StoredRasters
from niaouli.services.ogc.raster_routes import RasterCatalogue, raster_routes
from niaouli.services.ogc.tile_routes import tile_routes
from niaouli.settings import Settings, load_settings

PYGEOAPI_STATIC = Path(pygeoapi.__file__).resolve().parent / "static"
HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
# No inline script anywhere in our templates: data goes in JSON blocks read by static JS.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

LOGGER = logging.getLogger(__name__)
LAYER_ITEMS = "/collections/{collection_id:layer}/items"
"""A layer's items (any collection but a staging one: `part4_routes`'s convertor)."""
ApiFunction = Callable[..., tuple[dict, int, Any]]
# Features and records answered as application/geo+json (services/ogc/conformance.py).
GET_ITEMS = declared_classes.as_geojson(itemtypes_api.get_collection_items)
GET_ITEM = declared_classes.as_geojson(itemtypes_api.get_collection_item)


class OgcService:
    """Glue between Starlette requests and pygeoapi API functions."""

    def __init__(
        self, live: LiveApi, public_url: str | None, replica_live: LiveApi | None = None
    ) -> None:
        self._live = live
        # With a read replica: the collection list as the replica has it, for requests
        # that read there (each side's list matches the tables its own database holds).
        self._replica_live = replica_live
        self.public_url = public_url.rstrip("/") if public_url else None

    @property
    def live(self) -> LiveApi:
        """The live API of the database this request reads (`niaouli.db.readroute`)."""
        if self._replica_live is not None and on_replica():
            return self._replica_live
        return self._live

    def base_url(self, request: Request) -> str:
        """Absolute URL of /ogc: the configured public URL, else the request's own."""
        if self.public_url:
            return f"{self.public_url}/ogc"
        host = request.headers.get("host", "")
        if not HOST_RE.match(host):
            host = "localhost"
        scheme = "https" if request.url.scheme == "https" else "http"
        return f"{scheme}://{host}{request.scope.get('root_path', '')}".rstrip("/")

    async def api(self, request: Request) -> API:
        """The API publishing what this request's viewer may see (`niaouli.accounts`),
        checked against the catalogue version now (one read: see `live`)."""
        viewer = request.scope.get("state", {}).get("viewer", ANONYMOUS)
        return await asyncio.to_thread(self.live.api, self.base_url(request), viewer)

    async def call(
        self,
        request: Request,
        function: ApiFunction,
        *args: Any,
        check_format: bool = True,
        retry: bool = True,
        check: Callable[[API], params.ParameterError | None] | None = None,
    ) -> Response:
        """`function(api, api_request, *args)` in one worker thread, with the API object
        checked there against the catalogue version (one thread hop, one version read).
        `check(api)` may refuse the request first (parameters that need the collection)."""
        viewer = request.scope.get("state", {}).get("viewer", ANONYMOUS)
        base_url = self.base_url(request)
        api_request = await APIRequest.from_starlette(request, self.live.locales)
        choose_language(request, api_request, self.live.locales)
        # The records provider answers for this viewer (the thread gets a copy of it).
        records_collection.REQUEST_VIEWER.set(viewer)

        def answer() -> tuple[dict, int, Any]:
            api = self.live.api(base_url, viewer)
            error = check(api) if check is not None else None
            if error is not None:
                return _refusal(api, api_request, error)
            if check_format and not api_request.is_valid():
                return api.get_format_exception(api_request)
            return function(api, api_request, *args)

        headers, status, content = await asyncio.to_thread(answer)
        if status >= 500 and retry and await asyncio.to_thread(self.live.moved):
            # A layer's table was swapped since this configuration was built (ingestion
            # replaced it): answer once more from the new one rather than fail.
            return await self.call(
                request, function, *args, check_format=check_format, retry=False, check=check
            )
        if status >= 500:
            LOGGER.error("OGC API %s %s -> %s", request.method, request.url.path, status)
        return to_response(headers, status, content)

    async def fast_item(
        self, request: Request, query: dict[str, list[str]], collection_id: str
    ) -> Response | None:
        """An anonymous visitor's feature by id in JSON without pygeoapi's API layer, the
        same answer (`fastitems`); None when pygeoapi must answer."""
        viewer = request.scope.get("state", {}).get("viewer", ANONYMOUS)
        if viewer != ANONYMOUS or request.method not in ("GET", "HEAD"):
            return None
        api_request = APIRequest(request, self.live.locales)
        choose_language(request, api_request, self.live.locales)
        if not fastitems.applies(query, api_request):
            return None
        reader = asyncread.reader_for(runtime.reader(), replica=on_replica())
        if reader is not None:  # PostGIS: the loop's own connections, no thread hop
            answered = await fastitems.answer_item_on_loop(
                self.live,
                self.base_url(request),
                api_request,
                collection_id,
                request.path_params["item_id"],
                reader,
            )
            if answered is not None:
                return to_response(*answered)
        answered = await asyncio.to_thread(
            fastitems.answer_item,
            self.live,
            self.base_url(request),
            api_request,
            collection_id,
            request.path_params["item_id"],
        )
        return None if answered is None else to_response(*answered)

    async def fast_page(
        self, request: Request, query: dict[str, list[str]], collection_id: str
    ) -> Response | None:
        """An anonymous visitor's unfiltered page in JSON without pygeoapi's API layer, the
        same answer (`fastitems`); None when pygeoapi must answer."""
        viewer = request.scope.get("state", {}).get("viewer", ANONYMOUS)
        if viewer != ANONYMOUS or request.method not in ("GET", "HEAD"):
            return None
        api_request = APIRequest(request, self.live.locales)
        choose_language(request, api_request, self.live.locales)
        if not fastitems.applies_to_page(query, api_request):
            return None
        try:  # what pygeoapi's path would refuse, it refuses (`items`' check)
            params.check_items(request.query_params, (), multi=query)
        except params.ParameterError:
            return None
        answered = await asyncio.to_thread(
            fastitems.answer_page, self.live, self.base_url(request), api_request, collection_id
        )
        return None if answered is None else to_response(*answered)

    async def refuse(self, request: Request, error: params.ParameterError) -> Response:
        return await self.call(
            request,
            lambda api, api_request: _refusal(api, api_request, error),
            retry=False,
            check_format=False,
        )


def choose_language(request: Request, api_request: APIRequest, locales: Sequence[Any]) -> None:
    """The portal's rule, so that /ogc speaks the language the visitor chose there.

    `?lang=` first (pygeoapi's own parameter, left to it), then the portal's
    `niaouli_lang` cookie, then, for HTML pages, French: like the portal, a page does not
    follow the browser's Accept-Language (portal/i18n.py says why). Other formats keep
    pygeoapi's rule when there is no cookie (Accept-Language, then the first language).
    """
    if "lang" in request.query_params:
        return
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen not in LANGUAGES:
        if api_request.format != "html":
            return
        chosen = DEFAULT_LANGUAGE
    # pygeoapi keeps the choice in these two attributes (no public setter)
    api_request._raw_locale = chosen  # noqa: SLF001
    api_request._locale = l10n.best_match([chosen], locales)  # noqa: SLF001


def _refusal(
    api: API, api_request: APIRequest, error: params.ParameterError
) -> tuple[dict, int, Any]:
    """pygeoapi's 400 exception document for a refused parameter."""
    headers = api_request.get_response_headers(**api.api_headers)
    fmt = api_request.format if api_request.is_valid() else None
    return api.get_exception(HTTPStatus.BAD_REQUEST, headers, fmt, error.code, str(error))


def to_response(headers: dict[str, str], status: int, content: str | bytes) -> Response:
    response = Response(content, status_code=status)
    response.headers.update(headers)
    if response.headers.get("content-type", "").startswith("text/html") and (
        "charset" not in response.headers["content-type"]
    ):
        response.headers["content-type"] = "text/html; charset=utf-8"
    return response


def _attributes(api: API, collection_id: str) -> list[str] | None:
    resource = api.config["resources"].get(collection_id)
    if resource is None:
        return None
    layer = resource["providers"][0].get("layer", {})
    return [a["name"] for a in layer.get("attributes", [])]


def _is_records(api: API, collection_id: str) -> bool:
    providers = api.config["resources"][collection_id].get("providers", [])
    return any(p.get("type") == "record" for p in providers)


def feature_routes(service: OgcService, rasters: RasterCatalogue | None = None) -> list[BaseRoute]:
    """OGC API Common + Features (Parts 1, 2 and 3); the OpenAPI document also describes
    the raster collections of `rasters` the viewer may see."""
    with_rasters = raster_discovery.OpenApiWithRasters()

    def _openapi(api: API, api_request: APIRequest, viewer: Viewer) -> tuple[dict, int, Any]:
        base = ensure_openapi(api)  # generated on first use, for this very API object
        if api_request.format == "html" or rasters is None:
            return core_api.openapi_(api, api_request)
        shown = [(s.collection_id, s.title) for s in rasters.visible(viewer)]
        return with_rasters.answer(api, api_request, base, shown)

    async def landing(request: Request) -> Response:
        return await service.call(request, records_collection.landing_page)

    async def openapi(request: Request) -> Response:
        viewer = request.scope.get("state", {}).get("viewer", ANONYMOUS)
        return await service.call(request, _openapi, viewer)

    async def conformance(request: Request) -> Response:
        # Our list, not pygeoapi's: only what is implemented (services/ogc/conformance.py).
        return await service.call(request, declared_classes.conformance)

    async def collections(request: Request) -> Response:
        return await service.call(request, core_api.describe_collections)

    async def collection(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await service.call(request, core_api.describe_collections, collection_id)

    async def schema(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await service.call(request, declared_classes.collection_schema, collection_id)

    async def queryables(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await service.call(request, declared_classes.collection_queryables, collection_id)

    async def items(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        multi = {k: request.query_params.getlist(k) for k in request.query_params}

        def check(api: API) -> params.ParameterError | None:
            """Parameters checked against the collection of the API that will answer."""
            attributes = _attributes(api, collection_id)
            if attributes is None:
                return None  # unknown collection: pygeoapi answers 404
            try:
                if _is_records(api, collection_id):
                    params.check_records(request.query_params, multi=multi)
                else:
                    params.check_items(request.query_params, attributes, multi=multi)
            except params.ParameterError as error:
                return error
            return None

        fast = await service.fast_page(request, multi, collection_id)
        if fast is not None:
            return fast
        return await service.call(
            request,
            GET_ITEMS,
            collection_id,
            check_format=False,
            check=check,
        )

    async def item(request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        multi = {k: request.query_params.getlist(k) for k in request.query_params}
        try:
            params.check_item(multi)
        except params.ParameterError as error:
            return await service.refuse(request, error)
        fast = await service.fast_item(request, multi, collection_id)
        if fast is not None:
            return fast
        return await service.call(
            request,
            GET_ITEM,
            collection_id,
            request.path_params["item_id"],
        )

    return [
        Route("/", landing),
        Route("/openapi", openapi),
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route("/collections/{collection_id}", collection),
        Route("/collections/{collection_id}/schema", schema),
        Route("/collections/{collection_id}/queryables", queryables),
        Route(LAYER_ITEMS, items, methods=["GET", "POST"]),
        Route(f"{LAYER_ITEMS}/{{item_id}}", item),
    ]


class _LayeredStatic(StaticFiles):
    """Our vendored assets first, then pygeoapi's own (its CSS and logos)."""

    def __init__(self, directories: Sequence[Path]) -> None:
        super().__init__(directory=None)
        self.all_directories = [str(d) for d in directories if d.is_dir()]


async def _security_headers(app: Any, scope: dict, receive: Any, send: Any) -> None:
    async def send_with_headers(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            extra = {
                b"x-content-type-options": b"nosniff",
                b"content-security-policy": CSP.encode(),
                b"access-control-allow-origin": b"*",
                b"referrer-policy": b"same-origin",
            }
            headers += [(k, v) for k, v in extra.items() if k not in names]
            message = {**message, "headers": headers}
        await send(message)

    await app(scope, receive, send_with_headers)


class SecurityHeaders:
    """nosniff, a strict CSP (no inline script), and CORS for public read access."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _security_headers(self.app, scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    public_url: str | None = None,
    portal_url: str | None = None,
    extra_routes: Callable[[OgcService], list[BaseRoute]] | None = None,
    rasters: RasterCatalogue | None = None,
) -> SecurityHeaders:
    """The /ogc application; `extra_routes` lets Records and Tiles add their routes;
    `rasters` is where raster collections come from (the catalogue's, by default)."""

    # pygeoapi logs every 4xx answer with a traceback; we log server errors ourselves.
    logging.getLogger("pygeoapi").setLevel(logging.CRITICAL)
    # pygeoapi's adjustments (jsonout, crscache) are installed by the composition root
    # (`niaouli.startup.install_pygeoapi`), not here: they patch the whole process.
    settings = settings or load_settings()
    engine = get_engine(settings)
    runtime.set_engine(engine)
    public_url = public_url or settings.public_url or None
    live = LiveApi(
        engine,
        settings,
        portal_url=portal_url or public_url,
        write_to=ogc_config.generated_dir(settings),
        # One round trip on PostGIS (autocommit reader, no pre-ping): it runs per request.
        version_reader=lambda: runtime.run_read(current_version),
    )
    replica_live = None
    if settings.database_read_url and not settings.is_embedded:
        replica_live = LiveApi(
            get_read_engine(settings),
            settings,
            portal_url=portal_url or public_url,
            version_reader=lambda: runtime.run_read(current_version),
        )
    service = OgcService(live, public_url, replica_live)
    static = _LayeredStatic([ogc_config.PACKAGE_DIR / "static", PYGEOAPI_STATIC])
    rasters = rasters or StoredRasters(engine, settings, portal_url or public_url)
    # The raster collections' routes answer raster ids and hand the others to pygeoapi;
    # their /conformance and /collections (with the rasters) are what Part 4 completes.
    raster = raster_routes(service, rasters)
    features = feature_routes(service, rasters)
    endpoints = {r.path: r.endpoint for r in features if isinstance(r, Route)}
    endpoints.update({r.path: r.endpoint for r in raster if isinstance(r, Route)})
    # Features and pages first: the requests QGIS and GDAL make most, matched by the first
    # route's regular expression instead of the thirtieth; their `layer` ids are any but
    # a staging collection's, and no other route has their shape.
    items = [r for r in features if isinstance(r, Route) and r.path.startswith(LAYER_ITEMS)]
    routes = [
        *items,
        # Campaigns' staging collections (Part 4): their ids never match a layer's.
        *part4_routes(
            service.base_url,
            conformance=endpoints["/conformance"],
            collections=endpoints["/collections"],
        ),
        *raster,
        *[r for r in features if r not in items],
        *read_only_options_routes(),
        *tile_routes(service),
        Mount("/static", app=static, name="static"),
    ]
    if extra_routes is not None:
        routes[-1:-1] = extra_routes(service)
    return SecurityHeaders(Starlette(routes=routes))
