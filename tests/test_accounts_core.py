"""Accounts without a server, on both backends: hashes, tokens, the access rule, the
throttle shared between workers, reset links, and the command line."""

from __future__ import annotations

import base64
from datetime import timedelta

import argon2
import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from niaouli.accounts import passwords, ratelimit, resets, tokens, users
from niaouli.accounts.account_tables import ApiToken, PasswordReset, User
from niaouli.accounts.resolve import Unauthorized, resolve, viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, can_see
from niaouli.catalogue.models import Dataset, utcnow
from niaouli.db.engine import make_engine
from niaouli.settings import get_settings
from tests.accounts_support import (
    LEVELS,
    PASSWORD,
    SEES,
    VIEWERS,
    audit_actions,
    build_matrix,
    email_of,
    slug_of,
)


def test_passwords_are_argon2id_and_verify():
    stored = passwords.hash_password("un mot de passe long")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "un mot de passe long")
    assert not passwords.verify_password(stored, "un mot de passe lonG")
    assert not passwords.verify_password(None, "un mot de passe long")
    assert not passwords.verify_password("pas un hash", "x")
    with pytest.raises(passwords.PasswordError):
        passwords.hash_password("court")


def test_passwords_have_the_real_cost_unless_the_tests_exact_value(monkeypatch):
    """The tests hash at Argon2id's smallest cost (tests/conftest.py sets the one value
    that does it); any other value, or none, is the real cost (argon2-cffi's defaults,
    RFC 9106 low-memory), and a sign-in re-hashes a cheaper hash (`needs_rehash`)."""
    cheap = passwords.hash_password("un mot de passe long")
    assert argon2.extract_parameters(cheap).memory_cost < RFC_9106_LOW_MEMORY.memory_cost
    assert not passwords.needs_rehash(cheap)
    for value in ("1", "true", "oui", "insecure-fast "):
        monkeypatch.setenv("NIAOULI_TEST_PASSWORD_HASHING", value)
        assert not get_settings().test_password_hashing, value
    monkeypatch.delenv("NIAOULI_TEST_PASSWORD_HASHING")
    assert passwords.needs_rehash(cheap)
    assert passwords.verify_password(cheap, "un mot de passe long")  # still signs in
    strong = passwords.hash_password("un mot de passe long")
    assert strong.startswith("$argon2id$") and not passwords.needs_rehash(strong)
    parameters = argon2.extract_parameters(strong)
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    assert passwords.verify_password(strong, "un mot de passe long")
    assert not passwords.verify_password(None, "un mot de passe long")  # the dummy's cost


def _viewers(session: Session) -> dict[str, object]:
    result = {"anonymous": ANONYMOUS}
    for name in VIEWERS[1:]:
        result[name] = viewer_for_user(session, users.get_user(session, email_of(name)))
    return result


