"""Shared setup for the writing API tests: the accounts matrix, write tokens, snapshots.

`api_site` starts a live `niaouli serve` over `build_matrix` (organisations A and B, a
dataset of A at each access level, one account per kind of viewer) and gives each
account a `write` token besides its `read` one. `snapshot` reads everything a mutation
could change, so a refused request can be shown to have changed nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from niaouli.accounts import tokens, users
from tests.accounts_support import VIEWERS, LoggedServer, Matrix, build_matrix, email_of
from tests.conftest import Backend

ROLES = (*VIEWERS, "read_token")  # read_token: the editor of A with a `read` token
TABLES = (
    "organisations",
    "datasets",
    "resources",
    "layers",
    "code_projects",
    "reuses",
    "events",
    "reuse_datasets",
    "event_datasets",
    "code_project_datasets",
    "campaigns",
    "calls",
    "call_applications",
    "call_application_members",
    "call_scores",
    "audit_events",
)


@dataclass
class ApiSite:
    url: str
    backend: Backend
    matrix: Matrix
    write_tokens: dict[str, str]
    server: LoggedServer

    @contextmanager
    def client(self, role: str) -> Iterator[httpx.Client]:
        headers = {}
        if role == "read_token":
            headers["Authorization"] = f"Bearer {self.matrix.tokens['editor_a']}"
        elif role != "anonymous":
            headers["Authorization"] = f"Bearer {self.write_tokens[role]}"
        with httpx.Client(base_url=self.url, headers=headers, timeout=120) as http:
            yield http


def write_tokens(backend: Backend) -> dict[str, str]:
    secrets = {}
    with backend.session() as session, session.begin():
        for viewer in VIEWERS[1:]:
            user = users.find_user(session, email_of(viewer))
            _token, secrets[viewer] = tokens.create_token(session, user, "écriture", "write")
    return secrets


@contextmanager
def start_api_site(backend: Backend, tmp_path: Path) -> Iterator[ApiSite]:
    matrix = build_matrix(backend, tmp_path)
    secrets = write_tokens(backend)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        yield ApiSite(server.url, backend, matrix, secrets, server)


def snapshot(backend: Backend) -> str:
    """A digest of every catalogue row a write could touch, the stored files and layers."""
    parts = []
    with backend.engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()  # noqa: S608
            parts.append(json.dumps([list(map(str, r)) for r in rows]))
        parts.append(str(conn.execute(text("SELECT version FROM catalogue_state")).all()))
    files = backend.settings.files_dir
    if files.is_dir():
        parts.append(json.dumps(sorted(str(p.relative_to(files)) for p in files.rglob("*"))))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def geojson(points: list[tuple[float, float]], **extra: object) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [x, y]},
                    "properties": {"nom": f"ajout {i}", **extra},
                }
                for i, (x, y) in enumerate(points)
            ],
        }
    ).encode()
