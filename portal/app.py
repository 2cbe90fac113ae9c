"""The portal's ASGI application: French pages over the catalogue, anonymous view only.

Every value from data goes through Jinja2's autoescaping (SECURITY-CASES S20-S22), and a
strict Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.db.engine import get_engine
from niaouli.settings import load_settings

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app() -> Starlette:
    settings = load_settings()
    engine = get_engine(settings)
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )

    def render(name: str, status: int = 200, **context: object) -> HTMLResponse:
        body = env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    async def home(request: Request) -> HTMLResponse:
        with Session(engine) as session:
            datasets = service.list_datasets(session, ANONYMOUS)
            context = {
                "datasets": datasets,
                "count": service.count_datasets(session, ANONYMOUS),
                "spatial": service.count_datasets(session, ANONYMOUS, spatial=True),
                "organisations": service.list_organisations(session),
            }
            return render("home.html", **context)

    async def dataset(request: Request) -> HTMLResponse:
        with Session(engine) as session:
            try:
                item = service.get_dataset(session, request.path_params["slug"], ANONYMOUS)
            except service.NotFoundError:
                return render("404.html", status=404)
            return render("dataset.html", dataset=item)

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return render("404.html", status=404)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/jeux-de-donnees/{slug}", dataset),
        ],
        exception_handlers={404: not_found},
    )
