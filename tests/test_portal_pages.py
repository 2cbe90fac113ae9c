"""Portal pages on both backends (Starlette TestClient): content, access, escaping, HTML5.

The live-server checks (a real `niaouli serve`, real HTTP) are in test_portal_live.py.
"""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from niaouli.portal.app import create_app
from tests.portal_support import XSS_TITLE, links, populate, validate_html5

FRENCH = 'lang="fr"'


@pytest.fixture
def site(backend):
    info = populate(backend)
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    yield info, client
    client.close()


def get_ok(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    assert FRENCH in response.text
    return response.text


def test_every_page_answers_in_french_with_strict_headers(site):
    info, client = site
    urls = ["/", "/jeux-de-donnees", "/organisations", "/organisations/gouvernement-nc"]
    urls += [f"/jeux-de-donnees/{slug}" for slug in info.public]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert FRENCH in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in response.text  # no inline script at all

    home = get_ok(client, "/")
    assert "Les données publiques de Nouvelle-Calédonie" in home
    communes = get_ok(client, "/jeux-de-donnees/communes-nc")
    for expected in (
        "Limites administratives",  # theme
        "irrégulière",  # update frequency in French
        "Licence Ouverte 2.0",
        "Gouvernement de la Nouvelle-Calédonie (Géorep)",  # producer
        "cartoutremer",  # lineage
        "Utiliser dans QGIS",
        "http://testserver/ogc",
        "http://testserver/csw",
        'data-preview="/jeux-de-donnees/communes-nc/couches/',
        "/static/js/apercu-carte.js",
        "GeoPackage",
        "Shapefile (zip)",
        "sha256".upper()[:3],  # checksum shown
    ):
        assert expected in communes, expected
    population = get_ok(client, "/jeux-de-donnees/population-communes-nc")
    assert "Hienghène" in population  # table preview of the first rows
    assert "<table>" in population and "apercu-carte.js" not in population
    assert "Utiliser dans QGIS" not in population  # no layer to add
    assert "population-communes-nc.csv" in population
    assert ".gpkg" not in population  # non-spatial: CSV export only


def test_search_is_accent_and_case_insensitive_and_paged(site):
    _info, client = site
    for query in ("hienghene", "HIENGHÈNE", "Hienghène", "tribus hienghene"):
        html = get_ok(client, f"/jeux-de-donnees?q={query}")
        assert "/jeux-de-donnees/tribus-hienghene" in html, query
        # Hienghène is also a place of the demo's gazetteer (the communes meet it): the
        # words alone find exactly one dataset.
        html = get_ok(client, f"/jeux-de-donnees?q={query}&lieu=non")
        assert "/jeux-de-donnees/tribus-hienghene" in html, query
        assert "1 jeu de données" in html
    html = get_ok(client, "/jeux-de-donnees?q=caledonie")
    assert "/jeux-de-donnees/communes-nc" in html
    assert "/jeux-de-donnees/population-communes-nc" in html
    html = get_ok(client, "/jeux-de-donnees?q=province+nord")  # organisation name
    assert "/jeux-de-donnees/tribus-hienghene" in html
    html = get_ok(client, "/jeux-de-donnees?q=recensement")  # keyword
    assert "/jeux-de-donnees/population-communes-nc" in html
    html = get_ok(client, "/jeux-de-donnees?q=introuvablexyz")
    assert "Aucun jeu de données ne correspond" in html
    # odd input is harmless
    for query in ("%25", "_", "'", "\\", "a" * 5000):
        assert client.get("/jeux-de-donnees", params={"q": query}).status_code == 200
    # paging: stable URLs, odd page numbers tolerated
    assert client.get("/jeux-de-donnees?page=abc").status_code == 200
    html = get_ok(client, "/jeux-de-donnees?q=caledonie&page=2")
    assert "/jeux-de-donnees/communes-nc" not in html


def test_paging_links(backend):
    from niaouli.catalogue import service

    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "commune-x", "Commune X", "commune")
        for i in range(45):
            service.create_dataset(session, org, f"jeu-{i:02d}", f"Jeu numéro {i:02d} Poindimié")
    with TestClient(create_app(backend.settings)) as client:
        first = get_ok(client, "/jeux-de-donnees?q=poindimie")
        assert "45 jeux de données" in first and "Page 1 sur 3" in first
        assert 'href="/jeux-de-donnees?q=poindimie&amp;page=2"' in first
        third = get_ok(client, "/jeux-de-donnees?q=poindimie&page=3")
        assert third.count('class="card"') == 5
        assert 'rel="prev" href="/jeux-de-donnees?q=poindimie&amp;page=2"' in third
        assert "Page suivante" not in third
        second = get_ok(client, "/jeux-de-donnees?q=poindimie&page=2")
        assert 'rel="prev" href="/jeux-de-donnees?q=poindimie"' in second  # page 1: no param
        org_page = get_ok(client, "/organisations/commune-x?page=2")
        assert org_page.count('class="card"') == 20


