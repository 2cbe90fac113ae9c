"""Which database a request's read-only work reads: the primary or its streaming replica.

With `NIAOULI_DATABASE_READ_URL` set, the read-only paths (OGC API items, tiles and
records, the portal's search, CSW) ask `on_replica()` and read the replica when it says
so; everything else, and every write, uses the primary (`get_engine`), whatever this
module says. The replica lags the primary by its replay delay, so the decision keeps
read-your-writes for the people who write:

- a signed-in request (session cookie or API token: editors, publishers) reads the primary;
- a request that wrote (any INSERT/UPDATE/DELETE/DDL on the primary's engine during it)
  gets a cookie `niaouli_lsn` holding the primary's WAL position after its commit
  (`pg_current_wal_lsn()`); a later request carrying it reads the primary until the
  replica's `pg_last_wal_replay_lsn()` has reached that position, then the cookie is
  dropped (a browser that published anonymously-readable data and then browses the site
  signed out, or through a client keeping cookies, still sees it at once);
- only GET and HEAD requests (and CSW's, all read-only) may read the replica;
- anyone else (anonymous readers, the bulk of the traffic) reads the replica and may see
  the catalogue as it was up to the replica's lag ago.

A replica that does not answer costs no request: the circuit of `niaouli.db.replica`
sends every read to the primary while it is down, and a routed request that failed
because of it is answered again by the primary before anything was sent.

Without a read URL nothing is routed (`on_replica()` is always false).
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import SimpleCookie

from sqlalchemy import Engine, event, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli import metrics
from niaouli.db import replica as replica_health
from niaouli.db import trouble
from niaouli.db.engine import get_engine, get_read_engine
from niaouli.settings import Settings
from niaouli.unavailable import Replay

LOGGER = logging.getLogger(__name__)
COOKIE = "niaouli_lsn"
COOKIE_SECONDS = 600  # longer than any sane replay lag; dropped as soon as it is replayed
_LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
_WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE", "COPY")


@dataclass
class _Route:
    replica: bool  # this request's read-only work may read the replica
    wrote: bool = False  # this request wrote to the primary


_ROUTE: ContextVar[_Route | None] = ContextVar("niaouli_read_route", default=None)


def on_replica() -> bool:
    """Whether the current request's read-only work reads the replica."""
    route = _ROUTE.get()
    return route is not None and route.replica


def reading(engine: Engine) -> Engine:
    """`engine` (the primary's), or the replica's when this request reads there."""
    return get_read_engine() if on_replica() else engine


def _note_write(_conn, _cursor, statement: str, *_rest) -> None:  # noqa: ANN001, ANN002
    route = _ROUTE.get()
    if route is not None and not route.wrote:
        verb = statement.lstrip()[:8].upper()
        if verb.startswith(_WRITES):
            route.wrote = True


