"""The portal through a real `niaouli serve` on 127.0.0.1, on both backends.

Real HTTP (httpx), the real ASGI composition (`niaouli.web`), uvicorn and the server's
own settings from the environment; plus, when Chromium and Playwright are installed, a
browser that checks the map preview really draws the layer.
"""

from __future__ import annotations

import shutil

import httpx
import pyogrio
import pytest

from tests.conftest import GEODATA
from tests.portal_support import LiveServer, links, populate, sha256


@pytest.fixture
def server(backend):
    populate(backend)
    with LiveServer(backend) as live:
        yield live


def test_live_pages_downloads_and_publication(server, backend, tmp_path):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for url in ("/", "/jeux-de-donnees", "/organisations", "/jeux-de-donnees/communes-nc"):
            response = http.get(url)
            assert response.status_code == 200, url
            assert 'lang="fr"' in response.text
            assert response.headers["x-content-type-options"] == "nosniff"
        assert "tribus-hienghene" in http.get("/jeux-de-donnees", params={"q": "hienghene"}).text
        assert http.get("/jeux-de-donnees/communes-brouillon").status_code == 404

        page = http.get("/jeux-de-donnees/communes-nc").text
        assert f"{server.url}/ogc" in page and f"{server.url}/csw" in page
        (original,) = [h for h in links(page) if "/ressources/" in h]
        response = http.get(original)
        assert response.headers["content-disposition"].startswith("attachment")
        assert sha256(response.content) == sha256((GEODATA / "nc_communes.geojson").read_bytes())
        (gpkg,) = [h for h in links(page) if h.endswith(".gpkg")]
        path = tmp_path / "export.gpkg"
        path.write_bytes(http.get(gpkg).content)
        assert pyogrio.read_info(path)["features"] == 33

        # published while the server runs: on the portal at the next request
        backend.run(
            "ingest",
            str(GEODATA / "nc_communes_population.csv"),
            "--org",
            "province-nord",
            "--dataset",
            "population-nord",
            "--title",
            "Population — Province Nord (Poum, Kouaoua)",
            "--progress",
            "none",
        )
        assert "/jeux-de-donnees/population-nord" in http.get("/jeux-de-donnees?q=kouaoua").text
        assert http.get("/jeux-de-donnees/population-nord").status_code == 200


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")
def test_map_preview_draws_the_layer(server):
    playwright = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"],
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            page.goto(f"{server.url}/jeux-de-donnees/communes-nc")
            page.wait_for_function(
                "() => { const m = document.querySelector('.map')?.mapPreview;"
                " return m && m.loaded() && m.queryRenderedFeatures().length > 0; }",
                timeout=30_000,
            )
            drawn = page.evaluate(
                "() => new Set(document.querySelector('.map').mapPreview"
                ".queryRenderedFeatures().map(f => f.id)).size"
            )
        finally:
            browser.close()
    assert drawn >= 30  # 33 communes, a few islets may be off-screen on a phone
    assert errors == []  # no CSP violation, no script error
