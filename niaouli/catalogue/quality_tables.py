"""The quality tables (migration 0029_quality): each dataset's score, each link's check.

`dataset_quality` is derived: written only by `quality_store` inside the transaction that
changes a dataset, so search can facet and sort on it without recomputing. `link_checks`
holds what the `link-check` job (`niaouli.ingest.linkcheck`) last found for each link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from niaouli.catalogue.base import Base


class DatasetQuality(Base):
    """One dataset's score: `criteria` is `quality.Score.as_rows()` (key, status, detail)."""

    __tablename__ = "dataset_quality"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[int | None] = mapped_column(Integer, index=True)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    counted: Mapped[int] = mapped_column(Integer, default=0)
    criteria: Mapped[list[Any]] = mapped_column(default=list)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LinkCheck(Base):
    """The last check of a link resource (deleted with it)."""

    __tablename__ = "link_checks"

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    reachable: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
