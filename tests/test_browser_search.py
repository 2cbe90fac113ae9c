"""The search page's map in headless Chromium: « Rechercher dans cette zone » puts the
visible box in the URL and filters the datasets by their spatial coverage.

SQLite only: the filter by coverage (`bbox`) is the backend's part, checked without a
browser on both backends by tests/test_portal_facets.py (`test_map_box_sorting_and_stable_urls`);
here the script that puts the visible box in the URL, the same on either backend."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser_support import chromium, live_site, visit  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recherche-sqlite")
    with live_site(request, "sqlite", folder, "none") as live:
        yield live


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_search_in_this_area(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/jeux-de-donnees?q=communes&tri=recent")
        button = v.page.locator("#rechercher-zone")
        button.wait_for(state="visible", timeout=60_000)  # shown by the script only
        before = v.page.eval_on_selector_all(
            "h2.card-title a", "links => links.map(a => a.getAttribute('href'))"
        )
        assert "/jeux-de-donnees/population-communes-nc" in before  # no coverage
        with v.page.expect_navigation():
            button.click()
        query = parse_qs(urlsplit(v.page.url).query)
        assert query["q"] == ["communes"] and query["tri"] == ["recent"]
        west, south, east, north = (float(x) for x in query["bbox"][0].split(","))
        assert west < 166.45 < east and south < -22.27 < north  # around New Caledonia
        assert list(parse_qs(urlsplit(v.page.url).query)) == ["q", "bbox", "tri"]
        after = v.page.eval_on_selector_all(
            "h2.card-title a", "links => links.map(a => a.getAttribute('href'))"
        )
        assert after == ["/jeux-de-donnees/communes-nc"]  # the only one with a coverage
        assert "retirer la zone" in v.page.content()
        v.page.wait_for_function(
            "() => { const m = window.niaouliSearchMap;"
            " return m && m.loaded() && m.areTilesLoaded() && !m.isMoving(); }",
            timeout=60_000,
        )
        drawn = v.page.evaluate(
            "() => window.niaouliSearchMap.queryRenderedFeatures({layers: ['terre', 'zone']})"
            ".map(f => f.layer.id)"
        )
        assert "terre" in drawn and "zone" in drawn  # the communes outline, the box
        assert v.errors == [] and v.external_requests() == [] and v.dialogs == []
        v.screenshot("recherche-zone")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_search_page_accessibility(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport, axe=True) as v:
        v.open("/recherche?q=communes&theme=Limites+administratives")
        v.page.locator("#rechercher-zone").wait_for(state="visible", timeout=60_000)
        violations = v.accessibility_violations()
        for other in (x for x in violations if x["impact"] not in ("serious", "critical")):
            print(f"axe {other['impact']}: {other['id']} {other['nodes']}")  # reported
        assert [x for x in violations if x["impact"] in ("serious", "critical")] == []
        assert v.errors == [] and v.external_requests() == []
        v.screenshot("recherche-axe")
