"""Harvest tables: sources, jobs and their per-record report, and the record identity.

`harvested_records` is the link between a remote record and what it became in the
catalogue: unique on (source, remote identifier), so two sources never share a record,
with the content hash and remote date that make runs incremental and the original
document (served back as it was written).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from niaouli.catalogue.models import (
    Base,
    CodeProject,
    Dataset,
    Organisation,
    _enum,
    utcnow,
)


class JobStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class ItemAction(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


class HarvestSource(Base):
    __tablename__ = "harvest_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2000))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "hourly", "daily", "weekly" or None (run by hand only).
    schedule: Mapped[str | None] = mapped_column(String(32))
    allow_private_network: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    jobs: Mapped[list[HarvestJob]] = relationship(
        back_populates="source", cascade="all, delete-orphan", order_by="HarvestJob.id.desc()"
    )


class HarvestJob(Base):
    __tablename__ = "harvest_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("harvest_sources.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[JobStatus] = mapped_column(
        _enum(JobStatus, "harvest_job_status"), default=JobStatus.RUNNING
    )
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Why the job is failed or partial (French), empty on success.
    message: Mapped[str] = mapped_column(Text, default="")
    # The queued job (procrastinate's id) this run belongs to; None when run inline or
    # from the command line. A run left `running` by a killed worker is resolved by it.
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    # Where the job's listing stood at its last commit (`harvest.resume`): cleared when
    # the listing completes, kept when it was cut (a remote down, a killed process).
    resume_state: Mapped[dict[str, Any] | None] = mapped_column()
    # The interrupted job this run took over from, if it resumed one.
    resumed_from: Mapped[int | None] = mapped_column(Integer)

    source: Mapped[HarvestSource] = relationship(back_populates="jobs")
    items: Mapped[list[HarvestJobItem]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="HarvestJobItem.id"
    )


class HarvestJobItem(Base):
    __tablename__ = "harvest_job_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("harvest_jobs.id", ondelete="CASCADE"), index=True
    )
    remote_id: Mapped[str] = mapped_column(String(500))
    action: Mapped[ItemAction] = mapped_column(_enum(ItemAction, "harvest_item_action"))
    reason: Mapped[str] = mapped_column(Text, default="")
    diff: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the record is in the catalogue (dataset or code project slug), when known.
    target: Mapped[str | None] = mapped_column(String(100))

    job: Mapped[HarvestJob] = relationship(back_populates="items")


class HarvestedRecord(Base):
    """A remote record and the catalogue object it became (a dataset or a code project)."""

    __tablename__ = "harvested_records"
    __table_args__ = (UniqueConstraint("source_id", "remote_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("harvest_sources.id", ondelete="CASCADE"), index=True
    )
    remote_id: Mapped[str] = mapped_column(String(500), index=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True
    )
    code_project_id: Mapped[int | None] = mapped_column(
        ForeignKey("code_projects.id", ondelete="CASCADE"), unique=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    remote_modified: Mapped[str | None] = mapped_column(String(64))
    original: Mapped[str | None] = mapped_column(Text)
    original_media_type: Mapped[str | None] = mapped_column(String(100))
    original_url: Mapped[str | None] = mapped_column(String(2000))
    harvested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    source: Mapped[HarvestSource] = relationship()
    dataset: Mapped[Dataset | None] = relationship()
    code_project: Mapped[CodeProject | None] = relationship()
