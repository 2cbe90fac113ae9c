"""The tables of cartoparty campaigns (issue 18).

A campaign targets a dataset's layer *by name*, not by `layers.id`: a re-ingested layer
gets a new row and a new table, and the campaign follows it. Contributions are staged
here, never in the layer table, until a merge writes the approved ones there in one
transaction; each contribution keeps its client-supplied id (`uid`) so that re-sending a
change is harmless, and a `version` that is its ETag for optimistic locking.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from niaouli.accounts.account_tables import User
from niaouli.catalogue.base import Base, Timestamped, _enum, utcnow
from niaouli.catalogue.models import Dataset, Event, Organisation


class CampaignState(enum.StrEnum):
    DRAFT = "draft"  # being prepared by its organisation; volunteers cannot see it
    OPEN = "open"  # accepting contributions between starts_at and ends_at
    CLOSED = "closed"  # no more contributions; review and merge go on


class ContributionAction(enum.StrEnum):
    CREATE = "create"  # a new feature
    UPDATE = "update"  # a correction of an existing feature (`target_fid`)
    RETIRE = "retire"  # an existing feature that no longer exists on the ground


class ContributionState(enum.StrEnum):
    """ODK Central's review states, plus where a contribution ends."""

    RECEIVED = "received"
    HAS_ISSUES = "has_issues"  # sent back to its contributor with a comment
    EDITED = "edited"  # changed (by its contributor or a reviewer) after review began
    APPROVED = "approved"
    REJECTED = "rejected"
    MERGED = "merged"  # written into the authoritative layer (`merged_fid`)


class MergeState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    layer_name: Mapped[str] = mapped_column(String(100))  # the target layer, by name
    creates_layer: Mapped[bool] = mapped_column(Boolean, default=False)  # first merge makes it
    geometry_type: Mapped[str] = mapped_column(String(32))  # Point, LineString, Polygon
    # [{"name", "type": string|integer|number|boolean|date|enum, "required": bool,
    #   "enum": [...], "max_length", "label": {"fr", "en"}, "help": {"fr", "en"}}]
    attribute_schema: Mapped[list[Any]] = mapped_column(default=list)
    area: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=True
    )
    area_source: Mapped[str | None] = mapped_column(String(300))  # e.g. the commune's name
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    licence: Mapped[str] = mapped_column(String(32), default="lov2")  # lov2 or odbl
    allow_edits: Mapped[bool] = mapped_column(Boolean, default=False)  # update/retire too
    duplicate_distance_m: Mapped[float] = mapped_column(Float, default=5.0)
    state: Mapped[CampaignState] = mapped_column(
        _enum(CampaignState, "campaign_state"), default=CampaignState.DRAFT
    )
    # The staging collection's id under /ogc/collections (OGC API Features Part 4).
    collection_id: Mapped[str] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organisation: Mapped[Organisation] = relationship()
    event: Mapped[Event | None] = relationship()
    dataset: Mapped[Dataset] = relationship()
    created_by: Mapped[User | None] = relationship()


class Submission(Timestamped, Base):
    """One sending by one volunteer: a form, a file, an offline batch or a Part 4 write."""

    __tablename__ = "campaign_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    contributor_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(200))  # the credit the volunteer chose
    source: Mapped[str] = mapped_column(String(32))  # form, file, offline, part4
    filename: Mapped[str | None] = mapped_column(String(300))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the validation summary

    campaign: Mapped[Campaign] = relationship()
    contributor: Mapped[User] = relationship()


class Contribution(Timestamped, Base):
    """One proposed feature (or change of one), staged until merged."""

    __tablename__ = "campaign_contributions"
    __table_args__ = (
        UniqueConstraint("campaign_id", "uid"),
        # The review queue: counts by state, pages by id (migration 0028_campaign_queue).
        Index("ix_campaign_contributions_queue", "campaign_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    uid: Mapped[str] = mapped_column(String(64))  # the client's id, else a generated UUID
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_submissions.id", ondelete="SET NULL"), index=True
    )
    contributor_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[ContributionAction] = mapped_column(
        _enum(ContributionAction, "contribution_action"), default=ContributionAction.CREATE
    )
    target_fid: Mapped[int | None] = mapped_column(BigInteger)  # update/retire: which one
    # The authoritative feature as the volunteer saw it (a hash of geometry + attributes):
    # when it differs at review, the reviewer sees a conflict with both versions.
    base_version: Mapped[str | None] = mapped_column(String(64))
    base_feature: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    geom: Mapped[Any] = mapped_column(
        Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=True
    )
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    photo_key: Mapped[str | None] = mapped_column(String(200))  # storage key, EXIF stripped
    state: Mapped[ContributionState] = mapped_column(
        _enum(ContributionState, "contribution_state"),
        default=ContributionState.RECEIVED,
        index=True,
    )
    # [{"code", "field", "severity": error|warning, "message": {"fr", "en"}}]
    problems: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)  # its ETag; +1 on each change
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_comment: Mapped[str | None] = mapped_column(Text)
    merge_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_merges.id", ondelete="SET NULL"), index=True
    )
    merged_fid: Mapped[int | None] = mapped_column(BigInteger)
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    campaign: Mapped[Campaign] = relationship()
    submission: Mapped[Submission | None] = relationship()
    contributor: Mapped[User] = relationship(foreign_keys=[contributor_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])


class ReviewEntry(Base):
    """The history of a contribution's review: who did what, when, and why."""

    __tablename__ = "campaign_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contribution_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_contributions.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))  # approve, reject, send_back, edit, comment
    comment: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # for an edit
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Merge(Base):
    """One merge of approved contributions into the layer, all or nothing. A row left
    `running` by a killed process is resolved when the merge job runs again."""

    __tablename__ = "campaign_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[MergeState] = mapped_column(
        _enum(MergeState, "merge_state"), default=MergeState.RUNNING
    )
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts, errors
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
