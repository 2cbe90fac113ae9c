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

Without a read URL nothing is routed (`on_replica()` is always false).
"""

from __future__ import annotations

import asyncio
import re
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import SimpleCookie

from sqlalchemy import Engine, event, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.db.engine import get_engine, get_read_engine
from niaouli.settings import Settings

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
        replayed = False
        if reads and not signed_in and lsn is not None:
            replayed = await asyncio.to_thread(self._replayed, lsn)
        replica = reads and not signed_in and (lsn is None or replayed)
        route = _Route(replica=replica)
        token = _ROUTE.set(route)

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

        try:
            await self.app(scope, receive, send_cookie)
        finally:
            _ROUTE.reset(token)

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
