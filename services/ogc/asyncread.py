"""One-statement reads on PostGIS from the event loop, on psycopg's async connections.

Why: an anonymous feature by id (`fastitems`) is one indexed read, and handing it to a
worker thread and back (`asyncio.to_thread`) cost about 0.13 ms of CPU, a fifth of the
whole request (`bench/ogc_cpu.py`); SQLAlchemy's pool checkout another 0.02–0.05. Here the
statement goes out on one of a few `psycopg.AsyncConnection`s of the worker's own event
loop: the loop waits on the socket, nothing blocks, no thread wakes up.

What it must never do is make things worse, so it does as little as it can and gives up
rather than wait or report: at most `MAX_CONNECTIONS` per loop, taken when idle, opened
when fewer are open, otherwise `fetch` returns None at once — as it does on any
database error (the connection is then closed) — and the caller answers as before, in a
worker thread through SQLAlchemy, which retries, reports trouble (503) and logs. The
connections are made like the reader engine's (`niaouli.db.engine.make_reader`: same
URL, application name, PgBouncer setting, psycopg type loaders of SQLAlchemy's dialect),
in autocommit, so the rows are those the engine's path reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import psycopg
from sqlalchemy import Engine

from niaouli.db.engine import reader_connect_args
from niaouli.settings import load_settings

MAX_CONNECTIONS = 8
"""Per event loop (one per server worker): requests beyond go through the thread path."""


class AsyncReader:
    """A worker's few async connections to one database (the primary or the replica)."""

    def __init__(self, engine: Engine, *, replica: bool) -> None:
        _args, params = engine.dialect.create_connect_args(engine.url)
        self._params = {**params, **reader_connect_args(load_settings(), replica=replica)}
        # Each connection with its one cursor, reused: making a cursor copies the
        # connection's type adapters, 9 % of a by-id request.
        self._idle: list[psycopg.AsyncCursor] = []
        self._open = 0

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[tuple] | None:
        """The rows of `sql`, or None at once when no connection is free or the database
        failed (the caller then reads in a thread, which reports it)."""
        cursor = self._idle.pop() if self._idle else await self._connect()
        if cursor is None:
            return None
        try:
            await cursor.execute(sql, params, prepare=True)
            rows = await cursor.fetchall()
        except psycopg.Error:
            self._drop(cursor)
            return None
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            self._drop(cursor)
            raise
        self._idle.append(cursor)
        return rows

    async def _connect(self) -> psycopg.AsyncCursor | None:
        if self._open >= MAX_CONNECTIONS:
            return None
        self._open += 1
        try:
            conn = await psycopg.AsyncConnection.connect(autocommit=True, **self._params)
        except psycopg.Error:
            self._open -= 1
            return None
        except BaseException:
            self._open -= 1
            raise
        return conn.cursor()

    def _drop(self, cursor: psycopg.AsyncCursor) -> None:
        self._open -= 1
        with contextlib.suppress(Exception):
            cursor.connection.pgconn.finish()  # synchronous: no await in a cancelled task

    def close(self) -> None:
        """Close the idle connections (their loop is closed: nothing else can use them)."""
        while self._idle:
            self._drop(self._idle.pop())


_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncReader]] = (
    weakref.WeakKeyDictionary()
)


def reader_for(engine: Engine, *, replica: bool) -> AsyncReader | None:
    """The running loop's reader for `engine` (a PostGIS reader engine), else None."""
    if engine.dialect.name != "postgresql":
        return None
    loop = asyncio.get_running_loop()
    mine = _readers.get(loop)
    if mine is None:
        _close_finished_loops()
        mine = _readers.setdefault(loop, {})
    key = (str(engine.url), replica)
    found = mine.get(key)
    if found is None:
        found = mine.setdefault(key, AsyncReader(engine, replica=replica))
    return found


def _close_finished_loops() -> None:
    """The connections of loops that are closed, closed now rather than whenever the
    garbage collector frees the loop (a server has one loop per worker; a test client
    may run one per request, and PostgreSQL's connections are counted)."""
    for loop, readers in list(_readers.items()):
        if loop.is_closed():
            for reader in readers.values():
                reader.close()
            _readers.pop(loop, None)
