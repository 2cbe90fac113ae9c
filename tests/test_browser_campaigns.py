"""The campaign form's map in headless Chromium (desktop): an editor draws the area with
three clicks, the polygon lands in the form's `area` field, the campaign is created and
its summary page draws the area. SQLite only: the page's script is the same on both
backends, which tests/test_campaigns_web.py covers through HTTP.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from niaouli.catalogue.campaigns.campaign_tables import Campaign
from tests.browser_support import Site, chromium, visit  # noqa: F401 - the fixture
from tests.campaign_support import PASSWORD, AppServer, build_campaign, email_of
from tests.conftest import fresh_backend


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("campaigns-browser")
    with fresh_backend(request, "sqlite", root) as backend:
        built = build_campaign(backend, root)
        with AppServer(backend) as server:
            yield Site(server.url, "sqlite", False, backend.settings), built


def test_editor_draws_the_area_on_the_map(chromium, site):  # noqa: F811
    live, built = site
    with visit(chromium, live, "desktop") as page:
        page.open("/connexion")
        page.page.fill("#email", email_of("editor_a"))
        page.page.fill("#password", PASSWORD)
        page.page.locator("form.account-form button[type=submit]").click()
        page.page.wait_for_load_state()
        page.open("/organisations/province-sud/campagnes/nouvelle")
        page.page.wait_for_function(
            "() => { const m = document.getElementById('campaign-area-editor').areaEditor;"
            " return m && m.loaded(); }",
            timeout=60_000,
        )
        canvas = page.page.locator("#campaign-area-editor canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        for dx, dy in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.7)):
            page.page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
        area = json.loads(page.page.input_value("#area"))
        assert area["type"] == "Polygon" and len(area["coordinates"][0]) == 4
        assert area["coordinates"][0][0] == area["coordinates"][0][-1]
        page.page.fill("#title", "Zone dessinée")
        page.page.fill("#layer", "zone-dessinee")
        page.page.fill("#schema", "nom | texte | obligatoire")
        page.page.locator("form.account-form button[type=submit]").last.click()
        page.page.wait_for_url("**/campagnes/zone-dessinee")
        page.page.wait_for_function(
            "() => document.querySelector('#campaign-area-map canvas') !== null",
            timeout=60_000,
        )
        assert page.errors == [], page.errors
        assert page.external_requests() == []
    with built.backend.session() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "zone-dessinee"))
        assert campaign is not None and campaign.area is not None
