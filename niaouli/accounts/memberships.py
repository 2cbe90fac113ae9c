"""Changing who belongs to an organisation: the operations the portal and the command line
share, each with its rule (`members.manage`, `permissions.allowed`) and its audit row in
the caller's transaction. The callers find the user (each says « unknown address » its
own way) and translate the errors.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from niaouli.accounts import audit, requests, users
from niaouli.accounts.account_tables import MembershipRequest, User
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.publication import ForbiddenError
from niaouli.i18n import _


def _check(viewer: Viewer, org: Organisation) -> None:
    if not allowed(viewer, Action.MEMBERS_MANAGE, org):
        raise ForbiddenError(_("seuls les administrateurs de l'organisation gèrent ses membres"))


def set_member(
    session: Session, viewer: Viewer, actor: audit.Actor, org: Organisation, user: User, role: str
) -> None:
    """Adds `user` to `org` with `role`, or changes their role there."""
    _check(viewer, org)
    users.set_membership(session, org, user, role)
    audit.record(
        session, actor, "member.set", subject=user.email, organisation_id=org.id, role=role
    )


def remove_member(
    session: Session, viewer: Viewer, actor: audit.Actor, org: Organisation, user: User
) -> None:
    _check(viewer, org)
    users.remove_membership(session, org, user)
    audit.record(session, actor, "member.remove", subject=user.email, organisation_id=org.id)


def ask_to_join(
    session: Session, actor: audit.Actor, org: Organisation, user: User, role: str, message: str
) -> MembershipRequest:
    """`user` asks to join `org` (or for a stronger role): any signed-in user may ask."""
    asked = requests.ask(session, org, user, role, message)
    audit.record(
        session,
        actor,
        "member.request",
        subject=user.email,
        organisation_id=org.id,
        role=asked.role,
    )
    return asked


def decide_request(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    org: Organisation,
    request_id: int,
    accept: bool,
    role: str,
) -> MembershipRequest:
    """An admin accepts (the user gets `role`) or refuses a pending request."""
    _check(viewer, org)
    decided = requests.decide(session, org, request_id, accept, role, viewer.user_id)
    audit.record(
        session,
        actor,
        "member.request_accepted" if accept else "member.request_refused",
        subject=decided.user.email,
        organisation_id=org.id,
        role=decided.role,
    )
    if accept:
        audit.record(
            session,
            actor,
            "member.set",
            subject=decided.user.email,
            organisation_id=org.id,
            role=decided.role,
        )
    return decided
