"""dataset_versions: the previous layers of a dataset, kept to be restored

Revision ID: 0019_dataset_versions
Revises: 0018_layer_columns

A replace keeps the previous layer tables and source files; this table lists them per
dataset (layers and source resources as JSON), so that an editor can restore a version
from the dataset page or the API (issue 15 §2). See `niaouli/catalogue/versions.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019_dataset_versions"
down_revision = "0018_layer_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file", sa.String(300)),
        sa.Column("feature_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("layers", json, nullable=False),
        sa.Column("sources", json, nullable=False),
    )
    op.create_index("ix_dataset_versions_dataset_id", "dataset_versions", ["dataset_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_dataset_id", table_name="dataset_versions")
    op.drop_table("dataset_versions")
