"""OpenID Connect sign-in against a real (small) provider on loopback, on both backends."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from niaouli.accounts import users
from niaouli.accounts.account_tables import User
from tests.accounts_support import PASSWORD, LoggedServer
from tests.oidc_support import FakeProvider


def _user_count(backend) -> int:  # noqa: ANN001
    with backend.session() as session:
        return session.scalar(select(func.count(User.id)))


def test_oidc_sign_in_creates_links_and_refuses(backend, tmp_path):
    with backend.session() as session, session.begin():
        local = users.create_user(session, "local@exemple.nc", "Compte Local", PASSWORD)
        local_id = local.id
    with (
        FakeProvider() as idp,
        LoggedServer(backend, tmp_path / "server.log", extra_env=idp.env()) as server,
    ):

        def sign_in_with(identity: dict) -> httpx.Response:  # noqa: ANN001
            idp.identity = identity
            with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
                page = http.get("/connexion")
                assert "Connexion ADMIN.NC" in page.text
                return http.get("/connexion/oidc/debut", params={"suivant": "/compte"})

        # A new identity with a verified address: a new account, without password.
        first = sign_in_with(
            {
                "sub": "agent-1",
                "email": "Agent@Gouv.nc",
                "email_verified": True,
                "name": "Agent Public",
            }
        )
        assert first.status_code == 200 and first.url.path == "/compte"
        assert "Agent Public" in first.text and "agent@gouv.nc" in first.text
        with backend.session() as session:
            agent = users.get_user(session, "agent@gouv.nc")
            assert agent.oidc_issuer == idp.issuer and agent.oidc_subject == "agent-1"
            assert agent.password_hash is None
            agent_id = agent.id

        # The same subject later, even with another address: the same account.
        again = sign_in_with({"sub": "agent-1", "email": "autre@gouv.nc", "email_verified": True})
        assert again.url.path == "/compte" and "Agent Public" in again.text
        with backend.session() as session:
            assert users.find_user(session, "autre@gouv.nc") is None
            assert session.get(User, agent_id).oidc_subject == "agent-1"

        # A verified address of an existing local account: linked to it, not duplicated.
        linked = sign_in_with(
            {"sub": "agent-2", "email": "local@exemple.nc", "email_verified": True}
        )
        assert linked.url.path == "/compte" and "Compte Local" in linked.text
        with backend.session() as session:
            assert session.get(User, local_id).oidc_subject == "agent-2"
        count = _user_count(backend)

        # No verified address: refused, nothing created.
        unverified = sign_in_with(
            {"sub": "agent-3", "email": "nouveau@gouv.nc", "email_verified": False}
        )
        assert unverified.status_code == 403 and "vérifiée" in unverified.text
        assert "niaouli_session" not in unverified.cookies
        # Another subject claiming an address already linked elsewhere: refused.
        taken = sign_in_with(
            {"sub": "agent-4", "email": "local@exemple.nc", "email_verified": True}
        )
        assert taken.status_code == 403
        assert _user_count(backend) == count

        # A wrong nonce in the ID token (replay): refused.
        idp.tamper_nonce = True
        replayed = sign_in_with(
            {"sub": "agent-1", "email": "agent@gouv.nc", "email_verified": True}
        )
        idp.tamper_nonce = False
        assert replayed.status_code == 400 and "a échoué" in replayed.text
        assert "Agent Public" not in replayed.text

        # A callback that this browser did not start (no state cookie): refused, and the
        # provider is never asked for a token.
        before = idp.token_requests
        forged = httpx.get(
            server.url + "/connexion/oidc/retour", params={"code": "x", "state": "y"}, timeout=30
        )
        assert forged.status_code == 400 and idp.token_requests == before
