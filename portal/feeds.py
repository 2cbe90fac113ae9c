"""Feeds for harvesters and crawlers: DCAT-AP catalogue, Atom, sitemap, robots.txt.

These are public feeds, read by data.gouv.fr, the EU portal, search engines and feed
readers whoever fetches them: they are built for the anonymous viewer ON PURPOSE, even
once the portal pages follow the signed-in visitor (`viewer_for`). A dataset that is not
public is absent from all of them, and disappears as soon as it stops being public.

Answers carry an ETag made of what they show only (`catalogue.validators`: the public
datasets, layers and resources with their last changes, the organisations) and the URL:
a harvester polling with `If-None-Match` gets a 304 without the answer being built, and
an edit to a hidden dataset changes nothing an outsider can observe.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from niaouli.catalogue import changes, service
from niaouli.catalogue.access import ANONYMOUS, visible_datasets
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.catalogue.validators import visible_state
from niaouli.dcat import mapping, serialise
from niaouli.dcat.urls import PublicUrls
from niaouli.portal import syndication
from niaouli.portal.common import Portal, base_url
from niaouli.portal.syndication import (
    SitemapEntry,
    atom_feed,
    sitemap,
    sitemap_entries,
    sitemap_index,
)
from niaouli.settings import get_settings

FEED_ENTRIES = 50
SITEMAP_LISTS = 3  # the sitemap's first URLs: home, the datasets, the organisations
VARY = "Accept"


class _Bodies:
    """Serialised catalogue pages by ETag (what the anonymous viewer sees, the URL, the
    format) and catalogue version, at most `limit` bytes per worker, least recently
    used out first. rdflib takes about a second to build and write a page of 100
    datasets; a harvester or crawler reading it again gets it at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.bodies: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        with self.lock:
            body = self.bodies.get(etag)
            if body is not None:
                self.bodies.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.limit // 4:
            return
        with self.lock:
            if etag in self.bodies:
                return
            self.bodies[etag] = body
            self.size += len(body)
            while self.size > self.limit:
                _old, dropped = self.bodies.popitem(last=False)
                self.size -= len(dropped)


_BODIES = _Bodies(32 * 1024 * 1024)


def public_urls(request: Request) -> PublicUrls:
    """`NIAOULI_PUBLIC_URL` (what CSW records carry), else the request's own root."""
    configured = get_settings().public_url.rstrip("/")
    return PublicUrls(configured or base_url(request))


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 7:
        return default
    return min(max(int(raw), 1), maximum)


