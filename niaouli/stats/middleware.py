"""ASGI middleware counting every answered request, on every interface.

Per request: classify the path, look at the status when the answer starts, and add one
to an in-memory counter (see `counters`). Only successful answers count (2xx and 304).
No address, user agent or user is stored: they only feed the keyed hash that tells a new
visit from a repeat (`visitors`). Robots are counted apart, under the `robots` interface.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.settings import get_settings
from niaouli.stats import classify
from niaouli.stats.counters import Counters, Key
from niaouli.stats.visitors import Visits, is_robot

NOUMEA = ZoneInfo("Pacific/Noumea")


_day_cache: tuple[float, date] = (0.0, date.min)


def today() -> date:
    """Days are New Caledonia's (UTC+11), the platform's public (read once a second)."""
    global _day_cache  # noqa: PLW0603 - a one-entry cache for the hot path
    now = time.monotonic()
    if now - _day_cache[0] > 1.0:
        _day_cache = (now, datetime.now(NOUMEA).date())
    return _day_cache[1]


def _counted(status: int) -> bool:
    return 200 <= status < 300 or status == 304


class UsageMiddleware:
    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        # NIAOULI_STATS=off: nothing counted (e.g. to measure the middleware's cost)
        self.enabled = get_settings().stats
        self.counters = Counters(engine)
        self.visits = Visits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flush_on_shutdown(receive), send)
            return
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        hit = classify.classify(method, path, scope.get("query_string", b""))
        if hit is None:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and _counted(message["status"]):
                self._count(scope, method, path, hit)
            await send(message)

        await self.app(scope, receive, counting_send)

    def _count(self, scope: Scope, method: str, path: str, hit: classify.Hit) -> None:
        user_agent = b""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = value
                break
        client = scope.get("client")
        address = client[0] if client else ""
        day = today()
        target = path + "?" + scope.get("query_string", b"").decode("latin-1")
        new = self.visits.is_new(day, address, user_agent, target)
        if is_robot(method, user_agent):
            key = Key(day, classify.ROBOTS, None, None)
        else:
            key = Key(day, hit.interface, hit.kind, hit.key)
        self.counters.add(key, new)

    def _flush_on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.counters.stop()
            return message

        return wrapped
