"""membership_requests; users.email_verified_at

Revision ID: 0017_membership_requests
Revises: 0016_csw_access

A signed-in user asks to join an organisation (or to become its editor) from its page;
its admins accept or refuse on the members page (issue 15). `email_verified_at` says when
the account's address was proved by a link sent to it: accounts made by sign-up while
the platform sends e-mail start without it; every existing account counts as verified.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_membership_requests"
down_revision = "0016_csw_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "membership_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decided_by_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE users SET email_verified_at = created_at")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN email_verified_at")
    else:
        op.drop_column("users", "email_verified_at")
    op.drop_table("membership_requests")
