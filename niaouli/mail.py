"""Outgoing e-mail through the operator's SMTP server (standard library only).

Set `NIAOULI_SMTP_HOST` (and `_PORT`, `_USER`, `_PASSWORD`, `_FROM`, `_STARTTLS`) and
the platform mails password-reset links, sign-up address checks and membership
decisions. Without it nothing is sent: reset links go to the server log, as before, and
sign-up opens the account at once.

Messages are sent from a small background pool, after the page has answered: a slow or
failing mail server never slows a page, and a page takes the same time whether or not
it sent mail (sign-up must not tell who already has an account). A failure is logged.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

log = logging.getLogger("niaouli.mail")
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="niaouli-mail")
TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str = ""
    password: str = ""
    sender: str = "niaouli@localhost"
    starttls: bool = True


def smtp_from_env(env: dict[str, str]) -> SmtpSettings | None:
    """The SMTP settings from `NIAOULI_SMTP_*`, or None when no host is set."""
    host = env.get("NIAOULI_SMTP_HOST", "").strip()
    if not host:
        return None
    raw_port = env.get("NIAOULI_SMTP_PORT", "").strip() or "587"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ValueError(f"NIAOULI_SMTP_PORT: a port number ({raw_port!r})")
    starttls = env.get("NIAOULI_SMTP_STARTTLS", "").strip().lower()
    if starttls not in ("", "1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"NIAOULI_SMTP_STARTTLS: true or false ({starttls!r})")
    return SmtpSettings(
        host=host,
        port=int(raw_port),
        user=env.get("NIAOULI_SMTP_USER", ""),
        password=env.get("NIAOULI_SMTP_PASSWORD", ""),
        sender=env.get("NIAOULI_SMTP_FROM", "").strip() or f"niaouli@{host}",
        starttls=starttls not in ("0", "false", "no", "off"),
    )


def build(smtp: SmtpSettings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(body)
    return message


def deliver(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Send now (blocking). STARTTLS verifies the server's certificate."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(message)


def send(smtp: SmtpSettings | None, to: str, subject: str, body: str) -> Future[None] | None:
    """Queue a plain-text message (already in the reader's language); None without SMTP."""
    if smtp is None:
        return None
    message = build(smtp, to, subject, body)

    def run() -> None:
        try:
            deliver(smtp, message)
        except Exception:  # noqa: BLE001 - logged, never raised into a page
            log.exception("e-mail to %s (%s) not sent", to, subject)

    return _POOL.submit(run)
