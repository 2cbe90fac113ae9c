"""Accounts through a real `niaouli serve` (httpx, GDAL), on both backends.

Sign-up, sign-in, sign-out and reset with CSRF tokens; the sign-in throttle; and the
start of the access matrix: a dataset at each access level x each kind of viewer,
through the portal (list, search, counts, dataset page, downloads, organisation page)
and through /ogc with API tokens (httpx and GDAL's OAPIF driver, Bearer and Basic).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pyogrio
import pytest

from tests.accounts_support import (
    LEVELS,
    PASSWORD,
    SEES,
    VIEWERS,
    LoggedServer,
    audit_actions,
    build_matrix,
    csrf_of,
    email_of,
    sign_in,
    slug_of,
)


@contextmanager
def gdal_options(options: dict[str, str]) -> Iterator[None]:
    """GDAL configuration options for the block only (they are process-wide)."""
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(dict.fromkeys(options))


@pytest.fixture
def server(backend, tmp_path):
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


def test_sign_up_in_out_reset_csrf_and_throttle(server):
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
        page = http.get("/inscription")
        assert page.status_code == 200 and "Se connecter" in page.text
        csrf_cookie = http.cookies.get("niaouli_csrf")
        assert csrf_cookie and "httponly" in page.headers["set-cookie"].lower()
        form = {
            "email": "Lea@Exemple.nc",
            "name": "Léa Wamytan",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        }
        # No token, a wrong token, a token for another cookie: all refused, nothing made.
        assert http.post("/inscription", data=form).status_code == 403
        assert http.post("/inscription", data={**form, "csrf": "0" * 64}).status_code == 403
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as stranger:
            foreign = csrf_of(stranger.get("/inscription").text)
        assert http.post("/inscription", data={**form, "csrf": foreign}).status_code == 403
        assert sign_in(http, "lea@exemple.nc").status_code == 400  # no account was created

        created = http.post("/inscription", data={**form, "csrf": csrf_of(page.text)})
        assert created.status_code == 200 and created.url.path == "/compte"
        cookie_header = created.history[0].headers["set-cookie"]
        assert "niaouli_session=" in cookie_header
        assert "httponly" in cookie_header.lower() and "samesite=lax" in cookie_header.lower()
        assert "Léa Wamytan" in created.text and "lea@exemple.nc" in created.text
        assert "Léa Wamytan" in http.get("/").text  # the header shows the name
        assert http.get("/").headers["cache-control"].startswith("private")

        # Same address again: refused with a French message.
        again = http.post("/inscription", data={**form, "csrf": csrf_of(page.text)})
        assert again.status_code == 400 and "existe déjà" in again.text

        # Sign out needs the token too; then the session is really gone server-side.
        session_cookie = http.cookies.get("niaouli_session")
        assert http.post("/deconnexion").status_code == 403
        out = http.post("/deconnexion", data={"csrf": csrf_of(http.get("/compte").text)})
        assert out.status_code == 200 and "Se connecter" in out.text
        replay = httpx.get(
            server.url + "/compte", cookies={"niaouli_session": session_cookie}, timeout=30
        )
        assert replay.status_code == 303 and replay.headers["location"].startswith("/connexion")

        # Sign in again.
        signed = sign_in(http, "lea@exemple.nc")
        assert signed.status_code == 200 and "Léa Wamytan" in signed.text

    # Reset: the link is in the server log, works once, then the old password is dead.
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
        token = csrf_of(http.get("/mot-de-passe-oublie").text)
        for email in ("lea@exemple.nc", "personne@exemple.nc"):
            answer = http.post("/mot-de-passe-oublie", data={"csrf": token, "email": email})
            assert answer.status_code == 200 and "Si un compte existe" in answer.text
        links = re.findall(r"(http://\S+/reinitialiser/[A-Za-z0-9_-]+)", server.log())
        assert len(links) == 1 and "niaouli.accounts" in server.log()
        path = httpx.URL(links[0]).path
        form = http.get(path)
        assert form.status_code == 200
        new = "un tout nouveau mot de passe"
        done = http.post(
            path, data={"csrf": csrf_of(form.text), "password": new, "password_confirmation": new}
        )
        assert done.status_code == 200 and done.url.path == "/compte"
        assert http.get(path).status_code == 404  # used up
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
        assert sign_in(http, "lea@exemple.nc").status_code == 400
        assert sign_in(http, "lea@exemple.nc", new).url.path == "/"

    # Throttle: 5 failures for an account from this address, then 429 even for the
    # right password; another account from the same address is not locked out.
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
        statuses = [
            sign_in(http, "lea@exemple.nc", "mauvais mot de passe").status_code for _ in range(6)
        ]
        assert statuses == [400] * 5 + [429]
        blocked = sign_in(http, "lea@exemple.nc", new)
        assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text
        assert sign_in(http, "personne@exemple.nc", "x" * 12).status_code == 400

    # Every step is in the audit log, with its actor; nothing for the unknown address.
    log = audit_actions(server.backend)
    lea = "lea@exemple.nc"
    assert [a for a in log if a[1] == lea] == [
        ("auth.sign_up", lea, ""),
        ("auth.sign_out", lea, ""),
        ("auth.sign_in", lea, ""),
        ("auth.reset_requested", lea, ""),
        ("auth.reset_completed", lea, ""),
        ("auth.sign_in", lea, ""),
    ]
    failed = [a for a in log if a[0] == "auth.sign_in_failed"]
    assert ("auth.sign_in_failed", None, "lea@exemple.nc") in failed and len(failed) == 8
    assert [a[0] for a in log].count("auth.sign_in_blocked") == 2


def _portal_view(http: httpx.Client, matrix) -> dict[str, object]:  # noqa: ANN001
    listed = http.get("/jeux-de-donnees").text
    found = http.get("/jeux-de-donnees", params={"q": "zorglub"}).text
    org_page = http.get("/organisations/province-sud").text
    home = http.get("/").text
    view = {"count": int(re.search(r"<strong>(\d+)</strong> jeux? de données", home).group(1))}
    for level in LEVELS:
        slug = slug_of(level)
        export = (
            f"/jeux-de-donnees/{slug}/couches/{matrix.layers[level]}/"
            f"{matrix.collections[level]}.geojson"
        )
        view[level] = {
            "list": f'/jeux-de-donnees/{slug}"' in listed,
            "search": f'/jeux-de-donnees/{slug}"' in found,
            "org": f'/jeux-de-donnees/{slug}"' in org_page,
            "page": http.get(f"/jeux-de-donnees/{slug}").status_code,
            "download": http.get(export).status_code,
        }
    return view


def test_access_matrix_portal_and_ogc(backend, tmp_path, gdal_client):
    matrix = build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        for viewer in VIEWERS:
            with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
                if viewer != "anonymous":
                    assert sign_in(http, email_of(viewer)).status_code == 200, viewer
                view = _portal_view(http, matrix)
                demo = 0  # build_matrix loads no other dataset
                expected_count = demo + sum(viewer in SEES[level] for level in LEVELS)
                assert view["count"] == expected_count, (viewer, view)
                for level in LEVELS:
                    sees = viewer in SEES[level]
                    got = view[level]
                    assert got == {
                        "list": sees,
                        "search": sees,
                        "org": sees,
                        "page": 200 if sees else 404,
                        "download": 200 if sees else 404,
                    }, (viewer, level, got)
                # S24: no listing shows anyone's e-mail address.
                for url in ("/", "/jeux-de-donnees", "/organisations/province-sud"):
                    assert "@exemple.nc" not in http.get(url).text, (viewer, url)

            # /ogc with the viewer's read token as Bearer.
            headers = {}
            if viewer != "anonymous":
                headers = {"Authorization": f"Bearer {matrix.tokens[viewer]}"}
            collections = httpx.get(
                f"{server.url}/ogc/collections", params={"f": "json"}, headers=headers, timeout=60
            )
            assert collections.status_code == 200
            ids = {c["id"] for c in collections.json()["collections"]}
            for level in LEVELS:
                sees = viewer in SEES[level]
                collection = matrix.collections[level]
                assert (collection in ids) is sees, (viewer, level)
                items = httpx.get(
                    f"{server.url}/ogc/collections/{collection}/items",
                    params={"f": "json"},
                    headers=headers,
                    timeout=60,
                )
                assert items.status_code == (200 if sees else 404), (viewer, level)
                if sees:
                    assert items.json()["numberMatched"] == 7

        # GDAL (as QGIS uses it): Basic with the token as password, and Bearer (GDAL >= 3.9;
        # GDAL_HTTP_HEADERS does not reach the OAPIF driver, which sets its own headers).
        layer = f"OAPIF:{server.url}/ogc/collections/{matrix.collections['organisation']}"
        member = matrix.tokens["member_a"]
        with gdal_options(
            {"GDAL_HTTP_AUTH": "BASIC", "GDAL_HTTP_USERPWD": f"{email_of('member_a')}:{member}"}
        ):
            frame = pyogrio.read_dataframe(layer)
        assert len(frame) == 7 and set(frame["nom"]) == {f"point {i}" for i in range(7)}
        draft = f"OAPIF:{server.url}/ogc/collections/{matrix.collections['draft']}"
        editor = matrix.tokens["editor_a"]
        with gdal_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": editor}):
            assert len(pyogrio.read_dataframe(draft)) == 7
        with pytest.raises(Exception):  # noqa: B017 - GDAL's error type varies by version
            pyogrio.read_dataframe(draft)  # anonymous: the draft does not exist
        with gdal_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": member}):  # noqa: SIM117
            with pytest.raises(Exception):  # noqa: B017
                pyogrio.read_dataframe(draft)  # a plain member does not see drafts

        # /csw follows the viewer too (the full matrix is in tests/test_access_matrix_csw.py).
        csw = {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "typenames": "csw:Record",
            "resulttype": "results",
            "elementsetname": "brief",
            "constraintlanguage": "CQL_TEXT",
            "constraint": "csw:AnyText like '%zorglub%'",
        }
        for viewer in ("anonymous", "platform_admin", "editor_a"):
            headers = {}
            if viewer != "anonymous":
                headers = {"Authorization": f"Bearer {matrix.tokens[viewer]}"}
            answer = httpx.get(server.url + "/csw", params=csw, headers=headers, timeout=60)
            assert answer.status_code == 200, (viewer, answer.text[:300])
            expected = sum(viewer in SEES[level] for level in LEVELS)
            assert f'numberOfRecordsMatched="{expected}"' in answer.text, (viewer, answer.text)

        # A bad or revoked token is a 401 with a challenge, never an anonymous answer.
        backend.run("user", "token", "revoke", email_of("member_a"), member[:12])
        for url in (
            "/ogc/collections",
            "/jeux-de-donnees",
            "/csw?service=CSW&request=GetCapabilities",
        ):
            answer = httpx.get(
                server.url + url, headers={"Authorization": f"Bearer {member}"}, timeout=60
            )
            assert answer.status_code == 401, url
            assert "Bearer" in answer.headers["www-authenticate"]
            assert "Basic" in answer.headers["www-authenticate"]
        answer = httpx.get(server.url + "/ogc/collections", auth=("qgis", member), timeout=60)
        assert answer.status_code == 401


def test_only_organisation_admins_manage_members(backend, tmp_path):
    """S25 for the member routes: every viewer tries to add, change and remove members."""
    from niaouli.accounts import users
    from niaouli.catalogue import service

    build_matrix(backend, tmp_path)
    allowed = {"admin_a", "platform_admin"}
    target = email_of("user")

    def role_of_target() -> str | None:
        with backend.session() as session:
            org = service.get_organisation(session, "province-sud")
            for membership in users.list_members(session, org):
                if membership.user.email == target:
                    return membership.role.value
        return None

    with LoggedServer(backend, tmp_path / "server.log") as server:
        for viewer in VIEWERS:
            with httpx.Client(base_url=server.url, timeout=60, follow_redirects=False) as http:
                if viewer != "anonymous":
                    token = csrf_of(http.get("/connexion").text)
                    http.post(
                        "/connexion",
                        data={"csrf": token, "email": email_of(viewer), "password": PASSWORD},
                    )
                page = http.get("/organisations/province-sud/membres")
                token = csrf_of(http.get("/connexion").text)
                added = http.post(
                    "/organisations/province-sud/membres",
                    data={"csrf": token, "email": target, "role": "editor"},
                )
                if viewer == "anonymous":
                    assert page.status_code == added.status_code == 303
                    assert page.headers["location"].startswith("/connexion")
                    assert role_of_target() is None
                elif viewer in allowed:
                    assert page.status_code == 200, viewer
                    assert email_of("admin_a") in page.text  # admins see addresses here
                    assert added.status_code == 303, viewer
                    assert role_of_target() == "editor"
                    with backend.session() as session, session.begin():
                        org = service.get_organisation(session, "province-sud")
                        users.remove_membership(session, org, users.get_user(session, target))
                else:
                    assert page.status_code == added.status_code == 403, viewer
                    assert "@exemple.nc" not in page.text
                    assert role_of_target() is None, viewer

        # A write token is not a session: the forms stay closed to it.
        with backend.session() as session, session.begin():
            from niaouli.accounts import tokens

            admin = users.get_user(session, email_of("admin_a"))
            _row, write_secret = tokens.create_token(session, admin, "script", "write")
        answer = httpx.post(
            server.url + "/organisations/province-sud/membres",
            data={"email": target, "role": "admin"},
            headers={"Authorization": f"Bearer {write_secret}"},
            timeout=60,
        )
        assert answer.status_code in (303, 403) and role_of_target() is None

        # The last admin cannot be removed or demoted.
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            assert sign_in(http, email_of("admin_a")).status_code == 200
            page = http.get("/organisations/province-sud/membres")
            with backend.session() as session:
                admin_id = users.get_user(session, email_of("admin_a")).id
            refused = http.post(
                f"/organisations/province-sud/membres/{admin_id}/retirer",
                data={"csrf": csrf_of(page.text)},
            )
            assert refused.status_code == 400 and "au moins un administrateur" in refused.text
            demoted = http.post(
                "/organisations/province-sud/membres",
                data={"csrf": csrf_of(page.text), "email": email_of("admin_a"), "role": "member"},
            )
            assert demoted.status_code == 400
            assert "gérer les membres" in http.get("/compte").text

    # Only the allowed changes are in the audit log; refusals left nothing.
    changes = [a for a in audit_actions(backend) if a[0].startswith("member.")]
    assert changes == [
        ("member.set", email_of("admin_a"), target),
        ("member.set", email_of("platform_admin"), target),
    ]
