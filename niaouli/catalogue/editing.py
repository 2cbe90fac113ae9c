"""Creating and editing datasets for a viewer: the rules the API and the portal share.

Each function checks the viewer's right, changes the rows and writes the audit row in
the caller's transaction, so the change and its record commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer, can_edit
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.catalogue.publication import ForbiddenError
from niaouli.catalogue.service import CatalogueError
from niaouli.i18n import _


class ConflictError(CatalogueError):
    """The change clashes with what exists (a 409 for the web)."""


REQUIRED = ("title", "access_level", "licence", "themes", "keywords")


def free_dataset_slug(session: Session, title: str) -> str:
    base = service.make_slug(title)
    slug, n = base, 1
    while service.find_dataset(session, slug) is not None:
        n += 1
        slug = f"{base[:90]}-{n}"
    return slug


def create_dataset(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: str,
    title: str,
    slug: str | None = None,
    **fields: Any,
) -> Dataset:
    """A new dataset of `organisation` (draft unless `access_level` says otherwise)."""
    org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
    if org is None:
        raise CatalogueError(_("organisation inconnue : « %(slug)s »") % {"slug": organisation})
    if not can_edit(viewer, org.id):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation y créent des jeux de données"))
    title = " ".join((title or "").split())
    if len(title) < 3:
        raise CatalogueError(_("le titre doit faire au moins 3 caractères"))
    slug = slug or free_dataset_slug(session, title)
    if service.find_dataset(session, slug) is not None:
        raise ConflictError(_("le jeu de données « %(slug)s » existe déjà") % {"slug": slug})
    fields.setdefault("access_level", "draft")
    dataset = service.create_dataset(session, org, slug, title, **fields)
    if dataset.access_level.value != "draft":
        dataset.published_by_id = viewer.user_id
    audit.record(
        session,
        actor,
        "dataset.create",
        subject=slug,
        organisation_id=org.id,
        access_level=dataset.access_level.value,
    )
    session.flush()
    return dataset


def update_dataset(
    session: Session, viewer: Viewer, actor: audit.Actor, dataset: Dataset, **changes: Any
) -> Dataset:
    if not can_edit(viewer, dataset.organisation_id):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))
    for name in REQUIRED:
        if name in changes and changes[name] is None:
            raise CatalogueError(_("« %(field)s » ne peut pas être vide") % {"field": name})
    if "title" in changes:
        changes["title"] = " ".join(changes["title"].split())
        if len(changes["title"]) < 3:
            raise CatalogueError(_("le titre doit faire au moins 3 caractères"))
    was_draft = dataset.access_level.value == "draft"
    service.update_dataset(session, dataset, **changes)
    if was_draft and dataset.access_level.value != "draft":
        dataset.published_by_id = viewer.user_id
    audit.record(
        session,
        actor,
        "dataset.update",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        fields=sorted(changes),
    )
    session.flush()
    return dataset
