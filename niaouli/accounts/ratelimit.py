"""Sign-in throttle kept in the database, so every worker and process shares the counts.

Failures are recorded under hashed keys (never the raw e-mail or address): one for the
account and client address together (stops guessing one account's password), one for
the address (stops spraying many accounts), one for the account (stops a guess spread
over many addresses, with a higher bound so a stranger cannot easily lock someone out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from niaouli.accounts import secrets
from niaouli.accounts.account_tables import LoginFailure
from niaouli.catalogue.models import utcnow

WINDOW = timedelta(minutes=15)
LIMITS = {"pair": 5, "ip": 30, "account": 50}


@dataclass(frozen=True)
class Keys:
    pair: str
    ip: str
    account: str

    def items(self) -> list[tuple[str, str]]:
        return [("pair", self.pair), ("ip", self.ip), ("account", self.account)]


def keys_for(secret_key: str, email: str, client_ip: str) -> Keys:
    email = (email or "").strip().lower()[:320]
    return Keys(
        pair="p:" + secrets.keyed_digest(secret_key, f"{email}\n{client_ip}")[:64],
        ip="i:" + secrets.keyed_digest(secret_key, client_ip)[:64],
        account="a:" + secrets.keyed_digest(secret_key, email)[:64],
    )


def is_blocked(session: Session, keys: Keys) -> bool:
    since = utcnow() - WINDOW
    for kind, key in keys.items():
        count = session.scalar(
            select(func.count(LoginFailure.id)).where(
                LoginFailure.key == key, LoginFailure.at >= since
            )
        )
        if (count or 0) >= LIMITS[kind]:
            return True
    return False


def record_failure(session: Session, keys: Keys) -> None:
    now = utcnow()
    for _kind, key in keys.items():
        session.add(LoginFailure(key=key, at=now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - WINDOW))
    session.flush()


def clear(session: Session, keys: Keys) -> None:
    """After a successful sign-in: that account and address start afresh together."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys.pair))
