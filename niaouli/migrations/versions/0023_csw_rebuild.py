"""Rebuild the CSW records table from the catalogue, at the end of the migration chain.

The rebuild (`niaouli.services.csw.sync.rebuild`) reads datasets and layers through the
current SQLAlchemy models, so it can only run once every column they map exists: it was
in 0016 (csw_records gained access_level and organisation_id) until 0018 added a column
to `layers`, after which upgrading a database with datasets from before 0016 failed. It
also rewrites records stored before links followed the serving public URL. It now only
asks for the rebuild, which `env.py` runs at the end of an upgrade to head
(`niaouli.migrations.request_csw_rebuild`), so later migrations simply follow it.

Revision ID: 0023_csw_rebuild
Revises: 0022_job_queue
"""

from __future__ import annotations

from niaouli.migrations import request_csw_rebuild

revision = "0023_csw_rebuild"
down_revision = "0022_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    request_csw_rebuild()


def downgrade() -> None:
    pass  # the rows stay valid for the revisions before
