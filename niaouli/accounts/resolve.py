"""Who a request is: session cookie, `Authorization: Bearer <token>`, or HTTP Basic.

The answer is an `Identity` holding the catalogue `Viewer` that every query takes. No
credentials means anonymous. Credentials that do not check out (unknown, revoked or
malformed token) raise `Unauthorized`: a client that sent a token must never be served
silently as anonymous (it would see less and not know why). A stale session cookie, on
the other hand, is simply ignored: browsers keep cookies after sign-out.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from niaouli.accounts import sessions, tokens
from niaouli.accounts.account_tables import Membership, Role, TokenScope, User
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.permissions import publishes_somewhere
from niaouli.db.engine import writing

LOGGER = logging.getLogger(__name__)

SESSION_COOKIE = "niaouli_session"
CHALLENGE = 'Bearer realm="Niaouli", Basic realm="Niaouli", charset="UTF-8"'


class Unauthorized(Exception):  # noqa: N818 - named after the HTTP status
    """Credentials were sent and are not valid."""


@dataclass(frozen=True)
class Identity:
    viewer: Viewer
    user_id: int | None = None
    display_name: str | None = None
    is_platform_admin: bool = False
    via: str | None = None  # "session" or "token"
    scope: str | None = None  # token scope; sessions may write (forms carry CSRF tokens)

    @property
    def is_signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def may_publish(self) -> bool:
        """Editor or admin of at least one organisation (or platform admin): the portal
        shows them « Publier des données »."""
        return self.is_signed_in and publishes_somewhere(self.viewer)


NOBODY = Identity(viewer=ANONYMOUS)


def viewer_for_user(session: Session, user: User, read_only: bool = False) -> Viewer:
    """The user's viewer: their organisations and roles, and the platform-admin flag."""
    rows = session.execute(
        select(Membership.organisation_id, Membership.role).where(Membership.user_id == user.id)
    )
    member_of = {organisation_id: Role(role).value for organisation_id, role in rows}
    return Viewer(
        user_id=user.id,
        is_platform_admin=user.is_platform_admin,
        member_of=member_of,
        read_only=read_only,
    )


def _identity(session: Session, user: User, via: str, scope: str | None = None) -> Identity:
    read_only = scope == TokenScope.READ.value
    return Identity(
        viewer=viewer_for_user(session, user, read_only=read_only),
        user_id=user.id,
        display_name=user.display_name,
        is_platform_admin=user.is_platform_admin,
        via=via,
        scope=scope,
    )


def token_from_authorization(header: str) -> str:
    """The API token in an `Authorization` header (Bearer, or Basic with it as password)."""
    kind, _, value = header.strip().partition(" ")
    kind, value = kind.lower(), value.strip()
    if kind == "bearer" and value:
        return value
    if kind == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        _username, sep, password = decoded.partition(":")
        if sep and password:
            return password  # any user name (or the account's e-mail): the token decides
    raise Unauthorized("unsupported Authorization header")


def session_signer(secret_key: str) -> Signer:
    return Signer(secret_key, salt="niaouli.session")


def _mark_used(engine: Engine, token_id: int) -> None:
    """Record the token's use in its own short write; bookkeeping must not refuse the
    request: a database busy past its timeout skips it (the next request records it)."""
    try:
        with Session(writing(engine)) as session, session.begin():
            tokens.mark_used(session, token_id)
    except OperationalError:
        LOGGER.warning("token %s: last use not recorded (database busy)", token_id)


def resolve(
    engine: Engine,
    secret_key: str,
    authorization: str | None,
    session_cookie: str | None,
) -> Identity:
    """The identity behind these credentials (see the module docstring)."""
    if authorization:
        secret = token_from_authorization(authorization)
        with Session(engine) as session:
            token = tokens.find_active(session, secret)
            if token is None:
                raise Unauthorized("unknown or revoked token")
            identity = _identity(session, token.user, "token", TokenScope(token.scope).value)
            stale, token_id = tokens.use_is_stale(token), token.id
        if stale:
            _mark_used(engine, token_id)
        return identity
    if session_cookie:
        try:
            secret = session_signer(secret_key).unsign(session_cookie).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return NOBODY
        with Session(engine) as session:
            user = sessions.user_for(session, secret)
            if user is None:
                return NOBODY
            return _identity(session, user, "session")
    return NOBODY
