"""The upload page asks before a duplicate append or a big replace (issue 15 §2), in
Chromium at phone and desktop sizes, on both backends.

Before: the same file appended twice doubled its rows silently, a replace that lost the
columns went through, an append of 3 rows reported the layer's total, the status kept
« Pas encore de données » and a 45-byte file showed « 0 Mio ».
"""

from __future__ import annotations

import httpx
import pytest

from tests.accounts_support import PASSWORD, LoggedServer, build_matrix, email_of, slug_of
from tests.api_support import geojson
from tests.browser_support import SCREENSHOTS, VIEWPORTS, chromium  # noqa: F401 - fixture


@pytest.fixture
def server(backend, tmp_path):
    matrix = build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live, matrix


def _file(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}


def _count(url: str) -> int:
    return httpx.get(url, params={"f": "json", "limit": 1}).json()["numberMatched"]


def _fits(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


def test_upload_page_asks_before_duplicates_and_big_replacements(chromium, server, backend):  # noqa: F811
    live, matrix = server
    slug = slug_of("public")
    items = f"{live.url}/ogc/collections/{matrix.collections['public']}/items"
    points = geojson([(166.41, -22.21), (166.42, -22.22), (166.43, -22.23)])
    errors: list[str] = []
    for size in ("phone", "desktop"):
        context = chromium.new_context(base_url=live.url, locale="fr-FR", **VIEWPORTS[size])
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"/connexion?suivant=/jeux-de-donnees/{slug}/envoyer")
            page.fill("#email", email_of("editor_a"))
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"**/jeux-de-donnees/{slug}/envoyer")
            if size == "phone":
                # Append 3 points: 3 added, 10 in all; the status line follows.
                page.check("input[name=mode][value=append]")
                page.set_input_files("#fichier", _file("arrets.geojson", points))
                page.click("#envoi button[type=submit]")
                page.wait_for_selector("#envoi-resultat h2", timeout=60_000)
                result = page.inner_text("#envoi-resultat")
                assert "3 objet(s) intégré(s)" in result, result
                assert "3 objet(s) ajouté(s) ; 10 au total." in result, result
                assert "(10 objets)" in page.inner_text("#etat-couches")
                # The same file again: a confirmation step; cancelled, nothing changes.
                page.set_input_files("#fichier", _file("arrets-bis.geojson", points))
                page.click("#envoi button[type=submit]")
                page.wait_for_selector("#envoi-confirmation:not([hidden])", timeout=60_000)
                assert page.inner_text("#confirmation-titre") == "Ce fichier a déjà été ajouté"
                assert "même empreinte SHA-256" in page.inner_text("#confirmation-message")
                assert _fits(page, "#envoi-confirmation")
                page.screenshot(path=str(SCREENSHOTS / f"{backend.name}-phone-envoi-doublon.png"))
                page.click("#confirmation-non")
                assert page.is_hidden("#envoi-confirmation")
                assert "rien n'a été modifié" in page.inner_text("#envoi-message")
                assert _count(items) == 10
                # Asked again and confirmed: added.
                page.click("#envoi button[type=submit]")
                page.wait_for_selector("#envoi-confirmation:not([hidden])", timeout=60_000)
                page.click("#confirmation-oui")
                page.wait_for_selector("#envoi-resultat h2", timeout=60_000)
                assert "13 au total" in page.inner_text("#envoi-resultat")
                assert _count(items) == 13
                # A 45-byte attachment: its size in bytes, not « 0 Mio ».
                page.check("input[name=mode][value=attachment]")
                page.set_input_files("#fichier", _file("note.txt", b"x" * 45))
                page.click("#envoi button[type=submit]")
                page.wait_for_selector("#envoi-resultat h2", timeout=60_000)
                assert "(45 octets)" in page.inner_text("#envoi-resultat")
            else:
                # Replace 13 points by 1 with another column: what changes, then confirmed.
                other = geojson([(166.44, -22.24)], rang=1)
                page.set_input_files("#fichier", _file("autre.geojson", other))
                page.click("#envoi button[type=submit]")
                page.wait_for_selector("#envoi-confirmation:not([hidden])", timeout=60_000)
                title = page.inner_text("#confirmation-titre")
                assert title == "Ce remplacement change beaucoup les données"
                table = page.inner_text("#confirmation-comparaison table")
                assert "Avant" in table and "Après" in table
                assert "13" in table and "nom, rang" in table, table
                assert "Colonnes nouvelles : rang" in page.inner_text("#confirmation-comparaison")
                assert _count(items) == 13
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(
                    path=str(SCREENSHOTS / f"{backend.name}-desktop-envoi-remplacer.png")
                )
                page.click("#confirmation-oui")
                page.wait_for_selector("#envoi-resultat h2", timeout=60_000)
                assert "1 objet(s) intégré(s)" in page.inner_text("#envoi-resultat")
                assert _count(items) == 1
        finally:
            context.close()
    assert not errors, errors
