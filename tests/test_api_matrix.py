"""Every mutating API route x every kind of caller: the exact status, and nothing changed
when refused (a digest of every catalogue table, the audit log and the stored files).

Callers: anonymous, a signed-in user, an editor of organisation B, a member, an editor
and an admin of organisation A, a platform admin (all with `write` tokens), and A's
editor with a `read` token. A dataset the caller cannot see answers 404, never 403.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import events, projects, reuses
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.db.engine import writing
from tests.accounts_support import email_of, slug_of
from tests.api_support import ROLES, ApiSite, geojson, snapshot, start_api_site

EDITORS = {"editor_a", "admin_a", "platform_admin"}
SIGNED = {"user", "member_b", "member_a", "editor_a", "admin_a", "platform_admin"}
counter = itertools.count()


def expect(ok: int, refused: dict[str, int] | None = None, allowed=EDITORS) -> dict[str, int]:
    """Status per caller: `ok` for `allowed`, 403 for other writers unless `refused` says."""
    table = {"anonymous": 401, "read_token": 403}
    for role in SIGNED:
        table[role] = ok if role in allowed else 403
    table.update(refused or {})
    return table


HIDDEN_DRAFT = {"user": 404, "member_b": 404, "member_a": 404}  # cannot see a draft
HIDDEN_ORG = {"user": 404, "member_b": 404}  # cannot see an organisation-only dataset


@dataclass
class Route:
    name: str
    method: str
    template: str
    prepare: Callable[[ApiSite], tuple[str, dict[str, Any]]]
    expected: dict[str, int]


def _fresh_dataset(site: ApiSite, level: str) -> str:
    slug = f"cible-{next(counter)}"
    with Session(writing(site.backend.engine)) as session, session.begin():
        org = service.get_organisation(session, "province-sud")
        service.create_dataset(session, org, slug, f"Cible {slug}", access_level=level)
    return slug


def _personal_column(site: ApiSite) -> tuple[str, str, str]:
    """A fresh draft dataset whose layer has an e-mail column the guard finds: its slug,
    layer and column."""
    import tempfile
    from pathlib import Path

    from niaouli.ingest import ingest_file
    from niaouli.privacy import guard

    slug = _fresh_dataset(site, "draft")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contacts.csv"
        rows = [f"Marie W {i},marie.w{i}@gmail.com,166.4{i},-22.2{i}" for i in range(20)]
        path.write_text("\n".join(["nom,courriel,lon,lat", *rows]), encoding="utf-8")
        ingest_file(
            path,
            organisation="province-sud",
            dataset=slug,
            settings=site.backend.settings,
            engine=site.backend.engine,
            progress="none",
        )
    with site.backend.session() as session:
        found = guard.status(session, service.find_dataset(session, slug)).open
        email = next(f for f in found if f.kind == "email")
        return slug, email.layer, email.column


def _with_schema(site: ApiSite) -> str:
    """The public dataset with a Table Schema attached (removing it then changes things)."""
    from niaouli.accounts import audit
    from niaouli.tableschema import reports

    with Session(writing(site.backend.engine)) as session, session.begin():
        dataset = service.find_dataset(session, slug_of("public"))
        reports.attach(
            session,
            Viewer.system(),
            audit.COMMAND_LINE,
            dataset,
            example_name="budget-communal-nc",
        )
        return dataset.slug


def _fresh_link(site: ApiSite) -> tuple[str, int]:
    with Session(writing(site.backend.engine)) as session, session.begin():
        dataset = service.find_dataset(session, slug_of("public"))
        resource = Resource(title="Lien", kind=ResourceKind.LINK, url="https://example.nc/l")
        dataset.resources.append(resource)
        session.flush()
        return dataset.slug, resource.id


def _fresh_version(site: ApiSite) -> tuple[str, int]:
    """A kept version of the public dataset's layers (made by a replace from Python)."""
    import tempfile
    from pathlib import Path

    from niaouli.catalogue import versions
    from niaouli.ingest import ingest_file

    slug = slug_of("public")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"v{next(counter)}.geojson"
        path.write_bytes(geojson([(166.4, -22.2), (166.5, -22.3)], n=next(counter)))
        ingest_file(
            path,
            organisation="province-sud",
            dataset=slug,
            settings=site.backend.settings,
            engine=site.backend.engine,
            progress="none",
            keep_version=True,
        )
    with site.backend.session() as session:
        dataset = service.find_dataset(session, slug)
        return slug, versions.listed(session, dataset.id)[0].id


