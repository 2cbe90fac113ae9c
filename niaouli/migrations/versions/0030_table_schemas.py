"""table schemas: a dataset's Table Schema, its files' validation reports, and the
organisation's choice for a failing file (issue 21 §2, docs/schemas.md)

Revision ID: 0030_table_schemas
Revises: 0029_quality
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0030_table_schemas"
down_revision = "0029_quality"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(
            sa.Column(
                "schema_policy",
                sa.String(16),
                nullable=False,
                server_default="refuse",
            )
        )
    op.create_table(
        "table_schemas",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("descriptor", JSON, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    op.create_index("ix_table_schemas_dataset_id", "table_schemas", ["dataset_id"], unique=True)
    op.create_table(
        "validation_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("layer", sa.String(200), nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("checksum", sa.String(100), nullable=False),
        sa.Column("schema_title", sa.String(300), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_validation_reports_dataset_id", "validation_reports", ["dataset_id"])


def downgrade() -> None:
    op.drop_index("ix_validation_reports_dataset_id", table_name="validation_reports")
    op.drop_table("validation_reports")
    op.drop_index("ix_table_schemas_dataset_id", table_name="table_schemas")
    op.drop_table("table_schemas")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("schema_policy")
