"""usage statistics: usage_daily counters; events.participants

Revision ID: 0015_usage_stats
Revises: 0014_fulltext
Create Date: 2026-11-26 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_usage_stats"
down_revision = "0014_fulltext"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("interface", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.Integer, nullable=True),
        sa.Column("organisation_id", sa.Integer, nullable=True),
        sa.Column("hits", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unique_visits", sa.BigInteger, nullable=False, server_default="0"),
    )
    # The upsert's conflict target: NULL ids (hits concerning no dataset) must collide too.
    op.execute(
        "CREATE UNIQUE INDEX usage_daily_key ON usage_daily"
        " (day, interface, coalesce(dataset_id, 0), coalesce(organisation_id, 0))"
    )
    op.create_index("usage_daily_dataset", "usage_daily", ["dataset_id", "day"])
    op.create_index("usage_daily_organisation", "usage_daily", ["organisation_id", "day"])
    op.add_column("events", sa.Column("participants", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("participants")
    op.drop_table("usage_daily")
