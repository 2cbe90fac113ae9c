"""The one ASGI application `niaouli serve` runs: portal at /, OGC API at /ogc, CSW at /csw.

Each interface is its own app with its own package (services/ogc, services/csw,
services/api, portal); this module, with `niaouli.cli` and `niaouli.startup`, is the
composition root: it installs what runs at start-up and mounts the interfaces. Imports
flow one way (docs/architecture.md, enforced by tests/test_layers.py).
"""

from __future__ import annotations

import functools

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from niaouli import export_jobs, gdalguard, health, metrics, startup, storage
from niaouli.accounts.middleware import AccountsMiddleware
from niaouli.accounts.secrets import secret_key
from niaouli.db import replica
from niaouli.db.engine import get_engine
from niaouli.db.readroute import ReadRouting
from niaouli.jobs import status as jobs_status
from niaouli.portal.app import create_app as create_portal_app
from niaouli.requestlog import RequestIdMiddleware
from niaouli.services.api.app import create_app as create_api_app
from niaouli.services.csw.health import pycsw_reachable
from niaouli.services.csw.proxy import CswProxy
from niaouli.services.ogc.app import create_app as create_ogc_app
from niaouli.settings import Settings, get_settings, load_settings, pin
from niaouli.stats.middleware import UsageMiddleware
from niaouli.unavailable import DatabaseTroubleMiddleware

# Mounted prefixes also answered without their trailing slash (the URLs the pages show).
BARE_PREFIXES = ("/ogc", "/api")


class BarePrefixes:
    """Serve `/ogc` as `/ogc/` (and `/api` as `/api/`) instead of the portal's 404.

    A Starlette `Mount` only matches below its prefix, so the bare address people paste
    (QGIS's OAPIF provider, GDAL, OWSLib) fell through to the portal. Served in place
    rather than redirected: a POST keeps its body, and a client that follows no redirect
    still connects. Every link in those answers is absolute, so nothing resolves wrongly.
    `/csw` has its own exact route (a CSW POST goes to the bare address).
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = BARE_PREFIXES) -> None:
        self.app = app
        self.prefixes = frozenset(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if (path[len(root) :] if root and path.startswith(root) else path) in self.prefixes:
                raw = scope.get("raw_path") or path.encode()
                scope = {**scope, "path": path + "/", "raw_path": raw + b"/"}
        await self.app(scope, receive, send)


class NulPaths:
    """A path holding U+0000 (`%00`) names nothing: 404 for every interface at once.

    PostgreSQL text cannot hold U+0000, so looking such a slug up failed with a 500 (the
    portal's organisation, reuse, code and event pages, the CSW proxy on both backends);
    no address of the site contains it. JSON under /api and /ogc, plain text elsewhere.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            message = "adresse inconnue : caractère nul (U+0000) dans le chemin"
            path = scope["path"]
            if path.startswith(("/api", "/ogc")):
                response: Response = JSONResponse(
                    {"code": "NotFound", "description": message}, status_code=404
                )
            else:
                response = PlainTextResponse(message, status_code=404)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class OpsEndpoints:
    """`/healthz`, `/readyz` and `/metrics`, answered before the site's own layers.

    Outside the accounts, statistics and database-trouble middleware: a probe every few
    seconds is neither a visit nor a viewer, and `/healthz` must answer even when what
    those layers need is down (docs/operations.md).
    """

    def __init__(self, app: ASGIApp, readyz: ASGIApp) -> None:
        self.app = app
        self.endpoints: dict[str, ASGIApp] = {
            "/healthz": health.healthz,
            "/readyz": readyz,
            "/metrics": metrics.metrics_endpoint,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None and scope["method"] in ("GET", "HEAD"):
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)


def readiness_checks(settings: Settings | None) -> health.Registry:
    """What `/readyz` looks at; one line per dependency."""
    settings = settings or get_settings()
    health.register_check(
        "database", functools.partial(health.database_reachable, get_engine(settings))
    )
    health.register_check("csw", pycsw_reachable)
    health.register_check(
        "storage", health.from_reason(functools.partial(storage.storage_reachable, settings))
    )
    engine = get_engine(settings)
    health.register_check(
        "jobs", health.from_reason(functools.partial(jobs_status.jobs_reachable, engine))
    )
    if settings.database_read_url and not settings.is_embedded:
        # Reported, not failing readiness: the primary answers its reads meanwhile.
        health.register_check(
            "replica", replica.circuit(settings).check, timeout=3.0, critical=False
        )
    else:
        health.REGISTRY.unregister("replica")
    return health.REGISTRY


def job_gauges(settings: Settings | None) -> None:
    """The job queue's state at each scrape of `/metrics` (read from the shared queue on
    PostgreSQL, so any worker's answer is the whole platform's)."""
    engine = get_engine(settings or get_settings())
    for name, documentation, fn in (
        ("job_queue_depth", "Jobs waiting for a worker", jobs_status.queue_depth),
        ("jobs_failed", "Jobs that ended failed", jobs_status.failed_jobs),
        ("job_workers_alive", "Workers with a recent heartbeat", jobs_status.workers_alive),
    ):
        metrics.register_gauge(name, documentation, functools.partial(fn, engine))


def create_app(settings: Settings | None = None) -> Starlette:
    """The web application; `settings` (from `niaouli serve`) become the process's own."""
    if settings is not None:
        pin(settings)
    gdalguard.install()  # GDAL and PROJ never reach the network from this process
    startup.install()  # change hooks on the catalogue's sessions (CSW rows, search)
    startup.install_pygeoapi()
    export_jobs.serve_inline()  # a lasting process: inline export builds may run here
    routes = []
    # Service mounts are added here as each interface lands (see docs/architecture.md).
    routes.append(Mount("/ogc", app=create_ogc_app()))
    routes.append(Mount("/api", app=create_api_app()))  # writing API (docs/api.md)
    csw = CswProxy()
    routes.append(Route("/csw", endpoint=csw, methods=["GET", "POST", "HEAD"]))
    routes.append(Mount("/csw", app=csw))
    routes.append(Mount("/", app=create_portal_app()))
    # Who is asking, resolved once for every interface (scope["state"]["viewer"]).
    settings = load_settings()
    accounts = Middleware(
        AccountsMiddleware, engine=get_engine(settings), secret_key=secret_key(settings)
    )
    # Usage statistics, counted in memory and flushed in batches (docs/stats.md).
    usage = Middleware(UsageMiddleware, engine=get_engine(settings))
    # Passing database trouble: 503 + Retry-After, GETs answered again (SECURITY-CASES R3).
    trouble = Middleware(DatabaseTroubleMiddleware)
    # Operations (docs/operations.md): a request id on every log line, the requests
    # counted for /metrics, then /healthz, /readyz and /metrics themselves.
    job_gauges(settings)
    ops = [
        Middleware(RequestIdMiddleware),
        Middleware(metrics.MetricsMiddleware),
        Middleware(OpsEndpoints, readyz=health.Readyz(readiness_checks(settings))),
    ]
    # Read-only work on the read replica, if any, except for writers (docs/scaling.md).
    routing = Middleware(ReadRouting, settings=settings)
    middleware = [
        *ops,
        Middleware(NulPaths),
        Middleware(BarePrefixes),
        trouble,
        usage,
        accounts,
        routing,
    ]
    return Starlette(routes=routes, middleware=middleware)
