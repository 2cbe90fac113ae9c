"""Ingestion, step 3 — swap: the dataset's catalogue rows replaced by the loaded layers.

Runs inside the ingestion's transaction, after the load: the dataset is created (or its
title, description and access level updated), its previous layers are either kept as a
version (`niaouli.catalogue.versions`) or dropped with their tables and source files, the
new layers and the file's resource are inserted, the audit rows written. Everything
commits together; the storage keys of the files no longer used are returned, to be
removed only after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from niaouli import storage
from niaouli.accounts import audit
from niaouli.catalogue import columns as column_notes
from niaouli.catalogue import service, versions
from niaouli.catalogue.models import AccessLevel, Dataset, Layer, Resource, ResourceKind, utcnow
from niaouli.db.layers import layer_store
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.load import LoadedLayer, merge_extent
from niaouli.ingest.plan import IngestPlan, Target
from niaouli.privacy import guard as privacy_guard
from niaouli.tableschema import reports as schema_reports
from niaouli.tableschema.validate import Report

OnCommit = Callable[[Session, Dataset], None]


@dataclass
class Swapped:
    """The dataset after the swap, and the storage keys to remove once committed."""

    dataset: Dataset
    old_keys: list[str]
    held: list[dict[str, Any]] = field(default_factory=list)  # personal-data findings


def swap(
    session: Session,
    conn: Connection,
    plan: IngestPlan,
    target: Target,
    loaded: list[LoadedLayer],
    stored: storage.StoredFile,
    *,
    on_commit: OnCommit | None = None,
    actor: audit.Actor | None = None,
    validation: list[Report] | None = None,
) -> Swapped:
    """Replace the dataset's layers and source file by the loaded ones (same transaction).

    `session` is bound to `conn`, the ingestion's connection (the one transaction).
    `validation`: the file's Table Schema reports, one per loaded layer, kept with it."""
    dataset = _dataset_for(session, plan, target)
    previous = list(dataset.layers)
    keep = plan.options.keep_version and not target.created and versions.kept_versions() > 0
    old_keys = _retire_previous(session, conn, dataset, keep=keep, appending=target.appending)
    _insert_new(dataset, plan, loaded, previous, stored)
    session.flush()
    if keep:
        old_keys += versions.prune(session, layer_store(conn), dataset.id, versions.kept_versions())
    if on_commit is not None:
        on_commit(session, dataset)
        session.flush()
    if actor is not None:
        record_ingestion(session, actor, dataset, target.created, plan, stored.checksum)
    for report, item in zip(validation or [], loaded, strict=False):
        schema_reports.keep(
            session,
            dataset,
            report,
            layer=item.report.collection_id,
            file=plan.display_name,
            checksum=stored.checksum,
        )
        if not report.valid:
            item.report.notes.append(schema_note(report))
    # Data that becomes visible passes the personal-data guard: with findings, the
    # dataset is kept as a draft and the report says why (niaouli.privacy.guard).
    held = privacy_guard.hold(session, dataset)
    if held:
        note = privacy_guard.held_note(held)
        for item in loaded:
            if any(f.layer == item.report.collection_id for f in held):
                item.report.notes.append(note)
    return Swapped(dataset, old_keys, privacy_guard.as_dicts(held))


def _dataset_for(session: Session, plan: IngestPlan, target: Target) -> Dataset:
    """The dataset created, or the existing one with the fields the caller gave."""
    options = plan.options
    if target.dataset is None:
        return service.create_dataset(
            session,
            session.get(service.Organisation, plan.organisation_id),
            plan.slug,
            options.title or title_from(plan.display_name),
            description=options.description or "",
            access_level=options.access_level or AccessLevel.PUBLIC,
        )
    dataset = target.dataset
    changes: dict[str, Any] = {}
    if options.title:
        changes["title"] = options.title
    if options.description:
        changes["description"] = options.description
    if options.access_level:
        changes["access_level"] = options.access_level
    if changes:
        service.update_dataset(session, dataset, **changes)
    return dataset


def _retire_previous(
    session: Session, conn: Connection, dataset: Dataset, *, keep: bool, appending: bool
) -> list[str]:
    """Shelve the previous layers as a version, or drop them; the file keys to remove."""
    old_keys: list[str] = []
    if keep:  # the previous tables and files stay, listed as a version
        versions.shelve(session, dataset, move_sources=not appending)
    else:
        store = layer_store(conn)
        for old in list(dataset.layers):
            store.drop(conn, old.table_name, old.geometry_type is not None)
            dataset.layers.remove(old)
        for resource in list(dataset.resources) if not appending else []:
            if resource.role == "source":
                if resource.storage_key:
                    old_keys.append(resource.storage_key)
                dataset.resources.remove(resource)
    session.flush()
    return old_keys


def _insert_new(
    dataset: Dataset,
    plan: IngestPlan,
    loaded: list[LoadedLayer],
    previous: list[Layer],
    stored: storage.StoredFile,
) -> None:
    """The loaded layers, the file's resource, the coverage and provenance."""
    extent = None
    for item in loaded:
        r = item.report
        extent = merge_extent(extent, r.extent)
        dataset.layers.append(
            Layer(
                name=r.name,
                collection_id=r.collection_id,
                table_name=r.table_name,
                source_layer=item.source_layer,
                geometry_type=r.geometry_type,
                native_crs=r.native_crs,
                feature_count=r.feature_count,
                extent_west=r.extent[0] if r.extent else None,
                extent_south=r.extent[1] if r.extent else None,
                extent_east=r.extent[2] if r.extent else None,
                extent_north=r.extent[3] if r.extent else None,
                attribute_schema=item.columns,
                column_descriptions=column_notes.carried_over(
                    previous, r.name, [c["name"] for c in item.columns]
                ),
                ingest_report={k: v for k, v in asdict(r).items() if k not in ("table_name",)},
            )
        )
    dataset.resources.append(
        Resource(
            title=plan.display_name,
            kind=ResourceKind.FILE,
            role="source",
            storage_key=stored.key,
            filename=stored.filename,
            format=plan.format_label,
            media_type=plan.media_type,
            size=stored.size,
            checksum=stored.checksum,
        )
    )
    dataset.is_spatial = any(item.report.geometry_type for item in loaded)
    dataset.spatial_coverage = WKTElement(shapely.box(*extent).wkt, srid=4326) if extent else None
    dataset.provenance = {
        **(dataset.provenance or {}),
        "source_file": plan.display_name,
        "ingested_at": utcnow().isoformat(),
    }
    dataset.updated_at = utcnow()


def record_ingestion(
    session: Session,
    actor: audit.Actor,
    dataset: Dataset,
    created: bool,
    plan: IngestPlan,
    checksum: str,
) -> None:
    """The audit rows of an ingestion, in its transaction."""
    where = {"subject": dataset.slug, "organisation_id": dataset.organisation_id}
    if created:
        audit.record(
            session, actor, "dataset.create", **where, access_level=dataset.access_level.value
        )
    audit.record(
        session,
        actor,
        f"layer.{plan.options.mode}",
        **where,
        file=plan.display_name,
        checksum=checksum,
    )
    session.flush()


def schema_note(report: Report) -> str:
    """The layer's note (stored in French) when a failing file was published anyway."""
    return ingest_notes.note(
        ingest_notes.SCHEMA_FAILED, count=report.error_count, schema=report.schema_title
    )


def title_from(filename: str) -> str:
    stem = Path(filename).stem.replace("_", " ").replace("-", " ").strip()
    return (stem[:1].upper() + stem[1:]) or "Jeu de données"
