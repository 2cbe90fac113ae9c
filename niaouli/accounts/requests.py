"""Membership requests: a signed-in user asks to join an organisation (or to become its
editor); the organisation's admins accept, choosing the role, or refuse.

Same conventions as `users.py`: the caller owns the transaction and writes the audit
row; refusals raise `AccountError` with a message meant for people.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from niaouli.accounts import users
from niaouli.accounts.account_tables import Membership, MembershipRequest, RequestStatus, Role, User
from niaouli.accounts.users import AccountError
from niaouli.catalogue.models import Organisation, utcnow
from niaouli.i18n import _

ASKABLE = (Role.MEMBER, Role.EDITOR)  # admins are named by admins, not asked for
STRENGTH = {Role.MEMBER: 1, Role.EDITOR: 2, Role.ADMIN: 3}
MAX_MESSAGE = 1000


def current_role(session: Session, organisation: Organisation, user: User) -> Role | None:
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation.id
        )
    )
    return Role(role) if role is not None else None


def pending_of(
    session: Session, organisation: Organisation, user: User
) -> MembershipRequest | None:
    return session.scalar(
        select(MembershipRequest).where(
            MembershipRequest.user_id == user.id,
            MembershipRequest.organisation_id == organisation.id,
            MembershipRequest.status == RequestStatus.PENDING,
        )
    )


def ask(
    session: Session, organisation: Organisation, user: User, role: str, message: str
) -> MembershipRequest:
    """Record the request; refused if pending already or if the user has that role."""
    wanted = users.parse_role(role)
    if wanted not in ASKABLE:
        raise AccountError(_("on ne peut demander que le rôle de membre ou d'éditeur"))
    held = current_role(session, organisation, user)
    if held is not None and STRENGTH[held] >= STRENGTH[wanted]:
        raise AccountError(_("vous avez déjà ce rôle dans cette organisation"))
    if pending_of(session, organisation, user) is not None:
        raise AccountError(_("une demande est déjà en attente pour cette organisation"))
    request = MembershipRequest(
        user_id=user.id,
        organisation_id=organisation.id,
        role=wanted.value,
        message=" ".join((message or "").split())[:MAX_MESSAGE],
        status=RequestStatus.PENDING,
    )
    session.add(request)
    session.flush()
    return request


def pending(session: Session, organisation: Organisation) -> Sequence[MembershipRequest]:
    return session.scalars(
        select(MembershipRequest)
        .where(
            MembershipRequest.organisation_id == organisation.id,
            MembershipRequest.status == RequestStatus.PENDING,
        )
        .options(selectinload(MembershipRequest.user))
        .order_by(MembershipRequest.created_at, MembershipRequest.id)
    ).all()


def decide(
    session: Session,
    organisation: Organisation,
    request_id: int,
    accept: bool,
    role: str,
    decided_by: int | None,
) -> MembershipRequest:
    """Accept (the user gets `role`) or refuse a pending request of this organisation."""
    request = session.get(MembershipRequest, request_id)
    if (
        request is None
        or request.organisation_id != organisation.id
        or request.status != RequestStatus.PENDING
    ):
        raise AccountError(_("cette demande n'existe pas ou a déjà été traitée"))
    if accept:
        users.set_membership(session, organisation, request.user, role)
        request.role = users.parse_role(role).value
    request.status = RequestStatus.ACCEPTED if accept else RequestStatus.REFUSED
    request.decided_at = utcnow()
    request.decided_by_id = decided_by
    session.flush()
    return request


def requests_of(session: Session, user_id: int, limit: int = 20) -> Sequence[MembershipRequest]:
    """The user's requests, newest first (their account page shows the decisions)."""
    return session.scalars(
        select(MembershipRequest)
        .where(MembershipRequest.user_id == user_id)
        .options(selectinload(MembershipRequest.organisation))
        .order_by(MembershipRequest.created_at.desc(), MembershipRequest.id.desc())
        .limit(limit)
    ).all()


def admins_of(session: Session, organisation: Organisation) -> Sequence[User]:
    return session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organisation_id == organisation.id,
            Membership.role == Role.ADMIN,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    ).all()
