"""One truth for access through the other interfaces: each access level x each viewer.

Same matrix as tests/test_accounts_web.py (organisation A owns a dataset at each level),
through a real `niaouli serve`, on both backends:

- the public feeds (DCAT-AP /catalog.ttl, Atom, /sitemap.xml) are built for the anonymous
  viewer on purpose (portal/feeds.py): whoever asks, signed in or not, they list the
  public dataset only;
- /ogc: the records collection (`catalogue`: items, counts, by id) and the vector tiles
  follow the request's viewer (Bearer token), like the feature collections;
- /jeux-de-donnees and /recherche: result counts and the organisation facet's count
  follow the signed-in viewer and reveal nothing else;
- /statistiques: catalogue counts, download totals, the datasets listed and the
  per-dataset pages hold only what the viewer may see.

Thumbnails: the product has none, so there is nothing to check.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.accounts_support import (
    LEVELS,
    SEES,
    VIEWERS,
    LoggedServer,
    build_matrix,
    email_of,
    sign_in,
    slug_of,
)


@pytest.fixture
def matrix_server(backend, tmp_path):
    matrix = build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        yield matrix, server


def _seen(viewer: str) -> set[str]:
    return {slug_of(level) for level in LEVELS if viewer in SEES[level]}


def _slugs_in(text: str) -> set[str]:
    return {slug_of(level) for level in LEVELS if re.search(rf"{slug_of(level)}\b", text)}


def test_public_feeds_list_public_datasets_only_whoever_asks(matrix_server):
    _matrix, server = matrix_server
    for viewer in VIEWERS:
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            if viewer != "anonymous":
                assert sign_in(http, email_of(viewer)).status_code == 200
            for path in ("/catalog.ttl", "/catalog.jsonld", "/feeds/datasets.atom", "/sitemap.xml"):
                answer = http.get(path)
                assert answer.status_code == 200, (viewer, path)
                assert _slugs_in(answer.text) == {slug_of("public")}, (viewer, path)
                assert "Matrice registered" not in answer.text


def test_ogc_records_and_tiles_follow_the_viewer(matrix_server):
    matrix, server = matrix_server
    for viewer in VIEWERS:
        headers = {}
        if viewer != "anonymous":
            headers = {"Authorization": f"Bearer {matrix.tokens[viewer]}"}
        seen = _seen(viewer)

        def get(path: str, headers: dict = headers, **params: str) -> httpx.Response:
            return httpx.get(server.url + path, params=params, headers=headers, timeout=60)

        items = get("/ogc/collections/catalogue/items", f="json", q="zorglub", limit="50")
        assert items.status_code == 200, (viewer, items.text[:300])
        found = {feature["id"] for feature in items.json()["features"]}
        assert found == seen, (viewer, found)
        assert items.json()["numberMatched"] == len(seen), viewer
        everything = get("/ogc/collections/catalogue/items", f="json", limit="50")
        assert everything.json()["numberMatched"] == len(seen), viewer
        html = get("/ogc/collections/catalogue/items", f="html", q="zorglub")
        assert _slugs_in(html.text) == seen, viewer
        for level in LEVELS:
            sees = viewer in SEES[level]
            one = get(f"/ogc/collections/catalogue/items/{slug_of(level)}", f="json")
            assert one.status_code == (200 if sees else 404), (viewer, level)
            collection = matrix.collections[level]
            tilesets = get(f"/ogc/collections/{collection}/tiles", f="json")
            assert tilesets.status_code == (200 if sees else 404), (viewer, level)
            tile = get(f"/ogc/collections/{collection}/tiles/WebMercatorQuad/0/0/0")
            assert tile.status_code == (200 if sees else 404), (viewer, level)
            if sees:
                assert len(tile.content) > 0


def _facet_count(html: str, label: str) -> int | None:
    match = re.search(rf">{re.escape(label)} <span class=\"count\">(\d+)</span>", html)
    return int(match.group(1)) if match else None


def test_search_counts_and_facets_follow_the_viewer(matrix_server):
    _matrix, server = matrix_server
    for viewer in VIEWERS:
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            if viewer != "anonymous":
                assert sign_in(http, email_of(viewer)).status_code == 200
            seen = _seen(viewer)
            listed = http.get("/jeux-de-donnees", params={"q": "zorglub"}).text
            total = len(seen)
            assert f"{total} jeu{'x' if total != 1 else ''} de données" in listed, viewer
            assert _facet_count(listed, "Province Sud") == total, viewer
            everything = http.get("/recherche", params={"q": "zorglub"}).text
            assert _slugs_in(everything) == seen, viewer
            assert _facet_count(everything, "Province Sud") == total, viewer
            for level in LEVELS:
                # Searching a hidden dataset's exact title finds nothing, and says so.
                title = f"Matrice {level} zorglub"
                answer = http.get("/recherche", params={"q": f"matrice {level}"}).text
                assert (title in answer) is (viewer in SEES[level]), (viewer, level)


def test_statistics_count_only_what_the_viewer_may_see(backend, tmp_path):
    matrix = build_matrix(backend, tmp_path)
    flush = {"NIAOULI_STATS_FLUSH_SECONDS": "0.3"}
    with LoggedServer(backend, tmp_path / "server.log", extra_env=flush) as server:
        admin = {"Authorization": f"Bearer {matrix.tokens['platform_admin']}"}
        # One download of each dataset, by the platform admin (who sees them all).
        for level in LEVELS:
            export = (
                f"/jeux-de-donnees/{slug_of(level)}/couches/{matrix.layers[level]}/"
                f"{matrix.collections[level]}.geojson"
            )
            assert httpx.get(server.url + export, headers=admin, timeout=60).status_code == 200

        def downloads_seen_by_admin() -> int:
            data = httpx.get(server.url + "/statistiques.json", headers=admin, timeout=60).json()
            return data["totaux"]["telechargements"]["requetes"]

        deadline = time.monotonic() + 20
        while downloads_seen_by_admin() < len(LEVELS) and time.monotonic() < deadline:
            time.sleep(0.3)

        for viewer in VIEWERS:
            headers = {}
            if viewer != "anonymous":
                headers = {"Authorization": f"Bearer {matrix.tokens[viewer]}"}
            seen = _seen(viewer)
            data = httpx.get(server.url + "/statistiques.json", headers=headers, timeout=60).json()
            assert data["catalogue"]["jeux_de_donnees"] == len(seen), viewer
            assert data["totaux"]["telechargements"]["requetes"] == len(seen), viewer
            assert {d["slug"] for d in data["jeux_de_donnees"]} == seen, viewer
            org_page = httpx.get(
                server.url + "/statistiques/organisations/province-sud", headers=headers, timeout=60
            )
            assert org_page.status_code == 200
            for level in LEVELS:
                sees = viewer in SEES[level]
                assert (f"Matrice {level} zorglub" in org_page.text) is sees, (viewer, level)
                page = httpx.get(
                    f"{server.url}/statistiques/jeux-de-donnees/{slug_of(level)}",
                    headers=headers,
                    timeout=60,
                )
                assert page.status_code == (200 if sees else 404), (viewer, level)
