"""The pages of background jobs in Chromium (SQLite: the script is the same on both
backends): the upload page follows an upload ingested as a job and lands on the
dataset's page; the « Votre fichier est en préparation » page of an export not ready
polls and starts the download by itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.accounts_support import PASSWORD, LoggedServer, build_matrix, email_of, slug_of
from tests.api_support import geojson
from tests.browser_support import VIEWPORTS, chromium  # noqa: F401 - fixture
from tests.conftest import Backend


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path):
    from tests.conftest import fresh_backend

    with fresh_backend(request, "sqlite", tmp_path) as backend:
        matrix = build_matrix(backend, tmp_path)
        # No exports prepared right after the upload: the download must meet « en
        # préparation » (with them, a fast machine had the file ready: no page at all).
        env = {
            "NIAOULI_UPLOAD_JOB_THRESHOLD_MB": "0",
            "NIAOULI_EXPORT_WAIT": "0",
            "NIAOULI_EXPORTS_PREBUILD": "0",
        }
        with LoggedServer(backend, tmp_path / "server.log", env) as live:
            yield live, matrix, backend


def test_job_pages_follow_the_job_and_land_where_they_should(chromium, server):  # noqa: F811
    live, matrix, backend = server
    backend: Backend
    slug = slug_of("public")
    errors: list[str] = []
    context = chromium.new_context(base_url=live.url, locale="fr-FR", **VIEWPORTS["desktop"])
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"/connexion?suivant=/jeux-de-donnees/{slug}/envoyer")
        page.fill("#email", email_of("editor_a"))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/jeux-de-donnees/{slug}/envoyer")
        page.check("input[name=mode][value=append]")
        points = geojson([(166.41, -22.21), (166.42, -22.22), (166.43, -22.23)])
        page.set_input_files(
            "#fichier",
            {"name": "arrets.geojson", "mimeType": "application/geo+json", "buffer": points},
        )
        page.click("#envoi button[type=submit]")
        # Ingested as a job: the page follows it, then opens the dataset's page.
        page.wait_for_url(f"**/jeux-de-donnees/{slug}", timeout=60_000)
        assert "10 objets" in page.inner_text("main")

        layer = matrix.layers["public"]
        collection = matrix.collections["public"]
        url = f"/jeux-de-donnees/{slug}/couches/{layer}/{collection}.gpkg"
        with page.expect_download(timeout=60_000) as download:
            page.goto(url)
            assert "Votre fichier est en préparation" in page.inner_text("h1")
            assert page.locator(f"a[href='/jeux-de-donnees/{slug}']").count() == 1
        saved = download.value.path()
        assert saved is not None and Path(saved).read_bytes()[:16] == b"SQLite format 3\x00"
    finally:
        context.close()
    assert errors == []
