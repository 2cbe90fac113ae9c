"""The editors' forms of code projects and events, and the reuse form, in English.

Through the whole application (`niaouli.web.create_app`, Starlette TestClient), on both
backends: labels, hints, choices and buttons in English after `?lang=en`, the
validation errors (raised in `niaouli.catalogue.community`) in English too, and French
by default and outside a request.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from niaouli.accounts import users
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.community import common, events, projects
from niaouli.catalogue.models import CodeProject, Event
from niaouli.catalogue.service import CatalogueError
from tests.accounts_support import csrf_of

PASSWORD = "mot-de-passe-de-test"
EDITOR, READER = "editrice@exemple.nc", "lecteur@exemple.nc"
CODE = {
    "organisation": "province-sud",
    "name": "Outil Sud",
    "repository_url": "https://github.com/province-sud/outil",
    "default_branch": "main",
    "licence": "MIT",
    "languages": "Python",
    "status": "beta",
    "description": "",
    "datasets": "",
}
EVENT = {
    "organisation": "province-sud",
    "title": "Cartopartie du Sud",
    "kind": "cartoparty",
    "starts": "2027-04-10 08:00",
    "ends": "2027-04-10 12:00",
    "location": "Nouméa",
    "url": "",
    "description": "",
    "results": "",
    "datasets": "",
}


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="(\w+)"', text)
    assert match, text[:200]
    return match.group(1)


def plain(text: str) -> str:
    return text.replace("&#39;", "'").replace("&#34;", '"')


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.setenv("NIAOULI_STATS", "off")
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "province-sud", "Province Sud", "province")
        editor = users.create_user(session, EDITOR, "Éva Éditrice", PASSWORD)
        users.create_user(session, READER, "Léo Lecteur", PASSWORD)
        users.set_membership(session, org, editor, "editor")
        viewer = viewer_for_user(session, editor)
        projects.add_code_project(session, viewer, "province-sud", "Outil Sud", status="beta")
        events.add_event(
            session, viewer, "province-sud", "Cartopartie du Sud", "cartoparty", "2027-04-10 08:00"
        )
    from niaouli.web import create_app

    app = create_app()
    clients = {}
    for who, email in (("editor", EDITOR), ("reader", READER)):
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        token = csrf_of(client.get("/connexion").text)
        data = {"csrf": token, "email": email, "password": PASSWORD, "next": "/"}
        assert client.post("/connexion", data=data).status_code == 303
        clients[who] = client
    yield clients
    for client in clients.values():
        client.close()


def english(client: TestClient) -> None:
    """Choose English once: the cookie then answers for the next pages and forms."""
    assert html_lang(client.get("/?lang=en").text) == "en"


def post(client: TestClient, url: str, fields: dict[str, str]):  # noqa: ANN201
    return client.post(url, data={**fields, "csrf": csrf_of(client.get(url).text)})


def test_code_project_forms_in_english(site, backend):
    client = site["editor"]
    english(client)
    page = client.get("/code/ajouter")
    assert page.status_code == 200 and html_lang(page.text) == "en"
    text = plain(page.text)
    assert "<title>Add a code project" in text
    assert "Software made by your organisation, or an open-source tool it uses." in text
    assert "harvested from their <code>publiccode.yml</code> file." in text
    assert ">Repository address (http or https)</label>" in text
    assert ">Licence (SPDX identifier)</label>" in text
    assert ">Programming languages, separated by commas</label>" in text
    assert "For example <code>main</code>: used for the “Download the archive” link" in text
    assert ">Beta</option>" in text and ">In development</option>" in text
    assert "Their identifiers, one per line (the end of the dataset page's address)." in text
    assert ">Add the project</button>" in text
    for french in ("Adresse du dépôt", "Bêta", "Ajouter le projet", "Branche par défaut"):
        assert french not in text, french

    for fields, message in (
        (
            {"repository_url": "javascript:alert(1)"},
            "Invalid address: give a full web address starting with http(s)://.",
        ),
        ({"licence": "<b>"}, "Licence: give an SPDX identifier, for example MIT or EUPL-1.2."),
        ({"status": "abandoned"}, "Unknown development status."),
        ({"datasets": "nowhere"}, "Unknown dataset: “nowhere”."),
        ({"organisation": "ailleurs"}, "Choose an organisation you are an editor of."),
    ):
        refused = post(client, "/code/ajouter", {**CODE, **fields})
        assert refused.status_code == 400 and html_lang(refused.text) == "en", fields
        assert message in plain(refused.text), fields
        assert "Adresse invalide" not in refused.text and "inconnu" not in refused.text

    url = "/code/outil-sud/modifier"
    text = client.get(url).text
    assert "<title>Edit the code project “Outil Sud”" in text
    assert "Organisation: Province Sud" in text and ">Save changes</button>" in text
    refused = post(client, url, {**CODE, "name": "ab"})
    assert refused.status_code == 400 and html_lang(refused.text) == "en"
    assert "The title must be 3 to 300 characters long." in refused.text
    refused = post(client, url, {**CODE, "description": "x" * 5001})
    assert "Description too long (5000 characters at most)." in refused.text
    with backend.session() as session:
        project = session.scalar(select(CodeProject).where(CodeProject.slug == "outil-sud"))
        assert project.name == "Outil Sud" and project.description == ""


def test_event_forms_in_english(site, backend):
    client = site["editor"]
    english(client)
    text = client.get("/evenements/ajouter").text
    assert html_lang(text) == "en" and "<title>Add an event" in text
    assert "A hackathon, mapping party, call for projects or meetup organised by" in text
    assert ">Start (Nouméa time)</label>" in text and ">End (Nouméa time)</label>" in text
    assert "Format YYYY-MM-DD HH:MM, Nouméa time." in text
    assert ">Mapping party</option>" in text and ">Call for projects</option>" in text
    assert ">Results (after the event)</label>" in text and ">Linked datasets</label>" in text
    assert ">Add the event</button>" in text
    for french in ("Début (heure de Nouméa)", "Cartopartie<", "Ajouter l'événement"):
        assert french not in plain(text), french

    for fields, message in (
        ({"ends": "2027-04-09 12:00"}, "The event ends before it starts."),
        ({"starts": "demain"}, "Invalid date “demain”: expected YYYY-MM-DD HH:MM (Nouméa time)."),
        ({"starts": ""}, "Give the start date and time."),
        ({"kind": "party"}, "Unknown kind of event."),
        ({"location": "x" * 301}, "Location too long (300 characters at most)."),
    ):
        refused = post(client, "/evenements/ajouter", {**EVENT, **fields})
        assert refused.status_code == 400 and html_lang(refused.text) == "en", fields
        assert message in plain(refused.text), fields

    url = "/evenements/cartopartie-du-sud/modifier"
    text = client.get(url).text
    assert "<title>Edit the event “Cartopartie du Sud”" in text and "Save changes" in text
    refused = post(client, url, {**EVENT, "title": "Nouveau titre", "ends": "2027-04-01 12:00"})
    assert refused.status_code == 400 and "The event ends before it starts." in refused.text
    with backend.session() as session:
        event = session.scalar(select(Event).where(Event.slug == "cartopartie-du-sud"))
        assert event.title == "Cartopartie du Sud"


def test_reuse_form_and_labels_in_english(site):
    client = site["reader"]
    english(client)
    text = client.get("/reutilisations/proposer").text
    assert html_lang(text) == "en" and "<title>Submit a reuse" in text
    assert "Your display name will be shown, never your email address." in text
    assert (
        "for example <code>communes-nc</code> for <code>/jeux-de-donnees/communes-nc</code>" in text
    )
    assert ">Web address (http or https)</label>" in text and ">Send for review</button>" in text
    assert "Envoyer pour relecture" not in text
    form = {"title": "Quiz", "kind": "application", "url": "https://x.nc", "description": ""}
    refused = post(client, "/reutilisations/proposer", {**form, "datasets": ""})
    assert refused.status_code == 400 and "Give at least one dataset used." in refused.text
    refused = post(client, "/reutilisations/proposer", {**form, "datasets": "nowhere"})
    assert "Unknown dataset: “nowhere”." in refused.text
    refused = post(client, "/reutilisations/proposer", {**form, "kind": "x", "datasets": "a"})
    assert "Unknown kind of reuse." in refused.text

    events = client.get("/evenements").text
    assert ">Upcoming</option>" in events and ">À venir</option>" not in events
    calendar = client.get("/evenements.ics").text
    assert "X-WR-CALNAME:Niaouli — events" in calendar


def test_french_stays_the_default(site):
    client = site["editor"]
    text = client.get("/code/ajouter").text
    assert html_lang(text) == "fr"
    assert ">Adresse du dépôt (http ou https)</label>" in text and ">Bêta</option>" in text
    assert "Repository address" not in text
    refused = post(client, "/code/ajouter", {**CODE, "repository_url": "ftp://x"})
    assert "Adresse invalide : donnez une adresse web complète en http(s)://." in refused.text
    text = client.get("/evenements/cartopartie-du-sud/modifier").text
    assert "Modifier l'événement « Cartopartie du Sud »" in plain(text)
    assert "Enregistrer les modifications" in text
    refused = post(client, "/evenements/ajouter", {**EVENT, "ends": "2027-04-09 12:00"})
    assert "L'événement finit avant de commencer." in plain(refused.text)
    assert "X-WR-CALNAME:Niaouli — événements" in client.get("/evenements.ics").text
    # Outside a request (command line, API without a language): French
    with pytest.raises(CatalogueError, match="le titre doit faire de 3 à 300 caractères"):
        common.check_title("ab")
