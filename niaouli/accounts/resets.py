"""Password reset links: one use, one hour, hashed at rest.

With SMTP settings (niaouli/mail.py) the portal mails the link; without them (the
embedded default) the link is written to the server log (logger `niaouli.accounts`),
where the operator finds it and passes it on. Completing a reset also proves the
address (an account made by sign-up that never followed its address link).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from niaouli.accounts import passwords, secrets, sessions
from niaouli.accounts.account_tables import PasswordReset, User
from niaouli.accounts.users import AccountError, find_user
from niaouli.catalogue.models import utcnow
from niaouli.i18n import _

RESET_LIFETIME = timedelta(hours=1)


class InvalidLinkError(AccountError):
    """The reset link is unknown, used, expired, or its account is disabled."""


LOGGER = logging.getLogger("niaouli.accounts")


def _ensure_visible() -> None:
    """Make sure the reset links reach the server's log even with no logging set up."""
    # Any handler on the way up counts (the server's `niaouli` logger has one): adding
    # another here then wrote each link twice.
    if not LOGGER.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        LOGGER.addHandler(handler)
    if LOGGER.getEffectiveLevel() > logging.INFO:
        LOGGER.setLevel(logging.INFO)


def request_reset(session: Session, email: str, site_url: str, log_link: bool = True) -> str | None:
    """Create a reset link for the account of `email` and log it (unless the caller
    mails it: `log_link=False`); None if no account.

    The caller shows the same message either way, so the form does not reveal who has
    an account.
    """
    user = find_user(session, email)
    if user is None or not user.is_active:
        return None
    secret = secrets.new_secret()
    now = utcnow()
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=secrets.digest(secret),
            created_at=now,
            expires_at=now + RESET_LIFETIME,
        )
    )
    session.flush()
    link = f"{site_url.rstrip('/')}/reinitialiser/{secret}"
    if not log_link:
        return link
    _ensure_visible()
    LOGGER.info("Lien de réinitialisation du mot de passe pour %s : %s", user.email, link)
    return link


def find_valid(session: Session, secret: str) -> PasswordReset | None:
    if not secret or len(secret) > 100:
        return None
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == secrets.digest(secret))
    )
    if reset is None or reset.used_at is not None:
        return None
    if sessions.aware(reset.expires_at) < utcnow():
        return None
    return reset


def complete_reset(session: Session, secret: str, new_password: str) -> User:
    """Set the new password, use up every pending link of the account, end its sessions."""
    reset = find_valid(session, secret)
    user = session.get(User, reset.user_id) if reset is not None else None
    if user is None or not user.is_active:
        raise InvalidLinkError(_("ce lien de réinitialisation n'est pas valide ou a expiré"))
    try:
        user.password_hash = passwords.hash_password(new_password)
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from None
    now = utcnow()
    if user.email_verified_at is None:  # the link came to the address: it is proved
        user.email_verified_at = now
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    sessions.end_all(session, user)
    session.flush()
    return user