def test_private_datasets_are_absent_everywhere(site, backend):
    info, client = site
    home = get_ok(client, "/")
    # 8 public datasets (the demo's 7 — issue 15 §8: 3 of Nouméa's bathing water, 2
    # harvested — and 1 metadata-only), 2 public spatial layers: 33 communes and Nouméa's
    # 30 sampling points and beach sectors (63 features)
    stats = re.findall(r"<strong>([^<]+)</strong>", home)
    assert stats[:3] == ["8", "2", "63"], stats
    pages = [
        home,
        get_ok(client, "/jeux-de-donnees"),
        get_ok(client, "/jeux-de-donnees?q=secret"),
        get_ok(client, "/jeux-de-donnees?q=hienghene"),
        get_ok(client, "/organisations"),
        get_ok(client, "/organisations/province-nord"),
    ]
    for html in pages:
        assert "Secret" not in html and "communes-brouillon" not in html
        assert "communes-interne" not in html
    assert "Aucun jeu de données ne correspond" in pages[2]
    organisations = pages[4]
    assert re.search(r"Province Nord</a></h2>\s*<p class=\"meta\">1 jeu de données", organisations)

    for slug in info.private:
        base = f"/jeux-de-donnees/{slug}"
        # the URLs they would have if they were public
        urls = [
            base,
            f"{base}/ressources/1/nc_communes.geojson",
            f"{base}/couches/nc-communes/{slug}.gpkg",
            f"{base}/couches/nc-communes/{slug}.geojson",
            f"{base}/couches/nc-communes/{slug}.csv",
            f"{base}/couches/nc-communes/{slug}.shp.zip",
            f"{base}/couches/nc-communes/apercu.geojson",
        ]
        ids = resource_ids(backend, slug)
        assert ids
        urls += [f"{base}/ressources/{i}/nc_communes.geojson" for i in ids]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404, url
            assert "Page introuvable" in response.text
            assert "Secret" not in response.text


def resource_ids(backend, slug: str) -> list[int]:
    """The real resource ids of a dataset (so that a 404 is not a lucky guess)."""
    from sqlalchemy import select

    from niaouli.catalogue.models import Dataset, Resource

    with backend.session() as session:
        query = select(Resource.id).join(Dataset).where(Dataset.slug == slug)
        return list(session.scalars(query))


def test_hostile_metadata_is_escaped(site):
    info, client = site
    html = get_ok(client, f"/jeux-de-donnees/{info.xss_slug}")
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<b onmouseover" not in html and "<svg onload" not in html and "<i>Province" not in html
    hrefs = links(html)
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))], hrefs
    assert "https://example.nc/fiche" in hrefs
    assert "javascript:alert(8)" not in html and "data:text/html" not in html
    assert "seuls les liens http, https et ftp sont publiés" in html
    org = get_ok(client, "/organisations/province-nord")
    assert not [h for h in links(org) if ":" in h and not h.startswith("http")]
    assert 'href="javascript' not in org
    listing = get_ok(client, "/jeux-de-donnees?q=tribus")
    assert "<img src=x" not in listing and "&lt;img src=x" in listing
    assert XSS_TITLE not in listing
    # a 404 does not echo the path
    response = client.get("/jeux-de-donnees/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert response.status_code == 404 and "<script>alert" not in response.text


def test_error_pages_are_french_without_trace(site, monkeypatch):
    _info, client = site
    for url in ("/nulle-part", "/jeux-de-donnees/inconnu", "/organisations/inconnue"):
        response = client.get(url)
        assert response.status_code == 404
        assert "Page introuvable" in response.text and FRENCH in response.text
    from niaouli.catalogue import service

    def boom(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service, "recent_datasets", boom)
    response = client.get("/")
    assert response.status_code == 500
    assert "Erreur du serveur" in response.text and FRENCH in response.text
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert client.post("/").status_code == 405


def test_pages_are_valid_html5(site, tmp_path):
    info, client = site
    urls = ["/", "/jeux-de-donnees", "/jeux-de-donnees?q=hienghene", "/organisations"]
    urls += ["/organisations/province-nord", "/nulle-part"]
    urls += [f"/jeux-de-donnees/{slug}" for slug in info.public]
    pages = {url: client.get(url).text for url in urls}
    messages = validate_html5(pages, tmp_path)
    assert messages == [], "\n".join(messages)
