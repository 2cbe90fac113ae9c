"""The audit log: one row per change to accounts, memberships, tokens and publication.

`record` adds the row to the caller's session, so it is committed with the change it
describes, or not at all. Failed and throttled sign-ins are recorded too (with the
address typed, cut to 320 characters, and the client address).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts.models import AuditEvent

if TYPE_CHECKING:
    from niaouli.catalogue.access import Viewer


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or nobody yet, e.g. a failed sign-in), how, and from where."""

    user_id: int | None
    via: str
    client: str | None = None


COMMAND_LINE = Actor(user_id=None, via="cli")


def actor_for(viewer: Viewer) -> Actor:
    """Who acts when a core operation is called without a request's actor: the command
    line (`Viewer.system()`, no user) or the application on a user's behalf."""
    return COMMAND_LINE if viewer.user_id is None else Actor(viewer.user_id, "app")


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    subject: str = "",
    organisation_id: int | None = None,
    **details: Any,
) -> None:
    session.add(
        AuditEvent(
            action=action,
            actor_id=actor.user_id,
            via=actor.via,
            client=(actor.client or None) and actor.client[:64],
            organisation_id=organisation_id,
            subject=subject[:320],
            details=details,
        )
    )


def list_events(
    session: Session, limit: int = 100, organisation_id: int | None = None
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if organisation_id is not None:
        query = query.where(AuditEvent.organisation_id == organisation_id)
    return session.scalars(query).all()
