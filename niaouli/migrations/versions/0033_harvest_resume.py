"""harvest b: where an interrupted harvest job stopped, and which job a run resumed

Revision ID: 0033_harvest_resume
Revises: 0030_table_schemas

`harvest_jobs.resume_state`: the harvester's cursor (e.g. a CSW startPosition) up to
which every record was written and committed, with the number of records read by then
and the source settings it holds for; kept while the job runs, cleared when its listing
completes. `harvest_jobs.resumed_from`: the interrupted job a run resumed
(`niaouli.ingest.harvest.resume`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0033_harvest_resume"
down_revision = "0030_table_schemas"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("harvest_jobs", sa.Column("resume_state", JSON, nullable=True))
    op.add_column("harvest_jobs", sa.Column("resumed_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("harvest_jobs") as batch:
        batch.drop_column("resumed_from")
        batch.drop_column("resume_state")
