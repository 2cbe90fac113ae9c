"""What a person does with their own account, and what an operator does to accounts:
each operation once, with its throttle and its audit row in the caller's transaction.

The portal's account pages, its OpenID Connect sign-in and the command line call these
and only translate: forms and redirects there, prompts and exit codes here. (Membership
changes live in `memberships.py`, dataset and catalogue writes in `niaouli.catalogue`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from niaouli.accounts import audit, ratelimit, resets, sessions, tokens, users, verification
from niaouli.accounts.account_tables import ApiToken, User
from niaouli.i18n import N_, _

# Marked here, translated when shown (`_(TOO_MANY)`).
TOO_MANY = N_(
    "Trop de tentatives de connexion infructueuses. Par sécurité, réessayez dans "
    "quinze minutes ou réinitialisez votre mot de passe."
)

SignInOutcome = Literal["ok", "failed", "blocked", "unverified"]


@dataclass(frozen=True)
class SignIn:
    outcome: SignInOutcome
    secret: str | None = None  # the new session's secret when `outcome` is "ok"


def sign_in(session: Session, key: str, email: str, password: str, client: str | None) -> SignIn:
    """Check a password sign-in, throttled per address and client (every worker shares
    the count in the database); failures are recorded, so the caller commits them."""
    keys = ratelimit.keys_for(key, email, client or "inconnu")
    nobody = audit.Actor(None, "session", client)
    if ratelimit.is_blocked(session, keys):
        audit.record(session, nobody, "auth.sign_in_blocked", subject=email)
        return SignIn("blocked")
    user = users.authenticate(session, email, password)
    if user is None:
        ratelimit.record_failure(session, keys)
        audit.record(session, nobody, "auth.sign_in_failed", subject=email)
        return SignIn("failed")
    ratelimit.clear(session, keys)
    if user.email_verified_at is None:
        return SignIn("unverified")
    audit.record(session, audit.Actor(user.id, "session", client), "auth.sign_in")
    return SignIn("ok", sessions.start(session, user))


def sign_in_from_provider(session: Session, user: User, how: str, client: str | None) -> str:
    """A session for an account an identity provider vouched for (OpenID Connect)."""
    audit.record(session, audit.Actor(user.id, "oidc", client), "auth.sign_in", account=how)
    return sessions.start(session, user)


def sign_up(
    session: Session, email: str, name: str, password: str, *, verified: bool, client: str | None
) -> tuple[User | None, User | None]:
    """(new account, existing account of that address): one of the two is set. A
    refused password or address raises `AccountError` before anything is written."""
    user, existing = users.sign_up(session, email, name, password, verified=verified)
    if user is not None:
        audit.record(session, audit.Actor(user.id, "session", client), "auth.sign_up")
    elif existing is not None:
        audit.record(
            session,
            audit.Actor(None, "session", client),
            "auth.sign_up_existing",
            subject=existing.email,
        )
    return user, existing


def verify_address(
    session: Session, key: str, token: str, client: str | None
) -> tuple[bool, str | None]:
    """(link valid, new session secret on its first use) for a sign-up's address link."""
    user, first = verification.verify(session, key, token)
    if user is None:
        return False, None
    if not first:
        return True, None
    audit.record(session, audit.Actor(user.id, "session", client), "auth.email_verified")
    return True, sessions.start(session, user)


def sign_out(session: Session, secret: str, client: str | None) -> None:
    user_id = sessions.end(session, secret)
    if user_id is not None:
        audit.record(session, audit.Actor(user_id, "session", client), "auth.sign_out")


def request_reset(
    session: Session, key: str, email: str, site_url: str, *, log_link: bool, client: str | None
) -> tuple[bool, User | None, str | None]:
    """(allowed, account, link): at most a few links per address and client (each request
    counts like a failed sign-in); no account gives (True, None, None), as the caller
    must answer the same either way."""
    keys = ratelimit.keys_for(key, "reset:" + email, client or "inconnu")
    if ratelimit.is_blocked(session, keys):
        return False, None, None
    ratelimit.record_failure(session, keys)
    link = resets.request_reset(session, email, site_url, log_link=log_link)
    if link is None:
        return True, None, None
    user = users.get_user(session, email)
    audit.record(session, audit.Actor(user.id, "session", client), "auth.reset_requested")
    return True, user, link


def complete_reset(session: Session, secret: str, password: str, client: str | None) -> str:
    """Set the new password from a reset link; the new session's secret."""
    user = resets.complete_reset(session, secret, password)
    audit.record(session, audit.Actor(user.id, "session", client), "auth.reset_completed")
    return sessions.start(session, user)


def change_password(
    session: Session,
    key: str,
    user: User,
    current: str,
    password: str,
    confirmation: str,
    client: str | None,
) -> tuple[str | None, str | None]:
    """(error message, new session secret). The current password is checked and
    throttled like a sign-in; every other session of the account ends."""
    keys = ratelimit.keys_for(key, user.email, client or "inconnu")
    if ratelimit.is_blocked(session, keys):
        return _(TOO_MANY), None
    if users.authenticate(session, user.email, current) is None:
        ratelimit.record_failure(session, keys)
        return _("Le mot de passe actuel est incorrect."), None
    if password != confirmation:
        return _("Les deux nouveaux mots de passe ne sont pas identiques."), None
    try:  # a refused password is refused before anything changes
        users.set_password(session, user, password)
    except users.AccountError as exc:
        return _sentence(exc), None
    sessions.end_all(session, user)
    audit.record(session, audit.Actor(user.id, "session", client), "auth.password_changed")
    return None, sessions.start(session, user)


def create_token(
    session: Session, actor: audit.Actor, owner: User, name: str, scope: str, *, subject: str = ""
) -> tuple[ApiToken, str]:
    """(token, its secret, shown once). `subject`: the owner's address when an operator
    creates it for them."""
    token, secret = tokens.create_token(session, owner, name, scope)
    audit.record(
        session,
        actor,
        "token.create",
        subject=subject,
        prefix=token.prefix,
        scope=scope,
        name=token.name,
    )
    return token, secret


def revoke_token(
    session: Session, actor: audit.Actor, owner: User, token_ref: str | int, *, subject: str = ""
) -> ApiToken:
    token = tokens.revoke_token(session, owner, token_ref)
    audit.record(session, actor, "token.revoke", subject=subject, prefix=token.prefix)
    return token


# --- what an operator does (the command line) --------------------------------------------


def create_account(
    session: Session, actor: audit.Actor, email: str, name: str, password: str, admin: bool
) -> User:
    created = users.create_user(session, email, name, password, is_platform_admin=admin)
    audit.record(session, actor, "user.create", subject=created.email, admin=admin)
    return created


def set_platform_admin(session: Session, actor: audit.Actor, email: str, value: bool) -> User:
    changed = users.set_platform_admin(session, email, value)
    audit.record(session, actor, "user.promote" if value else "user.demote", subject=changed.email)
    return changed


def set_active(session: Session, actor: audit.Actor, email: str, value: bool) -> User:
    changed = users.set_active(session, email, value)
    audit.record(session, actor, "user.enable" if value else "user.disable", subject=changed.email)
    return changed


def set_password(session: Session, actor: audit.Actor, email: str, password: str) -> User:
    account = users.get_user(session, email)
    users.set_password(session, account, password)
    audit.record(session, actor, "user.password", subject=account.email)
    return account


def _sentence(exc: Exception) -> str:
    """An `AccountError`'s message ("le nom affiché est obligatoire") as a sentence."""
    message = str(exc)
    return message[:1].upper() + message[1:] + "."
