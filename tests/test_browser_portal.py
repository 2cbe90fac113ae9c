"""A visitor's path through the portal in headless Chromium, on a phone and a desktop.

Search "population" from the home page, narrow with a facet, open the dataset, read the
table preview, download the original file and the CSV export (bytes and SHA-256 checked
through Playwright's download API), copy a snippet, and never scroll sideways on a
390 px phone. Screenshots of the home page, the results and the dataset pages are kept
as test artefacts (tests/artifacts/screenshots/).

Both backends: the path reads the catalogue, the search and the layer tables, which
differ per backend; no WebGL wait on the population page, so it costs ~20 s a backend.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re

import httpx
import pytest

from niaouli.portal.dataset_page import MAPLIBRE
from tests.browser_support import (
    SCREENSHOTS,
    Visit,
    chromium,  # noqa: F401 - fixture
    live_site,
    visit,
)
from tests.conftest import GEODATA

VIEWPORTS = ["phone", "desktop"]
POPULATION = "population-communes-nc"
POPULATION_TITLE = "Population des communes de Nouvelle-Calédonie"


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"portail-{request.param}")
    with live_site(request, request.param, folder, "none") as live:
        yield live


def assert_no_sideways_scroll(v: Visit, where: str) -> None:
    widths = v.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = v.page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => !e.closest('.table-scroll, pre'))"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
        ".slice(0, 8).map(e => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"
    )
    assert widths[0] <= widths[1], (where, v.viewport, widths, wide)


def full_page_screenshot(v: Visit, name: str) -> None:
    """The whole page (the dataset page is long on a phone), kept as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{v.site.backend}-{v.viewport}-{name}-entier.png"
    v.page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def download(v: Visit, locator) -> bytes:  # noqa: ANN001
    with v.page.expect_download() as info:
        locator.click()
    path = info.value.path()
    return path.read_bytes()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_find_understand_preview_and_download(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/")
        assert_no_sideways_scroll(v, "parcours-accueil")
        v.screenshot("parcours-accueil")
        v.page.locator("#recherche-accueil").fill("population")
        v.page.locator("#recherche-accueil").press("Enter")
        v.page.wait_for_url(re.compile(r"/recherche\?q=population"))
        results = v.page.locator(".results .card-title a")
        assert POPULATION_TITLE in results.all_inner_texts()

        # narrow with a facet (the dataset's theme): only datasets with that theme remain
        if viewport == "phone":  # the filters start folded into one line on a phone
            v.page.locator("#filtres > summary").click()
        facet = v.page.locator(".facets a", has_text="Population et société").first
        facet.click()
        v.page.wait_for_url(re.compile(r"theme="))
        titles = v.page.locator(".results .card-title a").all_inner_texts()
        assert titles == [POPULATION_TITLE]
        assert_no_sideways_scroll(v, "recherche")
        v.screenshot("parcours-recherche")

        v.page.locator(".results .card-title a", has_text=POPULATION_TITLE).click()
        v.page.wait_for_url(re.compile(f"/jeux-de-donnees/{POPULATION}$"))
        assert v.page.locator("h1").inner_text() == POPULATION_TITLE
        assert "Licence Ouverte 2.0 (Etalab)" in v.page.locator(".summary").inner_text()

        # the table preview: the first rows of the CSV, visible
        with (GEODATA / "nc_communes_population.csv").open(encoding="utf-8") as source:
            rows = list(csv.reader(source))
        table = v.page.locator(".table-scroll table")
        assert table.is_visible()
        header = table.locator("thead th").all_inner_texts()
        assert header == rows[0]
        first = table.locator("tbody tr").first.locator("td").all_inner_texts()
        assert first == rows[1]
        assert table.locator("tbody tr").count() == 20

        # the original file, byte for byte, and the CSV export
        original = download(v, v.page.locator(".resources a[download]").first)
        expected = (GEODATA / "nc_communes_population.csv").read_bytes()
        assert hashlib.sha256(original).hexdigest() == hashlib.sha256(expected).hexdigest()
        exported = download(v, v.page.locator(".downloads a", has_text="CSV"))
        exported_rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
        assert len(exported_rows) == 34 and "population" in exported_rows[0]
        direct = httpx.get(
            site.url + v.page.locator(".downloads a", has_text="CSV").get_attribute("href")
        )
        assert hashlib.sha256(exported).digest() == hashlib.sha256(direct.content).digest()

        # "Utiliser ces données": open the curl block, copy it
        v.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
        v.page.locator(".use summary", has_text="curl").click()
        curl = v.page.locator("pre[data-copier]", has_text="curl -L").first
        assert curl.is_visible()
        v.page.locator(".use details[open] .copy-button").first.click()
        status = v.page.locator(".use details[open] .copy-status").first
        status.wait_for(state="visible")
        assert "Copié" in status.inner_text()
        copied = v.page.evaluate("() => navigator.clipboard.readText()")
        assert copied == curl.inner_text() and f"{site.url}/ogc/collections/" in copied
        assert_no_sideways_scroll(v, "jeu de données (snippets ouverts)")
        v.page.evaluate("() => window.scrollTo(0, 0)")
        v.screenshot("parcours-jeu-de-donnees")
        full_page_screenshot(v, "parcours-jeu-de-donnees")
        assert not v.errors, v.errors
        assert not v.external_requests(), v.external_requests()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_spatial_dataset_page_on_a_phone_and_desktop(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/jeux-de-donnees/communes-nc")
        v.page.wait_for_function(
            "() => { const m = document.querySelector('.map')?.mapPreview;"
            " return m && m.loaded() && m.queryRenderedFeatures().length > 0; }",
            timeout=60_000,
        )
        # every snippet opened: long URLs scroll inside their own box, never the page
        for details in v.page.locator(".use details").all():
            if details.get_attribute("open") is None:
                details.locator("summary").click()
        assert v.page.locator(".use pre[data-copier]").count() == 4
        assert_no_sideways_scroll(v, "communes")
        web = v.page.locator("pre[data-copier]", has_text="maplibre-gl").inner_text()
        assert f"{site.url}/ogc/collections/communes-nc/tiles/WebMercatorQuad/" in web
        attributes = v.page.locator(".table-scroll table tbody tr")
        assert attributes.count() == 10  # attribute preview under the map
        v.page.evaluate("() => window.scrollTo(0, 0)")
        v.screenshot("parcours-jeu-de-donnees-carte")
        full_page_screenshot(v, "parcours-jeu-de-donnees-carte")
        assert not v.errors, v.errors

        # the MapLibre snippet, pasted as is into a page (the CDN swapped for the vendored
        # copy: the browser is offline), draws the communes from the vector tiles
        run_maplibre_snippet(v, web, "communes-nc")
        v.screenshot("extrait-maplibre")
        assert not v.errors, v.errors


def run_maplibre_snippet(v: Visit, snippet: str, collection: str) -> None:
    assert MAPLIBRE in snippet
    code = snippet.replace(MAPLIBRE, f"{v.site.url}/static/vendor/maplibre-gl")
    code = code.replace('  map.on("load"', '  window.snippetMap = map;\n  map.on("load"', 1)
    head = '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"></head>'
    body = f"{head}<body>{code}</body></html>"
    url = f"{v.site.url}/__extrait-maplibre"
    v.context.route(
        url, lambda route: route.fulfill(status=200, content_type="text/html", body=body)
    )
    v.page.goto(url)
    v.page.wait_for_function(
        "(layer) => { const m = window.snippetMap;"
        " return m && m.loaded() && m.getLayer(layer) && m.areTilesLoaded()"
        " && m.queryRenderedFeatures({layers: [layer]}).length > 0; }",
        arg=collection,
        timeout=60_000,
    )
    drawn = v.page.evaluate(
        "(layer) => new Set(window.snippetMap.queryRenderedFeatures({layers: [layer]})"
        ".map(f => f.properties.LIBGEO)).size",
        collection,
    )
    assert drawn >= 10, drawn  # most of the 33 communes at zoom 7 over Grande Terre
