"""Harvest sources: register, list and look up (what the CLI and the portal call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue import service as catalogue
from niaouli.harvest import registry
from niaouli.harvest.base import HarvestError
from niaouli.harvest.models import HarvestJob, HarvestSource

SCHEDULES = ("hourly", "daily", "weekly")


def add_source(
    session: Session,
    organisation: str,
    kind: str,
    url: str,
    *,
    slug: str | None = None,
    name: str | None = None,
    schedule: str | None = None,
    allow_private_network: bool = False,
    options: dict[str, Any] | None = None,
) -> HarvestSource:
    org = catalogue.get_organisation(session, organisation)
    registry.harvester_class(kind)  # unknown type -> HarvestError
    if not url.startswith(("http://", "https://")):
        raise HarvestError(f"adresse de source invalide « {url[:200]} » (http ou https attendu)")
    if schedule is not None and schedule not in SCHEDULES:
        raise HarvestError(f"calendrier inconnu « {schedule} » (attendu : {', '.join(SCHEDULES)})")
    name = name or f"{org.name} — {kind}"
    slug = catalogue.check_slug(slug or catalogue.make_slug(f"{org.slug}-{kind}"))
    if session.scalar(select(HarvestSource.id).where(HarvestSource.slug == slug)):
        raise HarvestError(f"la source « {slug} » existe déjà (choisissez un autre --slug)")
    source = HarvestSource(
        slug=slug,
        name=name,
        organisation=org,
        type=kind,
        url=url,
        options=dict(options or {}),
        schedule=schedule,
        allow_private_network=allow_private_network,
    )
    session.add(source)
    session.flush()
    return source


def get_source(session: Session, slug: str) -> HarvestSource:
    source = session.scalar(select(HarvestSource).where(HarvestSource.slug == slug))
    if source is None:
        raise catalogue.NotFoundError(f"source de moissonnage inconnue : « {slug} »")
    return source


def list_sources(session: Session) -> Sequence[HarvestSource]:
    return session.scalars(select(HarvestSource).order_by(HarvestSource.slug)).all()


def jobs(session: Session, source: HarvestSource, limit: int = 20) -> Sequence[HarvestJob]:
    return session.scalars(
        select(HarvestJob)
        .where(HarvestJob.source_id == source.id)
        .order_by(HarvestJob.id.desc())
        .limit(limit)
    ).all()
