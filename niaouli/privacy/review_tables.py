"""The guard's table: per dataset, the last scan's findings, the editors' confirmations
and the salt of its hashed columns (migration 0027_privacy)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from niaouli.catalogue.base import Base


def new_salt() -> str:
    return secrets.token_hex(16)


class PrivacyReview(Base):
    """What the guard knows of one dataset (deleted with it).

    `findings`: the last scan (`Finding.as_dict()` each); `confirmations`: {layer, column,
    kind, reason, user_id, at} for the findings an editor confirmed are not a problem;
    `held`: the ingestion or a harvest kept the dataset as a draft because of findings;
    `salt`: secret, so that a hashed column cannot be reversed by hashing guesses, and
    per dataset, so that two datasets' hashes cannot be joined.
    """

    __tablename__ = "privacy_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True, index=True
    )
    salt: Mapped[str] = mapped_column(String(64), default=new_salt)
    findings: Mapped[list[Any]] = mapped_column(default=list)
    confirmations: Mapped[list[Any]] = mapped_column(default=list)
    method: Mapped[str] = mapped_column(String(40), default="")
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
