"""scale indexes: datasets by access level then title; CSW records by access, organisation

Measured with `bench/portal.py --datasets 10000,100000` (100,000 datasets, SQLite):

- pycsw applies the viewer's repository filter (`access_level`, `organisation_id`) to
  every GetRecords and to its count; without an index each count read every record
  (about 44 kB each): 8–20 s a GetRecords, 55–120 ms with it.
- OGC API Records pages the datasets a viewer may see by title (then id). With 100,000
datasets, an anonymous deep page (`offset=43000`) sorted the visible rows each time:
1.1 s on SQLite; walking this index in order it takes 2 ms, and the index also covers
the count of visible datasets.

Revision ID: 0035_scale_indexes
Revises: 0031_calls
"""

from __future__ import annotations

from alembic import op

revision = "0035_scale_indexes"
down_revision = "0031_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_datasets_access_title", "datasets", ["access_level", "title", "id"])
    op.create_index("ix_csw_records_access_org", "csw_records", ["access_level", "organisation_id"])


def downgrade() -> None:
    op.drop_index("ix_csw_records_access_org", table_name="csw_records")
    op.drop_index("ix_datasets_access_title", table_name="datasets")
