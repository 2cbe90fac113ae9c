"""privacy: the personal-data guard's findings, confirmations and hash salt per dataset

Revision ID: 0027_privacy
Revises: 0026_job_records
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0027_privacy"
down_revision = "0026_job_records"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "privacy_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("confirmations", JSON, nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_privacy_reviews_dataset_id", "privacy_reviews", ["dataset_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_privacy_reviews_dataset_id", table_name="privacy_reviews")
    op.drop_table("privacy_reviews")
