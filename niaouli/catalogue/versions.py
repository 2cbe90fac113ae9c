"""Previous versions of a dataset's layers, kept after a replace so that an editor can
restore them (issue 15 §2: what a manager expects after a wrong upload).

A replace (or append) through the API, the upload page or `niaouli ingest` no longer
drops the previous layer tables: their catalogue rows (layers and source files) are
written as JSON into one `dataset_versions` row, and the tables and stored files stay.
The newest `NIAOULI_KEEP_VERSIONS` versions (default 3, 0 keeps none) are kept per
dataset; older ones are dropped in the same transaction as the replace, their files
removed after the commit. Restoring swaps a version back in, all or nothing: the
current layers become a version themselves, so a restore can be undone too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Base, Dataset, JSONType, Layer, Resource, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.layers import LayerStore, layer_store
from niaouli.errors import ForbiddenError, NotFoundError
from niaouli.i18n import _
from niaouli.settings import get_settings

_SKIPPED = {"id", "dataset_id", "created_at", "updated_at"}


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the version was replaced (created_at) and what it was made of.
    file: Mapped[str | None] = mapped_column(String(300))
    feature_count: Mapped[int] = mapped_column(Integer, default=0)
    layers: Mapped[list[Any]] = mapped_column(JSONType)
    sources: Mapped[list[Any]] = mapped_column(JSONType)


class RestoreError(NotFoundError):
    """The version cannot be restored (gone, or its tables missing): nothing changed."""


def kept_versions() -> int:
    """How many previous versions each dataset keeps (`NIAOULI_KEEP_VERSIONS`)."""
    return get_settings().keep_versions


def _row(obj: Layer | Resource) -> dict[str, Any]:
    values = {}
    for column in type(obj).__table__.columns:
        if column.key in _SKIPPED:
            continue
        value = getattr(obj, column.key)
        if isinstance(value, datetime):
            continue
        values[column.key] = value.value if hasattr(value, "value") else value
    return values


def _known(model: type, values: dict[str, Any]) -> dict[str, Any]:
    """Stored values back as column values (enums as their class; unknown keys left)."""
    known = {}
    for column in model.__table__.columns:
        if column.key in _SKIPPED or column.key not in values:
            continue
        value = values[column.key]
        enum_class = getattr(column.type, "enum_class", None)
        known[column.key] = enum_class(value) if enum_class and value is not None else value
    return known


def shelve(session: Session, dataset: Dataset, move_sources: bool = True) -> DatasetVersion | None:
    """Move the dataset's layers and source files into a new version (tables and files
    stay); returns None when there is nothing to keep. Caller flushes.

    An append keeps its earlier source files on the dataset (`move_sources=False`): the
    version lists them too, and a file is removed only once nothing lists it.
    """
    layers = list(dataset.layers)
    if not layers:
        return None
    sources = [r for r in dataset.resources if r.role == "source"]
    version = DatasetVersion(
        dataset_id=dataset.id,
        created_at=utcnow(),
        file=(sources[-1].filename or sources[-1].title)[:300] if sources else None,
        feature_count=sum(layer.feature_count or 0 for layer in layers),
        layers=[_row(layer) for layer in layers],
        sources=[_row(resource) for resource in sources],
    )
    for layer in layers:
        dataset.layers.remove(layer)
    if move_sources:
        for resource in sources:
            dataset.resources.remove(resource)
    session.add(version)
    return version


def prune(session: Session, store: LayerStore, dataset_id: int, keep: int) -> list[str]:
    """Drop the versions beyond the newest `keep` (tables now); their storage keys, to
    remove after the commit."""
    versions = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id.desc())
    ).all()
    keys: list[str] = []
    for version in versions[keep:]:
        keys += drop(session, store, version)
    session.flush()
    # A file still listed by the dataset or a kept version (appends share them) stays.
    used = set(session.scalars(select(Resource.storage_key).where(Resource.storage_key.in_(keys))))
    for version in versions[:keep]:
        used.update(s.get("storage_key") for s in version.sources or [])
    return [key for key in keys if key not in used]


def drop(session: Session, store: LayerStore, version: DatasetVersion) -> list[str]:
    conn = session.connection()
    for layer in version.layers or []:
        store.drop(conn, layer["table_name"], layer.get("geometry_type") is not None)
    session.delete(version)
    return [s["storage_key"] for s in version.sources or [] if s.get("storage_key")]


def listed(session: Session, dataset_id: int) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id.desc())
        ).all()
    )


def restore_version(
    session: Session,
    viewer: Viewer,
    dataset: Dataset,
    version_id: int,
    actor: audit.Actor | None = None,
) -> list[str]:
    """The restore operation of the API and the versions page: only who may `dataset.edit`
    the dataset, all or nothing (`restore`), with its audit row. Returns the storage keys
    to remove after the commit."""
    if not allowed(viewer, Action.DATASET_EDIT, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))
    keys = restore(session, layer_store(session.connection()), dataset, version_id)
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        "layer.restore",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        version=version_id,
    )
    session.flush()
    # Restored columns pass the personal-data guard again: held as a draft if need be.
    from niaouli.privacy.guard import hold

    hold(session, dataset)
    return keys


def restore(session: Session, store: LayerStore, dataset: Dataset, version_id: int) -> list[str]:
    """Swap version `version_id` back in (in the caller's transaction; all or nothing).

    The current layers become a version; versions beyond the kept number are dropped
    (their storage keys returned, to remove after the commit).
    """
    version = session.get(DatasetVersion, version_id)
    if version is None or version.dataset_id != dataset.id:
        raise RestoreError(_("version introuvable"))
    conn = session.connection()
    missing = [x["table_name"] for x in version.layers if not store.exists(conn, x["table_name"])]
    if missing:
        raise RestoreError(_("les données de cette version ne sont plus disponibles"))
    shelve(session, dataset)
    session.flush()  # the collection ids are free again
    extent = None
    for values in version.layers:
        dataset.layers.append(Layer(**_known(Layer, values)))
        box = [
            values.get(k) for k in ("extent_west", "extent_south", "extent_east", "extent_north")
        ]
        if None not in box:
            extent = (
                box
                if extent is None
                else [
                    min(extent[0], box[0]),
                    min(extent[1], box[1]),
                    max(extent[2], box[2]),
                    max(extent[3], box[3]),
                ]
            )
    for values in version.sources:
        dataset.resources.append(Resource(**_known(Resource, values)))
    dataset.is_spatial = any(x.get("geometry_type") for x in version.layers)
    dataset.spatial_coverage = WKTElement(shapely.box(*extent).wkt, srid=4326) if extent else None
    dataset.provenance = {
        **(dataset.provenance or {}),
        "source_file": version.file,
        "restored_at": utcnow().isoformat(),
    }
    dataset.updated_at = utcnow()
    session.delete(version)
    session.flush()
    return prune(session, store, dataset.id, kept_versions())
