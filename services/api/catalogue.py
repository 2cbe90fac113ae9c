"""Organisations and datasets: list, read, create, edit, delete, publish."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue import editing, lifecycle, publication, service
from niaouli.catalogue.access import can_see
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.i18n import _
from niaouli.services.api import links, schemas, views
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import ApiError, forbidden, not_found

MAX_PAGE = 100
MAX_OFFSET = 2**53  # far past any catalogue; SQLite cannot bind beyond 2**63 - 1
DIGITS = re.compile(r"[0-9]{1,20}")


def _paging_number(call: Call, name: str, default: int, maximum: int) -> int:
    """A query parameter in [0 or 1, maximum] written in ASCII digits, else a 400."""
    raw = call.request.query_params.get(name)
    minimum = 1 if name == "limit" else 0
    if raw is None:
        return default
    if not DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise ApiError(
            400,
            "InvalidParameter",
            _("« %(name)s » : un entier de %(min)s à %(max)s")
            % {"name": name, "min": minimum, "max": maximum},
        )
    return int(raw)


def _page(call: Call) -> tuple[int, int]:
    limit = _paging_number(call, "limit", 20, MAX_PAGE)
    return limit, _paging_number(call, "offset", 0, MAX_OFFSET)


def visible_dataset(session: Session, call: Call, lock: bool = False) -> Dataset:
    """The dataset of the path, or 404 — also when it exists but the viewer cannot see it."""
    query = select(Dataset).where(Dataset.slug == call.params["slug"])
    if lock:
        query = query.with_for_update()
    dataset = session.scalar(query)
    if dataset is None or not can_see(call.viewer, dataset):
        raise not_found("jeu de données")
    return dataset


def editable_dataset(session: Session, call: Call, lock: bool = False) -> Dataset:
    dataset = visible_dataset(session, call, lock)
    if not allowed(call.viewer, Action.DATASET_EDIT, dataset):
        raise forbidden("seuls les éditeurs de l'organisation modifient ce jeu de données")
    return dataset


# --- organisations ----------------------------------------------------------------------


def list_organisations(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        return [
            views.organisation(org, call.viewer, n).model_dump(mode="json")
            for org, n in service.organisations_with_counts(session, call.viewer)
        ]


def _counted(session: Session, call: Call, org: Organisation) -> schemas.Organisation:
    counts = dict((o.id, n) for o, n in service.organisations_with_counts(session, call.viewer))
    return views.organisation(org, call.viewer, counts.get(org.id, 0))


def get_organisation(call: Call) -> schemas.Organisation:
    with Session(call.context.engine) as session:
        try:
            org = service.get_organisation(session, call.params["slug"])
        except service.NotFoundError:
            raise not_found("organisation") from None
        return _counted(session, call, org)


def create_organisation(call: Call) -> tuple[int, schemas.Organisation]:
    body: schemas.OrganisationCreate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        org = editing.create_organisation(session, call.viewer, call.actor(), **body.model_dump())
        return 201, _counted(session, call, org)


def update_organisation(call: Call) -> schemas.Organisation:
    body: schemas.OrganisationUpdate = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        try:
            org = service.get_organisation(session, call.params["slug"])
        except service.NotFoundError:
            raise not_found("organisation") from None
        editing.update_organisation(
            session, call.viewer, call.actor(), org, **body.model_dump(exclude_unset=True)
        )
        return _counted(session, call, org)


# --- datasets ---------------------------------------------------------------------------


def list_datasets(call: Call) -> schemas.DatasetList:
    limit, offset = _page(call)
    params = call.request.query_params
    with Session(call.context.engine) as session:
        organisation = None
        if params.get("organisation"):
            try:
                organisation = service.get_organisation(session, params["organisation"])
            except service.NotFoundError:
                raise not_found("organisation") from None
        items, total = service.search_datasets(
            session, call.viewer, params.get("q") or None, organisation, limit, offset
        )
        root = links.root_of(call.request)
        return schemas.DatasetList(
            total=total,
            items=[views.dataset(session, d, call.viewer, listing=True, root=root) for d in items],
        )


def _shown(session: Session, call: Call, dataset: Dataset) -> schemas.Dataset:
    """The dataset as answered, its links absolute from the platform's public root."""
    return views.dataset(session, dataset, call.viewer, root=links.root_of(call.request))


def get_dataset(call: Call) -> schemas.Dataset:
    with Session(call.context.engine) as session:
        return _shown(session, call, visible_dataset(session, call))


