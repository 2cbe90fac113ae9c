"""Removing datasets and cleaning what interrupted work left behind."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli import exports, storage
from niaouli.accounts import audit
from niaouli.catalogue import service, versions
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import Contribution
from niaouli.catalogue.community import calls
from niaouli.catalogue.models import Layer, RasterLayer, Resource
from niaouli.catalogue.partners.partner_tables import Partnership
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.publication import ForbiddenError
from niaouli.db.engine import writing
from niaouli.db.layers import layer_store
from niaouli.i18n import _
from niaouli.jobs import records
from niaouli.settings import Settings


def delete_dataset(
    engine: Engine,
    settings: Settings,
    slug: str,
    viewer: Viewer | None = None,
    actor: audit.Actor | None = None,
) -> None:
    """Delete a dataset, its layer tables and (after the commit) its files, for `viewer`
    (the command line's `Viewer.system()` by default) who must be allowed `dataset.delete`.

    The audit row is written in the same transaction (`actor`, else `audit.actor_for`).
    """
    viewer = viewer or Viewer.system()
    keys: list[str] = []
    with writing(engine).begin() as conn:
        session = Session(bind=conn)
        dataset = service.find_dataset(session, slug)
        if dataset is None:
            raise service.NotFoundError(
                _("jeu de données introuvable : « %(slug)s »") % {"slug": slug}
            )
        if not allowed(viewer, Action.DATASET_DELETE, dataset):
            raise ForbiddenError(
                _("seuls les éditeurs de l'organisation suppriment ce jeu de données")
            )
        store = layer_store(conn)
        for layer in dataset.layers:
            store.drop(conn, layer.table_name, layer.geometry_type is not None)
        keys = [r.storage_key for r in dataset.resources if r.storage_key]
        for raster in dataset.raster_layers:  # the COGs and the originals
            keys += [k for k in (raster.cog_key, raster.original_key) if k]
        for version in versions.listed(session, dataset.id):  # its kept versions go too
            keys += versions.drop(session, store, version)
        keys = sorted(set(keys))
        audit.record(
            session,
            actor or audit.actor_for(viewer),
            "dataset.delete",
            subject=dataset.slug,
            organisation_id=dataset.organisation_id,
        )
        session.delete(dataset)
        session.flush()
    for key in keys:
        storage.remove_key(settings, key)


@dataclass
class CleanupReport:
    tables: list[str]
    files: list[str]
    exports: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)


def cleanup(engine: Engine, settings: Settings, min_age_seconds: float = 3600) -> CleanupReport:
    """Drop layer tables and remove stored files that no catalogue row references.

    Ingestion runs in one transaction, so orphan tables only appear after a crash of the
    database itself; orphan files appear when an ingestion is killed after storing its
    copy. `min_age_seconds` spares files of ingestions still running. Cached layer
    exports of tables that no longer exist (re-ingested or deleted layers) are removed.
    """
    with writing(engine).begin() as conn:
        store = layer_store(conn)
        used = set(conn.execute(select(Layer.table_name)).scalars())
        kept = conn.execute(select(versions.DatasetVersion.layers, versions.DatasetVersion.sources))
        kept_keys: set[str] = set()
        for layers, sources in kept:  # the tables and files of kept versions are in use
            used.update(layer["table_name"] for layer in layers or [])
            kept_keys.update(s["storage_key"] for s in sources or [] if s.get("storage_key"))
        orphans = [t for t in store.list_tables(conn) if t not in used]
        for table in orphans:
            store.drop(conn, table, has_geometry=False)
        referenced = {k for k in conn.execute(select(Resource.storage_key)).scalars() if k}
        for cog, original in conn.execute(
            select(RasterLayer.cog_key, RasterLayer.original_key)
        ):  # the rasters' COGs and originals
            referenced.update(k for k in (cog, original) if k)
        referenced |= kept_keys
        # Volunteers' photos (ingest/photos.py): kept while a contribution names them.
        referenced |= {k for k in conn.execute(select(Contribution.photo_key)).scalars() if k}
        # Partners' agreements (niaouli/catalogue/partners).
        referenced |= {k for k in conn.execute(select(Partnership.agreement_key)).scalars() if k}
        # Applications' attachments to calls for projects.
        referenced |= calls.stored_keys(Session(bind=conn))
        # Uploads waiting for (or in) their ingestion job (`niaouli.jobs.records`).
        referenced |= records.pending_keys(Session(bind=conn))
    files = storage.orphan_keys(settings, referenced, min_age_seconds)
    for key in files:
        storage.remove_key(settings, key)
    # Cached exports are keyed by table name: those of replaced or dropped tables go too.
    stale_exports = exports.prune(settings, sorted(used), min_age_seconds)
    return CleanupReport(
        tables=orphans,
        files=files,
        exports=stale_exports,
        uploads=_stale_uploads(settings, min_age_seconds),
    )


def _stale_uploads(settings: Settings, min_age_seconds: float) -> list[str]:
    """Remove what a killed server left of uploads being received (`incoming/<random>`)."""
    import shutil
    import time

    incoming = settings.data_dir / "incoming"
    if not incoming.is_dir():
        return []
    now = time.time()
    stale = sorted(
        entry.name
        for entry in incoming.iterdir()
        if entry.is_dir() and now - entry.stat().st_mtime >= min_age_seconds
    )
    for name in stale:
        shutil.rmtree(incoming / name, ignore_errors=True)
    return stale
