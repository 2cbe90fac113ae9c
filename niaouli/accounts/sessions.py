"""Browser sessions: a random secret in a signed cookie, its SHA-256 in `user_sessions`.

Server-side rows mean that signing out (or resetting the password) really ends a
session, even if someone kept a copy of the cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from niaouli.accounts import secrets
from niaouli.accounts.account_tables import User, UserSession
from niaouli.catalogue.models import utcnow

SESSION_LIFETIME = timedelta(days=14)


def start(session: Session, user: User) -> str:
    """A new session for `user`; returns the secret to put in the cookie."""
    secret = secrets.new_secret()
    now = utcnow()
    session.add(
        UserSession(
            user=user,
            token_hash=secrets.digest(secret),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    # Expired sessions of anyone are cleared now and then, here (cheap, indexed by id).
    session.execute(delete(UserSession).where(UserSession.expires_at < now))
    session.flush()
    return secret


def user_for(session: Session, secret: str) -> User | None:
    row = session.scalar(
        select(UserSession).where(UserSession.token_hash == secrets.digest(secret))
    )
    if row is None or aware(row.expires_at) < utcnow() or not row.user.is_active:
        return None
    return row.user


def end(session: Session, secret: str) -> int | None:
    """End this session; returns whose it was (None if it was already gone)."""
    row = session.scalar(
        select(UserSession).where(UserSession.token_hash == secrets.digest(secret))
    )
    if row is None:
        return None
    session.delete(row)
    session.flush()
    return row.user_id


def end_all(session: Session, user: User) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
