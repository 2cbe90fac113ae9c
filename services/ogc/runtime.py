"""The database engine the OGC providers read from, set once by the app.

pygeoapi instantiates providers itself from a plain configuration dict, so they cannot
receive the engine as an argument; and the engine (with its URL and password) must not
be written into the generated configuration. The app registers it here instead.

Reads of layer tables go through `reader()`: on PostGIS an engine of its own, in
autocommit and without the pool's pre-ping, so that a request costs one round trip to
the database instead of four (ping, BEGIN, query, ROLLBACK). A connection the server
dropped is detected by the failed query itself; `run_read` retries once on a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError

from niaouli.db import trouble
from niaouli.db.engine import get_engine

_engine: Engine | None = None
_reader: Engine | None = None


def set_engine(engine: Engine) -> None:
    global _engine, _reader
    _engine = engine
    _reader = None


def engine() -> Engine:
    """The registered engine, else the one of the environment's settings."""
    return _engine if _engine is not None else get_engine()


def reader() -> Engine:
    """The engine for read-only statements (see the module docstring)."""
    global _reader
    if _reader is None:
        base = engine()
        if base.dialect.name == "postgresql":
            _reader = create_engine(
                base.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_size=8
            )
            trouble.watch(_reader)
        else:
            _reader = base
    return _reader


def run_read[T](function: Callable[[Connection], T]) -> T:
    """`function(conn)` on a reader connection, once more if the connection was dead."""
    try:
        with reader().connect() as conn:
            return function(conn)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with reader().connect() as conn:
        return function(conn)


def is_postgis() -> bool:
    return engine().dialect.name == "postgresql"
