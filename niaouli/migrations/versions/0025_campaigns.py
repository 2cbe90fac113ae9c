"""campaigns: cartoparty campaigns, submissions, staged contributions, reviews, merges

Revision ID: 0025_campaigns
Revises: 0024_raster_layers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0025_campaigns"
down_revision = "0024_raster_layers"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _geometry(kind: str) -> Geometry:
    return Geometry(
        geometry_type=kind,
        srid=4326,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
    )


def _check(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _user(column: str, nullable: bool = True, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(
        column, sa.Integer(), sa.ForeignKey("users.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_geospatial_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "organisation_id",
            sa.Integer(),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("events.id", ondelete="SET NULL")),
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("layer_name", sa.String(100), nullable=False),
        sa.Column("creates_layer", sa.Boolean(), nullable=False),
        sa.Column("geometry_type", sa.String(32), nullable=False),
        sa.Column("attribute_schema", JSON, nullable=False),
        sa.Column("area", _geometry("MULTIPOLYGON"), nullable=True),
        sa.Column("area_source", sa.String(300)),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("licence", sa.String(32), nullable=False),
        sa.Column("allow_edits", sa.Boolean(), nullable=False),
        sa.Column("duplicate_distance_m", sa.Float(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("collection_id", sa.String(200), nullable=False, unique=True),
        _user("created_by_id"),
        *_timestamps(),
        _check("state", ("draft", "open", "closed"), "campaign_state"),
    )
    op.create_index("ix_campaigns_organisation_id", "campaigns", ["organisation_id"])
    op.create_index("ix_campaigns_event_id", "campaigns", ["event_id"])
    op.create_index("ix_campaigns_dataset_id", "campaigns", ["dataset_id"])

    op.create_table(
        "campaign_submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _user("contributor_id", nullable=False, ondelete="CASCADE"),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(300)),
        sa.Column("report", JSON, nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_campaign_submissions_campaign_id", "campaign_submissions", ["campaign_id"])
    op.create_index(
        "ix_campaign_submissions_contributor_id", "campaign_submissions", ["contributor_id"]
    )

    op.create_table(
        "campaign_merges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("state", sa.String(32), nullable=False),
        _user("started_by_id"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("report", JSON, nullable=False),
        sa.Column("queue_job_id", sa.BigInteger()),
        _check("state", ("running", "done", "failed"), "merge_state"),
    )
    op.create_index("ix_campaign_merges_campaign_id", "campaign_merges", ["campaign_id"])

    op.create_geospatial_table(
        "campaign_contributions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column(
            "submission_id",
            sa.Integer(),
            sa.ForeignKey("campaign_submissions.id", ondelete="SET NULL"),
        ),
        _user("contributor_id", nullable=False, ondelete="CASCADE"),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_fid", sa.BigInteger()),
        sa.Column("base_version", sa.String(64)),
        sa.Column("base_feature", JSON, nullable=True),
        sa.Column("geom", _geometry("GEOMETRY"), nullable=True),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("photo_key", sa.String(200)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("problems", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _user("reviewed_by_id"),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("review_comment", sa.Text()),
        sa.Column(
            "merge_id",
            sa.Integer(),
            sa.ForeignKey("campaign_merges.id", ondelete="SET NULL"),
        ),
        sa.Column("merged_fid", sa.BigInteger()),
        sa.Column("merged_at", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.UniqueConstraint("campaign_id", "uid", name="uq_campaign_contributions_uid"),
        _check("action", ("create", "update", "retire"), "contribution_action"),
        _check(
            "state",
            ("received", "has_issues", "edited", "approved", "rejected", "merged"),
            "contribution_state",
        ),
    )
    for column in ("campaign_id", "submission_id", "contributor_id", "state", "merge_id"):
        op.create_index(f"ix_campaign_contributions_{column}", "campaign_contributions", [column])
    if op.get_bind().dialect.name == "postgresql":
        # Duplicate checks and the review map look contributions up by place.
        op.execute(
            "CREATE INDEX ix_campaign_contributions_geom ON campaign_contributions "
            "USING gist (geom)"
        )

    op.create_table(
        "campaign_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "contribution_id",
            sa.Integer(),
            sa.ForeignKey("campaign_contributions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _user("reviewer_id"),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("before", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_campaign_reviews_contribution_id", "campaign_reviews", ["contribution_id"])


def downgrade() -> None:
    op.drop_table("campaign_reviews")
    op.drop_geospatial_table("campaign_contributions")
    op.drop_table("campaign_merges")
    op.drop_table("campaign_submissions")
    op.drop_geospatial_table("campaigns")