def create_dataset(call: Call) -> tuple[int, schemas.Dataset]:
    body: schemas.DatasetCreate = call.body
    fields = body.model_dump(exclude={"organisation", "slug", "title"})
    fields = {k: v for k, v in fields.items() if v is not None}
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editing.create_dataset(
            session,
            call.viewer,
            call.actor(),
            body.organisation,
            body.title,
            slug=body.slug,
            **fields,
        )
        return 201, _shown(session, call, dataset)


def update_dataset(call: Call) -> schemas.Dataset:
    body: schemas.DatasetUpdate = call.body
    changes = body.model_dump(exclude_unset=True)
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        editing.update_dataset(session, call.viewer, call.actor(), dataset, **changes)
        return _shown(session, call, dataset)


def delete_dataset(call: Call) -> tuple[int, dict[str, str]]:
    settings = call.context.settings
    with Session(call.context.engine) as session:
        slug = editable_dataset(session, call).slug
    try:
        lifecycle.delete_dataset(
            call.context.engine, settings, slug, viewer=call.viewer, actor=call.actor()
        )
    except service.NotFoundError:
        raise not_found("jeu de données") from None
    return 200, {"deleted": slug}


def publish_dataset(call: Call) -> schemas.Dataset:
    body: schemas.Publish = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        publication.publish(session, dataset, call.viewer, body.access_level)
        return _shown(session, call, dataset)


def unpublish_dataset(call: Call) -> schemas.Dataset:
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        publication.unpublish(session, dataset, call.viewer)
        return _shown(session, call, dataset)


ERR_READ = (404,)
ERR_WRITE = (400, 401, 403, 404, 422)


def operations() -> list[Operation]:
    page = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        },
    ]
    org_tag, ds_tag = "Organisations", "Jeux de données"
    return [
        Operation("GET", "/organisations", list_organisations, "Lister les organisations", org_tag),
        Operation(
            "POST",
            "/organisations",
            create_organisation,
            "Créer une organisation (administrateurs de la plateforme)",
            org_tag,
            writes=True,
            body=schemas.OrganisationCreate,
            response=schemas.Organisation,
            status=201,
            errors=(400, 401, 403, 409, 422),
        ),
        Operation(
            "GET",
            "/organisations/{slug}",
            get_organisation,
            "Lire une organisation",
            org_tag,
            response=schemas.Organisation,
            errors=ERR_READ,
        ),
        Operation(
            "PATCH",
            "/organisations/{slug}",
            update_organisation,
            "Modifier une organisation (ses administrateurs)",
            org_tag,
            writes=True,
            body=schemas.OrganisationUpdate,
            response=schemas.Organisation,
            errors=ERR_WRITE,
        ),
        Operation(
            "GET",
            "/datasets",
            list_datasets,
            "Lister les jeux de données visibles",
            ds_tag,
            response=schemas.DatasetList,
            errors=(400, 404),
            query=[
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {"name": "organisation", "in": "query", "schema": {"type": "string"}},
                *page,
            ],
        ),
        Operation(
            "POST",
            "/datasets",
            create_dataset,
            "Créer un jeu de données (éditeurs de l'organisation ; brouillon par défaut)",
            ds_tag,
            writes=True,
            body=schemas.DatasetCreate,
            response=schemas.Dataset,
            status=201,
            errors=(400, 401, 403, 409, 422),
        ),
        Operation(
            "GET",
            "/datasets/{slug}",
            get_dataset,
            "Lire un jeu de données",
            ds_tag,
            response=schemas.Dataset,
            errors=ERR_READ,
        ),
        Operation(
            "PATCH",
            "/datasets/{slug}",
            update_dataset,
            "Modifier un jeu de données",
            ds_tag,
            writes=True,
            body=schemas.DatasetUpdate,
            response=schemas.Dataset,
            errors=ERR_WRITE,
        ),
        Operation(
            "DELETE",
            "/datasets/{slug}",
            delete_dataset,
            "Supprimer un jeu de données, ses couches et ses fichiers",
            ds_tag,
            writes=True,
            errors=(401, 403, 404),
        ),
        Operation(
            "POST",
            "/datasets/{slug}/publish",
            publish_dataset,
            "Publier un brouillon (qui et quand sont enregistrés)",
            ds_tag,
            writes=True,
            body=schemas.Publish,
            response=schemas.Dataset,
            errors=ERR_WRITE,
        ),
        Operation(
            "POST",
            "/datasets/{slug}/unpublish",
            unpublish_dataset,
            "Repasser un jeu de données en brouillon",
            ds_tag,
            writes=True,
            response=schemas.Dataset,
            errors=(401, 403, 404),
        ),
    ]
