"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for tests of
the mail the platform sends (niaouli/mail.py)."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.portal_support import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, subject_part: str, timeout: float = 20) -> EmailMessage:
        """The first message to `to` whose subject contains `subject_part` (waits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in self.messages:
                    if message["To"] == to and subject_part in message["Subject"]:
                        return message
            time.sleep(0.1)
        subjects = [(m["To"], m["Subject"]) for m in self.messages]
        raise AssertionError(f"no mail to {to} about {subject_part!r}; got {subjects}")

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def body_of(message: EmailMessage) -> str:
    return message.get_content()


def link_in(message: EmailMessage, path: str) -> str:
    match = re.search(rf"(http://\S+{re.escape(path)}\S*)", body_of(message))
    assert match, body_of(message)
    return match.group(1)


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    """(mailbox, the NIAOULI_SMTP_* environment that points the platform at it)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (
            mailbox,
            {
                "NIAOULI_SMTP_HOST": "127.0.0.1",
                "NIAOULI_SMTP_PORT": str(port),
                "NIAOULI_SMTP_STARTTLS": "false",
                "NIAOULI_SMTP_FROM": "Niaouli <ne-pas-repondre@niaouli.test>",
            },
        )
    finally:
        controller.stop()
