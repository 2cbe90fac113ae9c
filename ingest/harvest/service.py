"""Harvest sources: register, list and look up (what the CLI and the portal call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from niaouli import links
from niaouli.catalogue import service as catalogue
from niaouli.db.engine import writing
from niaouli.ingest.harvest import registry
from niaouli.ingest.harvest.base import HarvestError
from niaouli.ingest.harvest.harvest_tables import (
    HarvestedRecord,
    HarvestJob,
    HarvestJobItem,
    HarvestSource,
)
from niaouli.settings import Settings

SCHEDULES = ("hourly", "daily", "weekly")
URL_MAX = 2000  # harvest_sources.url


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
    checked = links.web_link(url)
    if checked is None or len(checked) > URL_MAX:
        raise HarvestError(f"adresse de source invalide « {url[:200]} » (http ou https attendu)")
    url = checked
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


def sources_of(session: Session, organisation_id: int) -> Sequence[HarvestSource]:
    """An organisation's sources, by name (its harvest page)."""
    return session.scalars(
        select(HarvestSource)
        .where(HarvestSource.organisation_id == organisation_id)
        .order_by(HarvestSource.name, HarvestSource.id)
    ).all()


def source_owner(session: Session, slug: str) -> int | None:
    """The organisation (id) holding the source `slug`, None if there is none."""
    return session.scalar(select(HarvestSource.organisation_id).where(HarvestSource.slug == slug))


def last_jobs(session: Session, source_ids: list[int]) -> dict[int, HarvestJob]:
    """Each source's latest job (by source id); sources never run are absent."""
    if not source_ids:
        return {}
    latest = (
        select(func.max(HarvestJob.id))
        .where(HarvestJob.source_id.in_(source_ids))
        .group_by(HarvestJob.source_id)
    )
    found = session.scalars(select(HarvestJob).where(HarvestJob.id.in_(latest))).all()
    return {job.source_id: job for job in found}


def count_job_items(session: Session, job_id: int) -> int:
    mine = HarvestJobItem.job_id == job_id
    return session.scalar(select(func.count()).select_from(HarvestJobItem).where(mine)) or 0


def job_items(session: Session, job_id: int, offset: int, limit: int) -> Sequence[HarvestJobItem]:
    """One page of a job's per-record report, in the order the records were handled."""
    return session.scalars(
        select(HarvestJobItem)
        .where(HarvestJobItem.job_id == job_id)
        .order_by(HarvestJobItem.id)
        .offset(offset)
        .limit(limit)
    ).all()


def edit_source(
    session: Session,
    slug: str,
    *,
    name: str | None = None,
    schedule: str | None = None,
    options: dict[str, Any] | None = None,
) -> HarvestSource:
    """Change a source's name, schedule ("manual" = run by hand only) or options.

    Options are merged: `key=` (empty value) removes the key.
    """
    source = get_source(session, slug)
    if name is not None:
        if not name.strip():
            raise HarvestError("le nom de la source ne peut pas être vide")
        source.name = name.strip()[:300]
    if schedule is not None:
        if schedule not in (*SCHEDULES, "manual"):
            raise HarvestError(
                f"calendrier inconnu « {schedule} » (attendu : {', '.join(SCHEDULES)}, manual)"
            )
        source.schedule = None if schedule == "manual" else schedule
    if options:
        merged = dict(source.options or {})
        for key, value in options.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        source.options = merged
    session.flush()
    return source


def remove_source(engine: Engine, settings: Settings, slug: str, keep_datasets: bool) -> list[str]:
    """Delete a source, its jobs and (unless `keep_datasets`) what it harvested.

    One transaction: the datasets, their layer tables, the code projects and the source
    go together or not at all; the catalogue change hooks see the deletions (OGC, CSW
    and portal follow). Stored files are removed after the commit. Returns the slugs of
    the deleted datasets and code projects.
    """
    from niaouli import storage
    from niaouli.db.layers import layer_store

    deleted: list[str] = []
    keys: list[str] = []
    with Session(writing(engine)) as session, session.begin():
        source = get_source(session, slug)
        links = session.scalars(
            select(HarvestedRecord).where(HarvestedRecord.source_id == source.id)
        ).all()
        for link in links:
            dataset, project = link.dataset, link.code_project
            session.delete(link)
            if keep_datasets:
                continue
            if dataset is not None:
                store = layer_store(session.connection())
                for layer in dataset.layers:
                    store.drop(
                        session.connection(), layer.table_name, layer.geometry_type is not None
                    )
                keys += [r.storage_key for r in dataset.resources if r.storage_key]
                deleted.append(dataset.slug)
                session.delete(dataset)
            if project is not None:
                deleted.append(project.slug)
                session.delete(project)
        session.flush()
        session.delete(source)
    for key in keys:
        storage.remove_key(settings, key)
    return deleted