def _cookie_lsn(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001, S112 - a garbled cookie header is no cookie
                continue
            if COOKIE in jar and _LSN.match(jar[COOKIE].value.upper()):
                return jar[COOKIE].value.upper()
    return None


class ReadRouting:
    """ASGI middleware deciding each request's reads (after the accounts middleware,
    whose viewer it looks at) and giving writers their `niaouli_lsn` cookie."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.enabled = bool(settings.database_read_url) and not settings.is_embedded
        self.secure = settings.public_url.startswith("https://")
        self.circuit = replica_health.circuit(settings) if self.enabled else None
        if self.enabled:
            primary = get_engine(settings)
            if not event.contains(primary, "after_cursor_execute", _note_write):
                event.listen(primary, "after_cursor_execute", _note_write)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        viewer = scope.get("state", {}).get("viewer")
        signed_in = bool(getattr(viewer, "is_signed_in", False))
        lsn = _cookie_lsn(scope)
        path = scope.get("path", "")
        # CSW answers reads only, POSTed ones too (GetRecords with an XML body).
        reads = scope["method"] in ("GET", "HEAD") or path == "/csw" or path.startswith("/csw/")
        wanted = reads and not signed_in
        usable = wanted and await self._replica_usable()
        replayed = False
        if usable and lsn is not None:
            replayed = await asyncio.to_thread(self._replayed, lsn)
        replica = usable and (lsn is None or replayed)
        if wanted and not usable and lsn is None:
            metrics.count_replica_fallback()  # the replica would have answered it
        route = _Route(replica=replica)

        async def send_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = None
                if route.wrote:
                    cookie = self._cookie(await asyncio.to_thread(self._primary_lsn))
                elif replayed:
                    cookie = self._cookie("", 0)
                if cookie is not None:
                    headers = [*message.get("headers", []), (b"set-cookie", cookie)]
                    message = {**message, "headers": headers}
            await send(message)

        if not replica:
            await self._run(scope, receive, send_cookie, route)
            return
        # On the replica: a failure (an exception, a 5xx, or any answer made after the
        # database failed, such as a 404 for a collection it could not list) is held back
        # until we know whether the replica is down; then the primary answers instead.
        replay = Replay(receive)
        original = dict(scope)  # routing writes into the scope: the primary's attempt starts afresh
        with trouble.watching() as attempt:
            gate = _Gate(send_cookie, attempt)
            error: Exception | None = None
            try:
                await self._run(scope, replay.first, gate, route)
            except Exception as exc:  # noqa: BLE001 - re-raised unless the replica is down
                error = exc
        failed = error is not None or bool(gate.held)
        if gate.sent or not failed or not await self._replica_down():
            trouble.carry(attempt)
            await gate.release()
            if error is not None:
                raise error
            return
        LOGGER.info("%s %s: read replica down, answered by the primary", scope["method"], path)
        metrics.count_replica_fallback()
        route.replica = False
        again = {**original, "state": dict(original.get("state") or {})}
        await self._run(again, replay.again(), send_cookie, route)

    async def _run(self, scope: Scope, receive: Receive, send: Send, route: _Route) -> None:
        token = _ROUTE.set(route)
        try:
            await self.app(scope, receive, send)
        finally:
            _ROUTE.reset(token)

    async def _replica_usable(self) -> bool:
        assert self.circuit is not None
        if not self.circuit.open:
            return True
        return await asyncio.to_thread(self.circuit.usable)

    async def _replica_down(self) -> bool:
        assert self.circuit is not None
        return await asyncio.to_thread(self.circuit.confirm_down)

    def _cookie(self, value: str, max_age: int = COOKIE_SECONDS) -> bytes:
        secure = "; Secure" if self.secure else ""
        return (
            f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ).encode("latin-1")

    def _primary_lsn(self) -> str:
        with get_engine(self.settings).connect() as conn:
            return str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar())

    def _replayed(self, lsn: str) -> bool:
        """Whether the replica has replayed the WAL up to `lsn` (a replica that cannot
        answer has not: the request then reads the primary)."""
        try:
            with get_read_engine(self.settings).connect() as conn:
                done = conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"),
                    {"lsn": lsn},
                ).scalar()
        except Exception:  # noqa: BLE001 - the primary answers instead
            return False
        return bool(done)


class _Gate:
    """`send`, except that an answer is held back (with its body) until `release` when
    its status is 500 or more, or when the database failed before it started: the
    replica may be the cause, and then it is answered again."""

    def __init__(self, send: Send, attempt: trouble.Attempt) -> None:
        self._send = send
        self._attempt = attempt
        self.held: list[Message] = []
        self.sent = False  # something went out: the answer can no longer change

    async def __call__(self, message: Message) -> None:
        starts = message["type"] == "http.response.start"
        if self.held or (starts and (message["status"] >= 500 or self._attempt.trouble)):
            self.held.append(message)
            return
        self.sent = True
        await self._send(message)

    async def release(self) -> None:
        for message in self.held:
            await self._send(message)
        self.held = []