def _fresh_code(site: ApiSite) -> str:
    with Session(writing(site.backend.engine)) as session, session.begin():
        project = projects.add_code_project(
            session, Viewer.system(), "province-sud", f"Projet {next(counter)}"
        )
        return project.slug


def _fresh_event(site: ApiSite) -> str:
    with Session(writing(site.backend.engine)) as session, session.begin():
        event = events.add_event(
            session,
            Viewer.system(),
            "province-sud",
            f"Atelier {next(counter)}",
            "hackathon",
            "2027-03-01T09:00",
        )
        return event.slug


def _fresh_campaign(site: ApiSite, opened: bool) -> str:
    from niaouli.catalogue.campaigns import campaigns

    with Session(writing(site.backend.engine)) as session, session.begin():
        made = campaigns.create_campaign(
            session,
            Viewer.system(),
            organisation="province-sud",
            title=f"Campagne {next(counter)}",
            dataset=slug_of("public"),
        )
        if opened:
            campaigns.open_campaign(session, Viewer.system(), made)
        return made.slug


def _staged(site: ApiSite, state: str) -> tuple[str, int]:
    """A fresh open campaign with one contribution (of the plain user) in `state`; merges
    started by earlier calls have ended first (inline jobs run in the server)."""
    import time

    from geoalchemy2 import WKTElement
    from sqlalchemy import select

    from niaouli.accounts.account_tables import User
    from niaouli.catalogue.campaigns.campaign_tables import (
        Contribution,
        Merge,
        MergeState,
        Submission,
    )

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with site.backend.session() as session:
            if not session.scalar(select(Merge.id).where(Merge.state == MergeState.RUNNING)):
                break
        time.sleep(0.2)
    slug = _fresh_campaign(site, True)
    with Session(writing(site.backend.engine)) as session, session.begin():
        from niaouli.catalogue.campaigns.campaign_tables import Campaign

        campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
        user = session.scalar(select(User).where(User.email == email_of("user")))
        sub = Submission(
            campaign_id=campaign.id, contributor_id=user.id, display_name="U", source="form"
        )
        session.add(sub)
        session.flush()
        row = Contribution(
            campaign_id=campaign.id,
            uid=f"m{next(counter)}",
            submission_id=sub.id,
            contributor_id=user.id,
            geom=WKTElement("POINT(166.45 -22.27)", srid=4326),
            properties={},
            state=state,
        )
        session.add(row)
        session.flush()
        return slug, row.id


def _fresh_call(
    site: ApiSite, closed: bool = False, applicant: str | None = None
) -> tuple[str, int]:
    """A fresh call for projects of A, open (or past its deadline), and, with
    `applicant`, one application of theirs (its id; else 0)."""
    from datetime import timedelta

    from niaouli.accounts.resolve import viewer_for_user
    from niaouli.catalogue.community import calls
    from niaouli.catalogue.models import utcnow

    with Session(writing(site.backend.engine)) as session, session.begin():
        event = events.add_event(
            session, Viewer.system(), "province-sud", f"Appel {next(counter)}",
            "call_for_projects", "2027-03-01T09:00",
        )  # fmt: skip
        now = utcnow()
        call = calls.configure_call(
            session, Viewer.system(), event, rules="", criteria=["Impact"],
            opens=(now - timedelta(days=2)).isoformat(),
            deadline=(now + timedelta(days=2)).isoformat(),
        )  # fmt: skip
        made = 0
        if applicant is not None:
            user = users.find_user(session, email_of(applicant))
            made = calls.apply(
                session, viewer_for_user(session, user), call, project_name="Projet",
                summary="Un projet qui utilise les données ouvertes du territoire.",
            ).id  # fmt: skip
        if closed:
            call.deadline_at = now - timedelta(minutes=1)
        return event.slug, made


