"""accounts: users, memberships, API tokens, sessions, password resets, login throttle

Revision ID: 0006_accounts
Revises: 0003
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_accounts"
down_revision = "0003"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _user_fk() -> sa.Column:
    return sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("is_platform_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("last_login_at", nullable=True),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user_fk(),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", _enum("membership_role", "member", "editor", "admin"), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("user_id", "organisation_id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user_fk(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("scope", _enum("token_scope", "read", "write"), nullable=False),
        _when("created_at"),
        _when("last_used_at", nullable=True),
        _when("revoked_at", nullable=True),
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user_fk(),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        _when("created_at"),
        _when("expires_at"),
    )
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user_fk(),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=80), nullable=False, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    # Who published a dataset. SQLite can add a column with an inline reference (no
    # table rebuild, which would have to carry the SpatiaLite geometry column along).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE datasets ADD COLUMN published_by_id INTEGER "
            "REFERENCES users(id) ON DELETE SET NULL"
        )
    else:
        op.add_column("datasets", sa.Column("published_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_datasets_published_by_id_users",
            "datasets",
            "users",
            ["published_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE datasets DROP COLUMN published_by_id")
    else:
        op.drop_constraint("fk_datasets_published_by_id_users", "datasets", type_="foreignkey")
        op.drop_column("datasets", "published_by_id")
    for table in (
        "login_failures",
        "password_resets",
        "user_sessions",
        "api_tokens",
        "memberships",
        "users",
    ):
        op.drop_table(table)
