"""Personal API tokens: for scripts and GIS software (QGIS, GDAL) reading restricted data.

The secret is returned once, at creation; the database keeps its SHA-256, a short
visible prefix (to tell tokens apart in lists), a scope (read or write) and dates.
A revoked token stays listed, and is refused forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from niaouli.accounts import secrets
from niaouli.accounts.account_tables import ApiToken, TokenScope, User
from niaouli.accounts.sessions import aware
from niaouli.accounts.users import AccountError
from niaouli.catalogue.models import utcnow
from niaouli.i18n import _

MAX_ACTIVE_TOKENS = 50
LAST_USED_PRECISION = timedelta(minutes=5)  # fewer writes: not every request updates it


def parse_scope(scope: str | TokenScope) -> TokenScope:
    try:
        return TokenScope(scope)
    except ValueError:
        message = _("portée inconnue « %(scope)s » (attendu : read ou write)")
        raise AccountError(message % {"scope": scope}) from None


def create_token(session: Session, user: User, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token for `user`, and its secret (shown once, never stored)."""
    name = " ".join((name or "").split())[:100]
    if not name:
        raise AccountError(_("donnez un nom au jeton (par exemple « QGIS bureau »)"))
    parsed = parse_scope(scope)
    if len(list_tokens(session, user, active_only=True)) >= MAX_ACTIVE_TOKENS:
        raise AccountError(
            _("au plus %(num)s jetons actifs par compte") % {"num": MAX_ACTIVE_TOKENS}
        )
    secret = secrets.new_api_token()
    token = ApiToken(
        user=user,
        name=name,
        prefix=secret[: secrets.VISIBLE_PREFIX_LENGTH],
        token_hash=secrets.digest(secret),
        scope=parsed,
    )
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session, user: User, active_only: bool = False) -> Sequence[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    if active_only:
        query = query.where(ApiToken.revoked_at.is_(None))
    return session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def revoke_token(session: Session, user: User, token_ref: str | int) -> ApiToken:
    """Revoke one of `user`'s tokens, given by id or visible prefix."""
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    if isinstance(token_ref, int) or str(token_ref).isdigit():
        query = query.where(ApiToken.id == int(token_ref))
    else:
        query = query.where(ApiToken.prefix == str(token_ref))
    token = session.scalar(query)
    if token is None:
        raise AccountError(
            _("aucun jeton « %(token)s » pour ce compte") % {"token": str(token_ref)[:40]}
        )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


def find_active(session: Session, secret: str) -> ApiToken | None:
    """The active token whose secret this is, with its user (active too), else None.

    Read only: the caller records the use with `mark_used` in a transaction of its own
    (on SQLite, a read transaction that then wrote would fail under concurrent writes,
    and taking the write lock for every token request would serialise them all).
    """
    if not secrets.looks_like_api_token(secret):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == secrets.digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    return token


def use_is_stale(token: ApiToken) -> bool:
    """Whether `last_used_at` is older than its precision (so worth a write)."""
    last = token.last_used_at
    return last is None or aware(last) < utcnow() - LAST_USED_PRECISION


def mark_used(session: Session, token_id: int) -> None:
    """Record a use now: a single write (at most one per `LAST_USED_PRECISION`)."""
    now = utcnow()
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )
