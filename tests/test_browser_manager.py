"""A data manager in headless Chromium: sign in, create a dataset, upload a file seeing
the progress, publish it; it then shows on /jeux-de-donnees and in /ogc/collections.

Debian's Chromium through Playwright (tests/browser_support.py); only the live server
is reachable, and the pages' strict CSP stays on (the upload script is a static file).
"""

from __future__ import annotations

import httpx
import pytest

from tests.accounts_support import PASSWORD, LoggedServer, build_matrix, email_of
from tests.browser_support import AXE, SCREENSHOTS, chromium  # noqa: F401 - fixture
from tests.conftest import GEODATA

TITLE = "Communes de Nouvelle-Calédonie (essai navigateur)"
SLUG = "province-sud--communes-de-nouvelle-caledonie-essai-navigateur"


@pytest.fixture
def server(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


def test_data_manager_creates_uploads_and_publishes(chromium, server, backend):  # noqa: F811
    context = chromium.new_context(base_url=server.url, locale="fr-FR")
    blocked: list[str] = []
    context.route(
        lambda url: not url.startswith(server.url),
        lambda r: (blocked.append(r.request.url), r.abort()),
    )  # noqa: E501
    context.add_init_script(path=str(AXE))  # init scripts are not subject to the page's CSP
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto("/connexion?suivant=/jeux-de-donnees/nouveau")
        page.fill("#email", email_of("editor_a"))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/jeux-de-donnees/nouveau")

        # The form offers only the organisations this account edits.
        options = page.locator("#organisation option").all_inner_texts()
        assert options == ["Province Sud"]
        page.fill("#title", TITLE)
        page.fill("#description", "Limites des 33 communes, envoyées depuis le navigateur.")
        page.fill("#keywords", "communes, limites")
        page.click("form button[type=submit]")
        page.wait_for_url(f"**/jeux-de-donnees/{SLUG}/envoyer")
        assert "Brouillon" in page.inner_text("main")
        assert _violations(page) == []

        # Upload with the progress bar, then the ingestion report.
        page.evaluate("() => { window.__progress = []; }")
        page.set_input_files("#fichier", str(GEODATA / "nc_communes.geojson"))
        page.evaluate(
            """() => new MutationObserver(() => window.__progress.push(
                document.getElementById('envoi-pourcent').textContent)).observe(
                document.getElementById('envoi-pourcent'), {childList: true})"""
        )
        page.click("#envoi button[type=submit]")
        page.wait_for_selector("#envoi-resultat h2", timeout=120_000)
        assert page.is_visible("#envoi-progression")
        result = page.inner_text("#envoi-resultat")
        assert "Résultat" in result and "33 objet(s) intégré(s)" in result, result
        assert "sha256:" in result
        assert "2 géométrie(s) invalide(s) réparée(s)" in result  # the ingestion report
        assert _violations(page) == []  # with the progress bar and the report shown
        seen = page.evaluate("window.__progress")
        assert seen and seen[-1] == "100 %", seen
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{backend.name}-desktop-envoi.png"), full_page=True)

        # Not public yet.
        assert httpx.get(f"{server.url}/api/datasets/{SLUG}").status_code == 404

        page.click("text=Publier ou modifier la fiche")
        page.wait_for_url(f"**/jeux-de-donnees/{SLUG}/modifier")
        assert _violations(page) == []
        page.select_option("#publish_level", "public")
        page.get_by_role("button", name="Publier", exact=True).click()
        page.wait_for_url(f"**/jeux-de-donnees/{SLUG}/modifier?ok=1")
        status = page.inner_text("main")
        assert "publié le" in status and "par Nom editor_a" in status, status

        page.goto("/jeux-de-donnees")
        assert TITLE in page.inner_text("main")
        assert not errors, errors
        assert not blocked, blocked
    finally:
        context.close()
    collections = httpx.get(f"{server.url}/ogc/collections", params={"f": "json"}).json()
    assert SLUG in [c["id"] for c in collections["collections"]]
    items = httpx.get(f"{server.url}/ogc/collections/{SLUG}/items", params={"f": "json"}).json()
    assert items["numberMatched"] == 33


def _violations(page) -> list:
    """axe-core's WCAG 2.1 A/AA violations on the current page."""
    return page.evaluate(
        """async () => (await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21aa"]}))
            .violations.map((v) => [v.id, v.nodes.slice(0, 3).map((n) => n.target.join(" "))])"""
    )
