"""The data managers' pages through a real `niaouli serve` (httpx), on both backends:
new dataset, edit, publish with CSRF tokens; who reaches them (403, 404, sign-in).
The upload itself is in tests/test_browser_manager.py (it needs the page's script).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.accounts_support import (
    LoggedServer,
    audit_actions,
    build_matrix,
    csrf_of,
    email_of,
    sign_in,
    slug_of,
)
from tests.api_support import snapshot
from tests.portal_support import validate_html5

SLUG = "province-sud--arrets-de-bus"  # an editor's slug: in its organisation's namespace


@pytest.fixture
def server(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


@contextmanager
def client(server, viewer: str | None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        if viewer:
            assert sign_in(http, email_of(viewer)).status_code == 303
        yield http


def test_create_edit_publish_with_csrf(server, backend, tmp_path):
    with client(server, "editor_a") as http:
        page = http.get("/jeux-de-donnees/nouveau")
        assert page.status_code == 200
        assert re.findall(r'<option value="([^"]+)"', page.text)[:1] == ["province-sud"]
        assert "province-iles" not in page.text
        form = {
            "organisation": "province-sud",
            "title": "Arrêts de bus",
            "description": "Les arrêts",
            "licence": "ODbL 1.0",
            "themes": "Transports",
            "keywords": "bus, arrêts",
            "access_level": "draft",
        }
        before = snapshot(backend)
        assert http.post("/jeux-de-donnees/nouveau", data=form).status_code == 403
        forged = http.post("/jeux-de-donnees/nouveau", data={**form, "csrf": "x" * 64})
        assert forged.status_code == 403
        assert snapshot(backend) == before
        token = csrf_of(page.text)
        short = http.post("/jeux-de-donnees/nouveau", data={**form, "title": "A", "csrf": token})
        assert short.status_code == 400 and "3 caractères" in short.text
        made = http.post("/jeux-de-donnees/nouveau", data={**form, "csrf": token})
        assert made.status_code == 303
        assert made.headers["location"] == f"/jeux-de-donnees/{SLUG}/envoyer"
        upload = http.get(f"/jeux-de-donnees/{SLUG}/envoyer")
        assert upload.status_code == 200 and 'src="/static/js/envoi.js"' in upload.text
        assert f'data-csrf="{token}"' in upload.text
        assert not re.search(r"<script>(?!\s*</script>)", upload.text)  # no inline script

        pages = {"nouveau": page.text, "envoyer": upload.text}
        edit = http.get(f"/jeux-de-donnees/{SLUG}/modifier")
        assert edit.status_code == 200 and "brouillon" in edit.text.lower()
        changed = http.post(
            f"/jeux-de-donnees/{SLUG}/modifier",
            data={**form, "title": "Arrêts de bus de Nouméa", "csrf": token},
        )
        assert changed.status_code == 303
        no_token = http.post(f"/jeux-de-donnees/{SLUG}/publier", data={"access_level": "public"})
        assert no_token.status_code == 403
        published = http.post(
            f"/jeux-de-donnees/{SLUG}/publier",
            data={"access_level": "public", "csrf": token},
        )
        assert published.status_code == 303
        status = http.get(f"/jeux-de-donnees/{SLUG}/modifier").text
        pages["modifier"] = edit.text
        pages["publie"] = status
        assert validate_html5(pages, tmp_path) == []
        assert "publié le" in status and "par Nom editor_a" in status
        public = httpx.get(f"{server.url}/jeux-de-donnees/{SLUG}")
        assert public.status_code == 200 and "Arrêts de bus de Nouméa" in public.text
        assert "Modifier et publier" not in public.text  # anonymous: no editor links
        assert "Modifier et publier" in http.get(f"/jeux-de-donnees/{SLUG}").text
    actions = [
        (a, who) for a, who, s in audit_actions(backend) if s == "province-sud--arrets-de-bus"
    ]
    editor = email_of("editor_a")
    assert actions == [
        ("dataset.create", editor),
        ("dataset.update", editor),
        ("dataset.publish", editor),
    ]


CASES = [
    (None, "/jeux-de-donnees/nouveau", 303),
    ("user", "/jeux-de-donnees/nouveau", 403),
    ("member_a", "/jeux-de-donnees/nouveau", 403),
    ("member_a", f"/jeux-de-donnees/{slug_of('public')}/modifier", 403),
    ("member_a", f"/jeux-de-donnees/{slug_of('draft')}/modifier", 404),
    ("member_b", f"/jeux-de-donnees/{slug_of('organisation')}/envoyer", 404),
    ("user", f"/jeux-de-donnees/{slug_of('registered')}/envoyer", 403),
    ("admin_a", f"/jeux-de-donnees/{slug_of('draft')}/envoyer", 200),
    ("platform_admin", f"/jeux-de-donnees/{slug_of('draft')}/modifier", 200),
]


def test_who_reaches_the_pages(server, backend):
    datasets = _datasets(backend)
    for viewer, path, status in CASES:
        with client(server, viewer) as http:
            answer = http.get(path)
            assert answer.status_code == status, (viewer, path, answer.text[:300])
            if status == 303:
                assert answer.headers["location"].startswith("/connexion?suivant=")
            if viewer == "member_a" and status == 403:
                token = csrf_of(http.get("/compte").text)
                refused = http.post(
                    path, data={"csrf": token, "title": "Pris", "organisation": "province-sud"}
                )
                assert refused.status_code == 403
    assert _datasets(backend) == datasets  # refused posts changed nothing


def _datasets(backend) -> list[tuple]:
    from sqlalchemy import text

    with backend.engine.connect() as conn:
        return conn.execute(
            text("SELECT slug, title, updated_at FROM datasets ORDER BY slug")
        ).all()
