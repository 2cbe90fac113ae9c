"""gazetteer_sources: the layers whose features name the places a search understands

Revision ID: 0020_gazetteer
Revises: 0019_dataset_versions

A search for « Hienghène » finds the datasets whose extent meets the commune (issue 15
§7). The places are read from the layer named here (by dataset and layer name, so that a
replaced layer is followed); see `niaouli/catalogue/gazetteer.py` and docs/search.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_gazetteer"
down_revision = "0019_dataset_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gazetteer_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("layer_name", sa.String(100), nullable=False),
        sa.Column("name_column", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gazetteer_sources")
