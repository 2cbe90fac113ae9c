"""Alembic environment: runs on the connection that `niaouli.db.schema` hands it."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

import niaouli.catalogue.campaigns.campaign_tables  # noqa: F401  (its tables in the metadata)
import niaouli.catalogue.community.call_tables  # noqa: F401  (its tables in the metadata)
import niaouli.catalogue.partners.partner_tables  # noqa: F401  (its table in the metadata)
from niaouli.catalogue.models import Base
from niaouli.migrations import REBUILD_FLAG

config = context.config
target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    # Layer tables and SpatiaLite's own metadata tables are not the catalogue's.
    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
        _rebuild_csw_records_if_asked(connection)


def _rebuild_csw_records_if_asked(connection) -> None:  # noqa: ANN001
    """Once every migration of this upgrade has run, and only at head: the rebuild reads
    through the current models (see `niaouli.migrations.request_csw_rebuild`)."""
    if not config.attributes.pop(REBUILD_FLAG, False):
        return
    migration = context.get_context()
    if set(migration.get_current_heads()) != set(context.script.get_heads()):
        return  # an upgrade to an earlier revision: a later upgrade to head rebuilds
    from niaouli.services.csw import sync

    sync.rebuild(connection)


run_migrations_online()
