"""The partnership table: one row per organisation that the programme follows
(migration 0032_partners). A row without a status holds only the facts that decide the
organisation's obligations (its commune, its number of agents)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from niaouli.catalogue.base import Base, Timestamped, _enum
from niaouli.catalogue.models import Organisation


class PartnerStatus(enum.StrEnum):
    """Where an administration stands with the programme."""

    INVITED = "invited"
    DISCUSSION = "discussion"
    SIGNED = "signed"  # the agreement (« convention ») is signed: date and PDF
    LEFT = "left"


class Partnership(Timestamped, Base):
    """An organisation's partnership and obligation facts (deleted with it).

    `contacts`: [{"role", "email"}], functional addresses only (`contacts.check`);
    the agreement's PDF lives in storage under `agreement_key` (`agreements.store`).
    """

    __tablename__ = "partnerships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True, index=True
    )
    status: Mapped[PartnerStatus | None] = mapped_column(
        _enum(PartnerStatus, "partner_status"), nullable=True
    )
    status_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_on: Mapped[date | None] = mapped_column(Date)
    agreement_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    agreement_filename: Mapped[str | None] = mapped_column(String(300))
    agreement_size: Mapped[int | None] = mapped_column(BigInteger)
    agreement_checksum: Mapped[str | None] = mapped_column(String(100))
    # Obligation facts, entered by platform admins: the commune's INSEE code (the
    # population table gives its inhabitants) and the number of agents.
    commune_code: Mapped[str | None] = mapped_column(String(5))
    agents: Mapped[int | None] = mapped_column(Integer)
    contacts: Mapped[list[Any]] = mapped_column(default=list)

    organisation: Mapped[Organisation] = relationship()
