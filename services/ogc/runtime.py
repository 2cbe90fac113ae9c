"""The database engine the OGC providers read from, set once by the app.

pygeoapi instantiates providers itself from a plain configuration dict, so they cannot
receive the engine as an argument; and the engine (with its URL and password) must not
be written into the generated configuration. The app registers it here instead.

Reads of layer tables go through `reader()`: on PostGIS an engine of its own, in
autocommit and without the pool's pre-ping, so that a request costs one round trip to
the database instead of four (ping, BEGIN, query, ROLLBACK). A connection the server
dropped is detected by the failed query itself; `run_read` retries once on a fresh one.
With a read replica, a request that reads there (`niaouli.db.readroute.on_replica`) gets
the replica's reader instead.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from niaouli.db.engine import get_engine, make_reader
from niaouli.db.readroute import on_replica
from niaouli.settings import load_settings

_engine: Engine | None = None
_readers: dict[bool, Engine] = {}


def set_engine(engine: Engine) -> None:
    global _engine
    _engine = engine
    _readers.clear()


def engine() -> Engine:
    """The registered engine, else the one of the environment's settings."""
    return _engine if _engine is not None else get_engine()


def reader() -> Engine:
    """The engine for read-only statements (see the module docstring): the replica's
    when this request reads there (`niaouli.db.readroute`), else the primary's."""
    replica = on_replica()
    found = _readers.get(replica)
    if found is None:
        base = engine()
        if base.dialect.name == "postgresql":
            found = make_reader(load_settings(), base.url, replica=replica)
        else:
            found = base
        found = _readers.setdefault(replica, found)
    return found


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
