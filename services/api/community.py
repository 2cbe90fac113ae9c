"""Code projects, reuses and events through the API (the portal has its own forms).

Code projects and events belong to an organisation: its editors create and change them
(an event without organisation: platform admins). Any signed-in user may propose a
reuse; it stays pending until a platform admin approves it (portal moderation queue),
and an edit by its author sends it back to moderation. The rules and the audit rows are
the core's (`niaouli.catalogue.community`, `permissions`): this module translates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue import community
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import CodeProject, Event, Organisation, Reuse
from niaouli.catalogue.permissions import Action, allowed, visible_reuses
from niaouli.catalogue.publication import ForbiddenError
from niaouli.catalogue.service import CatalogueError
from niaouli.db.engine import writing
from niaouli.services.api import schemas, views
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import forbidden, invalid, not_found


def _visible_ids(session: Session, viewer: Viewer, items: list[Any]) -> set[int]:
    ids = {d.id for item in items for d in item.datasets}
    return community.visible_ids(session, viewer, ids) if ids else set()


def _organisation(session: Session, viewer: Viewer, slug: str, action: Action) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise invalid(f"organisation inconnue : « {slug} »")
    if not allowed(viewer, action, org):
        raise forbidden("seuls les éditeurs de l'organisation y ajoutent du contenu")
    return org


# --- code projects ----------------------------------------------------------------------


def _code(session: Session, slug: str) -> CodeProject:
    project = session.scalar(select(CodeProject).where(CodeProject.slug == slug))
    if project is None:
        raise not_found("projet de code")
    return project


def list_code_projects(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = list(community.code_projects(session))
        visible = _visible_ids(session, call.viewer, items)
        return [views.code_project(p, visible).model_dump(mode="json") for p in items]


def get_code_project(call: Call) -> schemas.CodeProject:
    with Session(call.context.engine) as session:
        project = _code(session, call.params["slug"])
        return views.code_project(project, _visible_ids(session, call.viewer, [project]))


def create_code_project(call: Call) -> tuple[int, schemas.CodeProject]:
    body: schemas.CodeProjectCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        org = _organisation(session, call.viewer, body.organisation, Action.CODE_EDIT)
        try:
            project = community.add_code_project(
                session,
                call.viewer,
                org.slug,
                body.name,
                repository_url=body.repository_url,
                licence=body.licence,
                languages=body.languages,
                status=body.status,
                description=body.description,
                dataset_slugs=body.datasets,
                slug=body.slug,
                actor=call.actor(),
            )
        except CatalogueError as exc:
            raise invalid(str(exc)) from None
        return 201, views.code_project(project, _visible_ids(session, call.viewer, [project]))


def update_code_project(call: Call) -> schemas.CodeProject:
    body: schemas.CodeProjectUpdate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        project = _code(session, call.params["slug"])
        try:
            community.change_code_project(
                session,
                call.viewer,
                project,
                actor=call.actor(),
                **body.model_dump(exclude_unset=True),
            )
        except ForbiddenError as exc:
            raise forbidden(str(exc)) from None
        except CatalogueError as exc:
            raise invalid(str(exc)) from None
        return views.code_project(project, _visible_ids(session, call.viewer, [project]))


# --- reuses -----------------------------------------------------------------------------


def _reuse(session: Session, viewer: Viewer, slug: str) -> Reuse:
    reuse = session.scalar(select(Reuse).where(Reuse.slug == slug, visible_reuses(viewer)))
    if reuse is None:
        raise not_found("réutilisation")
    return reuse


def list_reuses(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = list(
            session.scalars(
                select(Reuse).where(visible_reuses(call.viewer)).order_by(Reuse.title)
            ).all()
        )
        visible = _visible_ids(session, call.viewer, items)
        return [views.reuse(session, r, visible).model_dump(mode="json") for r in items]


def get_reuse(call: Call) -> schemas.Reuse:
    with Session(call.context.engine) as session:
        reuse = _reuse(session, call.viewer, call.params["slug"])
        return views.reuse(session, reuse, _visible_ids(session, call.viewer, [reuse]))


def create_reuse(call: Call) -> tuple[int, schemas.Reuse]:
    body: schemas.ReuseCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        try:
            reuse = community.submit_reuse(
                session,
                call.viewer,
                body.title,
                body.kind,
                body.url,
                description=body.description,
                dataset_slugs=body.datasets,
                approved=allowed(call.viewer, Action.REUSE_MODERATE),
                actor=call.actor(),
            )
        except CatalogueError as exc:
            raise invalid(str(exc)) from None
        return 201, views.reuse(session, reuse, _visible_ids(session, call.viewer, [reuse]))


def update_reuse(call: Call) -> schemas.Reuse:
    body: schemas.ReuseUpdate = call.body
    changes = body.model_dump(exclude_unset=True)
    viewer = call.viewer
    with Session(writing(call.context.engine)) as session, session.begin():
        reuse = _reuse(session, viewer, call.params["slug"])
        try:
            community.change_reuse(session, viewer, reuse, actor=call.actor(), **changes)
        except ForbiddenError as exc:
            raise forbidden(str(exc)) from None
        except CatalogueError as exc:
            raise invalid(str(exc)) from None
        return views.reuse(session, reuse, _visible_ids(session, viewer, [reuse]))


# --- events -----------------------------------------------------------------------------


def _event(session: Session, slug: str) -> Event:
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise not_found("événement")
    return event


def list_events(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = community.events(session)
        visible = _visible_ids(session, call.viewer, items)
        return [views.event(e, visible).model_dump(mode="json") for e in items]


def get_event(call: Call) -> schemas.Event:
    with Session(call.context.engine) as session:
        event = _event(session, call.params["slug"])
        return views.event(event, _visible_ids(session, call.viewer, [event]))


def create_event(call: Call) -> tuple[int, schemas.Event]:
    body: schemas.EventCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        if body.organisation:
            _organisation(session, call.viewer, body.organisation, Action.EVENT_EDIT)
        elif not allowed(call.viewer, Action.EVENT_EDIT, None):
            raise forbidden("un événement sans organisation est créé par un administrateur")
        try:
            event = community.add_event(
                session,
                call.viewer,
                body.organisation,
                body.title,
                body.kind,
                body.starts_at,
                ends=body.ends_at,
                location=body.location,
                url=body.url,
                description=body.description,
                dataset_slugs=body.datasets,
                actor=call.actor(),
            )
        except (CatalogueError, ValueError) as exc:
            raise invalid(str(exc)) from None
        return 201, views.event(event, _visible_ids(session, call.viewer, [event]))


def update_event(call: Call) -> schemas.Event:
    body: schemas.EventUpdate = call.body
    names = {"starts_at": "starts", "ends_at": "ends"}
    changes = {names.get(k, k): v for k, v in body.model_dump(exclude_unset=True).items()}
    if not changes.get("starts"):
        changes.pop("starts", None)  # an empty start keeps the one there is
    viewer = call.viewer
    with Session(writing(call.context.engine)) as session, session.begin():
        event = _event(session, call.params["slug"])
        try:
            community.change_event(session, viewer, event, actor=call.actor(), **changes)
        except ForbiddenError as exc:
            raise forbidden(str(exc)) from None
        except (CatalogueError, ValueError) as exc:
            raise invalid(str(exc)) from None
        return views.event(event, _visible_ids(session, viewer, [event]))


def operations() -> list[Operation]:
    write = (400, 401, 403, 404, 422)
    make = (400, 401, 403, 422)
    return [
        Operation("GET", "/code", list_code_projects, "Lister les projets de code", "Code"),
        Operation(
            "POST",
            "/code",
            create_code_project,
            "Ajouter un projet de code (éditeurs de l'organisation)",
            "Code",
            writes=True,
            body=schemas.CodeProjectCreate,
            response=schemas.CodeProject,
            status=201,
            errors=make,
        ),
        Operation(
            "GET",
            "/code/{slug}",
            get_code_project,
            "Lire un projet de code",
            "Code",
            response=schemas.CodeProject,
            errors=(404,),
        ),
        Operation(
            "PATCH",
            "/code/{slug}",
            update_code_project,
            "Modifier un projet de code",
            "Code",
            writes=True,
            body=schemas.CodeProjectUpdate,
            response=schemas.CodeProject,
            errors=write,
        ),
        Operation("GET", "/reuses", list_reuses, "Lister les réutilisations", "Réutilisations"),
        Operation(
            "POST",
            "/reuses",
            create_reuse,
            "Proposer une réutilisation (en attente de modération)",
            "Réutilisations",
            writes=True,
            body=schemas.ReuseCreate,
            response=schemas.Reuse,
            status=201,
            errors=make,
        ),
        Operation(
            "GET",
            "/reuses/{slug}",
            get_reuse,
            "Lire une réutilisation",
            "Réutilisations",
            response=schemas.Reuse,
            errors=(404,),
        ),
        Operation(
            "PATCH",
            "/reuses/{slug}",
            update_reuse,
            "Modifier une réutilisation (auteur : retour en modération)",
            "Réutilisations",
            writes=True,
            body=schemas.ReuseUpdate,
            response=schemas.Reuse,
            errors=write,
        ),
        Operation("GET", "/events", list_events, "Lister les événements", "Événements"),
        Operation(
            "POST",
            "/events",
            create_event,
            "Ajouter un événement (éditeurs de l'organisation)",
            "Événements",
            writes=True,
            body=schemas.EventCreate,
            response=schemas.Event,
            status=201,
            errors=make,
        ),
        Operation(
            "GET",
            "/events/{slug}",
            get_event,
            "Lire un événement",
            "Événements",
            response=schemas.Event,
            errors=(404,),
        ),
        Operation(
            "PATCH",
            "/events/{slug}",
            update_event,
            "Modifier un événement",
            "Événements",
            writes=True,
            body=schemas.EventUpdate,
            response=schemas.Event,
            errors=write,
        ),
    ]
