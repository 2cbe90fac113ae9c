"""raster_layers: a dataset's rasters, stored as Cloud Optimized GeoTIFFs

Revision ID: 0024_raster_layers
Revises: 0023_csw_rebuild

Issue 19: a raster layer belongs to a dataset like a vector layer (`layers`), but its
data is a COG in storage (`niaouli.storage`), not a table. Its `collection_id` shares the
/ogc/collections namespace with the vector layers'. The CSW records now describe rasters
(grid representation, content information): they are rebuilt at the end of the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024_raster_layers"
down_revision = "0023_csw_rebuild"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "raster_layers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("collection_id", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "kind",
            sa.Enum(
                "orthophoto",
                "elevation",
                "classified",
                "other",
                name="raster_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source_name", sa.String(300), nullable=True),
        sa.Column("cog_key", sa.String(200), nullable=False, unique=True),
        sa.Column("cog_filename", sa.String(300), nullable=False),
        sa.Column("cog_size", sa.BigInteger(), nullable=False),
        sa.Column("cog_checksum", sa.String(100), nullable=True),
        sa.Column("original_key", sa.String(200), nullable=True, unique=True),
        sa.Column("original_filename", sa.String(300), nullable=True),
        sa.Column("original_size", sa.BigInteger(), nullable=True),
        sa.Column("original_checksum", sa.String(100), nullable=True),
        sa.Column("crs_code", sa.String(50), nullable=True),
        sa.Column("crs_wkt", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=False),
        sa.Column("resolution_x", sa.Float(), nullable=False),
        sa.Column("resolution_y", sa.Float(), nullable=False),
        sa.Column("native_west", sa.Float(), nullable=False),
        sa.Column("native_south", sa.Float(), nullable=False),
        sa.Column("native_east", sa.Float(), nullable=False),
        sa.Column("native_north", sa.Float(), nullable=False),
        sa.Column("extent_west", sa.Float(), nullable=True),
        sa.Column("extent_south", sa.Float(), nullable=True),
        sa.Column("extent_east", sa.Float(), nullable=True),
        sa.Column("extent_north", sa.Float(), nullable=True),
        sa.Column("bands", json, nullable=False),
        sa.Column("colour_table", json, nullable=True),
        sa.Column("overview_levels", json, nullable=False),
        sa.Column("compression", sa.String(50), nullable=True),
        sa.Column("ingest_report", json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dataset_id", "name"),
    )
    op.create_index("ix_raster_layers_dataset_id", "raster_layers", ["dataset_id"])
    from niaouli.migrations import request_csw_rebuild

    request_csw_rebuild()


def downgrade() -> None:
    op.drop_index("ix_raster_layers_dataset_id", table_name="raster_layers")
    op.drop_table("raster_layers")
