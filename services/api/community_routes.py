"""Code projects, reuses and events through the API (the portal has its own forms).

Code projects and events belong to an organisation: its editors create and change them
(an event without organisation: platform admins). Any signed-in user may propose a
reuse; it stays pending until a platform admin approves it (portal moderation queue),
and an edit by its author sends it back to moderation. The rules, checks, queries and
audit rows are the core's (`niaouli.catalogue.community`, `permissions`): this module
translates, and the core's refusals become JSON errors in the API's one handler
(`errors.from_core`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from niaouli.catalogue.community import common, events, projects, reuses
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import NiaouliError, NotFoundError
from niaouli.services.api import schemas, views
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import ApiError, forbidden, invalid, not_found


def _found(get: Callable[..., Any], what: str, *args: Any) -> Any:  # noqa: ANN401
    """`get(*args)`, a community item, or the API's 404 naming `what`."""
    try:
        return get(*args)
    except NotFoundError:
        raise not_found(what) from None


@contextmanager
def _organisation_refusals() -> Iterator[None]:
    """The core's refusal of an organisation in the API's words: unknown 422, else 403."""
    try:
        yield
    except common.OrganisationRefusedError as exc:
        raise _refusal(exc) from None


def _refusal(exc: common.OrganisationRefusedError) -> ApiError:
    if exc.unknown:
        return invalid(f"organisation inconnue : « {exc.slug} »")
    if exc.slug is None:
        return forbidden("un événement sans organisation est créé par un administrateur")
    return forbidden("seuls les éditeurs de l'organisation y ajoutent du contenu")


@contextmanager
def _plain_value_errors() -> Iterator[None]:
    """A `ValueError` that is not the core's refusal (a time Python cannot hold): a 422."""
    try:
        yield
    except NiaouliError:
        raise
    except ValueError as exc:
        raise invalid(str(exc)) from None


# --- code projects ----------------------------------------------------------------------


def list_code_projects(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = list(projects.code_projects(session))
        visible = common.visible_ids_of(session, call.viewer, items)
        return [views.code_project(p, visible).model_dump(mode="json") for p in items]


def get_code_project(call: Call) -> schemas.CodeProject:
    with Session(call.context.engine) as session:
        slug = call.params["slug"]
        project = _found(projects.get_code_project, "projet de code", session, slug)
        return views.code_project(project, common.visible_ids_of(session, call.viewer, [project]))


def create_code_project(call: Call) -> tuple[int, schemas.CodeProject]:
    body: schemas.CodeProjectCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        with _organisation_refusals():
            project = projects.add_code_project(
                session,
                call.viewer,
                body.organisation,
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
        visible = common.visible_ids_of(session, call.viewer, [project])
        return 201, views.code_project(project, visible)


def update_code_project(call: Call) -> schemas.CodeProject:
    body: schemas.CodeProjectUpdate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        slug = call.params["slug"]
        project = _found(projects.get_code_project, "projet de code", session, slug)
        projects.change_code_project(
            session,
            call.viewer,
            project,
            actor=call.actor(),
            **body.model_dump(exclude_unset=True),
        )
        return views.code_project(project, common.visible_ids_of(session, call.viewer, [project]))


# --- reuses -----------------------------------------------------------------------------


def list_reuses(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = list(reuses.visible_reuses_by_title(session, call.viewer))
        visible = common.visible_ids_of(session, call.viewer, items)
        return [views.reuse(session, r, visible).model_dump(mode="json") for r in items]


def get_reuse(call: Call) -> schemas.Reuse:
    with Session(call.context.engine) as session:
        reuse = _found(reuses.get_reuse, "réutilisation", session, call.params["slug"], call.viewer)
        return views.reuse(session, reuse, common.visible_ids_of(session, call.viewer, [reuse]))


def create_reuse(call: Call) -> tuple[int, schemas.Reuse]:
    body: schemas.ReuseCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        reuse = reuses.submit_reuse(
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
        visible = common.visible_ids_of(session, call.viewer, [reuse])
        return 201, views.reuse(session, reuse, visible)


def update_reuse(call: Call) -> schemas.Reuse:
    body: schemas.ReuseUpdate = call.body
    changes = body.model_dump(exclude_unset=True)
    viewer = call.viewer
    with Session(writing(call.context.engine)) as session, session.begin():
        reuse = _found(reuses.get_reuse, "réutilisation", session, call.params["slug"], viewer)
        reuses.change_reuse(session, viewer, reuse, actor=call.actor(), **changes)
        return views.reuse(session, reuse, common.visible_ids_of(session, viewer, [reuse]))


# --- events -----------------------------------------------------------------------------


def list_events(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        items = events.list_events(session)
        visible = common.visible_ids_of(session, call.viewer, items)
        return [views.event(e, visible).model_dump(mode="json") for e in items]


def get_event(call: Call) -> schemas.Event:
    with Session(call.context.engine) as session:
        event = _found(events.get_event, "événement", session, call.params["slug"])
        return views.event(event, common.visible_ids_of(session, call.viewer, [event]))


def create_event(call: Call) -> tuple[int, schemas.Event]:
    body: schemas.EventCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        with _organisation_refusals(), _plain_value_errors():
            event = events.add_event(
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
        return 201, views.event(event, common.visible_ids_of(session, call.viewer, [event]))


def update_event(call: Call) -> schemas.Event:
    body: schemas.EventUpdate = call.body
    names = {"starts_at": "starts", "ends_at": "ends"}
    changes = {names.get(k, k): v for k, v in body.model_dump(exclude_unset=True).items()}
    if not changes.get("starts"):
        changes.pop("starts", None)  # an empty start keeps the one there is
    viewer = call.viewer
    with Session(writing(call.context.engine)) as session, session.begin():
        event = _found(events.get_event, "événement", session, call.params["slug"])
        with _plain_value_errors():
            events.change_event(session, viewer, event, actor=call.actor(), **changes)
        return views.event(event, common.visible_ids_of(session, viewer, [event]))


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
