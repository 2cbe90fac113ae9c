"""The data managers' pages in English (issue 6): new dataset, edit and publish, upload.

Through a real `niaouli serve` (httpx), on both backends, as tests/test_portal_manage.py
does in French. The upload page's messages come from the API: it is asked for English
with `?lang=en` (the API does not read the portal's language cookie), and the notes
of the ingestion report, stored in French, are given back in English too. The upload
script itself in English runs in headless Chromium at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import text

from tests.accounts_support import PASSWORD, LoggedServer, build_matrix, csrf_of, email_of, sign_in
from tests.browser_support import chromium  # noqa: F401 - fixture
from tests.conftest import GEODATA, REPO
from tests.portal_support import validate_html5

FORM = {
    "organisation": "province-sud",
    "title": "Arrêts de bus",
    "description": "Les arrêts",
    "licence": "ODbL 1.0",
    "themes": "Transports",
    "keywords": "bus, arrêts",
    "access_level": "draft",
}
SLUG = "province-sud--arrets-de-bus"  # an editor's slug: in its organisation's namespace


@pytest.fixture
def server(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


@contextmanager
def editor(server, language: str | None = "en") -> Iterator[httpx.Client]:
    """editor_a signed in; `language` chosen once with ?lang= (then kept by the cookie)."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert sign_in(http, email_of("editor_a")).status_code == 303
        if language:
            assert http.get(f"/compte?lang={language}").status_code == 200
        yield http


def _create(http: httpx.Client) -> str:
    token = csrf_of(http.get("/jeux-de-donnees/nouveau").text)
    made = http.post("/jeux-de-donnees/nouveau", data={**FORM, "csrf": token})
    assert made.status_code == 303, made.text[:500]
    return token


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_new_dataset_form_and_its_errors_in_english(server, backend, tmp_path):
    with editor(server) as http:
        page = http.get("/jeux-de-donnees/nouveau")
        assert page.status_code == 200
        assert '<html lang="en"' in page.text
        body = _text(page.text)
        for english in (
            "<title>New dataset",
            "<h1>New dataset</h1>",
            "Describe the dataset; you will upload its files next.",
            "<legend>Themes</legend>",  # EU data themes, checkboxes (issue 15 §6)
            "Keywords, separated by commas",
            ">Access level</label>",
            "Draft (visible to the organisation's editors)",
            ">Signed-in accounts</option>",
            ">Organisation members</option>",
            ">Create the dataset</button>",
        ):
            assert english in body, english
        for french in ("Nouveau jeu de données", "Créer le jeu de données", "Mots-clés"):
            assert french not in body, french

        token = csrf_of(page.text)
        short = http.post("/jeux-de-donnees/nouveau", data={**FORM, "title": "A", "csrf": token})
        assert short.status_code == 400
        assert "The title must be at least 3 characters long." in short.text
        assert "caractères" not in short.text
        assert '<html lang="en"' in short.text
        # What was typed stays in the form, with the access level chosen.
        assert 'value="Les arrêts"' in short.text or "Les arrêts</textarea>" in short.text

        level = http.post(
            "/jeux-de-donnees/nouveau", data={**FORM, "access_level": "secret", "csrf": token}
        )
        assert level.status_code == 400 and "Unknown access level." in level.text
        assert validate_html5({"new-en": page.text, "error-en": short.text}, tmp_path) == []


