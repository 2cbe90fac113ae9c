"""Telling passing database trouble (worth a 503 and a retry) from real errors.

Passing trouble: the connection was cut (PostgreSQL restarted, `pg_terminate_backend`,
network), the server refuses connections for a while, a lock or serialisation conflict,
SQLite busy past its timeout. None of it is the request's fault and all of it clears by
itself, so the web answer is 503 with `Retry-After` (`niaouli.unavailable`), never 500.

Much code catches database errors and answers with its own 500 (pygeoapi turns provider
errors into exception documents, for one), so the exception does not always reach the
web layer. Engine events (installed on each of the platform's engines by `watch`) note
the trouble in the current request's `Attempt` instead, wherever it happens and whoever
catches it; the same events note whether the request wrote anything (then it is not
replayed).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError

# Seconds a client should wait before trying again (the pool reconnects at once; a
# restarting PostgreSQL takes a few seconds).
RETRY_AFTER_SECONDS = 2
_WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "COPY", "TRUNCATE")


@dataclass
class Attempt:
    """What the database did during one attempt at answering a request."""

    trouble: bool = False  # passing trouble was seen (maybe recovered from)
    wrote: bool = False  # a writing statement was sent: replaying could repeat it


_attempt: ContextVar[Attempt | None] = ContextVar("niaouli_db_attempt", default=None)


@contextmanager
def watching():  # noqa: ANN201 - a context manager of Attempt
    """Notes the database trouble and writes of the code run inside (and its threads)."""
    attempt = Attempt()
    token = _attempt.set(attempt)
    try:
        yield attempt
    finally:
        _attempt.reset(token)


def carry(inner: Attempt) -> None:
    """Hand what a nested `watching()` saw on to the enclosing one (if any)."""
    outer = _attempt.get()
    if outer is not None:
        outer.trouble = outer.trouble or inner.trouble
        outer.wrote = outer.wrote or inner.wrote


def is_transient(exc: BaseException | None) -> bool:
    """Whether `exc` (a SQLAlchemy or DB-API error) is passing database trouble."""
    if exc is None:
        return False
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig
    # The PostgreSQL driver's errors, when it was loaded: a process that never imported
    # it (SQLite) cannot have one, and importing it here cost 0.1 s at every start.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        # Connection lost or refused, server shutting down or starting, too many
        # connections, serialisation failure, deadlock, lock or statement timeout.
        return True
    if type(exc).__name__ == "OperationalError":  # sqlite3 / sqlean
        message = str(exc).lower()
        return "locked" in message or "busy" in message
    return False


def note(exc: BaseException, disconnect: bool = False) -> None:
    """Notes `exc` for the current request, for code that talks to the driver directly
    (past SQLAlchemy's events: `niaouli.db.features._fetch`)."""
    attempt = _attempt.get()
    if attempt is not None and (disconnect or is_transient(exc)):
        attempt.trouble = True


def _on_error(context: Any) -> None:  # noqa: ANN401 - sqlalchemy's ExceptionContext
    attempt = _attempt.get()
    if attempt is None:
        return
    if context.is_disconnect or is_transient(context.original_exception):
        attempt.trouble = True


def _on_statement(_conn, _cursor, statement: str, *_args: Any) -> None:  # noqa: ANN001
    attempt = _attempt.get()
    if attempt is None or attempt.wrote:
        return
    words = statement.lstrip().split(None, 1)
    if words and words[0].upper() in _WRITES:
        attempt.wrote = True


def watch(engine: Engine) -> None:
    """Note the trouble and the writes of `engine`'s statements (every engine the platform
    makes calls it: `niaouli.db.engine.make_engine`, the OGC API's reader); idempotent."""
    if not event.contains(engine, "handle_error", _on_error):
        event.listen(engine, "handle_error", _on_error)
        event.listen(engine, "before_cursor_execute", _on_statement)
