"""The organisation's journal (`/organisations/{slug}/journal`) through a real server.

Every kind of viewer asks for organisation A's journal: only A's admins and platform
admins get it (everyone else a 404, as if it did not exist); it lists A's events only,
newest first, in Nouméa time, paged; names people by display name, and shows e-mail
addresses to platform admins only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from niaouli.accounts import audit, users
from niaouli.accounts.account_tables import AuditEvent
from niaouli.catalogue import service
from tests.accounts_support import (
    ORG_A,
    ORG_B,
    VIEWERS,
    LoggedServer,
    build_matrix,
    csrf_of,
    email_of,
    sign_in,
)

ALLOWED = {"admin_a", "platform_admin"}


def _record_events(backend) -> None:  # noqa: ANN001
    with backend.session() as session, session.begin():
        org_a = service.get_organisation(session, ORG_A)
        org_b = service.get_organisation(session, ORG_B)
        editor = users.get_user(session, email_of("editor_a"))
        actor = audit.Actor(editor.id, "token")
        for n in range(24):
            audit.record(
                session, actor, "dataset.update", subject=f"jeu-{n:02d}", organisation_id=org_a.id
            )
        audit.record(
            session, actor, "dataset.delete", subject="secret-de-b", organisation_id=org_b.id
        )
        session.add(
            AuditEvent(
                at=datetime(2026, 11, 25, 23, 30, tzinfo=UTC),
                action="dataset.publish",
                actor_id=editor.id,
                via="session",
                organisation_id=org_a.id,
                subject="ancien-jeu",
                details={},
            )
        )


def test_journal_for_organisation_admins_only(backend, tmp_path):
    matrix = build_matrix(backend, tmp_path)
    _record_events(backend)
    with LoggedServer(backend, tmp_path / "server.log") as server:
        # A membership change made through the portal is in the journal too.
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            assert sign_in(http, email_of("admin_a")).status_code == 200
            page = http.get(f"/organisations/{ORG_A}/membres")
            added = http.post(
                f"/organisations/{ORG_A}/membres",
                data={"csrf": csrf_of(page.text), "email": email_of("user"), "role": "member"},
            )
            assert added.status_code == 200

        for viewer in VIEWERS:
            with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
                if viewer != "anonymous":
                    assert sign_in(http, email_of(viewer)).status_code == 200
                first = http.get(f"/organisations/{ORG_A}/journal")
                if viewer not in ALLOWED:
                    assert first.status_code == 404, viewer
                    assert "jeu-23" not in first.text
                    continue
                assert first.status_code == 200, viewer
                second = http.get(f"/organisations/{ORG_A}/journal", params={"page": "2"})
                text = first.text + second.text
                # 24 updates + 1 publication + 1 membership: 26 events, 20 a page.
                assert "26 événements" in first.text
                assert first.text.count("a modifié le jeu de données") == 19
                # Newest first: the membership change, then the updates; the old one last.
                assert first.text.index("a ajouté ou changé le rôle de") < first.text.index(
                    "« jeu-23 »"
                )
                assert "« ancien-jeu »" in second.text and "« ancien-jeu »" not in first.text
                assert "26/11/2026 10:30" in second.text  # 23:30 UTC is 10:30 in Nouméa
                assert "Nom editor_a" in text and "Nom admin_a" in text
                assert "« Nom user" in text  # the member added, by name
                assert "secret-de-b" not in text  # organisation B's events stay there
                assert ("@exemple.nc" in text) is (viewer == "platform_admin"), viewer
                assert first.headers["cache-control"] == "private, no-store"

        # API tokens: an admin's read token opens it, a member's does not; a bad one is 401.
        for viewer, status in (("admin_a", 200), ("member_a", 404), ("member_b", 404)):
            answer = httpx.get(
                f"{server.url}/organisations/{ORG_A}/journal",
                headers={"Authorization": f"Bearer {matrix.tokens[viewer]}"},
                timeout=60,
            )
            assert answer.status_code == status, viewer
        assert (
            httpx.get(
                f"{server.url}/organisations/{ORG_B}/journal",
                headers={"Authorization": f"Bearer {matrix.tokens['admin_a']}"},
                timeout=60,
            ).status_code
            == 404
        )
        assert httpx.get(f"{server.url}/organisations/inconnue/journal").status_code == 404
