"""What a person waiting for a background job reads: its record (table `job_records`).

procrastinate keeps the queue's own state (PostgreSQL only, and nothing of who asked or
what came out); a job someone follows — an upload ingested as a job — also gets a row
here, on both backends: its state (queued → running → succeeded or failed), progress,
the submitter and organisation (who may read it: `may_read`), and its outcome (the
ingestion report, or the error with its code). Any process of the server answers
`GET /api/jobs/{id}` from it, whichever process or worker runs the job.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Integer, String, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.base import Base, utcnow
from niaouli.catalogue.permissions import Action, allowed


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINISHED = (JobState.SUCCEEDED, JobState.FAILED)


class JobRecord(Base):
    __tablename__ = "job_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    submitter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    dataset_slug: Mapped[str] = mapped_column(String(200))
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float | None] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def may_read(viewer: Viewer, record: JobRecord) -> bool:
    """The submitter, the organisation's editors and admins, the platform admins."""
    if viewer.user_id is not None and viewer.user_id == record.submitter_id:
        return True
    return viewer.is_platform_admin or allowed(viewer, Action.DATASET_EDIT, record)


def set_progress(session: Session, record_id: int, progress: float) -> None:
    """One short write (PostgreSQL: beside the ingestion's own transaction)."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id == record_id, JobRecord.state == JobState.RUNNING.value)
        .values(progress=max(0.0, min(1.0, progress)))
    )
    session.commit()


def pending_keys(session: Session) -> set[str]:
    """Storage keys of uploads whose job has not finished (`niaouli db cleanup` keeps
    them)."""
    rows = session.scalars(
        JobRecord.__table__.select()
        .with_only_columns(JobRecord.params)
        .where(JobRecord.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
    )
    return {p["key"] for p in rows if isinstance(p, dict) and p.get("key")}
