"""accounts: audit log of account, membership, token and publication changes

Revision ID: 0012_audit
Revises: 0011_oidc
Create Date: 2026-11-26 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012_audit"
down_revision = "0011_oidc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("action", sa.String(length=50), nullable=False, index=True),
        sa.Column(
            "actor_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
