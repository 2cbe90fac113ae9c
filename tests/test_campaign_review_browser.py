"""The desktop half of the cartoparty journey in headless Chromium: a reviewer signs in,
sees the queue (map and table), approves two contributions, presses « Fusionner », follows
the merge to its end, and the features are in /ogc and drawn on /carte. (The phone half,
contributing online and offline, is cartoc's tests/test_browser_contribute*.py.)

SQLite with the embedded inline jobs: the merge runs in a thread of the server, as an
organisation running Niaouli without PostgreSQL has it; PostGIS merges are covered by
tests/test_campaign_merge.py (live server included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from niaouli.catalogue.campaigns.campaign_tables import ContributionState
from niaouli.db.engine import writing
from tests.browser_support import Site, chromium, visit  # noqa: F401 - fixture
from tests.campaign_review_support import PASSWORD, contributions, points, submission, world
from tests.conftest import fresh_backend
from tests.portal_support import LiveServer


@pytest.fixture
def review_site(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    with fresh_backend(request, "sqlite", tmp_path) as backend:
        w = world(backend, tmp_path)
        sub = submission(backend, w, w.volunteer_ids[0], "Kim des Tamanous")
        with Session(writing(backend.engine)) as session, session.begin():
            contributions(
                session,
                w,
                sub,
                w.volunteer_ids[0],
                points("nouveau", 2),
                ContributionState.RECEIVED,
            )
        with LiveServer(backend, log_path=tmp_path / "serve.log") as server:
            yield Site(server.url, "sqlite", False, backend.settings), w


def test_reviewer_approves_merges_and_sees_the_features_live(chromium, review_site) -> None:  # noqa: ANN001, F811
    site, w = review_site
    with visit(chromium, site, "desktop") as v:
        v.open("/connexion")
        v.page.fill("#email", "relectrice@example.nc")
        v.page.fill("#password", PASSWORD)
        v.page.click("form[action='/connexion'] button[type=submit]")
        v.page.wait_for_load_state()

        v.open("/campagnes/cartopartie-releves/revue")
        assert v.page.locator("tr[data-uid]").count() == 2
        v.page.wait_for_function(
            "() => { const m = document.querySelector('.map[data-preview]').mapPreview;"
            " return m && m.loaded() && m.areTilesLoaded()"
            " && m.queryRenderedFeatures({layers: ['points']}).length === 2; }",
            timeout=60_000,
        )
        v.page.check("tr[data-uid='nouveau-0'] input[type=checkbox]")
        v.page.check("tr[data-uid='nouveau-1'] input[type=checkbox]")
        v.page.click("button[name=decision][value=approuver]")
        v.page.wait_for_selector("p.notice")
        assert "2 contribution(s) approuvée(s)" in v.page.inner_text("p.notice")
        v.screenshot("revue")

        v.page.click("#fusionner")
        v.page.wait_for_selector("#fusions tr[data-state=done]", timeout=60_000)  # refreshes
        assert v.page.inner_text("#fusions tbody tr td:nth-child(5)") == "2"

        items = v.page.request.get(
            f"{site.url}/ogc/collections/{w.collection_id}/items",
            params={"name": "nouveau 1", "f": "json"},
        ).json()
        assert items["features"][0]["properties"]["contribution_auteur"] == "Kim des Tamanous"

        v.open(f"/carte#map=16/-22.2900/166.4505&layers={w.collection_id}")
        v.wait_for_map()
        names = v.page.evaluate(
            "(layer) => window.niaouliMap.queryRenderedFeatures({layers: [layer]})"
            ".map(f => f.properties.name)",
            f"{w.collection_id}:point",
        )
        assert {"nouveau 0", "nouveau 1"} <= set(names)
        v.screenshot("carte-apres-fusion")
        assert v.errors == []
        assert v.external_requests() == []
