"""Shared setup for the accounts tests: a server whose log we can read, and the matrix.

The matrix: organisation A owns one dataset at each access level (each with a layer, so
it has downloads and an OGC collection); organisation B owns nothing restricted. The
viewers: anonymous, a signed-in user without organisation, a member of B, a member,
an editor and an admin of A, and a platform admin.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from niaouli.ingest import ingest_file
from tests.conftest import Backend
from tests.portal_support import LiveServer

PASSWORD = "mot-de-passe-de-test"
ORG_A, ORG_B = "province-sud", "province-iles"
LEVELS = ("public", "registered", "organisation", "draft")
VIEWERS = ("anonymous", "user", "member_b", "member_a", "editor_a", "admin_a", "platform_admin")
# Which viewers see a dataset of organisation A at each access level.
SEES = {
    "public": set(VIEWERS),
    "registered": set(VIEWERS) - {"anonymous"},
    "organisation": {"member_a", "editor_a", "admin_a", "platform_admin"},
    "draft": {"editor_a", "admin_a", "platform_admin"},
}
ROLES = {
    "member_b": (ORG_B, "editor"),  # even an editor of B sees nothing restricted of A
    "member_a": (ORG_A, "member"),
    "editor_a": (ORG_A, "editor"),
    "admin_a": (ORG_A, "admin"),
}


def email_of(viewer: str) -> str:
    return f"{viewer.replace('_', '-')}@exemple.nc"


def slug_of(level: str) -> str:
    return f"matrice-{level}"


@dataclass
class Matrix:
    collections: dict[str, str]  # level -> OGC collection id
    layers: dict[str, str]  # level -> layer name
    tokens: dict[str, str]  # viewer -> read token secret


def build_matrix(backend: Backend, tmp: Path) -> Matrix:
    points = tmp / "points.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]},
                        "properties": {"nom": f"point {i}"},
                    }
                    for i in range(7)
                ],
            }
        ),
        encoding="utf-8",
    )
    with backend.session() as session, session.begin():
        # The demo (loaded by some callers' servers) already has the Province Sud.
        for slug, name in ((ORG_A, "Province Sud"), (ORG_B, "Province des Îles")):
            try:
                service.get_organisation(session, slug)
            except service.NotFoundError:
                service.create_organisation(session, slug, name, "province")
    collections, layers = {}, {}
    for level in LEVELS:
        report = ingest_file(
            points,
            organisation=ORG_A,
            dataset=slug_of(level),
            title=f"Matrice {level} zorglub",
            access_level=level,
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
        collections[level] = report.layers[0].collection_id
    secrets: dict[str, str] = {}
    with backend.session() as session, session.begin():
        for level in LEVELS:
            dataset = service.find_dataset(session, slug_of(level))
            layers[level] = dataset.layers[0].name
        for viewer in VIEWERS[1:]:
            user = users.create_user(
                session,
                email_of(viewer),
                f"Nom {viewer}",
                PASSWORD,
                is_platform_admin=viewer == "platform_admin",
            )
            if viewer in ROLES:
                org_slug, role = ROLES[viewer]
                org = service.get_organisation(session, org_slug)
                users.set_membership(session, org, user, role)
            _token, secrets[viewer] = tokens.create_token(session, user, "tests", "read")
    return Matrix(collections=collections, layers=layers, tokens=secrets)


class LoggedServer(LiveServer):
    """A live server whose log the test reads, without the environment's public URL and
    secret key (the tests choose their own through `extra_env`)."""

    def __init__(
        self, backend: Backend, log_path: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        super().__init__(backend, log_path, extra_env)

    def env(self) -> dict[str, str]:
        env = self.backend.env()
        env.pop("NIAOULI_PUBLIC_URL", None)
        env.pop("NIAOULI_SECRET_KEY", None)
        env.update(self.extra_env)
        return env


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "form without CSRF token"
    return match.group(1)


def sign_in(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(http.get("/connexion").text)
    return http.post(
        "/connexion", data={"csrf": token, "email": email, "password": password, "next": "/"}
    )


def audit_actions(backend: Backend) -> list[tuple[str, str | None, str]]:
    """The audit log, oldest first: (action, actor's e-mail, subject)."""
    from sqlalchemy import select

    from niaouli.accounts.account_tables import AuditEvent, User

    with backend.session() as session:
        rows = session.execute(
            select(AuditEvent.action, User.email, AuditEvent.subject)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .order_by(AuditEvent.id)
        ).all()
    return [(action, email, subject) for action, email, subject in rows]
