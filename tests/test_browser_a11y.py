"""Accessibility of the main portal pages: axe-core in headless Chromium, phone and desktop.

axe-core (vendored from npm in tests/vendor/axe-core) runs on the home page, the dataset
list, a dataset page with its map preview, the public map, and the code, reuse and event
lists and pages (demo entries); no `serious` or `critical` violation is allowed. A
screenshot of each page is kept as a test artefact.

The pages are the same HTML on both database backends (the map and portal tests already
run on both), so this runs on SQLite/SpatiaLite only, to save CI time.
"""

from __future__ import annotations

import pytest

from tests.browser_support import chromium, live_site, visit  # noqa: F401 - fixture

PAGES = {
    "accueil": "/",
    "jeux-de-donnees": "/jeux-de-donnees",
    "jeu-communes": "/jeux-de-donnees/communes-nc",
    "carte": "/carte",
    "code": "/code",
    "code-niaouli": "/code/niaouli",
    "reutilisations": "/reutilisations",
    "reutilisation": "/reutilisations/carte-des-communes-exemple",
    "evenements": "/evenements",
    "evenement": "/evenements/cartopartie-communes-exemple",
    # The English version: same checks (lang attributes, labels, contrast of the switcher)
    "en-home": "/?lang=en",
    "en-search": "/recherche?q=communes&lang=en",
    "en-dataset": "/jeux-de-donnees/communes-nc?lang=en",
    "en-map": "/carte?lang=en",
}
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    with live_site(request, "sqlite", tmp_path_factory.mktemp("a11y"), "none") as live:
        yield live


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_accessibility_violation(chromium, site, viewport, name):  # noqa: F811
    with visit(chromium, site, viewport, axe=True) as v:
        v.open(PAGES[name])
        if name in ("carte", "en-map"):
            v.wait_for_map()
        elif v.page.locator(".map[data-preview]").count():
            v.page.wait_for_function(
                "() => [...document.querySelectorAll('.map[data-preview]')]"
                ".every(e => e.mapPreview && e.mapPreview.loaded())"
            )
        v.screenshot(name)
        violations = v.accessibility_violations()
        for other in (x for x in violations if x["impact"] not in BLOCKING):
            print(f"axe {other['impact']}: {other['id']} {other['nodes']}")  # reported, allowed
        blocking = [x for x in violations if x["impact"] in BLOCKING]
        assert blocking == [], blocking
        assert v.errors == []
        assert v.external_requests() == []
