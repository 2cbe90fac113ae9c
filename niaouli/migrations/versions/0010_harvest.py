"""harvest: sources, jobs, per-record job items and harvested record identity

Revision ID: 0010_harvest
Revises: 0006_accounts
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_harvest"
down_revision = "0006_accounts"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _check(name: str, column: str, values: list[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def upgrade() -> None:
    op.create_table(
        "harvest_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="RESTRICT"),
            nullable=False,
            index=True,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("schedule", sa.String(32)),
        sa.Column("allow_private_network", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "harvest_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("harvest_sources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in ("created", "updated", "unchanged", "deleted", "failed")
        ),
        sa.Column("message", sa.Text(), nullable=False),
        _check("harvest_job_status", "status", ["running", "success", "partial", "failed"]),
    )
    op.create_table(
        "harvest_job_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer(),
            sa.ForeignKey("harvest_jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("remote_id", sa.String(500), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("diff", JSON, nullable=False),
        sa.Column("target", sa.String(100)),
        _check(
            "harvest_item_action",
            "action",
            ["created", "updated", "unchanged", "deleted", "failed"],
        ),
    )
    op.create_table(
        "harvested_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("harvest_sources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("remote_id", sa.String(500), nullable=False, index=True),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            unique=True,
        ),
        sa.Column(
            "code_project_id",
            sa.Integer(),
            sa.ForeignKey("code_projects.id", ondelete="CASCADE"),
            unique=True,
        ),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("remote_modified", sa.String(64)),
        sa.Column("original", sa.Text()),
        sa.Column("original_media_type", sa.String(100)),
        sa.Column("original_url", sa.String(2000)),
        sa.Column("harvested_at", TS, nullable=False),
        sa.UniqueConstraint("source_id", "remote_id"),
    )


def downgrade() -> None:
    for table in ("harvested_records", "harvest_job_items", "harvest_jobs", "harvest_sources"):
        op.drop_table(table)
