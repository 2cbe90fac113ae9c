"""Events (`/evenements`, iCalendar feeds): hackathons, cartoparties, calls for projects
and gatherings, by an organisation or the platform; times are stored in UTC and typed in
Nouméa time (`common.parse_local`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community.common import (
    TOO_LONG,
    OrganisationRefusedError,
    apply_changes,
    check_known,
    check_title,
    checked_text,
    chosen_slug,
    datasets_for_slugs,
    optional_url,
    organisation_for,
    parse_local,
    record_change,
    relinked,
)
from niaouli.catalogue.models import Event, EventKind, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.localtime import as_utc

TAKEN = N_("l'événement « %(slug)s » existe déjà")
EVENT_KINDS = {
    EventKind.HACKATHON: N_("Hackathon"),
    EventKind.CARTOPARTY: N_("Cartopartie"),
    EventKind.CALL_FOR_PROJECTS: N_("Appel à projets"),
    EventKind.GATHERING: N_("Rencontre"),
}


def list_events(session: Session, when: str = "", kind: str = "") -> list[Event]:
    """Events, upcoming (not yet ended) soonest first, or past most recent first."""
    query = select(Event).options(selectinload(Event.datasets), selectinload(Event.organisation))
    if kind:
        query = query.where(Event.kind == kind)
    items = list(session.scalars(query).all())
    now = utcnow()

    def ended(event: Event) -> bool:
        return as_utc(event.ends_at or event.starts_at) < now

    if when == "a-venir":
        items = [e for e in items if not ended(e)]
    elif when == "passes":
        items = [e for e in items if ended(e)]
    upcoming = sorted((e for e in items if not ended(e)), key=lambda e: as_utc(e.starts_at))
    past = sorted((e for e in items if ended(e)), key=lambda e: as_utc(e.starts_at), reverse=True)
    return upcoming + past


def is_past(event: Event) -> bool:
    return as_utc(event.ends_at or event.starts_at) < utcnow()


def get_event(session: Session, slug: str) -> Event:
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFoundError(_("événement introuvable : « %(slug)s »") % {"slug": slug})
    return event


def _event_kind(kind: str) -> EventKind:
    if kind not in set(EventKind):
        raise CatalogueError(_("type d'événement inconnu"))
    return EventKind(kind)


def _starts(text: str | None) -> datetime:
    if not (text or "").strip():
        raise CatalogueError(_("indiquez la date et l'heure de début"))
    return parse_local(text or "")


def _ends(text: str | None) -> datetime | None:
    return parse_local(text) if text and text.strip() else None


def _check_period(starts: datetime, ends: datetime | None) -> None:
    if ends is not None and as_utc(ends) < as_utc(starts):
        raise CatalogueError(_("l'événement finit avant de commencer"))


def add_event(
    session: Session,
    viewer: Viewer,
    organisation: str | None,
    title: str,
    kind: str,
    starts: str,
    ends: str = "",
    location: str = "",
    url: str = "",
    description: str = "",
    results: str = "",
    dataset_slugs: Iterable[str] = (),
    latitude: float | None = None,
    longitude: float | None = None,
    slug: str | None = None,
    actor: audit.Actor | None = None,
) -> Event:
    """An event (times in Nouméa unless an offset is given), after validation."""
    org = (
        organisation_for(session, viewer, organisation, Action.EVENT_EDIT) if organisation else None
    )
    if org is None and not allowed(viewer, Action.EVENT_EDIT, None):
        raise OrganisationRefusedError(None, unknown=False)
    title = check_title(title)
    event_kind = _event_kind(kind)
    starts_at, ends_at = _starts(starts), _ends(ends)
    _check_period(starts_at, ends_at)
    slug = chosen_slug(session, Event, slug, title, TAKEN)
    event = service.create_event(
        session,
        slug,
        title,
        event_kind,
        starts_at,
        datasets=datasets_for_slugs(session, viewer, dataset_slugs),
        ends_at=ends_at,
        location=checked_text(location, TOO_LONG["location"], 300) or None,
        latitude=latitude,
        longitude=longitude,
        url=optional_url(url),
        description=checked_text(description, TOO_LONG["description"]),
        results=checked_text(results, TOO_LONG["results"]),
        organisation_id=org.id if org else None,
    )
    record_change(session, viewer, actor, "event.create", event)
    return event


EVENT_FIELDS = (
    "title",
    "kind",
    "starts",
    "ends",
    "location",
    "url",
    "description",
    "results",
    "datasets",
)


def change_event(
    session: Session, viewer: Viewer, event: Event, actor: audit.Actor | None = None, **changes: Any
) -> Event:
    """Changes the fields given (`EVENT_FIELDS`; `datasets` is a list of slugs).

    A `None` title, kind or datasets leaves it as it is; `starts` may not be empty; an
    empty end, place or address removes it. Everything is checked before anything is set
    (the end may not come before the start), so a refusal leaves the event as it was.
    Only who may `event.edit` it.
    """
    check_known(changes, EVENT_FIELDS)
    if not allowed(viewer, Action.EVENT_EDIT, event):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient cet événement"))
    new: dict[str, Any] = {}
    if changes.get("title") is not None:
        new["title"] = check_title(changes["title"])
    if changes.get("kind") is not None:
        new["kind"] = _event_kind(changes["kind"])
    if "starts" in changes:
        new["starts_at"] = as_utc(_starts(changes["starts"]))  # UTC: SQLite drops offsets
    if "ends" in changes:
        ends = _ends(changes["ends"])
        new["ends_at"] = as_utc(ends) if ends is not None else None
    _check_period(new.get("starts_at", event.starts_at), new.get("ends_at", event.ends_at))
    if "location" in changes:
        new["location"] = checked_text(changes["location"], TOO_LONG["location"], 300) or None
    if "url" in changes:
        new["url"] = optional_url(changes["url"])
    if "description" in changes:
        new["description"] = checked_text(changes["description"], TOO_LONG["description"])
    if "results" in changes:
        new["results"] = checked_text(changes["results"], TOO_LONG["results"])
    if changes.get("datasets") is not None:
        new["datasets"] = relinked(session, viewer, event.datasets, changes["datasets"])
    record_change(session, viewer, actor, "event.update", event)
    return apply_changes(session, event, new)