def _fresh_reuse(site: ApiSite) -> str:
    """An approved reuse proposed by the plain signed-in user."""
    with Session(writing(site.backend.engine)) as session, session.begin():
        author = users.find_user(session, email_of("user"))
        reuse = reuses.submit_reuse(
            session,
            Viewer(user_id=author.id),
            f"Carte {next(counter)}",
            "application",
            "https://example.nc/carte",
            dataset_slugs=[slug_of("public")],
            approved=True,
        )
        return reuse.slug


def _json(body: dict[str, Any]) -> dict[str, Any]:
    return {"json": body}


def _upload(name: str, data: bytes) -> dict[str, Any]:
    return {"files": {"file": (name, data)}}


ROUTES = [
    Route(
        "create organisation",
        "POST",
        "/api/organisations",
        lambda s: (
            "/api/organisations",
            _json({"slug": f"org-{next(counter)}", "name": "Commune X", "kind": "commune"}),
        ),
        expect(201, allowed={"platform_admin"}),
    ),
    Route(
        "edit organisation",
        "PATCH",
        "/api/organisations/{slug}",
        lambda s: ("/api/organisations/province-sud", _json({"description": f"{next(counter)}"})),
        expect(200, allowed={"admin_a", "platform_admin"}),
    ),
    Route(
        "create dataset",
        "POST",
        "/api/datasets",
        lambda s: (
            "/api/datasets",
            _json({"organisation": "province-sud", "title": f"Nouveau {next(counter)}"}),
        ),
        expect(201),
    ),
    Route(
        "edit public dataset",
        "PATCH",
        "/api/datasets/{slug}",
        lambda s: (f"/api/datasets/{slug_of('public')}", _json({"lineage": f"{next(counter)}"})),
        expect(200),
    ),
    Route(
        "edit draft dataset",
        "PATCH",
        "/api/datasets/{slug}",
        lambda s: (f"/api/datasets/{slug_of('draft')}", _json({"lineage": f"{next(counter)}"})),
        expect(200, HIDDEN_DRAFT),
    ),
    Route(
        "delete dataset",
        "DELETE",
        "/api/datasets/{slug}",
        lambda s: (f"/api/datasets/{_fresh_dataset(s, 'public')}", {}),
        expect(200),
    ),
    Route(
        "publish draft",
        "POST",
        "/api/datasets/{slug}/publish",
        lambda s: (f"/api/datasets/{_fresh_dataset(s, 'draft')}/publish", _json({})),
        expect(200, HIDDEN_DRAFT),
    ),
    Route(
        "withdraw dataset",
        "POST",
        "/api/datasets/{slug}/unpublish",
        lambda s: (f"/api/datasets/{_fresh_dataset(s, 'organisation')}/unpublish", {}),
        expect(200, HIDDEN_ORG),
    ),
    Route(
        "add link",
        "POST",
        "/api/datasets/{slug}/resources",
        lambda s: (
            f"/api/datasets/{slug_of('registered')}/resources",
            _json({"title": "Doc", "url": "https://example.nc/doc"}),
        ),
        expect(201),
    ),
    Route(
        "add file",
        "POST",
        "/api/datasets/{slug}/resources",
        lambda s: (
            f"/api/datasets/{slug_of('organisation')}/resources",
            _upload("note.txt", f"note {next(counter)}".encode()),
        ),
        expect(201, HIDDEN_ORG),
    ),
    Route(
        "restore version",
        "POST",
        "/api/datasets/{slug}/versions/{version_id}/restore",
        lambda s: ("/api/datasets/{}/versions/{}/restore".format(*_fresh_version(s)), {}),
        expect(200),
    ),
    Route(
        "anonymise a personal column",
        "POST",
        "/api/datasets/{slug}/privacy/anonymise",
        lambda s: (
            lambda slug, layer, column: (
                f"/api/datasets/{slug}/privacy/anonymise",
                _json({"layer": layer, "column": column, "action": "hash"}),
            )
        )(*_personal_column(s)),
        expect(200, HIDDEN_DRAFT),
    ),
    Route(
        "confirm a personal column",
        "POST",
        "/api/datasets/{slug}/privacy/confirm",
        lambda s: (
            lambda slug, layer, column: (
                f"/api/datasets/{slug}/privacy/confirm",
                _json({"layer": layer, "column": column, "reason": "Adresses de service"}),
            )
        )(*_personal_column(s)),
        expect(200, HIDDEN_DRAFT),
    ),
    Route(
        "attach a Table Schema",
        "PUT",
        "/api/datasets/{slug}/schema",
        lambda s: (
            f"/api/datasets/{slug_of('organisation')}/schema",
            _json({"example": "communes-population-nc"}),
        ),
        expect(200, HIDDEN_ORG),
    ),
    Route(
        "remove the Table Schema",
        "DELETE",
        "/api/datasets/{slug}/schema",
        lambda s: (f"/api/datasets/{_with_schema(s)}/schema", {}),
        expect(200),
    ),
    Route(
        "delete resource",
        "DELETE",
        "/api/datasets/{slug}/resources/{resource_id}",
        lambda s: ("/api/datasets/{}/resources/{}".format(*_fresh_link(s)), {}),
        expect(200),
    ),
    Route(
        "replace layer",
        "POST",
        "/api/datasets/{slug}/layers",
        lambda s: (
            f"/api/datasets/{slug_of('draft')}/layers?confirm=true",  # 2 rows instead of 7
            _upload("points.geojson", geojson([(166.4, -22.2), (166.5, -22.3)])),
        ),
        expect(200, HIDDEN_DRAFT),
    ),
    Route(
        "create code project",
        "POST",
        "/api/code",
        lambda s: (
            "/api/code",
            _json({"organisation": "province-sud", "name": f"Outil {next(counter)}"}),
        ),
        expect(201),
    ),
    Route(
        "edit code project",
        "PATCH",
        "/api/code/{slug}",
        lambda s: (f"/api/code/{_fresh_code(s)}", _json({"description": "Changé"})),
        expect(200),
    ),
    Route(
        "propose reuse",
        "POST",
        "/api/reuses",
        lambda s: (
            "/api/reuses",
            _json(
                {
                    "title": f"Appli {next(counter)}",
                    "kind": "application",
                    "url": "https://example.nc/appli",
                    "datasets": [slug_of("public")],
                }
            ),
        ),
        expect(201, allowed=SIGNED),
    ),
    Route(
        "edit reuse",
        "PATCH",
        "/api/reuses/{slug}",
        lambda s: (f"/api/reuses/{_fresh_reuse(s)}", _json({"description": "Changée"})),
        expect(200, allowed={"user", "platform_admin"}),
    ),
    Route(
        "create event",
        "POST",
        "/api/events",
        lambda s: (
            "/api/events",
            _json(
                {
                    "organisation": "province-sud",
                    "title": f"Rencontre {next(counter)}",
                    "kind": "gathering",
                    "starts_at": "2027-05-01T18:00",
                }
            ),
        ),
        expect(201),
    ),
    Route(
        "edit event",
        "PATCH",
        "/api/events/{slug}",
        lambda s: (f"/api/events/{_fresh_event(s)}", _json({"location": "Nouméa"})),
        expect(200),
    ),
    Route(
        "create campaign",
        "POST",
        "/api/campaigns",
        lambda s: (
            "/api/campaigns",
            _json(
                {
                    "organisation": "province-sud",
                    "title": f"Relevé {next(counter)}",
                    "dataset": slug_of("public"),
                }
            ),
        ),
        expect(201),
    ),
    Route(
        "edit campaign",
        "PATCH",
        "/api/campaigns/{slug}",
        lambda s: (f"/api/campaigns/{_fresh_campaign(s, True)}", _json({"allow_edits": True})),
        expect(200),
    ),
    Route(
        "open campaign",
        "POST",
        "/api/campaigns/{slug}/open",
        lambda s: (f"/api/campaigns/{_fresh_campaign(s, False)}/open", {}),
        expect(200, HIDDEN_DRAFT),  # a draft campaign is seen by its editors only
    ),
    Route(
        "review contributions",
        "POST",
        "/api/campaigns/{slug}/review",
        lambda s: (
            lambda made: (
                f"/api/campaigns/{made[0]}/review",
                _json({"decision": "reject", "contributions": [made[1]], "comment": "non"}),
            )
        )(_staged(s, "received")),
        expect(200),
    ),
    Route(
        "merge campaign",
        "POST",
        "/api/campaigns/{slug}/merge",
        lambda s: (f"/api/campaigns/{_staged(s, 'approved')[0]}/merge", {}),
        expect(202),
    ),
    Route(
        "close campaign",
        "POST",
        "/api/campaigns/{slug}/close",
        lambda s: (f"/api/campaigns/{_fresh_campaign(s, True)}/close", {}),
        expect(200),
    ),
    Route(
        "set call",
        "PUT",
        "/api/events/{slug}/call",
        lambda s: (
            f"/api/events/{_fresh_call(s)[0]}/call",
            _json(
                {
                    "criteria": ["Impact", "Usage"],
                    "opens_at": "2027-01-01T08:00",
                    "deadline_at": "2027-02-01T18:00",
                }
            ),
        ),
        expect(200),
    ),
    Route(
        "apply to call",
        "POST",
        "/api/events/{slug}/call/applications",
        lambda s: (
            f"/api/events/{_fresh_call(s)[0]}/call/applications",
            _json({"project_name": "Mon projet", "summary": "Une carte des communes du pays."}),
        ),
        expect(201, allowed=SIGNED),
    ),
    Route(
        "edit application",
        "PATCH",
        "/api/events/{slug}/call/applications/{application_id}",
        lambda s: (
            lambda made: (
                f"/api/events/{made[0]}/call/applications/{made[1]}",
                _json({"project_name": "Nouveau nom"}),
            )
        )(_fresh_call(s, applicant="user")),
        # Only its team sees it, and organisers, who may not change it.
        expect(200, {"member_b": 404, "member_a": 404}, allowed={"user"}),
    ),
    Route(
        "score application",
        "POST",
        "/api/events/{slug}/call/applications/{application_id}/scores",
        lambda s: (
            lambda made: (
                f"/api/events/{made[0]}/call/applications/{made[1]}/scores",
                _json({"scores": {"Impact": 7}}),
            )
        )(_fresh_call(s, closed=True, applicant="user")),
        expect(200, {"member_b": 404, "member_a": 404}),  # its team: 403
    ),
    Route(
        "publish laureates",
        "POST",
        "/api/events/{slug}/call/laureates",
        lambda s: (
            lambda made: (
                f"/api/events/{made[0]}/call/laureates",
                _json({"applications": [made[1]]}),
            )
        )(_fresh_call(s, closed=True, applicant="user")),
        expect(200),
    ),
]


