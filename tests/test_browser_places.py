"""Place search and suggestions in headless Chromium, phone and desktop (issue 15 §7).

The « Lieu : Hienghène » chip shows, its × turns the place off (and a link turns it back
on); a misspelt « Numea » offers « Nouméa », whose link finds the datasets covering it.
Nothing overflows sideways on a phone.

SQLite only: what the backend decides (the datasets a place finds, the suggestions, the
chip and the links on the results page) is checked without a browser on both backends by
tests/test_search_places.py; here only the page's script and layout are left, the same
HTML on either backend.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser_support import chromium, live_site, visit  # noqa: F401 - fixture

CARDS = "links => links.map(a => a.getAttribute('href'))"
OVERFLOW = "() => document.documentElement.scrollWidth > window.innerWidth + 1"


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lieux-sqlite")
    with live_site(request, "sqlite", folder, "none") as live:
        yield live


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_place_chip_can_be_removed_and_restored(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/recherche?q=Hienghène")
        chip = v.page.locator("#lieu-reconnu .chip")
        chip.wait_for(state="visible")
        assert "Lieu : Hienghène" in chip.inner_text()
        cards = v.page.eval_on_selector_all("h2.card-title a", CARDS)
        assert "/jeux-de-donnees/communes-nc" in cards
        assert not v.page.evaluate(OVERFLOW)
        v.screenshot("lieu-puce")
        with v.page.expect_navigation():
            chip.get_by_role("link").click()
        assert parse_qs(urlsplit(v.page.url).query)["lieu"] == ["non"]
        assert v.page.locator("#lieu-reconnu .chip").count() == 0
        assert "/jeux-de-donnees/communes-nc" not in v.page.eval_on_selector_all(
            "h2.card-title a", CARDS
        )
        again = v.page.get_by_role("link", name="Chercher aussi les jeux de données couvrant")
        with v.page.expect_navigation():
            again.click()
        assert "lieu" not in parse_qs(urlsplit(v.page.url).query)
        v.page.locator("#lieu-reconnu .chip").wait_for(state="visible")
        assert v.errors == [] and v.external_requests() == [] and v.dialogs == []


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_misspelling_offers_the_nearby_place(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/jeux-de-donnees?q=Numea")
        box = v.page.locator("#suggestions")
        box.wait_for(state="visible")
        assert v.page.locator("h2.card-title").count() == 0
        assert not v.page.evaluate(OVERFLOW)
        v.screenshot("lieu-suggestion")
        with v.page.expect_navigation():
            box.get_by_role("link", name="Nouméa").click()
        assert parse_qs(urlsplit(v.page.url).query)["q"] == ["Nouméa"]
        v.page.locator("#lieu-reconnu .chip").wait_for(state="visible")
        cards = v.page.eval_on_selector_all("h2.card-title a", CARDS)
        assert "/jeux-de-donnees/communes-nc" in cards
        assert v.errors == [] and v.external_requests() == [] and v.dialogs == []
