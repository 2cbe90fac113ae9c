"""calls for projects: a call's rules and dates, applications, teams, attachments, scores

Revision ID: 0031_calls
Revises: 0034_tile_overviews
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031_calls"
down_revision = "0034_tile_overviews"  # the chain as merged (0032, 0029, 0030, 0033, 0034, 0031)
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(name: str, target: str, ondelete: str = "CASCADE", nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable
    )


def _link(table: str, left: tuple[str, str], right: tuple[str, str]) -> None:
    op.create_table(
        table,
        sa.Column(
            left[0], sa.Integer(), sa.ForeignKey(left[1], ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            right[0], sa.Integer(), sa.ForeignKey(right[1], ondelete="CASCADE"), primary_key=True
        ),
    )


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "event_id",
            sa.Integer(),
            sa.ForeignKey("events.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        _when("opens_at", False),
        _when("deadline_at", False),
        _when("jury_at"),
        _when("results_at"),
        _when("results_published_at"),
        _when("created_at", False),
        _when("updated_at", False),
    )
    _link("call_datasets", ("call_id", "calls.id"), ("dataset_id", "datasets.id"))
    op.create_table(
        "call_applications",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("call_id", "calls.id"),
        _fk("lead_id", "users.id"),
        sa.Column("project_name", sa.String(300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("laureate", sa.Boolean(), nullable=False),
        _fk("reuse_id", "reuses.id", "SET NULL", True),
        _fk("code_project_id", "code_projects.id", "SET NULL", True),
        _when("created_at", False),
        _when("updated_at", False),
    )
    op.create_index("ix_call_applications_call_id", "call_applications", ["call_id"])
    op.create_index("ix_call_applications_lead_id", "call_applications", ["lead_id"])
    _link(
        "call_application_datasets",
        ("application_id", "call_applications.id"),
        ("dataset_id", "datasets.id"),
    )
    _link(
        "call_application_members",
        ("application_id", "call_applications.id"),
        ("user_id", "users.id"),
    )
    op.create_table(
        "call_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("application_id", "call_applications.id"),
        sa.Column("storage_key", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(100), nullable=False),
        _when("created_at", False),
    )
    op.create_index("ix_call_attachments_application_id", "call_attachments", ["application_id"])
    op.create_table(
        "call_scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("application_id", "call_applications.id"),
        _fk("reviewer_id", "users.id"),
        sa.Column("criterion", sa.String(200), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _when("scored_at", False),
        sa.UniqueConstraint("application_id", "reviewer_id", "criterion"),
    )
    op.create_index("ix_call_scores_application_id", "call_scores", ["application_id"])


def downgrade() -> None:
    for table in (
        "call_scores",
        "call_attachments",
        "call_application_members",
        "call_application_datasets",
        "call_applications",
        "call_datasets",
        "calls",
    ):
        op.drop_table(table)
