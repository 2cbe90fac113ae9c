"""A developer's API (issue 15 §4): cross-origin reads without credentials, and links
from a dataset to its data that a client can follow. Both backends, live server."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.accounts_support import PASSWORD, csrf_of, sign_in, slug_of
from tests.api_support import ApiSite, snapshot, start_api_site

FOREIGN = "https://appli.example.org"
FORMATS = {"gpkg", "geojson", "csv", "shp.zip"}


@pytest.fixture
def api_site(backend, tmp_path):
    with start_api_site(backend, tmp_path) as site:
        yield site


def test_a_developer_reads_the_api_from_another_site_and_follows_its_links(api_site: ApiSite):
    """One server for both halves (a server start is most of the cost)."""
    links_lead_to_the_data(api_site)
    cross_origin_reads_without_credentials(api_site)


def links_lead_to_the_data(api_site: ApiSite) -> None:
    slug = slug_of("public")
    with api_site.client("editor_a") as editor:
        added = editor.post(
            f"/api/datasets/{slug}/resources",
            files={"file": ("notice.pdf", b"%PDF-1.4 notice\n" * 20, "application/pdf")},
            data={"title": "Notice"},
        )
        assert added.status_code == 201, added.text
        assert added.json()["url"].startswith(api_site.url + f"/jeux-de-donnees/{slug}/")
    with httpx.Client(base_url=api_site.url, timeout=120) as anonymous:
        body = anonymous.get(f"/api/datasets/{slug}").json()
        listed = anonymous.get("/api/datasets").json()["items"]
        assert next(d for d in listed if d["slug"] == slug)["links"] == body["links"]
        files = [r for r in body["resources"] if r["kind"] == "file"]
        assert len(files) >= 2  # the layer's source file and the notice
        assert all(r["url"] for r in body["resources"]), body["resources"]
        links = body["links"]
        rels = [link["rel"] for link in links]
        assert {"alternate", "describedby", "collection", "items", "enclosure"} <= set(rels)
        assert any(r.endswith("/tilesets-vector") for r in rels)
        collection = api_site.matrix.collections["public"]
        enclosures = {
            link["href"].rsplit(f"{collection}.", 1)[1]
            for link in links
            if link["rel"] == "enclosure"
        }
        assert enclosures == FORMATS
        assert all(link["layer"] == collection for link in links if link["rel"] == "items")
        described = {link["type"] for link in links if link["rel"] == "describedby"}
        assert described == {"application/xml", "application/geo+json", "application/ld+json"}
        # Follow every link, as a client would: each answers 200 with what it says.
        for item in [*links, *({"href": r["url"], "type": None} for r in files)]:
            assert urlsplit(item["href"]).netloc == urlsplit(api_site.url).netloc
            answer = anonymous.get(item["href"])
            assert answer.status_code == 200, (item, answer.text[:300])
            if item["type"] in ("application/json", "application/geo+json"):
                answer.json()
        page = next(link["href"] for link in links if link["rel"] == "alternate")
        html = anonymous.get(page).text
        # The portal points developers to the API: the footer, and the page's use box.
        assert f'href="/api/datasets/{slug}"' in html and 'href="/api/docs"' in html
        assert 'href="/api/docs"' in anonymous.get("/").text
        record = next(link["href"] for link in links if link["type"] == "application/xml")
        assert slug in anonymous.get(record).text  # the CSW record exists
        # The OpenAPI document declares them.
        spec = anonymous.get("/api/openapi.json").json()
        schemas = spec["components"]["schemas"]
        assert "links" in schemas["Dataset"]["properties"]
        assert {"href", "rel", "type", "title"} <= set(schemas["Link"]["properties"])
        assert spec["info"]["title"] == "Niaouli — API du portail"
        assert "API du portail" in anonymous.get("/api/docs").text
    # A draft: no DCAT or Records link (they publish public datasets only).
    with api_site.client("editor_a") as editor:
        draft = editor.get(f"/api/datasets/{slug_of('draft')}").json()
        assert {link["type"] for link in draft["links"] if link["rel"] == "describedby"} == {
            "application/xml"
        }
        for link in draft["links"]:
            assert editor.get(link["href"]).status_code == 200, link


def cross_origin_reads_without_credentials(api_site: ApiSite) -> None:
    draft = slug_of("draft")
    with httpx.Client(base_url=api_site.url, timeout=60) as page:
        read = page.get("/api/datasets", headers={"Origin": FOREIGN})
        assert read.status_code == 200
        assert read.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in read.headers
        missing = page.get("/api/datasets/inconnu", headers={"Origin": FOREIGN})
        assert missing.status_code == 404
        assert missing.headers["access-control-allow-origin"] == "*"
        asked = {"Origin": FOREIGN, "Access-Control-Request-Method": "GET"}
        preflight = page.options(
            "/api/datasets", headers={**asked, "Access-Control-Request-Headers": "authorization"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in preflight.headers
        # Writes, and the session's CSRF header, are never granted to another site.
        for method, extra in (("POST", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "x-csrf-token")):
            refused = page.options(
                "/api/datasets",
                headers={
                    "Origin": FOREIGN,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": extra,
                },
            )
            assert refused.status_code == 403, (method, extra)
            assert "access-control-allow-origin" not in refused.headers
    # A page of another site that makes the browser send its visitor's session cookie
    # gets what an anonymous visitor gets, on the API and on /ogc.
    with httpx.Client(base_url=api_site.url, timeout=60, follow_redirects=True) as browser:
        assert sign_in(browser, "editor-a@exemple.nc", PASSWORD).status_code == 200
        own = browser.get("/api/datasets").json()
        assert draft in {d["slug"] for d in own["items"]}
        same_site = browser.get("/api/datasets", headers={"Origin": api_site.url}).json()
        assert draft in {d["slug"] for d in same_site["items"]}
        foreign = browser.get("/api/datasets", headers={"Origin": FOREIGN})
        assert draft not in {d["slug"] for d in foreign.json()["items"]}
        assert browser.get(f"/api/datasets/{draft}", headers={"Origin": FOREIGN}).status_code == 404
        assert browser.get(f"/api/datasets/{draft}").status_code == 200
        hidden = api_site.matrix.collections["draft"]
        ogc = browser.get(f"/ogc/collections/{hidden}?f=json", headers={"Origin": "null"})
        assert ogc.status_code == 404
        assert browser.get(f"/ogc/collections/{hidden}?f=json").status_code == 200
        # A write from another origin with the cookie and even a valid CSRF token: refused.
        token = csrf_of(browser.get("/connexion").text)
        before = snapshot(api_site.backend)
        written = browser.post(
            "/api/datasets",
            json={"organisation": "province-sud", "title": "Depuis ailleurs"},
            headers={"Origin": FOREIGN, "X-CSRF-Token": token},
        )
        assert written.status_code == 401
        assert snapshot(api_site.backend) == before
    # A page with its own token (Authorization header) reads what that token may read.
    with api_site.client("read_token") as http:
        mine = http.get(f"/api/datasets/{draft}", headers={"Origin": FOREIGN})
        assert mine.status_code == 200 and mine.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("headers", "foreign"),
    [
        ({"host": "data.nc"}, False),  # a navigation: no Origin
        ({"host": "data.nc", "origin": "https://data.nc"}, False),
        ({"host": "data.nc:443", "origin": "https://data.nc"}, False),  # default port
        (
            {"host": "127.0.0.1:8000", "x-forwarded-host": "data.nc", "origin": "https://data.nc"},
            False,
        ),
        ({"host": "data.nc", "origin": "https://carte.data.nc"}, True),  # a sibling site
        ({"host": "data.nc", "origin": "null"}, True),
        ({"host": "data.nc", "origin": FOREIGN}, True),
    ],
)
def test_which_requests_are_cross_origin(headers: dict[str, str], foreign: bool, monkeypatch):
    from niaouli.accounts.middleware import is_cross_origin

    monkeypatch.delenv("NIAOULI_PUBLIC_URL", raising=False)
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    assert is_cross_origin(raw) is foreign
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", "https://carte.data.nc")
    if headers.get("origin") == "https://carte.data.nc":
        assert is_cross_origin(raw) is False  # the public URL's host is the platform's own
