"""csw_records: a row for every dataset, tagged with its access level and organisation

Revision ID: 0016_csw_access
Revises: 0015_usage_stats

pycsw now serves each viewer what the access rule lets it see (a repository filter set
per request from the viewer, see docs/csw.md), so the table holds every dataset's record
with the two columns that filter reads. The rows are rebuilt with the change hook's code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_csw_access"
down_revision = "0015_usage_stats"
branch_labels = None
depends_on = None

TABLE = "csw_records"


def upgrade() -> None:
    op.add_column(
        TABLE, sa.Column("access_level", sa.Text(), nullable=False, server_default="public")
    )
    op.add_column(
        TABLE, sa.Column("organisation_id", sa.Integer(), nullable=False, server_default="0")
    )
    # No index on them: the filter is cheap beside pycsw's own conditions, and an extra
    # index would change SQLite's plans, hence the row order of queries without SortBy,
    # which must stay that of a pycsw-built repository (the CITE answers depend on it).

    # The rows are rebuilt by 0023_csw_rebuild, at the end of the chain: the rebuild reads
    # datasets through today's models, whose columns exist only once every migration ran.


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE access_level <> 'public'"))
    op.execute(sa.text(f"DROP INDEX IF EXISTS ix_{TABLE}_access_level"))  # made by a draft
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("organisation_id")
        batch.drop_column("access_level")
