"""datasets.search_text: normalised words for accent-insensitive search

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-25 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "datasets", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    # Fill it for the datasets already there, with the same code the change hook uses.
    from niaouli.catalogue.search import text as search

    search.refresh(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("search_text")
