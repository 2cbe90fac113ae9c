"""Accounts and organisation memberships: the service functions the CLI and portal call.

Functions take a SQLAlchemy `Session` and raise `AccountError` (a message meant for people,
in the request's language: French outside a portal request) on refusal; the caller
owns the transaction, so a refusal changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from niaouli.accounts import passwords
from niaouli.accounts.account_tables import Membership, Role, User
from niaouli.catalogue.models import Organisation, utcnow
from niaouli.errors import NiaouliError
from niaouli.i18n import N_, _

EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"'/\\]{1,255}\.[^@\s<>\"'/\\]{1,63}$")
# Translated where shown (`_(label)`): the CLI prints them in French.
ROLE_LABELS = {
    Role.MEMBER: N_("membre"),
    Role.EDITOR: N_("éditeur"),
    Role.ADMIN: N_("administrateur"),
}


class AccountError(NiaouliError, ValueError):
    """A request about accounts that is refused, with a message meant for people."""

    code = "InvalidValue"


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise AccountError(
            _("adresse électronique invalide : « %(email)s »") % {"email": email[:100]}
        )
    return email


def find_user(session: Session, email: str) -> User | None:
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == email))


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise AccountError(_("aucun compte pour « %(email)s »") % {"email": email[:100]})
    return user


def create_user(
    session: Session,
    email: str,
    display_name: str,
    password: str | None,
    *,
    is_platform_admin: bool = False,
) -> User:
    email = normalise_email(email)
    display_name = " ".join((display_name or "").split())[:200]
    if not display_name:
        raise AccountError(_("le nom affiché est obligatoire"))
    if session.scalar(select(User.id).where(User.email == email)):
        raise AccountError(_("un compte existe déjà avec cette adresse électronique"))
    try:
        password_hash = passwords.hash_password(password) if password is not None else None
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from None
    user = User(
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        is_platform_admin=is_platform_admin,
        is_active=True,
        # Made by an operator, an admin or an identity provider: the address is trusted.
        email_verified_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def sign_up(
    session: Session, email: str, display_name: str, password: str, *, verified: bool
) -> tuple[User | None, User | None]:
    """(new account, None) or (None, existing account of this address).

    Both ways check the same things and hash the password once, so they take the same
    time: with e-mail, the page then answers alike and only the mailbox learns which
    (an existing address gets a message instead of a second account). A new account
    made with `verified=False` cannot sign in before its address link is followed.
    """
    email = normalise_email(email)
    display_name = " ".join((display_name or "").split())[:200]
    if not display_name:
        raise AccountError(_("le nom affiché est obligatoire"))
    try:
        password_hash = passwords.hash_password(password)
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from None
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        return None, existing
    user = User(
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        is_platform_admin=False,
        is_active=True,
        email_verified_at=utcnow() if verified else None,
    )
    session.add(user)
    session.flush()
    return user, None


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (same time either way)."""
    user = find_user(session, email)
    stored = user.password_hash if user is not None and user.is_active else None
    if not passwords.verify_password(stored, password):
        return None
    assert user is not None
    if passwords.needs_rehash(stored or ""):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = utcnow()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    try:
        user.password_hash = passwords.hash_password(password)
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from None
    session.flush()


def set_platform_admin(session: Session, email: str, value: bool = True) -> User:
    user = get_user(session, email)
    user.is_platform_admin = value
    session.flush()
    return user


def set_active(session: Session, email: str, value: bool) -> User:
    user = get_user(session, email)
    user.is_active = value
    session.flush()
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(
        select(User).options(selectinload(User.memberships)).order_by(User.email)
    ).all()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


# --- memberships -----------------------------------------------------------------------


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        message = _("rôle inconnu « %(role)s » (attendu : %(allowed)s)")
        raise AccountError(message % {"role": role, "allowed": allowed}) from None


def set_membership(
    session: Session, organisation: Organisation, user: User, role: str
) -> Membership:
    """Add `user` to `organisation` with `role`, or change their role there."""
    parsed = parse_role(role)
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation.id
        )
    )
    if membership is None:
        membership = Membership(user=user, organisation=organisation, role=parsed)
        session.add(membership)
    else:
        if membership.role == Role.ADMIN and parsed != Role.ADMIN:
            _keep_an_admin(session, organisation)
        membership.role = parsed
    session.flush()
    return membership


def _keep_an_admin(session: Session, organisation: Organisation) -> None:
    """Refuse to take away the organisation's last admin (nobody could manage it)."""
    admins = session.scalar(
        select(func.count(Membership.id)).where(
            Membership.organisation_id == organisation.id, Membership.role == Role.ADMIN
        )
    )
    if (admins or 0) <= 1:
        raise AccountError(_("l'organisation doit garder au moins un administrateur"))


def remove_membership(session: Session, organisation: Organisation, user: User) -> None:
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organisation_id == organisation.id
        )
    )
    if membership is None:
        raise AccountError(
            _("« %(email)s » n'est pas membre de « %(organisation)s »")
            % {"email": user.email, "organisation": organisation.slug}
        )
    if membership.role == Role.ADMIN:
        _keep_an_admin(session, organisation)
    session.delete(membership)
    session.flush()


def list_members(session: Session, organisation: Organisation) -> Sequence[Membership]:
    return session.scalars(
        select(Membership)
        .join(User)
        .where(Membership.organisation_id == organisation.id)
        .options(selectinload(Membership.user))
        .order_by(User.display_name, User.id)
    ).all()


def memberships_of(session: Session, user_id: int) -> Sequence[Membership]:
    return session.scalars(
        select(Membership)
        .where(Membership.user_id == user_id)
        .options(selectinload(Membership.organisation))
        .order_by(Membership.id)
    ).all()
