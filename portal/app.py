"""The portal's ASGI application: French (and English) pages over the catalogue, at `/`.

Routing and error pages only; the pages live in `pages.py`, the files in `files.py`.
Handlers are plain functions, which Starlette runs in its thread pool: they do blocking
database and GDAL work and must not stall the event loop.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from niaouli.db.engine import get_engine
from niaouli.errors import ForbiddenError, NiaouliError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.portal.accounts import AccountPages
from niaouli.portal.call_pages import call_routes
from niaouli.portal.campaign_pages import CampaignPages
from niaouli.portal.columns import ColumnPages
from niaouli.portal.common import Portal, identity_for
from niaouli.portal.community_pages import CommunityPages
from niaouli.portal.contribute_pages import ContributePages
from niaouli.portal.feeds import Feeds
from niaouli.portal.files import Files
from niaouli.portal.harvest_pages import HarvestPages
from niaouli.portal.i18n import LanguageMiddleware
from niaouli.portal.indicator_pages import IndicatorPages
from niaouli.portal.journal import JournalPages
from niaouli.portal.manage import ManagePages
from niaouli.portal.members import MemberPages
from niaouli.portal.oidc import oidc_app
from niaouli.portal.pages import Pages
from niaouli.portal.partner_pages import PartnerPages
from niaouli.portal.privacy_pages import PrivacyPages
from niaouli.portal.public_map import PublicMap
from niaouli.portal.quality_pages import QualityPages
from niaouli.portal.rendering import make_environment
from niaouli.portal.review_pages import review_routes
from niaouli.portal.schema_pages import SchemaPages
from niaouli.portal.search_pages import SearchPages
from niaouli.portal.security import Refused, SecurityHeaders, refusal
from niaouli.portal.stats_pages import StatsPages
from niaouli.portal.versions_page import VersionPages
from niaouli.resources import package_dir
from niaouli.settings import Settings, load_settings

STATIC = package_dir("niaouli.portal") / "static"
log = logging.getLogger(__name__)

ERRORS = {
    400: (
        N_("Requête invalide"),
        N_(
            "Cette requête contient une donnée impossible à enregistrer (un caractère nul, "
            "par exemple) : corrigez la saisie et réessayez."
        ),
    ),
    404: (
        N_("Page introuvable"),
        N_("Cette page n'existe pas, n'existe plus, ou n'est pas publique."),
    ),
    405: (N_("Méthode non autorisée"), N_("Cette adresse ne s'utilise pas de cette façon.")),
    500: (
        N_("Erreur du serveur"),
        N_(
            "Une erreur inattendue s'est produite de notre côté. Elle a été enregistrée ; "
            "réessayez dans quelques instants."
        ),
    ),
}


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    portal = Portal(settings, get_engine(settings), make_environment())
    pages = Pages(portal)
    search = SearchPages(portal)
    files = Files(portal)
    accounts = AccountPages(portal)
    members = MemberPages(accounts)
    journal = JournalPages(portal)
    harvests = HarvestPages(accounts)
    harvest_source = "/organisations/{slug}/moissonnage/{source_id}"
    team = "/organisations/{slug}/membres"
    sso = oidc_app(accounts)  # OpenID Connect, when NIAOULI_OIDC_* is set
    public_map = PublicMap(portal)
    feeds = Feeds(portal)
    community = CommunityPages(portal, accounts)
    campaign_pages = CampaignPages(portal, accounts)
    stats = StatsPages(portal)
    manage = ManagePages(accounts)
    kept = VersionPages(accounts)
    columns = ColumnPages(manage)
    contribute = ContributePages(accounts)  # cartoparty volunteers (issue 18)
    privacy = PrivacyPages(manage)
    partners = PartnerPages(accounts)  # partner administrations (issue 22 §2)
    indicators = IndicatorPages(portal)  # the plan's indicators (issue 22 §3)
    quality = QualityPages(accounts)
    schemas = SchemaPages(manage)

    def error_page(request: Request, status: int) -> HTMLResponse:
        title, message = ERRORS.get(status, ERRORS[500] if status >= 500 else ERRORS[404])
        return portal.render(request, "error.html", status, title=_(title), message=_(message))

    async def http_error(request: Request, exc: Exception) -> HTMLResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 403:  # what is refused, why, and how to get the right (security.py)
            signed_in = identity_for(request).is_signed_in
            return portal.render(request, "error.html", 403, **refusal(exc, signed_in))
        return error_page(request, status)

    async def server_error(request: Request, exc: Exception) -> HTMLResponse:
        log.exception("portal error on %s", request.url.path, exc_info=exc)
        return error_page(request, 500)

    async def core_refusal(request: Request, exc: Exception) -> HTMLResponse:
        """A refusal of the core (`niaouli.errors`) no page turned into a form message:
        not found → the 404 page, forbidden → the 403 page; invalid input is shown by
        the form that sent it, so one reaching here is a fault of the page (a 500)."""
        if isinstance(exc, NotFoundError):
            return error_page(request, 404)
        if isinstance(exc, ForbiddenError):
            return await http_error(request, Refused("other"))
        return await server_error(request, exc)

    dataset = "/jeux-de-donnees/{slug}"
    layer = dataset + "/couches/{layer}"
    return Starlette(
        routes=[
            Route("/", pages.home, name="home"),
            Route("/recherche", search.everything, name="search"),
            Route("/jeux-de-donnees", search.datasets, name="datasets"),
            # Data managers: new dataset, edit and publish, send files (manage.py)
            Route("/jeux-de-donnees/nouveau", manage.new, methods=["GET", "POST"]),
            Route(dataset + "/modifier", manage.edit, methods=["GET", "POST"]),
            Route(dataset + "/publier", manage.publish, methods=["POST"]),
            Route(dataset + "/envoyer", manage.upload),
            Route(dataset + "/versions", kept.page),
            Route(dataset + "/versions/{version_id}/restaurer", kept.restore, methods=["POST"]),
            Route(dataset + "/colonnes", columns.page, methods=["GET", "POST"]),
            Route(dataset + "/donnees-personnelles", privacy.page, methods=["GET", "POST"]),
            Route(dataset + "/schema", schemas.page, methods=["GET", "POST"]),
            Route(dataset + "/schema/rapport.json", schemas.report),
            Route(dataset, pages.dataset, name="dataset"),
            Route(dataset + "/ressources/{resource_id}/{filename}", files.resource),
            Route(dataset + "/rasters/{collection}/{filename}", files.raster),
            Route(layer + "/apercu.geojson", files.preview),
            Route(layer + "/{filename}", files.export),
            Route("/organisations", pages.organisations, name="organisations"),
            Route("/organisations/{slug}", pages.organisation, name="organisation"),
            Route("/carte", public_map.page, name="map"),
            Route("/map", public_map.alias),
            # Code catalogue, reuses (submission, moderation), events and iCalendar
            Route("/code", community.code_list, name="code"),
            Route("/code/ajouter", community.code_new, methods=["GET", "POST"]),
            Route("/code/{slug}/modifier", community.code_edit, methods=["GET", "POST"]),
            Route("/code/{slug}", community.code_project),
            Route("/reutilisations", community.reuse_list, name="reuses"),
            Route("/reutilisations/proposer", community.reuse_new, methods=["GET", "POST"]),
            Route("/reutilisations/{slug}", community.reuse_page),
            Route("/admin/reutilisations", community.moderation),
            Route(
                "/admin/reutilisations/{reuse_id}/{decision}",
                community.moderate,
                methods=["POST"],
            ),
            Route("/evenements", community.event_list, name="events"),
            Route("/evenements.ics", community.events_ics),
            Route("/evenements/ajouter", community.event_new, methods=["GET", "POST"]),
            Route("/evenements/{slug}/modifier", community.event_edit, methods=["GET", "POST"]),
            Route("/evenements/{slug}.ics", community.event_ics),
            *call_routes(accounts),  # a call for projects' pages (call_pages.py)
            Route("/evenements/{slug}", community.event_page),
            # Cartoparty campaigns (campaign_pages.py, niaouli/catalogue/campaigns)
            Route("/campagnes", campaign_pages.campaign_list, name="campaigns"),
            Route(
                "/organisations/{org}/campagnes/nouvelle",
                campaign_pages.campaign_new,
                methods=["GET", "POST"],
            ),
            Route(
                "/campagnes/{slug}/modifier", campaign_pages.campaign_edit, methods=["GET", "POST"]
            ),
            *[
                Route(
                    f"/campagnes/{{slug}}/{action}", campaign_pages.campaign_state, methods=["POST"]
                )
                for action in ("ouvrir", "clore")
            ],
            Route("/campagnes/{slug}", campaign_pages.campaign_page),
            # Usage statistics (stats_pages.py, niaouli/stats)
            Route("/statistiques", stats.overview, name="stats"),
            Route("/statistiques.json", stats.overview_json),
            Route("/statistiques/organisations/{slug}", stats.organisation),
            Route("/statistiques/jeux-de-donnees/{slug}", stats.dataset),
            Route("/stats", stats.alias),
            # Partner administrations and the plan's indicators (issue 22 §2, §3)
            Route("/partenaires", partners.partners, name="partners"),
            Route("/partenaires/{slug}/convention.pdf", partners.agreement),
            Route("/organisations/{slug}/partenariat", partners.edit, methods=["GET", "POST"]),
            Route("/indicateurs", indicators.page, name="indicators"),
            Route("/indicateurs.csv", indicators.csv),
            Route("/indicateurs.json", indicators.json),
            *[Route(p, community.alias) for p in ("/reuses", "/events", "/events.ics")],
            *[Route(p + "/{rest:path}", community.alias) for p in ("/reuses", "/events")],
            # Public feeds for harvesters and crawlers (DCAT-AP, Atom, sitemap): feeds.py
            Route("/catalog", feeds.catalog, name="catalog"),
            Route("/catalog.{extension}", feeds.catalog),
            Route("/feeds/datasets.atom", feeds.atom, name="atom"),
            Route("/sitemap.xml", feeds.sitemap, name="sitemap"),
            Route("/robots.txt", feeds.robots),
            # Accounts (accounts.py): sign in/up/out, password reset, my account and tokens
            Route("/connexion", accounts.login, methods=["GET", "POST"], name="login"),
            Route("/inscription", accounts.signup, methods=["GET", "POST"], name="signup"),
            Route("/deconnexion", accounts.logout, methods=["POST"], name="logout"),
            Route("/mot-de-passe-oublie", accounts.forgotten, methods=["GET", "POST"]),
            Route("/reinitialiser/{token}", accounts.reset, methods=["GET", "POST"]),
            Route("/verifier/{token}", accounts.verify),
            Route("/compte", accounts.account, name="account"),
            Route("/compte/mot-de-passe", accounts.change_password, methods=["POST"]),
            Route("/compte/jetons", accounts.create_token, methods=["POST"]),
            Route("/compte/jetons/{token_id}/revoquer", accounts.revoke_token, methods=["POST"]),
            Route(team, members.page),
            Route(team, members.add, methods=["POST"]),
            Route(team + "/validation", members.schema_policy, methods=["POST"]),
            Route(team + "/{user_id}/retirer", members.remove, methods=["POST"]),
            Route(team + "/demandes/{request_id}/{decision}", members.decide, methods=["POST"]),
            Route("/organisations/{slug}/rejoindre", members.join, methods=["GET", "POST"]),
            Route("/organisations/{slug}/journal", journal.page),
            Route("/organisations/{slug}/qualite", quality.dashboard),
            Route("/organisations/{slug}/qualite/liens", quality.check_links, methods=["POST"]),
            Route("/qualite", quality.rules, name="quality"),
            # Harvest sources and their jobs, for the organisation's members (harvest_pages.py)
            Route("/organisations/{slug}/moissonnage", harvests.sources),
            Route(harvest_source, harvests.source),
            Route(harvest_source + "/{action}", harvests.run, methods=["POST"]),
            Route(harvest_source + "/taches/{job_id}", harvests.job),
            # Campaign review and merge, for the organisation's editors (review_pages.py)
            *review_routes(accounts),
            # A cartoparty volunteer's page and its JSON endpoints (contribute_pages.py)
            *contribute.routes(),
            *([Mount("/connexion/oidc", app=sso)] if sso is not None else []),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(LanguageMiddleware), Middleware(SecurityHeaders)],
        exception_handlers={
            HTTPException: http_error,
            NiaouliError: core_refusal,
            Exception: server_error,
        },
    )
