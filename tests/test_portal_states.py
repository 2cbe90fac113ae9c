"""Drafts never look published (issue 15 §5): wherever an editor sees a dataset that is
not public — the dataset list, the search, the organisation page, the dataset page — it
carries its state (brouillon / réservé aux membres / réservé aux inscrits), and a
draft's page does not say « Publié par ». Both backends, in process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from starlette.testclient import TestClient

from tests.accounts_support import PASSWORD, build_matrix, email_of, slug_of

BADGES = {
    "public": None,
    "registered": "réservé aux inscrits",
    "organisation": "réservé aux membres",
    "draft": "brouillon",
}


@pytest.fixture
def site(backend, monkeypatch, tmp_path) -> Iterator[TestClient]:
    from niaouli.web import create_app

    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    build_matrix(backend, tmp_path)
    with TestClient(create_app()) as client:
        yield client


def _sign_in(client: TestClient, viewer: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text)[1]
    data = {"csrf": token, "email": email_of(viewer), "password": PASSWORD, "next": "/"}
    assert client.post("/connexion", data=data, follow_redirects=False).status_code == 303


def _cards(html: str) -> dict[str, str]:
    """The list's cards by dataset slug."""
    cards = {}
    for card in html.split('<li class="card"')[1:]:
        found = re.search(r'href="/jeux-de-donnees/([^"/]+)"', card)
        if found:
            cards[found[1]] = unescape(card.split("</li>")[0])
    return cards


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def _states(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'class="tag tag-state[^"]*">([^<]+)<', html)]


def test_an_editor_sees_each_dataset_state_everywhere(site: TestClient):
    anonymous_list = site.get("/jeux-de-donnees?q=zorglub").text
    assert _states(anonymous_list) == []
    assert "Jeux de données publiés" in unescape(site.get("/organisations/province-sud").text)

    _sign_in(site, "editor_a")
    for path in ("/jeux-de-donnees", "/jeux-de-donnees?q=zorglub", "/organisations/province-sud"):
        cards = _cards(site.get(path).text)
        for level, badge in BADGES.items():
            card = cards[slug_of(level)]
            assert _states(card) == ([badge] if badge else []), (path, level, card)
    organisation = unescape(site.get("/organisations/province-sud").text)
    assert "Jeux de données publiés" not in organisation
    assert "<h2>Jeux de données</h2>" in organisation

    draft_page = site.get(f"/jeux-de-donnees/{slug_of('draft')}").text
    heading = re.search(r"<h1>(.*?)</h1>", draft_page, re.S)[1]
    assert _states(heading) == ["brouillon"]
    draft = _text(draft_page)
    assert "Publié par" not in draft and "Brouillon de Province Sud" in draft
    members = _text(site.get(f"/jeux-de-donnees/{slug_of('organisation')}").text)
    assert "Réservé aux membres de Province Sud" in members and "Publié par" not in members
    registered = _text(site.get(f"/jeux-de-donnees/{slug_of('registered')}").text)
    assert "Publié par Province Sud pour les utilisateurs inscrits" in registered
    public = site.get(f"/jeux-de-donnees/{slug_of('public')}").text
    assert "Publié par" in public and _states(public) == []
    english = site.get(f"/jeux-de-donnees/{slug_of('draft')}?lang=en").text
    assert "Draft of" in english and _states(english) == ["draft"]