class Feeds:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def _etag(self, session: Session, request: Request, urls: PublicUrls, kind: str) -> str:
        # Never the catalogue version: it moves with hidden edits too.
        url = f"{request.url.path}?{request.url.query}"
        key = f"{visible_state(session, ANONYMOUS)}|{urls.base}|{url}|{kind}"
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    @staticmethod
    def _not_modified(request: Request, etag: str) -> Response | None:
        wanted = request.headers.get("if-none-match", "")
        if etag in [tag.strip().removeprefix("W/") for tag in wanted.split(",")]:
            return Response(status_code=304, headers={"ETag": etag, "Vary": VARY})
        return None

    # --- DCAT ---------------------------------------------------------------------------

    def catalog(self, request: Request) -> Response:
        """`/catalog.{ttl,jsonld,rdf,nt}?page=N&page_size=M`; `/catalog` negotiates."""
        extension = request.path_params.get("extension")
        if extension is None:
            fmt = serialise.negotiate(request.headers.get("accept"))
        elif extension in serialise.FORMATS or extension == "xml":  # udata's name for RDF/XML
            fmt = serialise.FORMATS["rdf" if extension == "xml" else extension]
        else:
            return PlainTextResponse("Format inconnu.", status_code=404)
        page = _int_param(request, "page", 1, 1_000_000)
        size = _int_param(request, "page_size", mapping.DEFAULT_PAGE_SIZE, mapping.MAX_PAGE_SIZE)
        urls = public_urls(request)
        with Session(self.portal.engine) as session:
            etag = self._etag(session, request, urls, fmt.extension)
            cached = self._not_modified(request, etag)
            if cached:
                return cached
            # Keyed by the catalogue version too: a quality score's change moves it
            # (`changes.touch`), not the rows the ETag digests.
            kept = f"{etag}|{changes.current_version(session.connection())}"
            body = _BODIES.get(kept)
            if body is None:
                graph = mapping.catalogue_graph(session, urls, page, size, fmt.extension)
                body = serialise.serialise(graph, fmt)
                _BODIES.put(kept, body)
        headers = {
            "ETag": etag,
            "Vary": VARY,
            "Link": f'<{urls.catalog_page(fmt.extension, page, size)}>; rel="canonical"',
            "Access-Control-Allow-Origin": "*",
        }
        return Response(body, media_type=fmt.media_type, headers=headers)

    # --- Atom, sitemap, robots ----------------------------------------------------------

    def atom(self, request: Request) -> Response:
        urls = public_urls(request)
        with Session(self.portal.engine) as session:
            etag = self._etag(session, request, urls, "atom")
            cached = self._not_modified(request, etag)
            if cached:
                return cached
            datasets = service.recent_datasets(session, ANONYMOUS, FEED_ENTRIES)
            body = atom_feed(datasets, urls)
        return Response(body, media_type="application/atom+xml", headers={"ETag": etag})

    def sitemap(self, request: Request) -> Response:
        """`/sitemap.xml`: every public page in one file, or past `MAX_SITEMAP_URLS` an
        index of files `/sitemap.xml?page=N` (home and lists, then the dataset pages by
        id, then the organisation pages), each read with LIMIT/OFFSET."""
        urls = public_urls(request)
        limit = syndication.MAX_SITEMAP_URLS  # read per request: tests lower it
        with Session(self.portal.engine) as session:
            etag = self._etag(session, request, urls, "sitemap")
            cached = self._not_modified(request, etag)
            if cached:
                return cached
            visible = visible_datasets(ANONYMOUS)
            count, newest = session.execute(
                select(func.count(), func.max(Dataset.updated_at)).where(visible)
            ).one()
            organisations = session.scalar(select(func.count()).select_from(Organisation))
            total = SITEMAP_LISTS + count + organisations
            files = max(1, -(-total // limit))
            raw = request.query_params.get("page")
            if raw is None and files == 1:
                number = 1
            elif raw is None:
                entries = [SitemapEntry(urls.sitemap_page(n), newest) for n in range(1, files + 1)]
                body = sitemap_index(entries)
                return Response(body, media_type="application/xml", headers={"ETag": etag})
            elif raw.isascii() and raw.isdigit() and len(raw) < 8 and 1 <= int(raw) <= files:
                number = int(raw)
            else:
                return PlainTextResponse("Page inconnue.", status_code=404)
            start, end = (number - 1) * limit, number * limit
            ds_start = max(0, start - SITEMAP_LISTS)
            ds_end = max(0, min(count, end - SITEMAP_LISTS))
            datasets = []
            if ds_end > ds_start:
                datasets = session.execute(
                    select(Dataset.slug, Dataset.updated_at)
                    .where(visible)
                    .order_by(Dataset.id)
                    .offset(ds_start)
                    .limit(ds_end - ds_start)
                ).all()
            org_start = max(0, start - SITEMAP_LISTS - count)
            org_end = max(0, end - SITEMAP_LISTS - count)
            orgs = []
            if org_end > org_start:
                latest = (
                    select(Dataset.organisation_id, func.max(Dataset.updated_at).label("updated"))
                    .where(visible)
                    .group_by(Dataset.organisation_id)
                    .subquery()
                )
                orgs = session.execute(
                    select(Organisation, latest.c.updated)
                    .outerjoin(latest, latest.c.organisation_id == Organisation.id)
                    .order_by(Organisation.slug)
                    .offset(org_start)
                    .limit(org_end - org_start)
                ).all()
            entries = sitemap_entries(
                urls, datasets, [(o, u) for o, u in orgs], newest, lists=start == 0
            )
            body = sitemap(entries)
        return Response(body, media_type="application/xml", headers={"ETag": etag})

    def robots(self, request: Request) -> Response:
        urls = public_urls(request)
        body = "\n".join(
            (
                "User-agent: *",
                "Allow: /",
                "",
                f"# Catalogue DCAT-AP : {urls.catalog_page('ttl', 1, mapping.DEFAULT_PAGE_SIZE)}",
                f"# Flux Atom des jeux de données : {urls.atom()}",
                f"Sitemap: {urls.sitemap()}",
                "",
            )
        )
        return PlainTextResponse(body)
