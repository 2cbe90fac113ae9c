"""scale: stored low-zoom vector tiles of large layers (tile_overviews)

Revision ID: 0034_tile_overviews
Revises: 0033_harvest_resume

The heavy low-zoom tiles of a large layer are rendered once after its publication and
read by primary key afterwards (`niaouli.db.tile_overviews`): keyed by the layer's tag
(its table and a digest of its collection id and attributes), deleted with the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034_tile_overviews"
down_revision = "0033_harvest_resume"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tile_overviews",
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("z", sa.SmallInteger, nullable=False),
        sa.Column("x", sa.Integer, nullable=False),
        sa.Column("y", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("tag", "z", "x", "y", name="pk_tile_overviews"),
    )
    op.create_index("ix_tile_overviews_table_name", "tile_overviews", ["table_name"])


def downgrade() -> None:
    op.drop_index("ix_tile_overviews_table_name", table_name="tile_overviews")
    op.drop_table("tile_overviews")
