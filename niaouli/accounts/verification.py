"""Address links sent at sign-up: proof that the address is the user's.

The link carries the account id and address, signed with the server's secret key and
dated (48 hours), so nothing is stored; it opens a session only while the address is
still unproved, i.e. once.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import User
from niaouli.catalogue.models import utcnow

LIFETIME_SECONDS = 48 * 3600


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="niaouli.verify-email")


def make_link(secret_key: str, site_url: str, user: User) -> str:
    token = _serializer(secret_key).dumps({"u": user.id, "e": user.email})
    return f"{site_url.rstrip('/')}/verifier/{token}"


def verify(session: Session, secret_key: str, token: str) -> tuple[User | None, bool]:
    """(account, True when this use proved the address) for a valid link, else (None, False)."""
    if not token or len(token) > 500:
        return None, False
    try:
        data = _serializer(secret_key).loads(token, max_age=LIFETIME_SECONDS)
    except BadSignature:  # also expired
        return None, False
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None, False
    user = session.get(User, data["u"])
    if user is None or user.email != data.get("e") or not user.is_active:
        return None, False
    if user.email_verified_at is not None:
        return user, False
    user.email_verified_at = utcnow()
    session.flush()
    return user, True
