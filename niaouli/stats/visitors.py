"""Telling a new visit from a repeat hit, without keeping who the visitor is.

A visit is identified by HMAC-SHA256(secret, client address + user agent + URL path and
query). The
secret is random, lives only in this process's memory and is replaced every day (and
the remembered hashes with it), so the hashes cannot be linked to an address afterwards
nor across days. A hash is forgotten `window` seconds after it was first seen; nothing
here is ever written anywhere. Robots are recognised by their user agent.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable
from datetime import date
from hashlib import sha256

DEFAULT_WINDOW = 30 * 60
MAX_REMEMBERED = 200_000
ROBOT = re.compile(
    rb"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|headless|lighthouse"
    rb"|bingpreview|yandex|baiduspider|semrush|ahrefs|petalbot",
    re.IGNORECASE,
)


def is_robot(method: str, user_agent: bytes) -> bool:
    """Crawlers by their user agent; HEAD requests (link checkers) are robots too."""
    return method == "HEAD" or ROBOT.search(user_agent) is not None


class Visits:
    """Remembers recent visit hashes (per worker) to count each visit once."""

    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self.window = window
        self.clock = clock
        self.max_remembered = max_remembered
        self._day: date | None = None
        self._secret = b""
        self._seen: dict[bytes, float] = {}
        self._purged_at = clock()

    def is_new(self, day: date, client: str, user_agent: bytes, target: str) -> bool:
        """True the first time this client asks for this URL within the window."""
        if day != self._day:
            self._day = day
            self._secret = secrets.token_bytes(32)
            self._seen = {}
        message = b"\0".join((client.encode(), user_agent, target.encode("utf-8", "replace")))
        key = hmac.digest(self._secret, message, sha256)  # one-shot: OpenSSL's own
        now = self.clock()
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at < self.window:
            return False
        if len(self._seen) >= self.max_remembered or now - self._purged_at > self.window:
            self._forget_old(now)
        self._seen[key] = now
        return True

    def _forget_old(self, now: float) -> None:
        self._purged_at = now
        self._seen = {k: t for k, t in self._seen.items() if now - t < self.window}
        if len(self._seen) >= self.max_remembered:
            self._seen = {}  # a flood: forgetting over-counts a little, never grows memory

    def __len__(self) -> int:
        return len(self._seen)
