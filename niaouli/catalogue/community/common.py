"""What the three community kinds share: checks, links to datasets, audit rows.

Code projects (`projects.py`), reuses (`reuses.py`) and events (`events.py`) are public
content that *point at* datasets. The rule: a link to a dataset is shown only when the
viewer may see that dataset (`visible_links`), so a reuse of an organisation-only dataset
never reveals it to anonymous visitors.

Who may add and change each kind is `permissions.allowed` (`code.edit`, `event.edit`,
`reuse.propose`, `reuse.edit`, `reuse.moderate`); each operation checks it and writes its
audit row in the caller's transaction (`record_change`), so the API, the portal and the
command line only translate (they pass their `audit.Actor`; without one, the change is
recorded as the command line's or the application's, `audit.actor_for`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import links
from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    ModerationStatus,
    Organisation,
    Reuse,
    code_project_datasets,
    dataset_events,
    dataset_reuses,
)
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.localtime import NOUMEA

TITLE_MIN, TITLE_MAX = 3, 300
DESCRIPTION_MAX = 5000
URL_MAX = 1000
MAX_LINKED_DATASETS = 20


# --- times -----------------------------------------------------------------------------


def parse_local(text: str) -> datetime:
    """`2026-12-05 08:30` (Nouméa time) or an ISO 8601 time with offset → aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise CatalogueError(
            _("date invalide « %(text)s » : attendu AAAA-MM-JJ HH:MM (heure de Nouméa)")
            % {"text": text[:40]}
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=NOUMEA)


# --- links to datasets -----------------------------------------------------------------


def visible_links(session: Session, viewer: Viewer, datasets: Iterable[Dataset]) -> list[Dataset]:
    """The datasets among `datasets` that `viewer` may see, by title."""
    ids = {d.id for d in datasets}
    if not ids:
        return []
    return list(
        session.scalars(
            select(Dataset)
            .where(visible_datasets(viewer), Dataset.id.in_(ids))
            .order_by(Dataset.title, Dataset.id)
        ).all()
    )


def visible_ids(session: Session, viewer: Viewer, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(select(Dataset.id).where(visible_datasets(viewer), Dataset.id.in_(ids)))
    )


def visible_ids_of(session: Session, viewer: Viewer, items: Iterable[Any]) -> set[int]:
    """The ids of the datasets linked to `items` (projects, reuses, events) that `viewer`
    may see: one query for a whole page of items."""
    return visible_ids(session, viewer, {d.id for item in items for d in item.datasets})


def linked_to(session: Session, viewer: Viewer, slug: str | None) -> Dataset | None | bool:
    """The dataset a filter names, False when the viewer may not see it, None without."""
    if not slug:
        return None
    try:
        return service.get_dataset(session, slug, viewer)
    except NotFoundError:
        return False


# --- checks ----------------------------------------------------------------------------


def check_http_url(url: str, max_length: int = URL_MAX) -> str:
    """The platform's one link rule (`niaouli.links`, row S22), as a `CatalogueError`."""
    try:
        return links.check_link(url, max_length)
    except links.LinkError as exc:
        raise CatalogueError(str(exc)) from None


def check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise CatalogueError(
            _("le titre doit faire de %(min)s à %(max)s caractères")
            % {"min": TITLE_MIN, "max": TITLE_MAX}
        )
    return title


# Length limits of free texts, one whole sentence each (the noun's gender differs).
TOO_LONG = {
    "description": N_("description trop longue (%(max)s caractères au plus)"),
    "licence": N_("identifiant de licence trop long (%(max)s caractères au plus)"),
    "language": N_("nom de langage trop long (%(max)s caractères au plus)"),
    "branch": N_("nom de branche trop long (%(max)s caractères au plus)"),
    "location": N_("lieu trop long (%(max)s caractères au plus)"),
    "results": N_("résultats trop longs (%(max)s caractères au plus)"),
}


def checked_text(value: str | None, too_long: str, limit: int = DESCRIPTION_MAX) -> str:
    """`value` stripped, refused with the sentence `too_long` past `limit` characters."""
    value = (value or "").strip()
    if len(value) > limit:
        raise CatalogueError(_(too_long) % {"max": limit})
    return value


def optional_url(url: str | None) -> str | None:
    url = (url or "").strip()
    return check_http_url(url) if url else None


