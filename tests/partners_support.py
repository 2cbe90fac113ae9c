"""Shared data for the partner and indicator tests: a small catalogue made directly
(no demo ingestion: fast), PDFs, and signed-in clients of the whole site."""

from __future__ import annotations

import zlib

from starlette.testclient import TestClient

from niaouli.accounts import users
from niaouli.catalogue import service
from tests.accounts_support import PASSWORD, csrf_of

ADMIN = "admin@exemple.nc"  # platform admin
NOUMEA_ADMIN = "referent@exemple.nc"  # admin of ville-de-noumea


def pdf(body: bytes = b"", *, streams: tuple[bytes, ...] = ()) -> bytes:
    """A small PDF: one page, `body` in its catalogue, `streams` deflated after it."""
    objects = [
        b"1 0 obj << /Type /Catalog /Pages 2 0 R " + body + b" >> endobj",
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj",
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj",
    ]
    for number, content in enumerate(streams, start=4):
        packed = zlib.compress(content)
        objects.append(
            b"%d 0 obj << /Length %d /Filter /FlateDecode >> stream\n" % (number, len(packed))
            + packed
            + b"\nendstream endobj"
        )
    return b"%PDF-1.7\n" + b"\n".join(objects) + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def small_catalogue(backend, accounts: bool = False) -> None:  # noqa: ANN001 - a Backend
    """Three communes and a province, a public and a private dataset; with `accounts`,
    a platform admin and Nouméa's admin (each password hash costs most of a second)."""
    with backend.session() as session, session.begin():
        noumea = service.create_organisation(
            session, "ville-de-noumea", "Ville de Nouméa", "commune"
        )
        service.create_organisation(session, "commune-de-belep", "Commune de Belep", "commune")
        dumbea = service.create_organisation(
            session, "ville-de-dumbea", "Ville de Dumbéa", "commune"
        )
        service.create_organisation(session, "province-sud", "Province Sud", "province")
        service.create_dataset(session, noumea, "baignade-noumea", "Eaux de baignade")
        service.create_dataset(
            session, dumbea, "dumbea-interne", "Interne de Dumbéa", access_level="organisation"
        )
        if not accounts:
            return
        users.create_user(session, ADMIN, "Admin Plateforme", PASSWORD, is_platform_admin=True)
        referent = users.create_user(session, NOUMEA_ADMIN, "Référente Nouméa", PASSWORD)
        users.set_membership(session, noumea, referent, "admin")


def signed_in(app, email: str) -> TestClient:  # noqa: ANN001 - an ASGI app
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = csrf_of(client.get("/connexion").text)
    data = {"csrf": token, "email": email, "password": PASSWORD, "next": "/"}
    assert client.post("/connexion", data=data).status_code == 303
    return client
