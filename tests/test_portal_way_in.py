"""How a data manager gets in (issue 15 §1), through a real `niaouli serve`, both backends:
the « Publier des données » entry, 403 pages that say what is refused and how to get the
right, membership requests decided by the organisation's admins, and the e-mail the
platform sends (a real SMTP server on 127.0.0.1: sign-up address check, password reset,
membership decisions), without revealing who has an account.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape

import httpx
import pytest

from niaouli.accounts import users
from niaouli.catalogue import service
from tests.accounts_support import (
    PASSWORD,
    LoggedServer,
    audit_actions,
    build_matrix,
    csrf_of,
    email_of,
    sign_in,
)
from tests.mail_support import body_of, link_in, smtp_server
from tests.portal_support import validate_html5

CSRF_SENTENCE = "Ce formulaire a expiré"
PUBLISH_LINK = 'href="/jeux-de-donnees/nouveau"'


@contextmanager
def _client(server: LoggedServer, viewer: str | None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        if viewer:
            assert sign_in(http, email_of(viewer)).status_code == 303
        yield http


def _role(backend, viewer: str) -> str | None:  # noqa: ANN001
    with backend.session() as session:
        org = service.get_organisation(session, "province-sud")
        for membership in users.list_members(session, org):
            if membership.user.email == email_of(viewer):
                return membership.role.value
    return None


def test_publish_entry_and_refusals_that_explain(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        with _client(server, None) as http:
            home = http.get("/")
            assert PUBLISH_LINK not in home.text
            org = http.get("/organisations/province-sud")
            assert "connectez-vous" in org.text and "/inscription" in org.text
            # A real CSRF failure keeps its sentence.
            refused = http.post("/inscription", data={"email": "x@exemple.nc"})
            assert refused.status_code == 403 and CSRF_SENTENCE in refused.text

        with _client(server, "user") as http:
            assert PUBLISH_LINK not in http.get("/").text
            org = http.get("/organisations/province-sud")
            assert 'href="/organisations/province-sud/rejoindre"' in org.text
            for path in ("/jeux-de-donnees/nouveau", "/evenements/ajouter", "/code/ajouter"):
                page = http.get(path)
                assert page.status_code == 403, path
                assert CSRF_SENTENCE not in page.text, path
                assert "réservé aux éditeurs" in page.text, path
                assert 'href="/organisations"' in page.text, path
            upload = http.get("/jeux-de-donnees/matrice-public/envoyer")
            assert upload.status_code == 403 and CSRF_SENTENCE not in upload.text
            assert "« Province Sud »" in upload.text
            assert 'href="/organisations/province-sud/rejoindre"' in upload.text
            english = http.get("/jeux-de-donnees/nouveau?lang=en")
            assert english.status_code == 403 and "Publishing data is for editors" in english.text

        with _client(server, "member_a") as http:
            members = http.get("/organisations/province-sud/membres")
            assert members.status_code == 403 and CSRF_SENTENCE not in members.text
            assert (
                "Seuls les administrateurs" in members.text and "« Province Sud »" in members.text
            )
            org = http.get("/organisations/province-sud")
            assert (
                "Demander le rôle d'éditeur" in unescape(org.text) and PUBLISH_LINK not in org.text
            )

        with _client(server, "editor_a") as http:
            assert PUBLISH_LINK in http.get("/").text  # in the header, on every page
            assert "Publier des données" in http.get("/organisations/province-sud").text
            assert PUBLISH_LINK in http.get("/compte").text
            assert http.get("/jeux-de-donnees/nouveau").status_code == 200


def test_membership_requests_decided_by_admins_and_mailed(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with (
        smtp_server() as (mailbox, env),
        LoggedServer(backend, tmp_path / "server.log", env) as server,
    ):
        pages: dict[str, str] = {}
        with _client(server, "user") as http:
            form = http.get("/organisations/province-sud/rejoindre")
            assert form.status_code == 200
            pages["rejoindre"] = form.text
            pages["organisation"] = http.get("/organisations/province-sud").text
            pages["refus"] = http.get("/jeux-de-donnees/matrice-public/envoyer").text
            data = {"csrf": csrf_of(form.text), "role": "editor", "message": "Service SIG"}
            asked = http.post("/organisations/province-sud/rejoindre", data=data)
            assert asked.status_code == 303
            again = http.post("/organisations/province-sud/rejoindre", data=data)
            assert again.status_code == 400 and "déjà en attente" in again.text
            account = http.get("/compte")
            assert "en attente" in account.text
            pages["compte"] = account.text
            pages["en attente"] = http.get("/organisations/province-sud/rejoindre").text
        notice = mailbox.wait_for(email_of("admin_a"), "rejoindre Province Sud")
        members_url = link_in(notice, "/organisations/province-sud/membres")
        with _client(server, "member_b") as http:
            form = http.get("/organisations/province-sud/rejoindre")
            data = {"csrf": csrf_of(form.text), "role": "member"}
            assert http.post("/organisations/province-sud/rejoindre", data=data).is_redirect
        assert _role(backend, "user") is None

        # Someone who is not an admin of the organisation cannot decide.
        with _client(server, "editor_a") as http:
            token = csrf_of(http.get("/compte").text)
            ids = _pending_ids(backend)
            tried = http.post(
                f"/organisations/province-sud/membres/demandes/{ids[0]}/accepter",
                data={"csrf": token, "role": "admin"},
            )
            assert tried.status_code == 403 and _role(backend, "user") is None

        with _client(server, "admin_a") as http:
            page = http.get(httpx.URL(members_url).path)
            assert page.status_code == 200 and "Demandes en attente" in page.text
            assert "Service SIG" in page.text and email_of("user") in page.text
            pages["membres"] = page.text
            token = csrf_of(page.text)
            user_id, b_id = ids
            accepted = http.post(
                f"/organisations/province-sud/membres/demandes/{user_id}/accepter",
                data={"csrf": token, "role": "editor"},
            )
            assert accepted.status_code == 303
            refused = http.post(
                f"/organisations/province-sud/membres/demandes/{b_id}/refuser",
                data={"csrf": token},
            )
            assert refused.status_code == 303
            twice = http.post(
                f"/organisations/province-sud/membres/demandes/{b_id}/accepter",
                data={"csrf": token, "role": "admin"},
            )
            assert twice.status_code == 400 and _role(backend, "member_b") is None
        assert _role(backend, "user") == "editor"

        yes = mailbox.wait_for(email_of("user"), "acceptée")
        assert "éditeur" in body_of(yes)
        mailbox.wait_for(email_of("member_b"), "refusée")
        with _client(server, "user") as http:
            account = http.get("/compte")
            assert "demande acceptée" in account.text and PUBLISH_LINK in account.text
        with _client(server, "member_b") as http:
            assert "demande refusée" in http.get("/compte").text

    assert validate_html5(pages, tmp_path) == []
    log = [a for a in audit_actions(backend) if a[0].startswith("member.")]
    assert log == [
        ("member.request", email_of("user"), email_of("user")),
        ("member.request", email_of("member_b"), email_of("member_b")),
        ("member.request_accepted", email_of("admin_a"), email_of("user")),
        ("member.set", email_of("admin_a"), email_of("user")),
        ("member.request_refused", email_of("admin_a"), email_of("member_b")),
    ]


def _pending_ids(backend) -> list[int]:  # noqa: ANN001
    from sqlalchemy import select

    from niaouli.accounts.account_tables import MembershipRequest

    with backend.session() as session:
        return list(
            session.scalars(
                select(MembershipRequest.id)
                .where(MembershipRequest.status == "pending")
                .order_by(MembershipRequest.id)
            )
        )


def _sign_up(http: httpx.Client, address: str) -> httpx.Response:
    page = http.get("/inscription")
    return http.post(
        "/inscription",
        data={
            "csrf": csrf_of(page.text),
            "email": address,
            "name": "Léa Wamytan",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        },
    )


def _comparable(html: str, address: str) -> str:
    return re.sub(r'value="[^"]+"', "", html).replace(address, "ADDRESS")


def test_sign_up_and_reset_by_mail_without_revealing_accounts(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with (
        smtp_server() as (mailbox, env),
        LoggedServer(backend, tmp_path / "server.log", env) as server,
    ):
        new, taken = "lea@exemple.nc", email_of("user")
        with _client(server, None) as http:
            fresh = _sign_up(http, new)
        with _client(server, None) as http:
            existing = _sign_up(http, taken)
        # Same status, same page: only the mailbox knows which address had an account.
        assert fresh.status_code == existing.status_code == 200
        assert "Un message vient d'être envoyé" in unescape(fresh.text)
        assert _comparable(fresh.text, new) == _comparable(existing.text, taken)
        assert "vous avez déjà un compte" in mailbox.wait_for(taken, "déjà un compte")["Subject"]
        with backend.session() as session:
            assert users.find_user(session, taken).display_name == "Nom user"  # unchanged

        # Not before the address is confirmed; then the link signs in, once.
        with _client(server, None) as http:
            early = sign_in(http, new)
            assert early.status_code == 403 and "Confirmez d'abord" in unescape(early.text)
        link = link_in(mailbox.wait_for(new, "confirmez"), "/verifier/")
        with httpx.Client(timeout=60, follow_redirects=True) as http:
            opened = http.get(link)
            assert opened.url.path == "/compte" and "Adresse électronique confirmée" in opened.text
            assert "Léa Wamytan" in opened.text
        with httpx.Client(timeout=60, follow_redirects=True) as http:
            replay = http.get(link)
            assert replay.url.path == "/connexion" and "Léa Wamytan" not in replay.text
        with _client(server, None) as http:
            assert sign_in(http, new).status_code == 303

        # Password reset: the link comes by mail, not in the server log.
        with _client(server, None) as http:
            token = csrf_of(http.get("/mot-de-passe-oublie").text)
            for address in (new, "personne@exemple.nc"):
                sent = http.post("/mot-de-passe-oublie", data={"csrf": token, "email": address})
                assert sent.status_code == 200 and "envoyé par courriel" in sent.text
        reset = link_in(mailbox.wait_for(new, "mot de passe"), "/reinitialiser/")
        assert "/reinitialiser/" not in server.log()
        with httpx.Client(timeout=60, follow_redirects=True) as http:
            form = http.get(reset)
            fresh_password = "un tout nouveau mot de passe"
            done = http.post(
                reset,
                data={
                    "csrf": csrf_of(form.text),
                    "password": fresh_password,
                    "password_confirmation": fresh_password,
                },
            )
            assert done.url.path == "/compte"
        with _client(server, None) as http:
            assert sign_in(http, new, fresh_password).status_code == 303
        assert mailbox.to("personne@exemple.nc") == []

    actions = [a[0] for a in audit_actions(backend) if a[0].startswith("auth.")]
    assert "auth.sign_up" in actions and "auth.sign_up_existing" in actions
    assert "auth.email_verified" in actions


def test_unconfirmed_sign_up_cannot_preempt_an_identity_provider_account(backend):
    """A sign-up that never proved its address (someone else's, say) keeps no password
    once the address's owner arrives through OpenID Connect with a verified address."""
    from niaouli.accounts import oidc, passwords

    with backend.session() as session, session.begin():
        squatter, _ = users.sign_up(session, "lea@exemple.nc", "Pas Léa", PASSWORD, verified=False)
        assert squatter is not None and squatter.email_verified_at is None
        claims = {
            "iss": "https://sso.gouv.nc",
            "sub": "lea-1",
            "email": "lea@exemple.nc",
            "email_verified": True,
        }
        user, how = oidc.user_for_identity(session, claims)
        assert how == "linked" and user.id == squatter.id
        assert user.email_verified_at is not None
        assert not passwords.verify_password(user.password_hash, PASSWORD)
        assert users.authenticate(session, "lea@exemple.nc", PASSWORD) is None


def test_smtp_settings_from_the_environment():
    from niaouli.mail import SmtpSettings, send, smtp_from_env

    assert smtp_from_env({}) is None and send(None, "a@b.nc", "s", "b") is None
    assert smtp_from_env({"NIAOULI_SMTP_HOST": "mail.gouv.nc"}) == SmtpSettings(
        host="mail.gouv.nc", sender="niaouli@mail.gouv.nc"
    )
    plain = smtp_from_env(
        {
            "NIAOULI_SMTP_HOST": "127.0.0.1",
            "NIAOULI_SMTP_PORT": "2525",
            "NIAOULI_SMTP_STARTTLS": "off",
        }
    )
    assert plain is not None and plain.port == 2525 and not plain.starttls
    for bad in ({"NIAOULI_SMTP_PORT": "smtp"}, {"NIAOULI_SMTP_STARTTLS": "peut-être"}):
        with pytest.raises(ValueError):
            smtp_from_env({"NIAOULI_SMTP_HOST": "mail.gouv.nc", **bad})
