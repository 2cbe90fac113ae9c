"""quality: each dataset's quality score and each link's last check (issue 21 §1)

Revision ID: 0029_quality
Revises: 0032_partners

The scores are derived: computed here once for every dataset, then by the change hook
(`niaouli.catalogue.quality_store`) in every transaction that changes a dataset. The ISO
records carry them (their data quality section), so they are rebuilt at the end.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0029_quality"
down_revision = "0032_partners"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dataset_quality",
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("score", sa.Integer()),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dataset_quality_score", "dataset_quality", ["score"])
    op.create_table(
        "link_checks",
        sa.Column(
            "resource_id",
            sa.Integer(),
            sa.ForeignKey("resources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_link_checks_dataset_id", "link_checks", ["dataset_id"])
    from niaouli.catalogue import quality_store
    from niaouli.migrations import request_csw_rebuild

    quality_store.refresh(op.get_bind(), None)
    request_csw_rebuild()


def downgrade() -> None:
    op.drop_index("ix_link_checks_dataset_id", table_name="link_checks")
    op.drop_table("link_checks")
    op.drop_index("ix_dataset_quality_score", table_name="dataset_quality")
    op.drop_table("dataset_quality")
