"""Editing code projects and events in the portal (`/code/{slug}/modifier`,
`/evenements/{slug}/modifier`), on both backends.

The rule is the API's (`community.may_edit_*`): the organisation's editors and admins and
the platform admins; someone signed out is sent to sign in, someone else is refused (403),
an unknown address is a 404. Changes are all-or-nothing, written to the audit log, and
never reveal nor drop a linked dataset the editor may not see.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from niaouli import localtime
from niaouli.accounts import users
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.community import events, projects
from niaouli.catalogue.models import CodeProject, Event
from tests.accounts_support import PASSWORD, audit_actions, csrf_of
from tests.portal_support import populate, validate_html5

PROJECT = {
    "name": "Géoportail Nord",
    "repository_url": "https://gitlab.com/province-nord/geoportail",
    "default_branch": "main",
    "licence": "EUPL-1.2",
    "languages": "Python, JavaScript",
    "status": "beta",
    "description": "Un portail.",
    "datasets": "communes-nc\ncommunes-interne",
}
EVENT = {
    "title": "Hackathon du Nord",
    "kind": "hackathon",
    "starts": "2027-02-01 09:00",
    "ends": "2027-02-02 17:30",
    "location": "Koné",
    "url": "https://exemple.nc/hackathon",
    "description": "Deux jours.",
    "results": "",
    "datasets": "communes-nc",
}
EMAILS = {
    "editor": "editeur@exemple.nc",  # editor of province-nord
    "member": "membre@exemple.nc",  # member (reader) of province-nord
    "outsider": "alice@exemple.nc",  # no organisation
    "gov_editor": "gouv@exemple.nc",  # editor of gouvernement-nc (the demo's)
    "admin": "admin@exemple.nc",  # platform admin
}


def _client(app, email: str | None = None) -> TestClient:  # noqa: ANN001
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    if email:
        token = csrf_of(client.get("/connexion").text)
        data = {"csrf": token, "email": email, "password": PASSWORD, "next": "/"}
        assert client.post("/connexion", data=data).status_code == 303
    return client


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    # No usage counting: its flush thread's writes may meet a sign-in's on SQLite.
    monkeypatch.setenv("NIAOULI_STATS", "off")
    populate(backend)
    with backend.session() as session, session.begin():
        nord = service.get_organisation(session, "province-nord")
        gouv = service.get_organisation(session, "gouvernement-nc")
        made = {
            role: users.create_user(
                session, email, role.title(), PASSWORD, is_platform_admin=role == "admin"
            )
            for role, email in EMAILS.items()
        }
        users.set_membership(session, nord, made["editor"], "editor")
        users.set_membership(session, nord, made["member"], "member")
        users.set_membership(session, gouv, made["gov_editor"], "editor")
        admin = viewer_for_user(session, made["admin"])
        projects.add_code_project(
            session,
            admin,
            "province-nord",
            PROJECT["name"],
            repository_url=PROJECT["repository_url"],
            licence=PROJECT["licence"],
            languages=["Python", "JavaScript"],
            status="beta",
            description=PROJECT["description"],
            default_branch="main",
            dataset_slugs=["communes-nc", "communes-interne"],
        )
        events.add_event(
            session,
            admin,
            "province-nord",
            EVENT["title"],
            "hackathon",
            EVENT["starts"],
            ends=EVENT["ends"],
            location="Koné",
            dataset_slugs=["communes-nc"],
        )
        events.add_event(
            session, admin, None, "Rencontre de la plateforme", "gathering", "2027-05-01 18:00"
        )
        # A demo project of gouvernement-nc linked to province-nord's internal dataset:
        # gouvernement-nc's editor may not see that dataset.
        pygeoapi = projects.get_code_project(session, "pygeoapi")
        projects.change_code_project(
            session, admin, pygeoapi, datasets=["communes-nc", "communes-interne"]
        )
    from niaouli.web import create_app

    app = create_app()
    clients = {"anonymous": _client(app)}
    clients.update({role: _client(app, email) for role, email in EMAILS.items()})
    yield clients
    for client in clients.values():
        client.close()


def _stored(backend, model: type, slug: str):  # noqa: ANN001, ANN202
    """The row as stored now, with the slugs of its datasets, sorted."""
    with backend.session() as session:
        item = session.scalar(select(model).where(model.slug == slug))
        assert item is not None
        item.dataset_slugs = sorted(d.slug for d in item.datasets)
        session.expunge(item)
        return item


def _project(backend, slug: str = "geoportail-nord") -> CodeProject:  # noqa: ANN001
    return _stored(backend, CodeProject, slug)


def _event(backend, slug: str = "hackathon-du-nord") -> Event:  # noqa: ANN001
    return _stored(backend, Event, slug)


def _post(client: TestClient, url: str, fields: dict[str, str]):  # noqa: ANN202
    token = csrf_of(client.get(url).text)
    return client.post(url, data={**fields, "csrf": token})


def _token(client: TestClient) -> str:
    """A valid CSRF token of a signed-in user, from a form anyone signed in may open."""
    return csrf_of(client.get("/reutilisations/proposer").text)


def _text(response) -> str:  # noqa: ANN001
    return response.text.replace("&#39;", "'").replace("&#34;", '"')


def test_who_may_open_the_edit_forms(site):
    for url in ("/code/geoportail-nord/modifier", "/evenements/hackathon-du-nord/modifier"):
        refused = site["anonymous"].get(url)
        assert refused.status_code == 303
        assert refused.headers["location"] == f"/connexion?suivant={url}"
        assert site["anonymous"].post(url, data=PROJECT).status_code == 303
        for role in ("member", "outsider", "gov_editor"):
            assert site[role].get(url).status_code == 403, (role, url)
        for role in ("editor", "admin"):
            response = site[role].get(url)
            assert response.status_code == 200, (role, url)
            assert response.headers["cache-control"] == "private, no-store"
    for url in ("/code/inexistant/modifier", "/evenements/inexistant/modifier"):
        assert site["editor"].get(url).status_code == 404
        assert site["admin"].get(url).status_code == 404
    # The detail pages offer the form to those who may use it (`can_edit`), to nobody else
    for page, form in (
        ("/code/geoportail-nord", "/code/geoportail-nord/modifier"),
        ("/evenements/hackathon-du-nord", "/evenements/hackathon-du-nord/modifier"),
    ):
        for role in ("editor", "admin"):
            assert f'href="{form}"' in site[role].get(page).text, (role, page)
        for role in ("anonymous", "member", "outsider", "gov_editor"):
            assert form not in site[role].get(page).text, (role, page)
    # An event without organisation: platform admins only
    url = "/evenements/rencontre-de-la-plateforme/modifier"
    assert site["editor"].get(url).status_code == 403
    assert site["admin"].get(url).status_code == 200


def test_editor_changes_a_code_project(site, backend, tmp_path):
    editor, url = site["editor"], "/code/geoportail-nord/modifier"
    form = editor.get(url).text
    assert 'action="/code/geoportail-nord/modifier"' in form
    assert 'value="Géoportail Nord"' in form and 'value="EUPL-1.2"' in form
    assert 'value="Python, JavaScript"' in form and 'value="main"' in form
    assert '<option value="beta" selected>' in form
    linked = re.search(r'<textarea id="datasets"[^>]*>([^<]*)</textarea>', form)
    assert linked and sorted(linked.group(1).split()) == ["communes-interne", "communes-nc"]
    assert 'name="organisation"' not in form  # a project stays in its organisation
    assert "Organisation : Province Nord" in form
    assert "Enregistrer les modifications" in form
    before = _project(backend)

    # No CSRF token, then someone who may not (with a valid token): refused, no change
    assert editor.post(url, data={**PROJECT, "name": "Autre"}).status_code == 403
    for role in ("member", "outsider", "gov_editor"):
        token = _token(site[role])
        refused = site[role].post(url, data={**PROJECT, "name": "Autre", "csrf": token})
        assert refused.status_code == 403, role
    assert _project(backend).name == "Géoportail Nord"
    # Bad values: a clear French message, and nothing changed (the good ones neither)
    for fields, message in (
        ({"repository_url": "javascript:alert(1)"}, "Adresse invalide : donnez une adresse web"),
        ({"licence": "<b>"}, "Licence : donnez un identifiant SPDX"),
        ({"name": "ab"}, "Le titre doit faire de 3 à 300 caractères."),
        ({"status": "abandonne"}, "État de développement inconnu."),
        ({"datasets": "communes-nc\ninexistant"}, "Jeu de données inconnu : « inexistant »"),
    ):
        refused = _post(editor, url, {**PROJECT, "name": "Nom changé", **fields})
        assert refused.status_code == 400, fields
        assert message in _text(refused), fields
        if "name" not in fields:  # the form keeps what was typed
            assert 'value="Nom changé"' in refused.text
        after = _project(backend)
        assert (after.name, after.licence, after.repository_url) == (
            before.name,
            before.licence,
            before.repository_url,
        )
        assert after.dataset_slugs == ["communes-interne", "communes-nc"]

    changed = {
        **PROJECT,
        "name": "Géoportail de la Province Nord",
        "repository_url": "",
        "licence": "MIT",
        "languages": "TypeScript",
        "status": "stable",
        "default_branch": "",
        "description": "Un portail, deuxième version.",
        "datasets": "communes-nc",
    }
    saved = _post(editor, url, changed)
    assert saved.status_code == 303 and saved.headers["location"] == "/code/geoportail-nord"
    page = site["anonymous"].get("/code/geoportail-nord").text
    assert "Géoportail de la Province Nord" in page and "deuxième version" in page
    after = _project(backend)
    assert after.name == "Géoportail de la Province Nord"
    assert after.repository_url is None and after.default_branch is None
    assert (after.licence, after.languages, str(after.status)) == ("MIT", ["TypeScript"], "stable")
    assert after.dataset_slugs == ["communes-nc"]
    assert ("code.update", EMAILS["editor"], "geoportail-nord") in audit_actions(backend)

    # A platform admin may change it too
    assert _post(site["admin"], url, {**changed, "status": "obsolete"}).status_code == 303
    assert str(_project(backend).status) == "obsolete"

    messages = validate_html5(
        {
            "code-edit": editor.get(url).text,
            "code-edit-refused": _post(editor, url, {**changed, "licence": "<b>"}).text,
        },
        tmp_path,
    )
    assert messages == [], "\n".join(messages)


def test_a_link_the_editor_may_not_see_is_neither_shown_nor_dropped(site, backend):
    gov, url = site["gov_editor"], "/code/pygeoapi/modifier"
    form = gov.get(url).text
    assert ">communes-nc</textarea>" in form and "communes-interne" not in form
    saved = _post(gov, url, {**PROJECT, "name": "pygeoapi", "datasets": "population-communes-nc"})
    assert saved.status_code == 303
    assert _project(backend, "pygeoapi").dataset_slugs == [
        "communes-interne",
        "population-communes-nc",
    ]


def test_editor_changes_an_event(site, backend, tmp_path):
    editor, url = site["editor"], "/evenements/hackathon-du-nord/modifier"
    form = editor.get(url).text
    assert 'value="Hackathon du Nord"' in form and 'value="Koné"' in form
    assert 'value="2027-02-01 09:00"' in form and 'value="2027-02-02 17:30"' in form
    assert '<option value="hackathon" selected>' in form
    assert ">communes-nc</textarea>" in form
    before = _event(backend)

    for fields, message in (
        ({"ends": "2027-01-31 09:00"}, "L'événement finit avant de commencer."),
        ({"starts": ""}, "Indiquez la date et l'heure de début."),
        ({"starts": "demain"}, "Date invalide « demain » : attendu AAAA-MM-JJ HH:MM"),
        ({"kind": "fete"}, "Type d'événement inconnu."),
        ({"url": "ftp://exemple.nc"}, "Adresse invalide"),
        ({"location": "x" * 301}, "Lieu trop long (300 caractères au plus)."),
    ):
        refused = _post(editor, url, {**EVENT, "title": "Titre changé", **fields})
        assert refused.status_code == 400, fields
        assert message in _text(refused), fields
        after = _event(backend)
        assert (after.title, after.starts_at, after.ends_at, after.location) == (
            before.title,
            before.starts_at,
            before.ends_at,
            before.location,
        )

    changed = {
        **EVENT,
        "title": "Hackathon du Nord 2027",
        "kind": "cartoparty",
        "starts": "2027-02-03 10:00",
        "ends": "",
        "location": "Poindimié",
        "results": "Trois prototypes.",
        "datasets": "communes-nc population-communes-nc",
    }
    saved = _post(editor, url, changed)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/evenements/hackathon-du-nord"
    page = site["anonymous"].get("/evenements/hackathon-du-nord").text
    assert "Hackathon du Nord 2027" in page and "3 février 2027 à 10:00" in page
    assert "Poindimié" in page and "Trois prototypes." in page
    after = _event(backend)
    assert localtime.as_utc(after.starts_at) == datetime(2027, 2, 2, 23, 0, tzinfo=UTC)
    assert after.ends_at is None and str(after.kind) == "cartoparty"
    assert after.dataset_slugs == ["communes-nc", "population-communes-nc"]
    assert ("event.update", EMAILS["editor"], "hackathon-du-nord") in audit_actions(backend)
    assert 'value="2027-02-03 10:00"' in editor.get(url).text  # shown back in Nouméa time

    # Someone who may not, with a valid token of their own, changes nothing
    for role in ("member", "outsider"):
        data = {**EVENT, "title": "Autre", "csrf": _token(site[role])}
        assert site[role].post(url, data=data).status_code == 403, role
    assert _event(backend).title == "Hackathon du Nord 2027"
    messages = validate_html5({"event-edit": editor.get(url).text}, tmp_path)
    assert messages == [], "\n".join(messages)


def test_the_create_forms_write_the_audit_log(site, backend):
    created = _post(
        site["editor"], "/evenements/ajouter", {**EVENT, "organisation": "province-nord"}
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/evenements/hackathon-du-nord-2"
    assert ("event.create", EMAILS["editor"], "hackathon-du-nord-2") in audit_actions(backend)


def test_reuse_proposal_and_moderation_write_the_audit_log(site, backend):
    proposal = {
        "title": "Quiz des communes",
        "kind": "application",
        "url": "https://quiz.exemple.nc",
        "description": "Un jeu.",
        "datasets": "communes-nc",
    }
    proposed = _post(site["outsider"], "/reutilisations/proposer", proposal)
    assert proposed.status_code == 303
    slug = proposed.headers["location"].split("/")[-1].split("?")[0]
    assert ("reuse.create", EMAILS["outsider"], slug) in audit_actions(backend)

    queue = site["admin"].get("/admin/reutilisations").text
    reuse_id = re.search(r'action="/admin/reutilisations/(\d+)/approuver"', queue).group(1)
    decided = site["admin"].post(
        f"/admin/reutilisations/{reuse_id}/approuver", data={"csrf": csrf_of(queue)}
    )
    assert decided.status_code == 303
    assert ("reuse.approve", EMAILS["admin"], slug) in audit_actions(backend)
    assert ("reuse.reject", EMAILS["admin"], slug) not in audit_actions(backend)
