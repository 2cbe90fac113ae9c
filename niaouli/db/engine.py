"""SQLAlchemy engines for the two backends (PostGIS and embedded SQLite/SpatiaLite).

The embedded backend uses `sqlean.py` as its DB-API module: the Python 3.12 build here has
no SQLite extension loading, and SpatiaLite is an extension. Transactions are made
explicit (``BEGIN`` on every SQLAlchemy transaction) so that DDL such as the staging
tables of an ingestion is rolled back with the rest.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import sqlean
from sqlalchemy import Engine, create_engine, event

from niaouli.db import trouble
from niaouli.settings import Settings, get_settings, load_settings

WRITING_OPTION = "niaouli_writes"
# Tests set it (tests/conftest.py): in the engines of `get_engine` (the application's), a
# deferred SQLite transaction that writes after it has read raises `DeferredWriteError`
# at once, whether or not another writer is there, so a unit of work missing `writing()`
# fails every test that runs it, not 1 time in 150 under load.
STRICT_ENV = "NIAOULI_SQLITE_STRICT_WRITES"
_READS = ("SELECT", "WITH", "PRAGMA", "EXPLAIN", "VALUES")
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


def writing(engine: Engine) -> Engine:
    """`engine` for a unit of work that reads, then writes (sign-in, password change...).

    On SQLite (WAL), a transaction that has read cannot write once another connection
    has committed since: SQLite answers "database is locked" at once, without waiting,
    because its snapshot is stale. `BEGIN IMMEDIATE` takes the write lock first, so such
    a transaction waits its turn (busy timeout) instead of failing. Readers are never
    blocked by it. On PostgreSQL the option is ignored.
    """
    return engine.execution_options(**{WRITING_OPTION: True})


def busy_timeout() -> float:
    """Seconds a SQLite statement waits for another writer before "database is locked"
    (then a 503 with Retry-After for the web): `NIAOULI_SQLITE_BUSY_TIMEOUT`, default 30."""
    return get_settings().sqlite_busy_timeout


class SpatialiteMissingError(RuntimeError):
    """The SpatiaLite extension could not be loaded."""


class DeferredWriteError(RuntimeError):
    """A plain (deferred) SQLite transaction wrote after reading (strict mode only)."""


def _sqlite_engine(settings: Settings, strict: bool = False) -> Engine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        settings.database_url,
        module=sqlean,
        connect_args={"timeout": busy_timeout(), "check_same_thread": False},
    )
    # An `executemany` INSERT goes as multi-row `INSERT ... VALUES (...), (...)`
    # statements (SQLAlchemy's "insertmanyvalues", as its psycopg2 dialect does), not one
    # statement a row: a statement that fires a trigger writing an FTS5 table (the
    # trigram indexes, `niaouli.db.sqlite_trigram`) opens a statement savepoint, where
    # FTS5 flushes its pending terms into a new segment — one a row otherwise, merged
    # again and again (2.6 against 1.2 ms of CPU a GeoNetwork record's CSW row).
    engine.dialect.use_insertmanyvalues_wo_returning = True

    # Two PROJ libraries live in one process: pyproj's (bundled with its wheel) and the
    # system one SpatiaLite links. If SpatiaLite's is loaded first, the process aborts
    # at exit ("double free", in PROJ's static destructors) once pyproj is used too —
    # e.g. `niaouli harvest run` copying data after reading the catalogue. Loading
    # pyproj's first (as every command that imports the ingestion already does) is safe.
    import pyproj  # noqa: F401

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        dbapi_connection.enable_load_extension(True)
        try:
            dbapi_connection.load_extension(settings.spatialite_library)
        except Exception as exc:  # noqa: BLE001 - re-raised with an actionable message
            raise SpatialiteMissingError(
                f"cannot load SpatiaLite ({settings.spatialite_library}): {exc}. "
                "Install Debian's libsqlite3-mod-spatialite or set NIAOULI_SPATIALITE_LIBRARY."
            ) from exc
        dbapi_connection.enable_load_extension(False)
        cursor = dbapi_connection.cursor()
        # SpatiaLite's initialisation sets its own 5-second busy timeout: ours again.
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout() * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get(WRITING_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        conn.info["niaouli_deferred"] = "fresh" if not immediate else None

    if strict:
        event.listen(engine, "before_cursor_execute", _check_deferred_write)

    return engine


def _check_deferred_write(conn, _cursor, statement, _params, _context, _many) -> None:  # noqa: ANN001
    """Strict mode: refuse the write of a deferred transaction that has already read.

    Such a write fails with "database is locked" whenever another connection committed
    since the read, without waiting; `writing()` is the fix.
    """
    state = conn.info.get("niaouli_deferred")
    if state is None:
        return
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    if verb in _READS:
        if state == "fresh":
            conn.info["niaouli_deferred"] = "read"
    elif verb in _WRITES:
        if state == "read":
            raise DeferredWriteError(
                "a plain SQLite transaction wrote after reading: it fails with 'database "
                "is locked' when another connection commits in between; open it with "
                f"niaouli.db.engine.writing(engine) ({statement.strip()[:80]!r})"
            )
        conn.info["niaouli_deferred"] = None  # holds the write lock from now on


def postgres_connect_args(settings: Settings, application_name: str) -> dict[str, Any]:
    """psycopg's connection arguments: a name seen in `pg_stat_activity` (which tells the
    replica's readers from the primary's), and, behind PgBouncer in transaction pooling
    mode (`NIAOULI_DATABASE_TRANSACTION_POOLING`), no server-side prepared statements:
    psycopg prepares a statement run 5 times on its connection, but the next transaction
    may be on another server connection, where it does not exist (PgBouncer < 1.21)."""
    args: dict[str, Any] = {"application_name": application_name}
    if settings.database_transaction_pooling:
        args["prepare_threshold"] = None
    return args


def _postgres_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.database_url,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(settings, PRIMARY_APPLICATION),
    )


PRIMARY_APPLICATION = "niaouli"
REPLICA_APPLICATION = "niaouli-replica"
REPLICA_CONNECT_TIMEOUT = 2  # seconds (libpq's least): its reads then go to the primary


def make_reader(settings: Settings, url: Any = None, *, replica: bool = False) -> Engine:  # noqa: ANN401 - a str or URL
    """An engine for read-only statements on PostGIS: autocommit, no pre-ping (one round
    trip per query: see `niaouli.services.ogc.runtime`), on `url` (default: the primary)
    or, with `replica`, on `NIAOULI_DATABASE_READ_URL`."""
    if replica:
        url = settings.database_read_url
    engine = create_engine(
        url or settings.database_url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_size=8,
        connect_args=reader_connect_args(settings, replica=replica),
    )
    trouble.watch(engine)
    return engine


def reader_connect_args(settings: Settings, *, replica: bool = False) -> dict[str, Any]:
    """psycopg's arguments for a reader's connections (`make_reader`'s, and the OGC
    API's async ones: `services/ogc/asyncread.py`)."""
    name = REPLICA_APPLICATION if replica else PRIMARY_APPLICATION
    args = postgres_connect_args(settings, name)
    if replica:  # a replica that does not answer is found out fast (niaouli.db.replica)
        args["connect_timeout"] = REPLICA_CONNECT_TIMEOUT
    return args


# The dialects of the engines made here (shared by their `execution_options` copies and
# their connections): how the catalogue's flush listeners tell our sessions from others.
_CATALOGUE_DIALECTS: weakref.WeakSet[Any] = weakref.WeakSet()


def make_engine(settings: Settings, strict: bool = False) -> Engine:
    """A new engine; `strict`: see `STRICT_ENV` (SQLite only)."""
    engine = (
        _sqlite_engine(settings, strict) if settings.is_embedded else _postgres_engine(settings)
    )
    trouble.watch(engine)
    _CATALOGUE_DIALECTS.add(engine.dialect)
    return engine


def is_catalogue_bind(bind: Any) -> bool:  # noqa: ANN401 - an Engine, a Connection or None
    """Whether a session's `bind` is an engine (or connection) of `make_engine`."""
    dialect = getattr(bind, "dialect", None)
    return dialect is not None and dialect in _CATALOGUE_DIALECTS


# Keyed by database, not by the whole settings object: settings that differ in another
# variable (a test's map background, statistics off) still share their database's engine.
_ENGINES: dict[tuple[str, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_key(settings: Settings) -> tuple[str, str]:
    return (settings.database_url, settings.spatialite_library)


def get_engine(settings: Settings | None = None) -> Engine:
    """One engine per database and process."""
    settings = settings or load_settings()
    key = _engine_key(settings)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            strict = get_settings().sqlite_strict_writes
            engine = _ENGINES[key] = make_engine(settings, strict)
        return engine


_READ_ENGINES: dict[str, Engine] = {}


def get_read_engine(settings: Settings | None = None) -> Engine:
    """The engine of the read replica (`NIAOULI_DATABASE_READ_URL`), one per process;
    without one, the primary's (`get_engine`). Only read-only work may use it: the
    replica refuses writes (`niaouli.db.readroute` decides who reads there)."""
    settings = settings or load_settings()
    if not settings.database_read_url or settings.is_embedded:
        return get_engine(settings)
    with _ENGINES_LOCK:
        engine = _READ_ENGINES.get(settings.database_read_url)
        if engine is None:
            engine = create_engine(
                settings.database_read_url,
                pool_pre_ping=True,
                connect_args={
                    **postgres_connect_args(settings, REPLICA_APPLICATION),
                    "connect_timeout": REPLICA_CONNECT_TIMEOUT,
                },
            )
            trouble.watch(engine)
            _CATALOGUE_DIALECTS.add(engine.dialect)
            _READ_ENGINES[settings.database_read_url] = engine
        return engine


def release_engine(settings: Settings) -> None:
    """Closes the pooled connections of `settings`' engine and forgets it (tests, which
    make many short-lived settings, would otherwise keep every pool open until exit)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(_engine_key(settings), None)
    if engine is not None:
        engine.dispose()
    with _ENGINES_LOCK:
        reader = _READ_ENGINES.pop(settings.database_read_url, None)
    if reader is not None:
        reader.dispose()


def dispose_all() -> None:
    """Closes every pooled connection of the process's engines (a command's exit)."""
    with _ENGINES_LOCK:
        engines = [*_ENGINES.values(), *_READ_ENGINES.values()]
    for engine in engines:
        engine.dispose()
