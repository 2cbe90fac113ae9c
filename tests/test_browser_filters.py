"""Search filters in headless Chromium: folded away on a phone, always shown on a desktop.

On a phone the facets of /recherche and /jeux-de-donnees are one line, « Filtres (N
actifs) », above the results; a tap or the keyboard opens them. On a desktop they are open
beside the results and cannot be folded. Without JavaScript they are open everywhere (the
page sends them open; static/js/filtres.js folds them on narrow screens).
"""

from __future__ import annotations

import pytest

from tests.browser_support import chromium, live_site, visit  # noqa: F401 - fixture

SEARCH = "/recherche?q=communes&theme=Limites+administratives"
FACET = ".facets a"


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    # The folding is the browser's business: one backend is enough.
    folder = tmp_path_factory.mktemp("filtres-sqlite")
    with live_site(request, "sqlite", folder, "none") as live:
        yield live


def test_phone_filters_start_folded_and_open_on_tap(chromium, site):  # noqa: F811
    with visit(chromium, site, "phone") as v:
        v.open(SEARCH)
        summary = v.page.locator("#filtres > summary")
        assert summary.is_visible()
        assert summary.inner_text() == "Filtres (1 actif)"
        assert v.page.eval_on_selector("#filtres", "d => d.open") is False
        facet = v.page.locator(FACET, has_text="Population et société").first
        assert not facet.is_visible()
        # above the results, so folding them is what lets the results show first
        filters_top = v.page.locator("#filtres").bounding_box()["y"]
        results_top = v.page.locator(".results").bounding_box()["y"]
        assert filters_top < results_top
        v.screenshot("filtres-fermes")
        summary.tap()
        assert v.page.eval_on_selector("#filtres", "d => d.open") is True
        assert facet.is_visible()
        v.screenshot("filtres-ouverts")
        with v.page.expect_navigation():
            facet.tap()
        assert "Population" in v.page.url
        # the next page starts folded again, counting both filters
        assert v.page.locator("#filtres > summary").inner_text() == "Filtres (2 actifs)"
        assert v.page.eval_on_selector("#filtres", "d => d.open") is False
        assert v.errors == [] and v.external_requests() == [] and v.dialogs == []


def test_phone_filters_open_with_the_keyboard_in_english(chromium, site):  # noqa: F811
    with visit(chromium, site, "phone") as v:
        v.open("/jeux-de-donnees?lang=en")
        summary = v.page.locator("#filtres > summary")
        assert summary.inner_text() == "Filters"
        # the landmark is named by the toggle
        assert v.page.locator("aside[aria-labelledby=filtres-titre]").count() == 1
        assert not v.page.locator(FACET).first.is_visible()
        summary.focus()
        assert v.page.evaluate("() => document.activeElement.id") == "filtres-titre"
        v.page.keyboard.press("Enter")
        assert v.page.eval_on_selector("#filtres", "d => d.open") is True
        assert v.page.locator(FACET).first.is_visible()
        v.page.keyboard.press("Enter")  # and closes again
        assert v.page.eval_on_selector("#filtres", "d => d.open") is False
        assert v.errors == [] and v.external_requests() == []


def test_desktop_filters_are_always_shown(chromium, site):  # noqa: F811
    with visit(chromium, site, "desktop") as v:
        v.open(SEARCH)
        assert v.page.eval_on_selector("#filtres", "d => d.open") is True
        assert not v.page.locator("#filtres > summary").is_visible()  # nothing to fold
        facet = v.page.locator(FACET, has_text="Population et société").first
        assert facet.is_visible()
        # beside the results, under the map
        box = v.page.locator("#filtres").bounding_box()
        results = v.page.locator(".results").bounding_box()
        zone = v.page.locator(".search-zone").bounding_box()
        assert box["x"] + box["width"] <= results["x"]
        assert zone["y"] < box["y"] and abs(zone["x"] - box["x"]) < 1
        # a phone-sized window folds them, a wide one shows them again
        v.page.set_viewport_size({"width": 390, "height": 844})
        v.page.wait_for_function("() => !document.getElementById('filtres').open")
        v.page.set_viewport_size({"width": 1366, "height": 900})
        v.page.wait_for_function("() => document.getElementById('filtres').open")
        assert facet.is_visible()
        v.screenshot("filtres-bureau")
        assert v.errors == [] and v.external_requests() == []


def test_filters_are_open_without_javascript(chromium, site):  # noqa: F811
    context = chromium.new_context(
        base_url=site.url, java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        page.goto(SEARCH)
        assert page.locator(FACET, has_text="Population et société").first.is_visible()
    finally:
        context.close()