def test_edit_publish_and_upload_pages_in_english(server, backend, tmp_path):
    with editor(server) as http:
        token = _create(http)
        edit = http.get(f"/jeux-de-donnees/{SLUG}/modifier")
        assert edit.status_code == 200 and '<html lang="en"' in edit.text
        body = _text(edit.text)
        for english in (
            "<title>Edit “Arrêts de bus”",
            "<h1>Edit “Arrêts de bus”</h1>",
            "This dataset is a draft: only the organisation's editors can see it.",
            ">Publish for</label>",
            ">Publish</button>",
            ">Record</h2>",
            ">Save</button>",
            ">Title</label>",
        ):
            assert english in body, english
        for french in ("Modifier « ", "Publier pour", "Enregistrer", "brouillon :"):
            assert french not in body, french

        saved = http.post(
            f"/jeux-de-donnees/{SLUG}/modifier",
            data={**FORM, "title": "Arrêts de bus de Nouméa", "csrf": token},
        )
        assert saved.status_code == 303
        page = http.get(saved.headers["location"])
        assert "Changes saved." in page.text and "Modifications enregistrées" not in page.text
        refused = http.post(
            f"/jeux-de-donnees/{SLUG}/modifier", data={**FORM, "title": "  X ", "csrf": token}
        )
        assert refused.status_code == 400
        assert "The title must be at least 3 characters long." in refused.text

        published = http.post(
            f"/jeux-de-donnees/{SLUG}/publier", data={"access_level": "public", "csrf": token}
        )
        assert published.status_code == 303
        after = _text(http.get(f"/jeux-de-donnees/{SLUG}/modifier").text)
        assert ">Return to draft</button>" in after and "Repasser en brouillon" not in after

        upload = http.get(f"/jeux-de-donnees/{SLUG}/envoyer")
        assert upload.status_code == 200 and '<html lang="en"' in upload.text
        body = _text(upload.text)
        for english in (
            "<title>Upload files — Arrêts de bus de Nouméa",
            "<h1>Upload files</h1>",
            "Uploading files from this page requires JavaScript. Without it, use the writing "
            'API (<a href="/api/docs">/api/docs</a>) with a token from your account.',
            "<legend>What does the file contain?</legend>",
            "Data that replace the layers' data",
            "Rows to add to the layers (same columns)",
            "An attached document, kept as it is",
            ">File</label>",
            "PNG or JPEG with a world file (zipped). 512 MiB at most. The previous data",
            ">Upload</button>",
            ">Upload progress</label>",
        ):
            assert english in body, english
        for french in ("Envoyer des fichiers", "Que contient", "Mio au plus", "Progression"):
            assert french not in body, french
        assert 'src="/static/js/envoi.js"' in upload.text
        assert validate_html5({"edit-en": edit.text, "upload-en": upload.text}, tmp_path) == []


def test_french_stays_the_default(server, backend):
    with editor(server, language=None) as http:
        _create(http)
        for path, french in (
            ("/jeux-de-donnees/nouveau", "<h1>Nouveau jeu de données</h1>"),
            (f"/jeux-de-donnees/{SLUG}/modifier", "<h1>Modifier « Arrêts de bus »</h1>"),
            (f"/jeux-de-donnees/{SLUG}/envoyer", "512 Mio au plus."),
        ):
            page = http.get(path)
            assert '<html lang="fr"' in page.text and french in page.text, path
            assert "Brouillon (visible des éditeurs de l" in page.text
            assert "Draft (visible" not in page.text
        token = csrf_of(http.get("/jeux-de-donnees/nouveau").text)
        short = http.post("/jeux-de-donnees/nouveau", data={**FORM, "title": "A", "csrf": token})
        assert "Le titre doit faire au moins 3 caractères." in short.text


def _post_file(http: httpx.Client, token: str, url: str, name: str, content: bytes):
    return http.post(
        url, files={"file": (name, content)}, headers={"X-CSRF-Token": token}, timeout=120
    )


