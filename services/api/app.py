"""The API's ASGI application, mounted at /api by `niaouli.web`.

Routes come from the operation lists of `catalogue`, `uploads` and `community`; the
same lists give /api/openapi.json. Identity comes from the accounts middleware that
wraps the whole site; errors are JSON with a stable `code` and a French description.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from niaouli.accounts.csrf import Csrf
from niaouli.accounts.secrets import secret_key
from niaouli.db.engine import get_engine
from niaouli.errors import NiaouliError
from niaouli.resources import package_dir
from niaouli.services.api import (
    call_routes,
    campaign_routes,
    catalogue,
    community_routes,
    errors,
    job_routes,
    openapi,
    privacy_routes,
    review_routes,
    schema_routes,
    uploads,
)
from niaouli.services.api.core import Context, endpoint
from niaouli.services.api.cors import ApiCors
from niaouli.settings import Settings, get_settings, load_settings
from niaouli.storage import max_upload_bytes

STATIC = package_dir("niaouli.services.api") / "static"
SWAGGER = package_dir("niaouli.services.ogc") / "static" / "vendor" / "swagger-ui"


def operations() -> list:
    return [
        *catalogue.operations(),
        *uploads.operations(),
        *job_routes.operations(),
        *community_routes.operations(),
        *call_routes.operations(),
        *campaign_routes.operations(),
        *privacy_routes.operations(),
        *review_routes.operations(),
        *schema_routes.operations(),
    ]


DOCS_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Niaouli — API du portail : documentation</title>
<link rel="stylesheet" href="/api/static/swagger-ui/swagger-ui.css">
</head><body>
<main><h1 style="font-family:sans-serif;margin:1rem">API du portail Niaouli</h1>
<p style="font-family:sans-serif;margin:1rem">Lire le catalogue (libre, aussi depuis une page
d'un autre site), créer et modifier jeux de données, fichiers et couches (avec un jeton).
Chaque jeu de données donne ses liens : page, collections OGC API, tuiles, exports,
fiches de métadonnées. Document OpenAPI :
<a href="/api/openapi.json">/api/openapi.json</a> · <a href="/">retour au portail</a>.</p>
<div id="swagger-ui"></div></main>
<script src="/api/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/api/static/docs.js"></script>
</body></html>
"""


def create_app(settings: Settings | None = None) -> ApiCors:
    settings = settings or load_settings()
    public_https = get_settings().public_url.startswith("https:")
    context = Context(
        settings=settings,
        engine=get_engine(settings),
        csrf=Csrf(secret_key(settings), public_https),
        max_upload=max_upload_bytes(),
    )
    ops = operations()
    document = openapi.document(ops)

    async def spec(_request: Request) -> Response:
        return JSONResponse(document, media_type="application/vnd.oai.openapi+json;version=3.1")

    async def index(_request: Request) -> Response:
        return JSONResponse(
            {
                "title": "Niaouli — API du portail",
                "openapi": "/api/openapi.json",
                "documentation": "/api/docs",
            }
        )

    async def docs(_request: Request) -> Response:
        response = HTMLResponse(DOCS_PAGE)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'"
        )
        return response

    async def missing(_request: Request, _exc: Exception) -> Response:
        return errors.response(errors.ApiError(404, "NotFound", "adresse inconnue dans l'API"))

    async def method(_request: Request, _exc: Exception) -> Response:
        return errors.response(
            errors.ApiError(405, "MethodNotAllowed", "méthode non prise en charge ici")
        )

    routes = [
        Route("/", index),
        Route("/openapi.json", spec),
        Route("/docs", docs),
        Mount("/static/swagger-ui", app=StaticFiles(directory=SWAGGER)),
        Mount("/static", app=StaticFiles(directory=STATIC)),
    ]
    by_path: dict[str, list] = {}
    for op in ops:
        by_path.setdefault(op.path, []).append(op)
    for path, group in by_path.items():
        for op in group:
            routes.append(Route(path, endpoint(op, context), methods=[op.method]))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 405:
            return await method(request, exc)
        return await missing(request, exc)

    # Cross-origin reads (GET, HEAD and their preflight), never with credentials.
    return ApiCors(
        Starlette(
            routes=routes,
            exception_handlers={
                errors.ApiError: errors.handle,
                NiaouliError: errors.handle_core,
                HTTPException: http_error,
                IntegrityError: errors.concurrent_change,
            },
        )
    )
