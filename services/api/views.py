"""Catalogue rows as API bodies. E-mail addresses only reach platform admins in lists."""

from __future__ import annotations

from sqlalchemy.orm import Session

from niaouli.accounts.account_tables import User
from niaouli.catalogue import models
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.permissions import Action, allowed
from niaouli.ingest import notes as ingest_notes
from niaouli.services.api import links, schemas


def layer(item: models.Layer) -> schemas.LayerInfo:
    return schemas.LayerInfo(
        name=item.name,
        collection_id=item.collection_id,
        geometry_type=item.geometry_type,
        feature_count=item.feature_count,
        native_crs=item.native_crs,
        # Stored in French; shown in the caller's language (`?lang=en`).
        notes=[ingest_notes.shown(n) for n in (item.ingest_report or {}).get("notes", [])],
    )


def resource(item: models.Resource, root: str = "") -> schemas.ResourceInfo:
    """A resource; a stored file's `url` is its download address (from `root`)."""
    url = item.url
    if url is None and item.dataset is not None:
        url = links.download(root, item.dataset.slug, item)
    return schemas.ResourceInfo(
        id=item.id,
        title=item.title,
        kind=item.kind.value if hasattr(item.kind, "value") else item.kind,
        role=item.role,
        url=url,
        filename=item.filename,
        format=item.format,
        media_type=item.media_type,
        size=item.size,
        checksum=item.checksum,
    )


def dataset(
    session: Session, item: models.Dataset, viewer: Viewer, listing: bool = False, root: str = ""
) -> schemas.Dataset:
    """The dataset with its links, absolute from `root` (the platform's public root)."""
    publisher = session.get(User, item.published_by_id) if item.published_by_id else None
    show_email = allowed(viewer, Action.CONTACTS_READ) or not listing
    return schemas.Dataset(
        slug=item.slug,
        title=item.title,
        organisation=item.organisation.slug,
        description=item.description or "",
        licence=item.licence,
        themes=list(item.themes or []),
        keywords=list(item.keywords or []),
        access_level=item.access_level.value,
        producer=item.producer,
        update_frequency=item.update_frequency,
        temporal_start=item.temporal_start,
        temporal_end=item.temporal_end,
        lineage=item.lineage or "",
        contact_name=item.contact_name,
        published_at=item.published_at,
        published_by=publisher.display_name if publisher else None,
        updated_at=item.updated_at,
        layers=[layer(x) for x in item.layers],
        resources=[resource(x, root) for x in item.resources],
        links=links.dataset_links(root, item),
        contact_email=item.contact_email if show_email else None,
    )


def organisation(item: models.Organisation, viewer: Viewer, count: int) -> schemas.Organisation:
    return schemas.Organisation(
        slug=item.slug,
        name=item.name,
        kind=item.kind.value,
        description=item.description or "",
        website=item.website,
        email=item.email if allowed(viewer, Action.CONTACTS_READ) else None,
        schema_policy=item.schema_policy,
        datasets=count,
    )


def code_project(item: models.CodeProject, visible: set[int]) -> schemas.CodeProject:
    return schemas.CodeProject(
        slug=item.slug,
        name=item.name,
        organisation=item.organisation.slug,
        description=item.description or "",
        repository_url=item.repository_url,
        licence=item.licence,
        languages=list(item.languages or []),
        status=item.status.value,
        datasets=[d.slug for d in item.datasets if d.id in visible],
    )


def reuse(session: Session, item: models.Reuse, visible: set[int]) -> schemas.Reuse:
    author = session.get(User, item.submitted_by_id) if item.submitted_by_id else None
    return schemas.Reuse(
        slug=item.slug,
        title=item.title,
        kind=item.kind.value,
        url=item.url,
        description=item.description or "",
        status=item.status.value,
        submitted_by=author.display_name if author else None,
        datasets=[d.slug for d in item.datasets if d.id in visible],
    )


def event(item: models.Event, visible: set[int]) -> schemas.Event:
    from niaouli.localtime import as_utc

    return schemas.Event(
        slug=item.slug,
        title=item.title,
        kind=item.kind.value,
        organisation=item.organisation.slug if item.organisation else None,
        starts_at=as_utc(item.starts_at),
        ends_at=as_utc(item.ends_at) if item.ends_at else None,
        location=item.location,
        url=item.url,
        description=item.description or "",
        datasets=[d.slug for d in item.datasets if d.id in visible],
    )
