"""A volunteer's cartoparty on a phone, end to end in headless Chromium (issue 18 §2):
sign in, add a point with the form (position from the phone's GPS), see that what was
typed survives a reload, go offline (Playwright's offline mode), add another by tapping
the map with a phone photo, see it pending, come back online and see both sent and stored
once (the photo uploaded first, without its EXIF, and shown back); send a GPX
from a GPS device and read the validation report per feature. At 390x844 the page fits
the screen and axe-core finds no serious accessibility problem. PostGIS only (the
endpoints are checked on both backends by tests/test_contribute_page.py); the review
and merge at a desktop viewport are cartob's part of the journey.

Before: /campagnes/{slug}/contribuer did not exist.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from niaouli import storage
from niaouli.catalogue.campaigns.campaign_tables import Contribution, Submission
from niaouli.ingest import photos
from tests.accounts_support import LoggedServer
from tests.browser_support import AXE, SCREENSHOTS, VIEWPORTS, chromium  # noqa: F401 - fixture
from tests.conftest import fresh_backend
from tests.contribute_support import INSIDE, PASSWORD, SLUG, VOLUNTEER, make_campaign
from tests.test_contribute_page import GPX
from tests.test_contribute_photos import phone_jpeg

BASE = f"/campagnes/{SLUG}/contribuer"


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("contribuer-chromium")
    with fresh_backend(request, "postgis", folder) as backend:
        make_campaign(backend, folder)
        with LoggedServer(backend, folder / "server.log") as live:
            yield live, backend


def stored(backend) -> dict[str, tuple[dict, str]]:
    """The contributions in the database: uid → (properties, source of its submission)."""
    with backend.session() as session:
        rows = session.execute(
            select(Contribution.uid, Contribution.properties, Submission.source).join(
                Submission, Submission.id == Contribution.submission_id
            )
        ).all()
    return {uid: (properties, source) for uid, properties, source in rows}


def item(page, name: str):
    return page.locator("#contribuer-mes li", has_text=name)


def test_a_volunteer_contributes_online_offline_and_by_file(chromium, site):  # noqa: F811
    live, backend = site
    context = chromium.new_context(
        base_url=live.url,
        locale="fr-FR",
        geolocation={"latitude": INSIDE[1], "longitude": INSIDE[0], "accuracy": 8},
        permissions=["geolocation"],
        **VIEWPORTS["phone"],
    )
    context.add_init_script(path=str(AXE))  # not subject to the page's CSP, unlike a tag
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    context.route(
        lambda url: not url.startswith(live.url),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    try:
        page.goto(f"/connexion?suivant={BASE}")
        page.fill("#email", VOLUNTEER)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**{BASE}")
        page.wait_for_function("() => window.niaouliMap && window.niaouliMap.loaded()")
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope.endswith(BASE)

        # The first point: typed, placed from the phone's position; a reload keeps both.
        page.fill("#champ-0", "B-301")
        page.select_option("#champ-1", "poteau")
        page.fill("#champ-2", "60.5")
        page.click("#contribuer-position")
        page.wait_for_selector("#contribuer-geometrie[data-sommets='1']")
        assert "longitude 166.457200" in page.inner_text("#contribuer-geometrie")
        page.reload()
        page.wait_for_function("() => window.niaouliMap && window.niaouliMap.loaded()")
        assert page.input_value("#champ-0") == "B-301"
        assert page.input_value("#champ-1") == "poteau"
        assert page.get_attribute("#contribuer-geometrie", "data-sommets") == "1"
        assert page.input_value("#contribuer-nom") == "Jeanne Bénévole"
        page.click("#contribuer-envoyer")
        page.wait_for_selector("#contribuer-message:has-text('Contribution envoyée')")
        item(page, "B-301").locator(".statut-sent").wait_for()
        assert "revue : reçue" in item(page, "B-301").inner_text()
        assert page.input_value("#champ-0") == ""  # the draft is cleared once queued

        # Offline: the second one waits on the phone, nothing reaches the server.
        context.set_offline(True)
        page.wait_for_selector("#contribuer-connexion[data-etat='hors-ligne']")
        page.fill("#champ-0", "B-302")
        page.select_option("#champ-1", "bouche")
        page.check("#champ-3")
        # A phone photo with its GPS position, kept on the phone (a Blob in IndexedDB).
        page.set_input_files(
            "#contribuer-photo",
            {"name": "IMG_0302.JPG", "mimeType": "image/jpeg", "buffer": phone_jpeg((1600, 1200))},
        )
        page.locator("#contribuer-apercu img").wait_for()
        canvas = page.locator("#contribuer-carte canvas")
        box = canvas.bounding_box()
        canvas.click(position={"x": box["width"] * 0.55, "y": box["height"] * 0.45})
        page.wait_for_selector("#contribuer-geometrie[data-sommets='1']")
        page.click("#contribuer-envoyer")
        page.wait_for_selector("#contribuer-message:has-text('Pas de connexion')")
        item(page, "B-302").locator(".statut-pending").wait_for()
        assert "en attente" in item(page, "B-302").inner_text()
        page.screenshot(
            path=str(SCREENSHOTS / "postgis-phone-contribuer-hors-ligne.png"), full_page=True
        )
        names = sorted(p.get("nom") for p, _source in stored(backend).values())
        assert names == ["B-301"]

        # Back online: sent by itself, once, and shown as sent.
        context.set_offline(False)
        item(page, "B-302").locator(".statut-sent").wait_for(timeout=30_000)
        assert "revue : reçue" in item(page, "B-302").inner_text()
        page.wait_for_selector("#contribuer-message:has-text('Connexion retrouvée')")
        rows = stored(backend)
        by_name = {p["nom"]: (p, source) for p, source in rows.values()}
        assert sorted(by_name) == ["B-301", "B-302"]
        assert by_name["B-301"][0] == {
            "nom": "B-301",
            "type_borne": "poteau",
            "debit": 60.5,
            "accessible": False,
        }
        assert by_name["B-302"][1] == "offline" and by_name["B-302"][0]["accessible"] is True
        # Its photo went up first, re-encoded without EXIF, and shows in the list.
        photo = item(page, "B-302").locator("img.contribuer-vignette")
        photo.wait_for()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
        )
        with backend.session() as session:
            key = next(
                c.photo_key
                for c in session.scalars(select(Contribution))
                if c.properties["nom"] == "B-302"
            )
        kept = b"".join(storage.read(backend.settings, key, photos.FILENAME))
        assert b"Exif" not in kept and b"NiaouliPhone" not in kept
        queued = page.evaluate("NiaouliQueue.all(null).then((items) => items.map((i) => i.uid))")
        assert sorted(queued) == sorted(rows)  # the client's uids are the stored ones

        # A GPX from a GPS device, with its validation report per feature.
        page.set_input_files(
            "#contribuer-fichier",
            {"name": "etrex.gpx", "mimeType": "application/gpx+xml", "buffer": GPX.encode()},
        )
        page.click("#contribuer-envoi-fichier button[type=submit]")
        report = page.locator("#contribuer-rapport")
        report.locator("table").wait_for(timeout=30_000)
        text = report.inner_text()
        assert "Rapport de validation : « etrex.gpx » (GPX)" in text
        sent_row = report.locator("tr", has_text="objet 1 de « waypoints »")
        assert "envoyée" in sent_row.inner_text()
        refused_row = report.locator("tr", has_text="objet 2 de « waypoints »")
        assert "refusée" in refused_row.inner_text()
        assert refused_row.locator(".contribuer-problemes li").count() >= 1
        item(page, "B-101").wait_for()

        # Finished on a phone: nothing wider than the screen; accessible.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # The report stacks on a phone: no line, state or problem runs past its edge.
        beyond = page.evaluate(
            """(el) => { const edge = el.getBoundingClientRect().right + 0.5;
                return Array.from(el.querySelectorAll("h3, p, tr, td, li"))
                    .filter((n) => n.getBoundingClientRect().right > edge)
                    .map((n) => n.tagName + ": " + n.textContent); }""",
            report.element_handle(),
        )
        assert beyond == []
        page.screenshot(path=str(SCREENSHOTS / "postgis-phone-contribuer.png"), full_page=True)
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]}))
                .violations.filter((v) => ["serious", "critical"].includes(v.impact))
                .map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "))"""
        )
        assert violations == []
        assert errors == []
        # Nothing from elsewhere but the configured background's tiles (blocked here).
        assert [u for u in outside if not u.startswith("https://tile.openstreetmap.org/")] == []
    finally:
        context.close()
