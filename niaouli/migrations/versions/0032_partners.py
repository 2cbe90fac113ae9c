"""partners: an organisation's partnership, agreement, contacts and obligation facts

Revision ID: 0032_partners
Revises: 0028_campaign_queue

Issue 22 §2 (`niaouli.catalogue.partners.partner_tables`): one row per organisation the
programme follows, deleted with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0032_partners"
down_revision = "0028_campaign_queue"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATUSES = ("invited", "discussion", "signed", "left")


def upgrade() -> None:
    op.create_table(
        "partnerships",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                name="partner_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("status_since", sa.DateTime(timezone=True)),
        sa.Column("signed_on", sa.Date()),
        sa.Column("agreement_key", sa.String(200), unique=True),
        sa.Column("agreement_filename", sa.String(300)),
        sa.Column("agreement_size", sa.BigInteger()),
        sa.Column("agreement_checksum", sa.String(100)),
        sa.Column("commune_code", sa.String(5)),
        sa.Column("agents", sa.Integer()),
        sa.Column("contacts", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_partnerships_organisation_id", "partnerships", ["organisation_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_partnerships_organisation_id", table_name="partnerships")
    op.drop_table("partnerships")