@pytest.fixture
def api_site(backend, tmp_path):
    with start_api_site(backend, tmp_path) as site:
        yield site


def test_every_mutating_route_for_every_caller(api_site: ApiSite):
    with api_site.client("anonymous") as http:
        documented = {
            (method.upper(), path)
            for path, methods in http.get("/api/openapi.json").json()["paths"].items()
            for method in methods
            if method != "get"
        }
    assert documented == {(r.method, r.template) for r in ROUTES}  # the matrix is complete
    problems = []
    for route in ROUTES:
        assert set(route.expected) == set(ROLES), route.name
        for role in ROLES:
            path, kwargs = route.prepare(api_site)
            before = snapshot(api_site.backend)
            with api_site.client(role) as http:
                answer = http.request(route.method, path, **kwargs)
            after = snapshot(api_site.backend)
            wanted = route.expected[role]
            if answer.status_code != wanted:
                problems.append(f"{route.name} / {role}: {answer.status_code} != {wanted}")
                continue
            body = answer.json()
            if wanted >= 400:
                if before != after:
                    problems.append(f"{route.name} / {role}: refused but changed something")
                if not body.get("description") or not body.get("code"):
                    problems.append(f"{route.name} / {role}: error without code/description")
                if wanted == 401 and body["code"] != "AuthenticationRequired":
                    problems.append(f"{route.name} / {role}: {body['code']}")
                if role == "read_token" and body["code"] != "ReadOnlyToken":
                    problems.append(f"{route.name} / {role}: {body['code']}")
            elif before == after:
                problems.append(f"{route.name} / {role}: accepted but nothing changed")
    assert not problems, "\n".join(problems)
