"""Create or upgrade the database schema (idempotent), for both backends."""

from __future__ import annotations

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


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    prepare_backend(engine)
    with writing(engine).begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
