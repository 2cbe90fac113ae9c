"""The audit log: one row per change to accounts, memberships, tokens and publication.

`record` adds the row to the caller's session, so it is committed with the change it
describes, or not at all. Failed and throttled sign-ins are recorded too (with the
address typed, cut to 320 characters, and the client address).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import AuditEvent, User

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


def count_events(session: Session, organisation_id: int) -> int:
    """How many rows the organisation's journal holds."""
    mine = AuditEvent.organisation_id == organisation_id
    return session.scalar(select(func.count()).select_from(AuditEvent).where(mine)) or 0


def journal_page(
    session: Session, organisation_id: int, offset: int, limit: int
) -> tuple[list[tuple[AuditEvent, str | None, str | None]], dict[str, str]]:
    """One page of the organisation's journal, newest first: (row, actor's display name,
    actor's e-mail), and the display names of the people named by e-mail in `member.*`
    rows (added, removed, asking)."""
    rows = session.execute(
        select(AuditEvent, User.display_name, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.organisation_id == organisation_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    addresses = {e.subject for e, _n, _m in rows if e.action.startswith("member.")}
    names = dict(
        session.execute(
            select(User.email, User.display_name).where(User.email.in_(addresses))
        ).all()
    )
    return [tuple(row) for row in rows], names
