"""community: code project forge fields, reuse moderation, event place, link and results

Revision ID: 0013_community
Revises: 0012_audit
Create Date: 2026-11-26 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_community"
down_revision = "0012_audit"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("code_projects", sa.Column("topics", JSON, nullable=True))
    op.add_column("code_projects", sa.Column("default_branch", sa.String(200), nullable=True))
    op.add_column(
        "code_projects", sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True)
    )
    # Existing rows (none in practice) stay hidden until a platform admin approves them.
    op.add_column(
        "reuses",
        sa.Column("status", sa.String(32), nullable=False, server_default="pending"),
    )
    for column in ("submitted_by_id", "moderated_by_id"):
        _add_user_reference("reuses", column)
    op.add_column("reuses", sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_reuses_submitted_by_id", "reuses", ["submitted_by_id"])
    op.create_index("ix_reuses_status", "reuses", ["status"])
    op.add_column("events", sa.Column("latitude", sa.Float(), nullable=True))
    op.add_column("events", sa.Column("longitude", sa.Float(), nullable=True))
    op.add_column("events", sa.Column("url", sa.String(1000), nullable=True))
    op.add_column("events", sa.Column("results", sa.Text(), nullable=False, server_default=""))


def _add_user_reference(table: str, column: str) -> None:
    """A nullable users.id column; SQLite takes the reference inline (no ALTER CONSTRAINT)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
            "REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column(
            table,
            sa.Column(column, sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for name in ("results", "url", "longitude", "latitude"):
            batch.drop_column(name)
    op.drop_index("ix_reuses_status", table_name="reuses")
    op.drop_index("ix_reuses_submitted_by_id", table_name="reuses")
    with op.batch_alter_table("reuses") as batch:
        for name in ("moderated_at", "moderated_by_id", "submitted_by_id", "status"):
            batch.drop_column(name)
    with op.batch_alter_table("code_projects") as batch:
        for name in ("last_activity", "default_branch", "topics"):
            batch.drop_column(name)
