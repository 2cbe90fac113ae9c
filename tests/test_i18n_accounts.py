"""Account pages, organisation members and journal in English (`?lang=en`), French by default.

Through the whole application (`niaouli.web.create_app`, Starlette TestClient): sign-in,
sign-up, forgotten password, reset link, my account and tokens, members and journal; the
error messages of the forms (some raised in `niaouli.accounts`) follow the language of
the request, and stay French outside one (the command line).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from niaouli.accounts import audit, passwords, users
from niaouli.accounts.account_tables import AuditEvent
from niaouli.catalogue import service
from niaouli.i18n import set_language

PASSWORD = "mot-de-passe-de-test"
ADMIN, MEMBER = "admin@exemple.nc", "membre@exemple.nc"
ORG = "province-sud"


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="(\w+)"', text)
    assert match, text[:200]
    return match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form without CSRF token"
    return match.group(1)


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.delenv("NIAOULI_PUBLIC_URL", raising=False)
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, ORG, "Province Sud", "province")
        admin = users.create_user(session, ADMIN, "Awa Admin", PASSWORD)
        member = users.create_user(session, MEMBER, "Marc Membre", PASSWORD)
        users.set_membership(session, org, admin, "admin")
        users.set_membership(session, org, member, "member")
    from niaouli.web import create_app

    client = TestClient(create_app(), raise_server_exceptions=False)
    yield client
    client.close()


def english(client: TestClient) -> None:
    """Choose English once: the cookie then answers for the next pages and forms."""
    assert html_lang(client.get("/?lang=en").text) == "en"


def sign_in(client: TestClient, email: str, password: str = PASSWORD):  # noqa: ANN201
    token = csrf_of(client.get("/connexion").text)
    data = {"csrf": token, "email": email, "password": password, "next": "/compte"}
    return client.post("/connexion", data=data, follow_redirects=False)


def test_sign_in_page_and_failed_sign_in_in_english(site):
    client = site
    page = client.get("/connexion?lang=en")
    assert page.status_code == 200 and html_lang(page.text) == "en"
    text = page.text
    assert "<title>Sign in" in text
    assert "Sign in to see the datasets restricted to your organisation" in text
    assert ">E-mail address</label>" in text and ">Password</label>" in text
    assert "Forgotten your password?" in text and "No account yet?" in text
    assert "Connectez-vous pour voir" not in text and "Mot de passe oublié" not in text

    failed = sign_in(client, ADMIN, "pas le bon mot de passe")
    assert failed.status_code == 400 and html_lang(failed.text) == "en"
    assert "Incorrect e-mail address or password." in failed.text
    assert "mot de passe incorrect" not in failed.text
    assert sign_in(client, ADMIN).status_code == 303


def test_french_stays_the_default(site):
    client = site
    text = client.get("/connexion").text
    assert html_lang(text) == "fr"
    assert "Connectez-vous pour voir les jeux de données réservés" in text
    assert "Sign in to see" not in text
    failed = sign_in(client, ADMIN, "pas le bon mot de passe")
    assert "Adresse électronique ou mot de passe incorrect." in failed.text
    short = client.post(
        "/inscription",
        data={
            "csrf": csrf_of(client.get("/inscription").text),
            "email": "court@exemple.nc",
            "name": "Court",
            "password": "court",
            "password_confirmation": "court",
        },
    )
    assert "Le mot de passe doit compter au moins 10 caractères." in short.text


def test_sign_up_errors_in_english(site):
    client = site
    english(client)
    page = client.get("/inscription")
    assert html_lang(page.text) == "en"
    assert "An account gives access to the datasets restricted to registered users." in page.text
    assert "Display name" in page.text and "Password (at least 10 characters)" in page.text
    assert "Créer un compte" not in page.text
    form = {"csrf": csrf_of(page.text), "email": "lea@exemple.nc", "name": "Léa"}

    short = client.post(
        "/inscription", data={**form, "password": "court", "password_confirmation": "court"}
    )
    assert short.status_code == 400 and html_lang(short.text) == "en"
    assert "The password must be at least 10 characters long." in short.text
    assert "caractères" not in short.text

    different = {"password": PASSWORD, "password_confirmation": PASSWORD + "x"}
    mismatch = client.post("/inscription", data={**form, **different})
    assert "The two passwords do not match." in mismatch.text

    taken = {"email": ADMIN, "password": PASSWORD, "password_confirmation": PASSWORD}
    again = client.post("/inscription", data={**form, **taken})
    assert again.status_code == 400
    assert "An account already exists with this e-mail address." in again.text
    assert "existe déjà" not in again.text


def test_forgotten_password_and_reset_link_in_english(site):
    client = site
    english(client)
    page = client.get("/mot-de-passe-oublie")
    assert "Enter your account's e-mail address" in page.text
    sent = client.post("/mot-de-passe-oublie", data={"csrf": csrf_of(page.text), "email": ADMIN})
    assert sent.status_code == 200
    assert "If an account exists for this address, a reset link valid for one hour" in sent.text
    assert "Si un compte existe" not in sent.text
    invalid = client.get("/reinitialiser/pas-un-lien")
    assert invalid.status_code == 404 and html_lang(invalid.text) == "en"
    assert "This reset link is not valid, has already been used or has expired." in invalid.text
    assert "Ask for a new link" in invalid.text


def test_account_page_in_english(site):
    client = site
    english(client)
    assert sign_in(client, ADMIN).status_code == 303
    page = client.get("/compte")
    assert page.status_code == 200 and html_lang(page.text) == "en"
    text = page.text
    assert "<h1>My account</h1>" in text and "My organisations" in text
    assert '<a href="/organisations/province-sud">Province Sud</a>: administrator' in text
    assert "manage members</a>" in text and "audit log</a>" in text
    assert "Access tokens" in text and "Sign out" in text
    assert "A token lets software (QGIS, GDAL, a script) read the data" in text
    assert "<code>http://testserver/ogc</code>" in text
    assert "<code>Authorization: Bearer …</code> header" in text
    assert "Mon compte" not in text and "Jetons d'accès" not in text

    token = csrf_of(text)
    made = client.post("/compte/jetons", data={"csrf": token, "name": "QGIS", "scope": "write"})
    assert made.status_code == 200
    assert "Token “QGIS” created. Copy it now: it will never be shown again." in made.text
    assert "<td>read and write</td>" in made.text and ">Revoke</button>" in made.text
    unnamed = client.post("/compte/jetons", data={"csrf": token, "name": " ", "scope": "read"})
    assert unnamed.status_code == 400
    assert "give the token a name (for example “QGIS desktop”)" in unnamed.text

    def change(current: str, password: str):  # noqa: ANN202
        data = {
            "csrf": token,
            "current_password": current,
            "password": password,
            "password_confirmation": password,
        }
        return client.post("/compte/mot-de-passe", data=data, follow_redirects=False)

    assert "The current password is incorrect." in change("pas le bon", "x" * 12).text
    assert "The password must be at least 10 characters long." in change(PASSWORD, "court").text
    done = change(PASSWORD, "un nouveau mot de passe")
    assert done.status_code == 303
    changed = client.get(done.headers["location"]).text
    assert "Password changed. Your other sessions have been signed out." in changed


def test_members_page_in_english_for_an_org_admin(site):
    client = site
    english(client)
    assert sign_in(client, ADMIN).status_code == 303
    page = client.get(f"/organisations/{ORG}/membres")
    assert page.status_code == 200 and html_lang(page.text) == "en"
    text = page.text
    assert "<title>Members — Province Sud" in text
    assert "<h1>Organisation members</h1>" in text
    assert "<caption>2 members</caption>" in text
    assert "<td>administrator</td>" in text and "<td>member</td>" in text
    assert 'value="editor"> editor</label>' in text
    assert "Add a member or change their role" in text
    assert "Membres de l'organisation" not in text and "administrateur" not in text

    token = csrf_of(text)
    nobody = client.post(
        f"/organisations/{ORG}/membres",
        data={"csrf": token, "email": "personne@exemple.nc", "role": "member"},
    )
    assert nobody.status_code == 400
    assert "No account for this address: the person must create one first." in nobody.text
    last_admin = client.post(
        f"/organisations/{ORG}/membres",
        data={"csrf": token, "email": ADMIN, "role": "member"},
    )
    assert last_admin.status_code == 400
    assert "The organisation must keep at least one administrator." in last_admin.text


def test_journal_in_english_and_french(site, backend):
    client = site
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, ORG)
        admin = users.get_user(session, ADMIN)
        audit.record(
            session,
            audit.Actor(admin.id, "token"),
            "dataset.update",
            subject="jeu-modifie",
            organisation_id=org.id,
        )
        audit.record(
            session,
            audit.Actor(admin.id, "session"),
            "member.remove",
            subject="parti@exemple.nc",
            organisation_id=org.id,
        )
        session.add(
            AuditEvent(
                at=datetime(2026, 11, 25, 23, 30, tzinfo=UTC),
                action="dataset.publish",
                actor_id=None,
                via="cli",
                organisation_id=org.id,
                subject="ancien-jeu",
                details={},
            )
        )
    english(client)
    assert sign_in(client, ADMIN).status_code == 303
    page = client.get(f"/organisations/{ORG}/journal")
    assert page.status_code == 200 and html_lang(page.text) == "en"
    text = page.text
    assert "<h1>Organisation audit log</h1>" in text
    assert "Who created, changed, published or deleted what, and when (Nouméa time)." in text
    assert 'titre">3 events</caption>' in text
    assert '<th scope="col">When</th>' in text
    assert "changed the dataset “jeu-modifie”" in text
    assert "removed from the organisation: “deleted account”" in text
    assert "published the dataset “ancien-jeu”" in text
    assert "<td>command line</td>" in text and "<td>API</td>" in text
    assert "<td>portal</td>" in text
    assert ">26 Nov 2026 10:30</time>" in text  # 23:30 UTC is 10:30 the next day in Nouméa
    assert "a publié" not in text and "ligne de commande" not in text

    french = client.get(f"/organisations/{ORG}/journal?lang=fr").text
    assert html_lang(french) == "fr"
    assert "a publié le jeu de données « ancien-jeu »" in french
    assert 'titre">3 événements</caption>' in french
    assert ">26/11/2026 10:30</time>" in french and "<td>ligne de commande</td>" in french


def test_domain_messages_are_french_outside_a_request_english_when_asked():
    with pytest.raises(passwords.PasswordError, match="au moins 10 caractères"):
        passwords.check_strength("court")
    set_language("en")
    try:
        with pytest.raises(passwords.PasswordError, match="at least 10 characters"):
            passwords.check_strength("court")
    finally:
        set_language("fr")
    with pytest.raises(users.AccountError, match="adresse électronique invalide"):
        users.normalise_email("pas une adresse")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_english_account_pages_are_valid_html5(site, tmp_path):
    from tests.portal_support import validate_html5

    client = site
    english(client)
    pages = {url: client.get(url).text for url in ("/connexion", "/inscription")}
    pages["sign-in error"] = sign_in(client, ADMIN, "pas le bon mot de passe").text
    assert sign_in(client, ADMIN).status_code == 303
    token = csrf_of(client.get("/compte").text)
    pages["account with token"] = client.post(
        "/compte/jetons", data={"csrf": token, "name": "QGIS", "scope": "read"}
    ).text
    pages["members"] = client.get(f"/organisations/{ORG}/membres").text
    pages["journal"] = client.get(f"/organisations/{ORG}/journal").text
    assert all(html_lang(text) == "en" for text in pages.values())
    messages = validate_html5(pages, tmp_path)
    assert messages == [], "\n".join(messages)
