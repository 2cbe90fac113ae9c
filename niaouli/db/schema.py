"""Create or upgrade the database schema (idempotent), for both backends."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from niaouli.db.engine import writing
from niaouli.resources import package_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = package_dir("niaouli.migrations")
LAYER_SCHEMA = "layers"


def alembic_config(connection: Connection) -> Config:
    # Alembic is imported when needed: every command line imports this module (for
    # LAYER_SCHEMA), and alembic costs about 0.2 s of start-up.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def prepare_backend(engine: Engine) -> None:
    """Things migrations need first: PostGIS and the layer schema, or SpatiaLite metadata."""
    with writing(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            has_postgis = conn.execute(
                text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ).scalar()
            if not has_postgis:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {LAYER_SCHEMA}"))
        else:
            initialised = conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name = 'spatial_ref_sys'")
            ).scalar()
            if not initialised:
                conn.execute(text("SELECT InitSpatialMetaData(0)"))


# A PostgreSQL advisory lock key (any fixed 64-bit number) held during an upgrade.
UPGRADE_LOCK = 0x6E69616F756C69  # "niaouli"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Several processes may call it at once (the app and
    the worker containers starting together, each through the entrypoint): on PostgreSQL
    they take turns behind an advisory lock, and the later ones find the schema at head
    (without it, two of them both created the extension and the first tables and one
    failed); on SQLite `writing` already serialises them."""
    from alembic import command

    with contextlib.ExitStack() as stack:
        if engine.dialect.name == "postgresql":
            # Autocommit: the lock is the session's, and no transaction stays open
            # beside the migrations (which a CREATE INDEX CONCURRENTLY would wait for).
            lock = stack.enter_context(
                engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            )
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK})
            stack.callback(
                lock.execute, text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK}
            )
        prepare_backend(engine)
        with writing(engine).begin() as conn:
            command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