def free_slug(session: Session, model: type, text: str) -> str:
    base = service.make_slug(text, max_length=80)
    slug, n = base, 1
    while session.scalar(select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def chosen_slug(session: Session, model: type, slug: str | None, text: str, taken: str) -> str:
    """`slug` when it is free (refused with the sentence `taken` otherwise), or, without
    one, a free slug made from `text`."""
    if slug is None:
        return free_slug(session, model, text)
    if session.scalar(select(model.id).where(model.slug == slug)) is not None:
        raise CatalogueError(_(taken) % {"slug": slug})
    return slug


def datasets_for_slugs(session: Session, viewer: Viewer, slugs: Iterable[str]) -> list[Dataset]:
    """The named datasets, each of which must exist and be visible to `viewer`."""
    wanted = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if len(wanted) > MAX_LINKED_DATASETS:
        raise CatalogueError(_("%(max)s jeux de données au plus") % {"max": MAX_LINKED_DATASETS})
    found = []
    for slug in wanted:
        try:
            found.append(service.get_dataset(session, slug, viewer))
        except NotFoundError:
            raise CatalogueError(
                _("jeu de données inconnu : « %(slug)s »") % {"slug": slug[:100]}
            ) from None
    return found


def relinked(
    session: Session, viewer: Viewer, current: Iterable[Dataset], slugs: Iterable[str]
) -> list[Dataset]:
    """The datasets named (each visible to `viewer`), plus the ones linked now that
    `viewer` may not see: they were never shown to them, so they are not theirs to drop."""
    chosen = datasets_for_slugs(session, viewer, slugs)
    current = list(current)
    seen = visible_ids(session, viewer, {d.id for d in current})
    return chosen + [d for d in current if d.id not in seen and d not in chosen]


def check_known(changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")


def apply_changes(session: Session, item: Any, new: dict[str, Any]) -> Any:  # noqa: ANN401
    """Sets the checked values all at once."""
    for name, value in new.items():
        setattr(item, name, value)
    session.flush()
    return item


# --- organisations and audit -----------------------------------------------------------


def editable_organisations(
    session: Session, viewer: Viewer, action: Action = Action.DATASET_CREATE
) -> list[Organisation]:
    """The organisations whose content `viewer` may add to (`action` on them)."""
    return [o for o in service.list_organisations(session) if allowed(viewer, action, o)]


class OrganisationRefusedError(CatalogueError):
    """No organisation `viewer` may add this content to: one message for the forms and
    the command line either way; `unknown` (no such slug) and `slug` (None: content
    without organisation) let the API answer 422 or 403 with its own words."""

    def __init__(self, slug: str | None, unknown: bool) -> None:
        super().__init__(_("choisissez une organisation dont vous êtes éditeur"))
        self.slug = slug
        self.unknown = unknown


def organisation_for(session: Session, viewer: Viewer, slug: str, action: Action) -> Organisation:
    """The organisation `slug`, when `viewer` may `action` on it."""
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None or not allowed(viewer, action, org):
        raise OrganisationRefusedError(slug, unknown=org is None)
    return org


def record_change(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor | None,
    action: str,
    item: CodeProject | Event | Reuse,
) -> None:
    """The audit row of a change to `item` (as the API has always written it)."""
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        action,
        subject=item.slug,
        organisation_id=item.organisation_id,
    )


# --- what uses a dataset ---------------------------------------------------------------


def uses_of_dataset(session: Session, dataset: Dataset) -> dict[str, list[Any]]:
    """Approved reuses, code projects and events linked to `dataset` (already visible)."""
    return {
        "reuses": list(
            session.scalars(
                select(Reuse)
                .join(dataset_reuses, dataset_reuses.c.reuse_id == Reuse.id)
                .where(
                    dataset_reuses.c.dataset_id == dataset.id,
                    Reuse.status == ModerationStatus.APPROVED,
                )
                .order_by(Reuse.title)
            ).all()
        ),
        "code_projects": list(
            session.scalars(
                select(CodeProject)
                .join(
                    code_project_datasets,
                    code_project_datasets.c.code_project_id == CodeProject.id,
                )
                .where(code_project_datasets.c.dataset_id == dataset.id)
                .order_by(CodeProject.name)
            ).all()
        ),
        "events": list(
            session.scalars(
                select(Event)
                .join(dataset_events, dataset_events.c.event_id == Event.id)
                .where(dataset_events.c.dataset_id == dataset.id)
                .order_by(Event.starts_at.desc())
            ).all()
        ),
    }
