"""The tables of schema validation (migration 0030_table_schemas): a dataset's attached
Table Schema and the validation reports of the files sent to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from niaouli.catalogue.base import Base, utcnow


class TableSchemaLink(Base):
    """The Table Schema a dataset's tables are validated against (one per dataset,
    deleted with it). `source`: `upload`, or `example:<name>` for a shipped one."""

    __tablename__ = "table_schemas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True, index=True
    )
    descriptor: Mapped[dict[str, Any]] = mapped_column()
    title: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(100), default="upload")
    attached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attached_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ValidationRecord(Base):
    """One file's validation against the dataset's schema, kept when the file was
    published (valid, or invalid under the `publish` policy). `errors`: the first
    `validate.LISTED` errors as dicts (row, column, type, message...), never more."""

    __tablename__ = "validation_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    layer: Mapped[str] = mapped_column(String(200), default="")  # collection id
    file: Mapped[str] = mapped_column(String(300), default="")
    checksum: Mapped[str] = mapped_column(String(100), default="")
    schema_title: Mapped[str] = mapped_column(String(300), default="")
    valid: Mapped[bool] = mapped_column(Boolean)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    capped: Mapped[bool] = mapped_column(Boolean, default=False)  # stopped at the cap
    rows: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
