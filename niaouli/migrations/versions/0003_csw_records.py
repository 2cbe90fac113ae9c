"""csw_records: pycsw's repository table, maintained by the CSW records sync

Revision ID: 0003
Revises: 0005
Create Date: 2026-11-25 21:40:00

Numbered 0003 as agreed for the CSW work, chained after 0005 (which landed first) so
that the history stays linear.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"
branch_labels = None
depends_on = None

# pycsw's setup_db indexes these; the same indexes also give the same row order for
# queries without SortBy as a pycsw-built repository (the CITE answers depend on it).
NOT_INDEXED = {"wkt_geometry"}


def upgrade() -> None:
    from niaouli.catalogue.csw_table import PYCSW_TEXT_COLUMNS, TABLE_NAME

    op.create_table(
        TABLE_NAME,
        sa.Column("identifier", sa.Text(), primary_key=True),
        sa.Column("dataset_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("typename", sa.Text(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("mdsource", sa.Text(), nullable=False),
        sa.Column("insert_date", sa.Text(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("anytext", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Text()) for name in PYCSW_TEXT_COLUMNS),
    )
    indexed = ["typename", "schema", "mdsource", "insert_date"]
    indexed += [c for c in PYCSW_TEXT_COLUMNS if c not in NOT_INDEXED]
    for column in indexed:
        op.create_index(f"ix_{TABLE_NAME}_{column}", TABLE_NAME, [column])
    if op.get_bind().dialect.name == "postgresql":
        # pycsw's "native PostGIS" mode: a geometry column kept from wkt_geometry by a
        # trigger, with a GiST index, found by pycsw through geometry_columns. A record
        # without a bounding box gets an empty geometry rather than NULL, so that
        # `Not(BBOX)` matches it as on SQLite (where pycsw's spatial function says false).
        op.execute(f"ALTER TABLE {TABLE_NAME} ADD COLUMN wkb_geometry geometry(Geometry, 4326)")
        op.execute(
            f"""
            CREATE FUNCTION {TABLE_NAME}_update_geometry() RETURNS trigger AS $body$
            BEGIN
                IF NEW.wkt_geometry IS NULL THEN
                    NEW.wkb_geometry := ST_GeomFromText('GEOMETRYCOLLECTION EMPTY', 4326);
                ELSE
                    NEW.wkb_geometry := ST_GeomFromText(NEW.wkt_geometry, 4326);
                END IF;
                RETURN NEW;
            END;
            $body$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {TABLE_NAME}_update_geometry BEFORE INSERT OR UPDATE "
            f"ON {TABLE_NAME} FOR EACH ROW EXECUTE PROCEDURE {TABLE_NAME}_update_geometry()"
        )
        op.execute(
            f"CREATE INDEX ix_{TABLE_NAME}_wkb_geometry ON {TABLE_NAME} USING GIST (wkb_geometry)"
        )

    # The rows of the datasets already there are written by 0016_csw_access, with the
    # columns the change hook's code writes today (which this table does not have yet).


def downgrade() -> None:
    from niaouli.catalogue.csw_table import TABLE_NAME

    op.drop_table(TABLE_NAME)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE_NAME}_update_geometry()")
