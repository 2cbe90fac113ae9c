"""One permission vocabulary (issue 16 §3): `allowed(viewer, action, target)` for every
named action x every kind of viewer x target, written out here as a table independent of
the rules' code; then the interfaces (API, portal, command line) refuse and permit as
`allowed` says, on a real server on both backends; and the command line's ingestion and
deletion write their audit rows (they wrote none before).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from niaouli.accounts import tokens, users
from niaouli.accounts.account_tables import AuditEvent
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.permissions import Action, allowed
from tests.accounts_support import (
    ORG_A,
    ORG_B,
    VIEWERS,
    LoggedServer,
    build_matrix,
    email_of,
    sign_in,
    slug_of,
)

FIXTURES = Path(__file__).parent / "fixtures"
A, B = 1, 2  # organisation ids of the table
ALL = set(VIEWERS)
SIGNED = ALL - {"anonymous"}
MEMBERS = {"member_a", "editor_a", "admin_a", "platform_admin"}
EDITORS = {"editor_a", "admin_a", "platform_admin"}
ADMINS = {"admin_a", "platform_admin"}
PLATFORM = {"platform_admin"}


def _viewers() -> dict[str, Viewer]:
    """The seven kinds of viewer (as in tests/accounts_support.py), without a database."""
    return {
        "anonymous": Viewer(),
        "user": Viewer(user_id=11),
        "member_b": Viewer(user_id=12, member_of={B: "editor"}),  # an editor of another org
        "member_a": Viewer(user_id=13, member_of={A: "member"}),
        "editor_a": Viewer(user_id=14, member_of={A: "editor"}),
        "admin_a": Viewer(user_id=15, member_of={A: "admin"}),
        "platform_admin": Viewer(user_id=16, is_platform_admin=True),
    }


# Targets: organisation A by id, as a row, a row of A; nothing (no organisation).
ORG_ROW = SimpleNamespace(organisation_id=A)
ORPHAN_ROW = SimpleNamespace(organisation_id=None)
OWN_REUSE = SimpleNamespace(organisation_id=None, submitted_by_id=11)  # proposed by "user"
ORG_REUSE = SimpleNamespace(organisation_id=A, submitted_by_id=99)  # of A, by someone else

# action -> [(target, who is allowed)]; every action appears (checked below).
TABLE: dict[Action, list[tuple[object, set[str]]]] = {
    Action.DATASET_CREATE: [(A, EDITORS), (None, PLATFORM)],
    Action.DATASET_EDIT: [(A, EDITORS), (ORG_ROW, EDITORS), (ORPHAN_ROW, PLATFORM)],
    Action.DATASET_PUBLISH: [(ORG_ROW, EDITORS)],
    Action.DATASET_DELETE: [(ORG_ROW, EDITORS)],
    Action.ORGANISATION_CREATE: [(None, PLATFORM)],
    Action.ORGANISATION_EDIT: [(A, ADMINS), (B, PLATFORM)],
    Action.ORGANISATION_MEMBER_VIEW: [(A, MEMBERS), (B, {"member_b", "platform_admin"})],
    Action.MEMBERS_MANAGE: [(A, ADMINS), (None, PLATFORM)],
    Action.JOURNAL_READ: [(A, ADMINS), (B, PLATFORM)],
    Action.HARVEST_READ: [(A, MEMBERS), (None, PLATFORM)],
    Action.HARVEST_RUN: [(A, EDITORS), (B, {"member_b", "platform_admin"})],
    Action.CODE_EDIT: [(ORG_ROW, EDITORS), (A, EDITORS)],
    Action.EVENT_EDIT: [(ORG_ROW, EDITORS), (ORPHAN_ROW, PLATFORM), (None, PLATFORM)],
    Action.REUSE_PROPOSE: [(None, SIGNED)],
    Action.REUSE_EDIT: [(OWN_REUSE, {"user", "platform_admin"}), (ORG_REUSE, EDITORS)],
    Action.REUSE_MODERATE: [(None, PLATFORM), (ORG_REUSE, PLATFORM)],
    Action.CONTACTS_READ: [(None, PLATFORM)],
    Action.CATALOGUE_READ_ALL: [(None, PLATFORM)],
    Action.CAMPAIGN_MANAGE: [(ORG_ROW, EDITORS), (A, EDITORS), (B, {"member_b", "platform_admin"})],
    Action.CAMPAIGN_CONTRIBUTE: [(ORG_ROW, SIGNED), (None, SIGNED)],
    Action.CAMPAIGN_REVIEW: [(ORG_ROW, EDITORS), (A, EDITORS)],
    Action.CAMPAIGN_MERGE: [(ORG_ROW, EDITORS), (A, EDITORS)],
    Action.PARTNER_MANAGE: [(A, PLATFORM), (ORG_ROW, PLATFORM)],
    Action.PARTNER_CONTACTS: [(A, ADMINS), (B, PLATFORM)],
    Action.CALL_APPLY: [(ORG_ROW, SIGNED), (None, SIGNED)],
    Action.CALL_READ: [(ORG_ROW, EDITORS), (ORPHAN_ROW, PLATFORM)],
    Action.CALL_REVIEW: [(ORG_ROW, EDITORS), (ORPHAN_ROW, PLATFORM)],
}
READING = {
    Action.ORGANISATION_MEMBER_VIEW,
    Action.JOURNAL_READ,
    Action.HARVEST_READ,
    Action.CONTACTS_READ,
    Action.CATALOGUE_READ_ALL,
    Action.CALL_READ,
}


def test_the_table_names_every_action():
    assert set(TABLE) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_allowed_for_every_viewer_and_target(action: Action):
    viewers = _viewers()
    for target, expected in TABLE[action]:
        got = {name for name, viewer in viewers.items() if allowed(viewer, action, target)}
        assert got == expected, (action, target)
        assert allowed(viewers["anonymous"], str(action), target) is False  # by its name too
        # Read-only credentials (a `read` token) keep what reads, lose what writes.
        for name, viewer in viewers.items():
            read_only = Viewer(viewer.user_id, viewer.is_platform_admin, viewer.member_of, True)
            want = name in expected and action in READING
            assert allowed(read_only, action, target) is want, (action, target, name)


def test_the_command_line_may_do_everything():
    """The command line acts as `Viewer.system()`: it is refused nothing."""
    system = Viewer.system()
    for action, rows in TABLE.items():
        for target, _expected in rows:
            assert allowed(system, action, target), (action, target)


def test_an_unknown_action_is_an_error():
    with pytest.raises(ValueError):
        allowed(Viewer.system(), "dataset.teleport")


# --- the interfaces follow `allowed` ----------------------------------------------------


@pytest.fixture
def site(backend, tmp_path):
    build_matrix(backend, tmp_path)
    secrets: dict[str, str] = {}
    viewers: dict[str, Viewer] = {"anonymous": Viewer()}
    with backend.session() as session, session.begin():
        for name in VIEWERS[1:]:
            user = users.get_user(session, email_of(name))
            _token, secrets[name] = tokens.create_token(session, user, "écriture", "write")
            viewers[name] = viewer_for_user(session, user)
        org_a = service.get_organisation(session, ORG_A).id
        org_b = service.get_organisation(session, ORG_B).id
    with LoggedServer(backend, tmp_path / "server.log") as server:
        yield SimpleNamespace(
            url=server.url, secrets=secrets, viewers=viewers, org_a=org_a, org_b=org_b
        )


def _api(site, name: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {site.secrets[name]}"} if name in site.secrets else {}
    return httpx.Client(base_url=site.url, headers=headers, timeout=60)


def _portal(site, name: str) -> httpx.Client:
    http = httpx.Client(base_url=site.url, timeout=60, follow_redirects=False)
    if name != "anonymous":
        http.follow_redirects = True
        assert sign_in(http, email_of(name)).status_code == 200
        http.follow_redirects = False
    return http


def _decides(status: int, permitted: set[int], refused: set[int]) -> bool:
    assert status in permitted | refused, status
    return status in permitted


counter = itertools.count()


def test_api_and_portal_refuse_and_permit_as_allowed_says(site):
    """Each action moved behind `allowed`, through every interface that offers it: the
    answer permits exactly when `allowed` does, for each of the seven viewers."""
    api_no, page_no = {401, 403, 404}, {303, 403, 404}
    a, b = site.org_a, site.org_b
    dataset = f"/jeux-de-donnees/{slug_of('public')}"
    org_page = f"/organisations/{ORG_A}"
    event = {"kind": "gathering", "starts_at": "2027-05-01T18:00"}
    for name in VIEWERS:
        viewer = site.viewers[name]
        api, page = _api(site, name), _portal(site, name)  # each closed below
        try:
            checks = [  # (action, targets (any of them), interface, permitted)
                (
                    Action.DATASET_EDIT,
                    [a],
                    "api",
                    _decides(
                        api.patch(
                            f"/api/datasets/{slug_of('public')}", json={"description": "vu"}
                        ).status_code,
                        {200},
                        api_no,
                    ),
                ),
                (
                    Action.DATASET_EDIT,
                    [a],
                    "portal",
                    _decides(page.get(f"{dataset}/modifier").status_code, {200}, page_no),
                ),
                (
                    Action.ORGANISATION_EDIT,
                    [a],
                    "api",
                    _decides(
                        api.patch(
                            f"/api/organisations/{ORG_A}", json={"description": "x"}
                        ).status_code,
                        {200},
                        api_no,
                    ),
                ),
                (
                    Action.MEMBERS_MANAGE,
                    [a],
                    "portal",
                    _decides(page.get(f"{org_page}/membres").status_code, {200}, page_no),
                ),
                (
                    Action.JOURNAL_READ,
                    [a],
                    "portal",
                    _decides(page.get(f"{org_page}/journal").status_code, {200}, page_no),
                ),
                (  # the organisation's quality dashboard (issue 21 §1)
                    Action.DATASET_EDIT,
                    [a],
                    "portal",
                    _decides(page.get(f"{org_page}/qualite").status_code, {200}, page_no),
                ),
                (
                    Action.HARVEST_READ,
                    [a],
                    "portal",
                    _decides(page.get(f"{org_page}/moissonnage").status_code, {200}, page_no),
                ),
                (
                    Action.REUSE_MODERATE,
                    [None],
                    "portal",
                    _decides(page.get("/admin/reutilisations").status_code, {200}, page_no),
                ),
                (
                    Action.CODE_EDIT,
                    [a],
                    "api",
                    _decides(
                        api.post(
                            "/api/code",
                            json={"organisation": ORG_A, "name": f"Outil {next(counter)}"},
                        ).status_code,
                        {201},
                        api_no,
                    ),
                ),
                (  # the form offers every organisation the viewer edits for
                    Action.CODE_EDIT,
                    [a, b],
                    "portal",
                    _decides(page.get("/code/ajouter").status_code, {200}, page_no),
                ),
                (
                    Action.EVENT_EDIT,
                    [None],
                    "api",
                    _decides(
                        api.post(
                            "/api/events", json={"title": f"Rencontre {next(counter)}", **event}
                        ).status_code,
                        {201},
                        api_no,
                    ),
                ),
            ]
        finally:
            api.close()
            page.close()
        for action, targets, interface, permitted in checks:
            expected = any(allowed(viewer, action, target) for target in targets)
            assert permitted is expected, (name, action, interface)


# --- the command line writes its audit rows ----------------------------------------------


def _cli_rows(backend) -> list[tuple[str, str, str, int | None]]:
    with backend.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.subject, AuditEvent.via, AuditEvent.actor_id)
            .where(AuditEvent.via == "cli")
            .order_by(AuditEvent.id)
        ).all()
    return [tuple(row) for row in rows]


def test_cli_ingest_and_delete_write_audit_rows(backend, org, tmp_path):
    source = tmp_path / "communes.gpkg"
    shutil.copy(FIXTURES / "communes.gpkg", source)
    backend.run("ingest", str(source), "--org", org, "--dataset", "communes", "--progress", "none")
    backend.run("ingest", str(source), "--org", org, "--dataset", "communes", "--progress", "none")
    backend.run("dataset", "delete", "communes")
    assert [row[:3] for row in _cli_rows(backend)] == [
        ("dataset.create", "communes", "cli"),
        ("layer.replace", "communes", "cli"),
        ("layer.replace", "communes", "cli"),
        ("dataset.delete", "communes", "cli"),
    ]
    with backend.session() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        org_id = service.get_organisation(session, org).id
    assert all(row.actor_id is None and row.organisation_id == org_id for row in rows)
    layer_rows = [row for row in rows if row.action == "layer.replace"]
    assert layer_rows[0].details["file"] == "communes.gpkg"
    assert layer_rows[0].details["checksum"].startswith("sha256:")
    # The organisation's journal shows them, by the command line.
    assert "communes" in backend.run("audit", "list", "--org", org).stdout


# --- every audit row is written by the core ------------------------------------------------


def test_only_the_core_writes_audit_rows():
    """The adapters (portal, API, services, CLI groups) call core operations that write their
    own audit rows; a handler writing one itself is a rule living twice (issue 16 §3)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    writers = []
    for folder in ("portal", "services", "ingest", "niaouli"):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "audit"
                ):
                    writers.append(str(path.relative_to(root)))
    allowed_folders = (
        "niaouli/catalogue/",
        "niaouli/accounts/",
        "niaouli/privacy/",  # the personal-data guard: a core service
        "niaouli/tableschema/",  # Table Schemas attached and removed: a core service
        "ingest/",
    )
    outside = sorted({w for w in writers if not w.startswith(allowed_folders)})
    assert outside == [], outside
    assert "niaouli/accounts/account_commands.py" not in writers  # the CLI group calls the core too
    assert "niaouli/accounts/selfservice.py" in writers
