"""Calls for projects through the API (issue 22 §1): read a call, set it (organisers),
apply and change an application (its team, until the deadline), score (organisers,
after the deadline), publish the laureates.

An application the caller may not see answers 404, never 403, whether it exists or not
(`calls.get_application`). The rules, checks and audit rows are the core's
(`niaouli.catalogue.community.calls`); its refusals become the API's JSON errors in
the one handler. Attachments are sent through the portal's form (PDF checks there).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import calls, common, events
from niaouli.catalogue.community.call_tables import Application, Call
from niaouli.db.engine import writing
from niaouli.localtime import local
from niaouli.services.api.core import Call as ApiCall
from niaouli.services.api.core import Operation
from niaouli.services.api.schemas import Input

TAG = "Appels à projets"


class CallSettings(Input):
    rules: str = Field(default="", max_length=20_000)
    criteria: list[str] = Field(min_length=1, max_length=10)
    opens_at: str = Field(description="AAAA-MM-JJTHH:MM, heure de Nouméa sauf décalage")
    deadline_at: str = Field(description="AAAA-MM-JJTHH:MM, heure de Nouméa sauf décalage")
    jury_at: str = ""
    results_at: str = ""
    datasets: list[str] = Field(default_factory=list, max_length=20)


class ApplicationCreate(Input):
    project_name: str = Field(min_length=3, max_length=300)
    summary: str = Field(max_length=5000)
    datasets: list[str] = Field(default_factory=list, max_length=20)
    members: list[str] = Field(default_factory=list, max_length=10, description="courriels")


class ApplicationUpdate(Input):
    project_name: str | None = Field(default=None, min_length=3, max_length=300)
    summary: str | None = Field(default=None, max_length=5000)
    datasets: list[str] | None = Field(default=None, max_length=20)
    members: list[str] | None = Field(default=None, max_length=10)


class Marks(Input):
    scores: dict[str, int] = Field(description="critère → note de 0 à 10")
    comment: str = Field(default="", max_length=5000)


class Laureates(Input):
    applications: list[int] = Field(min_length=1, max_length=200)


def _time(value: Any) -> str | None:  # noqa: ANN401 - a datetime or None
    shown = local(value)
    return shown.isoformat() if shown else None


def call_view(session: Session, viewer: Viewer, call: Call) -> dict[str, Any]:
    visible = common.visible_ids(session, viewer, {d.id for d in call.datasets})
    return {
        "event": call.event.slug,
        "title": call.event.title,
        "organisation": call.event.organisation.slug if call.event.organisation else None,
        "rules": call.rules,
        "criteria": list(call.criteria),
        "opens_at": _time(call.opens_at),
        "deadline_at": _time(call.deadline_at),
        "jury_at": _time(call.jury_at),
        "results_at": _time(call.results_at),
        "phase": str(calls.phase(call)),
        "datasets": [d.slug for d in call.datasets if d.id in visible],
        "laureates": [application_view(session, viewer, a) for a in calls.laureates(session, call)],
    }


def application_view(session: Session, viewer: Viewer, app: Application) -> dict[str, Any]:
    """What `viewer` (who may see `app`) reads: scores for organisers only."""
    visible = common.visible_ids(session, viewer, {d.id for d in app.datasets})
    view: dict[str, Any] = {
        "id": app.id,
        "project_name": app.project_name,
        "summary": app.summary,
        "lead": app.lead.display_name,
        "members": sorted(m.display_name for m in app.members),
        "datasets": [d.slug for d in app.datasets if d.id in visible],
        "laureate": calls.is_public(app),
        "attachments": [
            {"id": a.id, "filename": a.filename, "size": a.size, "pages": a.pages}
            for a in app.attachments
        ],
        "reuse": app.reuse.slug if app.reuse else None,
        "code_project": app.code_project.slug if app.code_project else None,
        "updated_at": _time(app.updated_at),
    }
    if calls.is_organiser(viewer, app.call):
        view["averages"] = calls.averages(app)
        view["total"] = calls.total(app)
    return view


def get_call(call: ApiCall) -> dict[str, Any]:
    with Session(call.context.engine) as session:
        found = calls.get_call(session, call.params["slug"])
        return call_view(session, call.viewer, found)


def set_call(call: ApiCall) -> dict[str, Any]:
    body: CallSettings = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        event = events.get_event(session, call.params["slug"])
        found = calls.configure_call(
            session,
            call.viewer,
            event,
            rules=body.rules,
            criteria=body.criteria,
            opens=body.opens_at,
            deadline=body.deadline_at,
            jury=body.jury_at,
            results=body.results_at,
            dataset_slugs=body.datasets,
            actor=call.actor(),
        )
        return call_view(session, call.viewer, found)


def list_applications(call: ApiCall) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        found = calls.get_call(session, call.params["slug"])
        return [
            application_view(session, call.viewer, a)
            for a in calls.visible_applications(session, call.viewer, found)
        ]


def create_application(call: ApiCall) -> tuple[int, dict[str, Any]]:
    body: ApplicationCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        found = calls.get_call(session, call.params["slug"])
        made = calls.apply(
            session,
            call.viewer,
            found,
            project_name=body.project_name,
            summary=body.summary,
            dataset_slugs=body.datasets,
            member_emails=body.members,
            actor=call.actor(),
        )
        return 201, application_view(session, call.viewer, made)


def _application(session: Session, call: ApiCall) -> Application:
    found = calls.get_call(session, call.params["slug"])
    return calls.get_application(session, call.viewer, found, call.params["application_id"])


def get_application(call: ApiCall) -> dict[str, Any]:
    with Session(call.context.engine) as session:
        return application_view(session, call.viewer, _application(session, call))


def update_application(call: ApiCall) -> dict[str, Any]:
    body: ApplicationUpdate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        app = _application(session, call)
        calls.change_application(
            session, call.viewer, app, actor=call.actor(), **body.model_dump(exclude_unset=True)
        )
        return application_view(session, call.viewer, app)


def score_application(call: ApiCall) -> dict[str, Any]:
    body: Marks = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        app = _application(session, call)
        calls.score(session, call.viewer, app, body.scores, body.comment, actor=call.actor())
        return application_view(session, call.viewer, app)


def publish_laureates(call: ApiCall) -> dict[str, Any]:
    body: Laureates = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        found = calls.get_call(session, call.params["slug"])
        calls.publish_laureates(session, call.viewer, found, body.applications, actor=call.actor())
        return call_view(session, call.viewer, found)


def operations() -> list[Operation]:
    base = "/events/{slug}/call"
    one = base + "/applications/{application_id}"
    write = (400, 401, 403, 404, 409, 422)
    return [
        Operation("GET", base, get_call, "Lire un appel à projets", TAG, errors=(404,)),
        Operation(
            "PUT",
            base,
            set_call,
            "Régler l'appel : règlement, critères, dates (éditeurs de l'organisation)",
            TAG,
            writes=True,
            body=CallSettings,
            errors=write,
        ),
        Operation(
            "GET",
            base + "/applications",
            list_applications,
            "Les candidatures que l'appelant voit (la sienne ; toutes pour les organisateurs)",
            TAG,
            errors=(404,),
        ),
        Operation(
            "POST",
            base + "/applications",
            create_application,
            "Candidater (jusqu'à la date limite)",
            TAG,
            writes=True,
            body=ApplicationCreate,
            status=201,
            errors=write,
        ),
        Operation("GET", one, get_application, "Lire une candidature", TAG, errors=(404,)),
        Operation(
            "PATCH",
            one,
            update_application,
            "Modifier une candidature (son équipe, jusqu'à la date limite)",
            TAG,
            writes=True,
            body=ApplicationUpdate,
            errors=write,
        ),
        Operation(
            "POST",
            one + "/scores",
            score_application,
            "Noter une candidature (organisateurs, après la date limite)",
            TAG,
            writes=True,
            body=Marks,
            errors=write,
        ),
        Operation(
            "POST",
            base + "/laureates",
            publish_laureates,
            "Publier les lauréats (organisateurs)",
            TAG,
            writes=True,
            body=Laureates,
            errors=write,
        ),
    ]
