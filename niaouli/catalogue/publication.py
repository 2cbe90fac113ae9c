"""Publication workflow: draft -> published (public, registered or organisation).

Only editors and admins of the owning organisation (and platform admins) publish, with
credentials that may write; who and when are recorded on the dataset. A dataset whose
layers hold personal data not yet handled is refused (`niaouli.privacy.guard`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import AccessLevel, Dataset, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ForbiddenError  # noqa: F401 - ForbiddenError: importers
from niaouli.i18n import _


def publish(
    session: Session,
    dataset: Dataset,
    viewer: Viewer,
    access_level: str | AccessLevel = AccessLevel.PUBLIC,
) -> Dataset:
    level = AccessLevel(access_level)
    if not allowed(viewer, Action.DATASET_PUBLISH, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation publient ses jeux de données"))
    if level == AccessLevel.DRAFT:
        raise CatalogueError(_("publier, c'est choisir un niveau d'accès autre que brouillon"))
    from niaouli.privacy.guard import guard

    guard(session, dataset, level)  # personal data not handled: PersonalDataError
    dataset.access_level = level
    dataset.published_at = utcnow()
    dataset.published_by_id = viewer.user_id
    _record(session, viewer, "dataset.publish", dataset, access_level=level.value)
    session.flush()
    return dataset


def unpublish(session: Session, dataset: Dataset, viewer: Viewer) -> Dataset:
    """Back to draft: only the organisation's editors (and admins) see it again."""
    if not allowed(viewer, Action.DATASET_PUBLISH, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation retirent ses jeux de données"))
    dataset.access_level = AccessLevel.DRAFT
    _record(session, viewer, "dataset.unpublish", dataset)
    session.flush()
    return dataset


def _record(
    session: Session, viewer: Viewer, action: str, dataset: Dataset, **details: str
) -> None:
    from niaouli.accounts import audit

    audit.record(
        session,
        audit.actor_for(viewer),
        action,
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        **details,
    )
