"""The job queue (PostgreSQL) and the link from a harvest job row to its queued job

Revision ID: 0022_job_queue
Revises: 0021_licence_names

On PostgreSQL, procrastinate's tables and functions (`niaouli/jobs/queue.py`, issue 17
§3) are created from the schema of the installed procrastinate (pinned to 3.10 in
pyproject.toml: a later version's schema changes come as a new migration applying its
`procrastinate/sql/migrations/` files). SQLite has no queue (jobs run inline).
`harvest_jobs.queue_job_id` names the queued job a run belongs to, so that the run
left `running` by a killed worker is resolved when its job is run again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_job_queue"
down_revision = "0021_licence_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("harvest_jobs", sa.Column("queue_job_id", sa.BigInteger(), nullable=True))
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    if bind.scalar(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")):
        return  # applied by hand (`procrastinate schema --apply`) before this migration
    # The raw psycopg cursor: no parameter parsing of the script's `%` and `:`.
    cursor = bind.connection.dbapi_connection.cursor()
    cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("harvest_jobs") as batch:
        batch.drop_column("queue_job_id")
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type,
                procrastinate_job_to_defer_v1 CASCADE;
        END $$;
        """
    )
