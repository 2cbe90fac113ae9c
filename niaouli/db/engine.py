"""SQLAlchemy engines for the two backends (PostGIS and embedded SQLite/SpatiaLite).

The embedded backend uses `sqlean.py` as its DB-API module: the Python 3.12 build here has
no SQLite extension loading, and SpatiaLite is an extension. Transactions are made
explicit (``BEGIN`` on every SQLAlchemy transaction) so that DDL such as the staging
tables of an ingestion is rolled back with the rest.
"""

from __future__ import annotations

import threading

import sqlean
from sqlalchemy import Engine, create_engine, event

from niaouli.settings import Settings, load_settings

WRITING_OPTION = "niaouli_writes"


def writing(engine: Engine) -> Engine:
    """`engine` for a unit of work that reads, then writes (sign-in, password change...).

    On SQLite (WAL), a transaction that has read cannot write once another connection
    has committed since: SQLite answers "database is locked" at once, without waiting,
    because its snapshot is stale. `BEGIN IMMEDIATE` takes the write lock first, so such
    a transaction waits its turn (busy timeout) instead of failing. Readers are never
    blocked by it. On PostgreSQL the option is ignored.
    """
    return engine.execution_options(**{WRITING_OPTION: True})


class SpatialiteMissingError(RuntimeError):
    """The SpatiaLite extension could not be loaded."""


def _sqlite_engine(settings: Settings) -> Engine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        settings.database_url,
        module=sqlean,
        connect_args={"timeout": 30, "check_same_thread": False},
    )

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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get(WRITING_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(settings: Settings) -> Engine:
    return create_engine(settings.database_url, pool_pre_ping=True)


def make_engine(settings: Settings) -> Engine:
    if settings.is_embedded:
        return _sqlite_engine(settings)
    return _postgres_engine(settings)


_ENGINES: dict[Settings, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    """One engine per settings object and process."""
    settings = settings or load_settings()
    with _ENGINES_LOCK:
        engine = _ENGINES.get(settings)
        if engine is None:
            engine = _ENGINES[settings] = make_engine(settings)
        return engine


def release_engine(settings: Settings) -> None:
    """Closes the pooled connections of `settings`' engine and forgets it (tests, which
    make many short-lived settings, would otherwise keep every pool open until exit)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(settings, None)
    if engine is not None:
        engine.dispose()
