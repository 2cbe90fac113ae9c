"""The tables of calls for projects (issue 22 §1).

A call is the extra half of an event of kind `call_for_projects`: its rules, criteria,
dates and the datasets it puts forward. Applications are private to their team and to
the organising organisation's editors; a laureate's becomes public only once the
results are published (`results_published_at`). Attachments are PDF files kept in the
file storage (`niaouli.storage`) under a server key; the row holds the key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from niaouli.accounts.account_tables import User
from niaouli.catalogue.base import Base, Timestamped, utcnow
from niaouli.catalogue.models import CodeProject, Dataset, Event, Reuse

call_datasets = Table(
    "call_datasets",
    Base.metadata,
    Column("call_id", ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)

application_datasets = Table(
    "call_application_datasets",
    Base.metadata,
    Column(
        "application_id", ForeignKey("call_applications.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)

application_members = Table(
    "call_application_members",
    Base.metadata,
    Column(
        "application_id", ForeignKey("call_applications.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Call(Timestamped, Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    rules: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[list[Any]] = mapped_column(default=list)  # their names, in order
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    jury_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    results_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once, when the organisers publish the laureates: from then on they are public.
    results_published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    event: Mapped[Event] = relationship()
    datasets: Mapped[list[Dataset]] = relationship(secondary=call_datasets)


class Application(Timestamped, Base):
    __tablename__ = "call_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_name: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    laureate: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the laureate's project became when it shipped (linked back to the call).
    reuse_id: Mapped[int | None] = mapped_column(ForeignKey("reuses.id", ondelete="SET NULL"))
    code_project_id: Mapped[int | None] = mapped_column(
        ForeignKey("code_projects.id", ondelete="SET NULL")
    )

    call: Mapped[Call] = relationship()
    lead: Mapped[User] = relationship(foreign_keys=[lead_id])
    members: Mapped[list[User]] = relationship(secondary=application_members)
    datasets: Mapped[list[Dataset]] = relationship(secondary=application_datasets)
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    scores: Mapped[list[Score]] = relationship(cascade="all, delete-orphan")
    reuse: Mapped[Reuse | None] = relationship()
    code_project: Mapped[CodeProject | None] = relationship()


class Attachment(Base):
    __tablename__ = "call_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("call_applications.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    checksum: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="attachments")


class Score(Base):
    """One reviewer's mark (0 to 10) for one criterion of one application."""

    __tablename__ = "call_scores"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id", "criterion"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("call_applications.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