def test_upload_messages_follow_the_page_language(server, backend):
    """envoi.js adds ?lang= to its API calls: errors and report notes come back in English;
    without it the API answers in French as before, and what is stored stays French."""
    with editor(server) as http:
        token = _create(http)
        layers = f"/api/datasets/{SLUG}/layers?mode=replace"

        empty = _post_file(http, token, layers + "&lang=en", "vide.csv", b"")
        assert empty.status_code == 422
        assert empty.json()["description"] == "the file received is empty"
        empty_fr = _post_file(http, token, layers, "vide.csv", b"")
        assert empty_fr.json()["description"] == "le fichier reçu est vide"

        garbage = b"\x00\x01\x02\x03 pas un format connu" * 10
        bad = _post_file(http, token, layers + "&lang=en", "donnees.bin", garbage)
        assert bad.status_code == 422 and bad.json()["code"] == "IngestFailed"
        assert bad.json()["description"] == (
            "file “donnees.bin”: unrecognised format "
            "(accepted: GeoJSON, GeoPackage, zipped Shapefile, KML, GPX, CSV, XLSX, ODS)"
        )
        bad_fr = _post_file(http, token, layers, "donnees.bin", garbage)
        assert bad_fr.json()["description"].startswith("fichier « donnees.bin » : format non")

        ragged = b"nom;lon;lat\nA;166.4;-22.2\nB;166.5\n"
        wrong = _post_file(http, token, layers + "&lang=en", "arrets.csv", ragged)
        assert wrong.status_code == 422
        assert (
            "file “arrets.csv”, line 3: number of columns differs from the header"
            in (wrong.json()["description"])
        ), wrong.json()

        csv = b"nom;lon;lat\nA;166.44;-22.27\nB;166.45;\n"
        done = _post_file(http, token, layers + "&lang=en", "arrets.csv", csv)
        assert done.status_code == 200, done.text
        notes = done.json()["layers"][0]["notes"]
        assert "points built from the columns “lon” and “lat”" in notes, notes
        assert "rows without coordinates (empty geometry): 1" in notes, notes
        assert not any("colonnes" in note for note in notes), notes

        # The same stored report read back: French by default, English when asked.
        french = json.dumps(http.get(f"/api/datasets/{SLUG}").json(), ensure_ascii=False)
        assert "points construits à partir des colonnes « lon » et « lat »" in french
        english = json.dumps(http.get(f"/api/datasets/{SLUG}?lang=en").json(), ensure_ascii=False)
        assert "points built from the columns “lon” and “lat”" in english

    with backend.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT l.ingest_report FROM layers l JOIN datasets d ON d.id = l.dataset_id "
                "WHERE d.slug = :slug"
            ),
            {"slug": SLUG},
        ).scalar_one()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert "points construits à partir des colonnes « lon » et « lat »" in stored["notes"]


def test_upload_script_has_every_message_in_both_languages():
    script = (REPO / "portal" / "static" / "js" / "envoi.js").read_text("utf-8")
    blocks = re.search(r"fr: \{(.*?)\n    \},\n    en: \{(.*?)\n    \},\n  \};", script, re.S)
    assert blocks, "MESSAGES = {fr: {...}, en: {...}} not found"
    keys = [re.findall(r"^      (\w+):", block, re.M) for block in blocks.groups()]
    assert keys[0] == keys[1] and len(keys[0]) > 15
    assert 'document.documentElement.lang === "en"' in script
    assert '"lang=" + LANG' in script  # the API answers in the page's language


def test_upload_in_english_in_the_browser(chromium, server, backend):  # noqa: F811
    context = chromium.new_context(base_url=server.url, locale="en-GB")
    context.route(lambda url: not url.startswith(server.url), lambda r: r.abort())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/connexion?suivant=/jeux-de-donnees/nouveau&lang=en")
        page.fill("#email", email_of("editor_a"))
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        page.wait_for_url("**/jeux-de-donnees/nouveau")
        assert page.locator("html").get_attribute("lang") == "en"
        page.fill("#title", "Communes (English test)")
        page.click("form.account-form button[type=submit]")
        page.wait_for_url("**/envoyer")

        page.set_input_files("#fichier", str(GEODATA / "nc_communes.geojson"))
        page.click("#envoi button[type=submit]")
        page.wait_for_selector("#envoi-resultat h2", timeout=120_000)
        result = page.inner_text("#envoi-resultat")
        assert "Result" in result and "33 features loaded in" in result, result
        assert "File checksum: sha256:" in result
        assert "2 invalid geometries repaired." in result
        assert "invalid geometries repaired: 2" in result  # the layer's note, in English
        assert "Publish or edit the record" in result
        assert page.inner_text("#envoi-pourcent") == "100%"
        assert page.inner_text("#envoi-message") == "Done."

        page.set_input_files(
            "#fichier", files=[{"name": "x.bin", "mimeType": "x/y", "buffer": b"\x00\x01" * 50}]
        )
        page.click("#envoi button[type=submit]")
        page.wait_for_selector("#envoi-resultat h2:text('Failed')", timeout=60_000)
        failed = page.inner_text("#envoi-resultat")
        assert "file “x.bin”: unrecognised format" in failed, failed
        assert "Nothing was changed: the previous data stay online." in failed
        assert "fichier" not in failed
        assert errors == []
    finally:
        context.close()
