"""Accessibility of the code, reuse and event pages: axe-core in headless Chromium.

Same rules as test_browser_a11y.py (no `serious` or `critical` violation, no error, no
request off the site), on phone and desktop, over the demo entries. SQLite only: the
HTML is the same on both backends, which test_portal_code_reuses_events.py covers.
"""

from __future__ import annotations

import pytest

from tests.browser_support import chromium, live_site, visit  # noqa: F401 - fixture

PAGES = {
    "code": "/code",
    "code-niaouli": "/code/niaouli",
    "reutilisations": "/reutilisations",
    "reutilisation": "/reutilisations/carte-des-communes-exemple",
    "evenements": "/evenements",
    "evenement": "/evenements/cartopartie-communes-exemple",
}
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    with live_site(request, "sqlite", tmp_path_factory.mktemp("a11y-community"), "none") as live:
        yield live


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_accessibility_violation(chromium, site, viewport, name):  # noqa: F811
    with visit(chromium, site, viewport, axe=True) as v:
        v.open(PAGES[name])
        v.screenshot(name)
        violations = v.accessibility_violations()
        for other in (x for x in violations if x["impact"] not in BLOCKING):
            print(f"axe {other['impact']}: {other['id']} {other['nodes']}")  # reported, allowed
        blocking = [x for x in violations if x["impact"] in BLOCKING]
        assert blocking == [], blocking
        assert v.errors == []
        assert v.external_requests() == []
