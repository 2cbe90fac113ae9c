"""A dataset's files and links (its resources): adding and removing them, each with its
rule (`dataset.edit`) and its audit row in the caller's transaction. Files are stored
first (`niaouli.storage`); the caller removes a stored file whose change did not commit,
and a removed one's file after the commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.editing import ConflictError
from niaouli.catalogue.models import Dataset, Resource, ResourceKind
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.publication import ForbiddenError
from niaouli.i18n import _


def _check(viewer: Viewer, dataset: Dataset) -> None:
    if not allowed(viewer, Action.DATASET_EDIT, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))


def _record(
    session: Session, actor: audit.Actor, action: str, dataset: Dataset, **details: str
) -> None:
    audit.record(
        session,
        actor,
        action,
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        **details,
    )


def add_resource(
    session: Session, viewer: Viewer, actor: audit.Actor, dataset: Dataset, resource: Resource
) -> Resource:
    """Attach `resource` (a link, or a file already stored) to the dataset."""
    _check(viewer, dataset)
    dataset.resources.append(resource)
    if resource.kind == ResourceKind.LINK:
        _record(session, actor, "resource.create", dataset, kind="link")
    else:
        _record(session, actor, "resource.create", dataset, kind="file", checksum=resource.checksum)
    session.flush()
    return resource


def remove_resource(
    session: Session, viewer: Viewer, actor: audit.Actor, dataset: Dataset, resource: Resource
) -> str | None:
    """Detach `resource` (not the layers' source file); its storage key, to remove after
    the commit."""
    _check(viewer, dataset)
    if resource.role in ("source", "raster-source", "raster-cog"):
        raise ConflictError(
            _("ce fichier est la source des couches : remplacez les données à la place")
        )
    key = resource.storage_key
    dataset.resources.remove(resource)
    _record(session, actor, "resource.delete", dataset, resource=str(resource.id))
    return key
