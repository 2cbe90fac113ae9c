"""What every portal handler shares: the engine, the templates, the viewer, paging."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from jinja2 import Environment
from sqlalchemy import Engine
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from niaouli.accounts.resolve import NOBODY, Identity
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.i18n import N_, current_language
from niaouli.settings import Settings

PAGE_SIZE = 20
MAX_PAGE = 10_000
NAV = (
    ("/", N_("Accueil")),
    ("/recherche", N_("Recherche")),
    ("/jeux-de-donnees", N_("Jeux de données")),
    ("/organisations", N_("Organisations")),
    ("/carte", N_("Carte")),
    ("/reutilisations", N_("Réutilisations")),
    ("/code", N_("Code")),
    ("/evenements", N_("Événements")),
)


@dataclass(frozen=True)
class Portal:
    settings: Settings
    engine: Engine
    templates: Environment

    def render(
        self, request: Request, name: str, status: int = 200, **context: object
    ) -> HTMLResponse:
        identity = identity_for(request)
        body = self.templates.get_template(name).render(
            request_path=request.url.path,
            request_query=request.query_params.multi_items(),
            language=current_language(),
            nav=NAV,
            account=identity,
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        if identity.is_signed_in:
            # A page that depends on who asks must never be served from a shared cache.
            response.headers["Cache-Control"] = "private, no-store"
        return response


def identity_for(request: Request) -> Identity:
    """Who is asking, as resolved by `niaouli.accounts.middleware` (else anonymous)."""
    return request.scope.get("state", {}).get("identity", NOBODY)


def viewer_for(request: Request) -> Viewer:
    """The viewer every catalogue query of this request takes."""
    return request.scope.get("state", {}).get("viewer", ANONYMOUS)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def base_url(request: Request) -> str:
    """The site's public root URL, without trailing slash (for URLs to paste in QGIS)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def page_number(request: Request) -> int:
    """`?page=N`, forgiving: anything odd means page 1."""
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or len(raw) > 6:
        return 1
    return min(max(int(raw), 1), MAX_PAGE)


@dataclass(frozen=True)
class Paging:
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first_item(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_item(self) -> int:
        return min(self.offset + self.size, self.total)
