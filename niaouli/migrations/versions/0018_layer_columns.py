"""layers.column_descriptions

Revision ID: 0018_layer_columns
Revises: 0017_membership_requests

What the dataset's editors say about each column of a layer — label, description, unit,
hidden — keyed by the column's name, so that the map's pop-ups, the dataset page and the
OGC API show « Nom de la commune » rather than `LIBGEO` (issue 15). Kept across a
re-upload for the columns that are still there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_layer_columns"
down_revision = "0017_membership_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column(
        "layers",
        sa.Column("column_descriptions", json, nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("layers") as batch:
        batch.drop_column("column_descriptions")