def test_access_rule_matrix_in_sql_and_in_python(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with backend.session() as session:
        viewers = _viewers(session)
        for name, viewer in viewers.items():
            listed = {d.slug for d in service.list_datasets(session, viewer)}
            for level in LEVELS:
                dataset = session.scalar(select(Dataset).where(Dataset.slug == slug_of(level)))
                expected = name in SEES[level]
                assert (slug_of(level) in listed) is expected, (name, level)
                assert can_see(viewer, dataset) is expected, (name, level)
            expected_count = sum(name in SEES[level] for level in LEVELS)
            assert service.count_datasets(session, viewer) == expected_count, name
            layers = {layer.dataset.slug for layer in service.list_layers(session, viewer)}
            assert layers == {slug_of(lv) for lv in LEVELS if name in SEES[lv]}, name


def test_tokens_hashed_scoped_revocable_bearer_and_basic(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with backend.session() as session, session.begin():
        alice = users.get_user(session, email_of("editor_a"))
        _read, read_secret = tokens.create_token(session, alice, "QGIS", "read")
        write_token, write_secret = tokens.create_token(session, alice, "script", "write")
        write_id = write_token.id
    # Stored hashed: the secret appears nowhere in the table.
    with backend.engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.execute(text("SELECT * FROM api_tokens")) for v in row
        )
    assert read_secret not in dump and write_secret not in dump
    assert read_secret[12:] not in dump and read_secret[:12] in dump  # only the prefix is

    key = "k" * 40
    identity = resolve(backend.engine, key, f"Bearer {read_secret}", None)
    assert identity.via == "token" and identity.scope == "read"
    assert identity.viewer.read_only and not identity.viewer.may_write
    assert identity.viewer.member_of  # the editor's organisation came with it
    basic = base64.b64encode(f"{email_of('editor_a')}:{write_secret}".encode()).decode()
    identity = resolve(backend.engine, key, f"Basic {basic}", None)
    assert identity.scope == "write" and identity.viewer.may_write
    any_name = base64.b64encode(f"qgis:{write_secret}".encode()).decode()
    assert resolve(backend.engine, key, f"Basic {any_name}", None).user_id == identity.user_id
    with backend.session() as session:
        last_used = session.get(ApiToken, write_id).last_used_at
    assert last_used is not None

    for bad in (
        "Bearer nia_nope-nope-nope-nope-nope",
        "Bearer " + write_secret[:-1],
        "Basic " + base64.b64encode(f"{email_of('editor_a')}:{PASSWORD}".encode()).decode(),
        "Basic !!!",
        "Digest abc",
    ):
        with pytest.raises(Unauthorized):
            resolve(backend.engine, key, bad, None)

    with backend.session() as session, session.begin():
        alice = users.get_user(session, email_of("editor_a"))
        tokens.revoke_token(session, alice, write_id)
    with pytest.raises(Unauthorized):
        resolve(backend.engine, key, f"Bearer {write_secret}", None)
    # A disabled account's tokens stop working too.
    with backend.session() as session, session.begin():
        users.set_active(session, email_of("editor_a"), False)
    with pytest.raises(Unauthorized):
        resolve(backend.engine, key, f"Bearer {read_secret}", None)


def test_throttle_is_shared_between_workers(backend):
    """Two engines stand for two server workers: failures seen by one block the other."""
    other = make_engine(backend.settings)
    try:
        keys = ratelimit.keys_for("clé", "victime@exemple.nc", "192.0.2.7")
        for attempt in range(ratelimit.LIMITS["pair"]):
            engine = backend.engine if attempt % 2 else other
            with Session(engine) as session, session.begin():
                assert not ratelimit.is_blocked(session, keys)
                ratelimit.record_failure(session, keys)
        for engine in (backend.engine, other):
            with Session(engine) as session:
                assert ratelimit.is_blocked(session, keys)
        # Another address is not blocked by this pair (only its own counts).
        elsewhere = ratelimit.keys_for("clé", "victime@exemple.nc", "192.0.2.8")
        with Session(other) as session:
            assert not ratelimit.is_blocked(session, elsewhere)
        # No raw e-mail or address is stored.
        with backend.engine.connect() as conn:
            stored = " ".join(r[0] for r in conn.execute(text("SELECT key FROM login_failures")))
        assert "victime" not in stored and "192.0.2" not in stored
    finally:
        other.dispose()


def test_reset_link_works_once_and_expires(backend, caplog):
    with backend.session() as session, session.begin():
        users.create_user(session, "reset@exemple.nc", "Réinitialisation", PASSWORD)
    caplog.set_level("INFO", logger="niaouli.accounts")
    with backend.session() as session, session.begin():
        assert resets.request_reset(session, "inconnu@exemple.nc", "http://x") is None
        link = resets.request_reset(session, "Reset@Exemple.nc", "http://site.nc")
    assert link is not None and link.startswith("http://site.nc/reinitialiser/")
    assert link in caplog.text
    secret = link.rsplit("/", 1)[1]
    with backend.engine.connect() as conn:
        stored = " ".join(
            r[0] for r in conn.execute(text("SELECT token_hash FROM password_resets"))
        )
    assert secret not in stored

    with backend.session() as session, session.begin():
        resets.complete_reset(session, secret, "nouveau mot de passe")
    with backend.session() as session, session.begin():
        with pytest.raises(users.AccountError):
            resets.complete_reset(session, secret, "encore un autre")
        assert users.authenticate(session, "reset@exemple.nc", "nouveau mot de passe")
        assert users.authenticate(session, "reset@exemple.nc", PASSWORD) is None

    with backend.session() as session, session.begin():
        link = resets.request_reset(session, "reset@exemple.nc", "http://site.nc")
        session.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    with backend.session() as session, session.begin(), pytest.raises(users.AccountError):
        resets.complete_reset(session, link.rsplit("/", 1)[1], "troisième mot de passe")


def test_command_line(backend, org):
    result = backend.run(
        "user", "create", "cli@exemple.nc", "--name", "Cli", "--password-stdin", check=False
    )
    assert result.returncode == 1  # empty password refused
    create = ["user", "create", "cli@exemple.nc", "--name", "Ana Cli", "--password-stdin"]
    import subprocess

    from tests.conftest import NIAOULI

    done = subprocess.run(
        [str(NIAOULI), *create],
        input="un mot de passe solide\n",
        env=backend.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        [str(NIAOULI), *create],
        input="un mot de passe solide\n",
        env=backend.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "existe déjà" in again.stderr
    backend.run("org", "member", "add", org, "cli@exemple.nc", "--role", "editor")
    assert "cli@exemple.nc\teditor\tAna Cli" in backend.run("org", "member", "list", org).stdout
    assert (
        "inconnu"
        in backend.run("org", "member", "add", "nulle-part", "cli@exemple.nc", check=False).stderr
    )
    secret = backend.run(
        "user", "token", "create", "cli@exemple.nc", "--name", "QGIS", "--scope", "read"
    ).stdout.strip()
    assert secret.startswith("nia_")
    identity = resolve(backend.engine, "k" * 40, f"Bearer {secret}", None)
    assert identity.viewer.member_of and identity.viewer.read_only
    backend.run("user", "promote", "cli@exemple.nc")
    listing = backend.run("user", "list").stdout
    assert "cli@exemple.nc\tAna Cli\tadmin\tgouvernement-nc:editor" in listing
    backend.run("user", "token", "revoke", "cli@exemple.nc", secret[:12])
    with pytest.raises(Unauthorized):
        resolve(backend.engine, "k" * 40, f"Bearer {secret}", None)
    with backend.session() as session:
        user = session.scalar(select(User).where(User.email == "cli@exemple.nc"))
        assert user.is_platform_admin and user.password_hash.startswith("$argon2id$")
    actions = [line.split("\t")[1] for line in backend.run("audit", "list").stdout.splitlines()]
    assert actions == ["token.revoke", "user.promote", "token.create", "member.set", "user.create"]
    assert "gouvernement-nc" in backend.run("audit", "list", "--org", org).stdout


def test_only_editors_of_the_organisation_publish(backend, tmp_path):
    """S25 at the service layer: publishing a draft x every viewer, and read-only tokens."""
    from niaouli.catalogue import permissions
    from niaouli.catalogue.permissions import Action
    from niaouli.catalogue.publication import ForbiddenError, publish, unpublish

    build_matrix(backend, tmp_path)
    allowed = {"editor_a", "admin_a", "platform_admin"}
    with backend.session() as session:
        viewers = _viewers(session)
    for name, viewer in viewers.items():
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, slug_of("draft"))
            assert permissions.allowed(viewer, Action.DATASET_EDIT, dataset) is (name in allowed), (
                name
            )
            admins = {"admin_a", "platform_admin"}
            assert permissions.allowed(viewer, Action.MEMBERS_MANAGE, dataset) is (name in admins)
            if name not in allowed:
                with pytest.raises(ForbiddenError):
                    publish(session, dataset, viewer)
                continue
            publish(session, dataset, viewer, "organisation")
            assert dataset.published_by_id == viewer.user_id
            assert dataset.published_at is not None
            unpublish(session, dataset, viewer)
    # The same editor through a read-only token may not write.
    with backend.session() as session, session.begin():
        editor = users.get_user(session, email_of("editor_a"))
        read_only = viewer_for_user(session, editor, read_only=True)
        dataset = service.find_dataset(session, slug_of("draft"))
        assert not permissions.allowed(read_only, Action.DATASET_EDIT, dataset)
        with pytest.raises(ForbiddenError):
            publish(session, dataset, read_only)
    with backend.session() as session:
        assert service.find_dataset(session, slug_of("draft")).access_level.value == "draft"
    published = [a for a in audit_actions(backend) if a[0].startswith("dataset.")]
    assert published == [
        (action, email_of(name), slug_of("draft"))
        for name in ("editor_a", "admin_a", "platform_admin")
        for action in ("dataset.publish", "dataset.unpublish")
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_account_pages_are_valid_html5(backend, monkeypatch, tmp_path):
    import re as regex

    from starlette.testclient import TestClient

    from niaouli.web import create_app
    from tests.portal_support import validate_html5

    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    build_matrix(backend, tmp_path)
    client = TestClient(create_app())
    pages = {}
    for url in ("/connexion", "/inscription", "/mot-de-passe-oublie", "/reinitialiser/x"):
        pages[url] = client.get(url).text
    token = regex.search(r'name="csrf" value="([^"]+)"', pages["/connexion"]).group(1)
    failed = client.post("/connexion", data={"csrf": token, "email": "x@y.nc", "password": "z"})
    assert failed.status_code == 400
    pages["connexion en erreur"] = failed.text
    client.post(
        "/connexion", data={"csrf": token, "email": email_of("admin_a"), "password": PASSWORD}
    )
    made = client.post("/compte/jetons", data={"csrf": token, "name": "QGIS", "scope": "read"})
    assert made.status_code == 200 and "nia_" in made.text
    pages["compte avec jeton"] = made.text
    pages["accueil connecté"] = client.get("/").text
    pages["membres"] = client.get("/organisations/province-sud/membres").text
    assert email_of("member_a") in pages["membres"]
    assert "Nom admin_a" in pages["accueil connecté"]
    messages = validate_html5(pages, tmp_path)
    assert messages == [], "\n".join(messages)


def test_change_password_ends_the_other_sessions(backend, monkeypatch, tmp_path):
    import re as regex

    from starlette.testclient import TestClient

    from niaouli.web import create_app

    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    with backend.session() as session, session.begin():
        users.create_user(session, "pw@exemple.nc", "Changement", PASSWORD)
    app = create_app()
    here, elsewhere = TestClient(app), TestClient(app)

    def sign_in(client, password=PASSWORD):  # noqa: ANN001, ANN202
        token = regex.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text)[1]
        data = {"csrf": token, "email": "pw@exemple.nc", "password": password}
        return client.post("/connexion", data=data, follow_redirects=False)

    assert sign_in(here).status_code == sign_in(elsewhere).status_code == 303
    token = regex.search(r'name="csrf" value="([^"]+)"', here.get("/compte").text)[1]
    new = "mon nouveau mot de passe"

    def change(current: str, password: str, confirmation: str | None = None):  # noqa: ANN202
        data = {
            "csrf": token,
            "current_password": current,
            "password": password,
            "password_confirmation": password if confirmation is None else confirmation,
        }
        return here.post("/compte/mot-de-passe", data=data, follow_redirects=False)

    assert "incorrect" in change("pas le bon", new).text
    assert "identiques" in change(PASSWORD, new, "autre chose encore").text
    assert "10 caractères" in change(PASSWORD, "court").text
    assert here.post("/compte/mot-de-passe", data={"current_password": PASSWORD}).status_code == 403
    done = change(PASSWORD, new)
    assert done.status_code == 303
    assert "Mot de passe changé" in here.get(done.headers["location"]).text
    assert here.get("/compte", follow_redirects=False).status_code == 200  # still signed in
    assert elsewhere.get("/compte", follow_redirects=False).status_code == 303  # ended
    assert sign_in(elsewhere, PASSWORD).status_code == 400
    assert sign_in(elsewhere, new).status_code == 303
    assert ("auth.password_changed", "pw@exemple.nc", "") in audit_actions(backend)
