"""Validators depend only on what the viewer can see (issue 13, section 4).

The anonymous ETags of the DCAT catalogue, the Atom feed and the sitemap stay the same
however often a hidden dataset of another organisation is edited (an outsider cannot
count hidden edits), and still move with a public edit. Tiles: `test_ogc_live.py`.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from niaouli.catalogue import service
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.demo import load_demo
from niaouli.portal.app import create_app
from tests.conftest import Backend

HIDDEN = {"secret-brouillon": "draft", "secret-interne": "organisation"}

FEEDS = (
    "/catalog.ttl",
    "/catalog.jsonld?page=1&page_size=2",
    "/feeds/datasets.atom",
    "/sitemap.xml",
)


def _etags(site: TestClient) -> dict[str, str]:
    answers = {url: site.get(url) for url in FEEDS}
    assert {a.status_code for a in answers.values()} == {200}
    return {url: answer.headers["etag"] for url, answer in answers.items()}


def _populate(backend: Backend) -> None:
    """The demo (public datasets of gouvernement-nc) and two hidden ones of another org."""
    load_demo(backend.settings, echo=lambda _m: None)
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "province-nord", "Province Nord", "province")
        for slug, level in HIDDEN.items():
            service.create_dataset(session, org, slug, f"Secret {slug}", access_level=level)


def _edit_hidden(backend: Backend, n: int) -> None:
    """Edits to province-nord's draft and members-only datasets: each moves the version."""
    for slug in HIDDEN:
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, slug)
            service.update_dataset(session, dataset, title=f"Secret {slug}, version {n}")
            dataset.resources.append(
                Resource(
                    title=f"Lien {n}", kind=ResourceKind.LINK, url=f"https://example.nc/lien-{n}"
                )
            )


def test_feed_validators_ignore_hidden_edits(backend: Backend):
    _populate(backend)
    with TestClient(create_app(backend.settings)) as site:
        before = _etags(site)
        for n in range(3):
            _edit_hidden(backend, n)
        assert _etags(site) == before
        for url, etag in before.items():
            assert site.get(url, headers={"If-None-Match": etag}).status_code == 304, url

        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "communes-nc")
            service.update_dataset(session, dataset, keywords=["nouveau"])
        after = _etags(site)
        assert all(after[url] != before[url] for url in FEEDS), after
        # A public dataset made hidden leaves the feeds: their validators move too.
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "communes-nc")
            service.update_dataset(session, dataset, access_level="organisation")
        hidden = _etags(site)
        assert all(hidden[url] != after[url] for url in FEEDS), hidden
