"""Ingest one file into the catalogue, all or nothing: plan → load → swap.

1. `plan` (before any write): sniff the file, check the organisation and the slug;
   then, first thing in the transaction, lock the dataset and name the layers.
2. `load`: each layer into a new, server-named table (the long part).
3. `swap`: the dataset's catalogue rows replaced, the previous tables dropped or kept as
   a version, the audit rows written.

Steps 1 (its second half) to 3 run in **one database transaction**, opened here: a
failure or a kill at any point before the commit leaves the previous version untouched
(PostgreSQL and SQLite both roll back DDL); the stored copy of the file is removed on
failure, or by `niaouli db cleanup` after a kill.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from niaouli import export_jobs, metrics, storage, tile_warm
from niaouli.accounts import audit
from niaouli.catalogue.models import AccessLevel, Dataset
from niaouli.db.engine import get_engine, writing
from niaouli.i18n import _
from niaouli.ingest.confirm import check_replace
from niaouli.ingest.errors import IngestError
from niaouli.ingest.ingest_report import IngestReport, LayerReport
from niaouli.ingest.load import load
from niaouli.ingest.plan import IngestOptions, IngestPlan, plan_ingestion, resolve_target
from niaouli.ingest.progress import Progress, ProgressCallback
from niaouli.ingest.raster import ingest_raster, is_raster
from niaouli.ingest.schema_check import SchemaCheck
from niaouli.ingest.schema_check import check as check_schema
from niaouli.ingest.sniff import check_local_path
from niaouli.ingest.source import LayerSource
from niaouli.ingest.sources import open_sources
from niaouli.ingest.swap import OnCommit, swap
from niaouli.settings import Settings, load_settings

LOGGER = logging.getLogger(__name__)


@metrics.ingestion_counted(rejected=(IngestError,))  # /metrics: niaouli_ingestions_total
def ingest_file(
    path: str | Path,
    *,
    organisation: str,
    dataset: str | None = None,
    title: str | None = None,
    description: str | None = None,
    crs: str | None = None,
    access_level: str | AccessLevel | None = None,
    original_name: str | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
    progress: str = "auto",
    on_progress: ProgressCallback | None = None,
    mode: str = "replace",
    on_commit: Callable[[Session, Dataset], None] | None = None,
    sheet: str | None = None,
    confirm: bool = True,
    keep_version: bool = False,
    actor: audit.Actor | None = None,
    raster_kind: str | None = None,
) -> IngestReport:
    """Ingest `path` as dataset `dataset` of `organisation`, replacing its previous layers.

    `mode="append"` keeps the existing rows and adds the file's (same columns and
    geometry type required), still as one swap: readers see the old table until the
    commit. `on_commit` runs inside the transaction just before it commits (the web API
    checks there that the uploader may still edit the dataset). With an `actor` (the web
    API, the command line), the audit rows are written in the same transaction, so they
    exist exactly when the change does: `layer.<mode>` with the file's name and checksum,
    after `dataset.create` when the file created the dataset.
    `sheet` picks the sheet of a spreadsheet (name or number; else the first with rows).
    With `confirm=False` (the web API and page), a change that may be a mistake raises
    `UnconfirmedChangeError` and writes nothing: the same file appended again (same SHA-256),
    or a replace that changes the columns or loses more than half of the rows.
    `keep_version=True` (the API, the upload page, the command line) keeps the previous
    layers as a version that can be restored (`niaouli.catalogue.versions`).
    A raster (GeoTIFF, JPEG 2000, a zipped raster) goes to `niaouli.ingest.raster`:
    it replaces the dataset's raster layer, `raster_kind` overriding the guessed kind.
    """
    options = IngestOptions(
        dataset=dataset,
        title=title,
        description=description,
        crs=crs,
        access_level=access_level,
        original_name=original_name,
        mode=mode,
        sheet=sheet,
        confirm=confirm,
        keep_version=keep_version,
    )
    if is_raster(check_local_path(path)):  # GeoTIFF, JPEG 2000, a zipped raster
        return ingest_raster(
            path,
            organisation=organisation,
            dataset=dataset,
            title=title,
            description=description,
            crs=crs,
            access_level=access_level,
            original_name=original_name,
            settings=settings,
            engine=engine,
            progress=progress,
            on_progress=on_progress,
            mode=mode,
            on_commit=on_commit,
            actor=actor,
            kind=raster_kind,
        )
    started = time.monotonic()
    settings = settings or load_settings()
    engine = engine or get_engine(settings)
    plan = plan_ingestion(path, organisation, options, engine)
    display_name = plan.display_name

    with tempfile.TemporaryDirectory(prefix="niaouli-ingest-") as workdir:
        try:
            sources = open_sources(plan.path, plan.kind, Path(workdir), sheet=sheet)
        except IngestError as exc:
            raise exc.located(file=display_name) from None
        # The dataset's Table Schema, if any: a failing file the organisation refuses
        # stops here, before anything is stored or written (niaouli.tableschema).
        checked = check_schema(plan, sources, Path(workdir), engine)
        total = sum(s.feature_count or 0 for s in sources) or None
        bar = Progress(total, display_name, mode=progress, callback=on_progress)
        stored = storage.store_file(plan.path, settings, display_name)
        old_keys: list[str] = []
        try:
            # It reads (the dataset, taken collection ids) before it writes: on SQLite the
            # write lock is taken first, else a concurrent commit fails it at once.
            with writing(engine).begin() as conn:
                created, old_keys, reports, held = _ingest_in_transaction(
                    conn,
                    plan,
                    sources,
                    stored,
                    bar,
                    on_commit=on_commit,
                    actor=actor,
                    checked=checked,
                )
        except IntegrityError as exc:
            _drop(settings, stored.key)
            raise IngestError(
                _("conflit avec une autre publication en cours ou existante (%(error)s)")
                % {"error": exc.orig},
                file=display_name,
            ) from None
        except IngestError as exc:
            _drop(settings, stored.key)
            raise exc.located(file=display_name) from None
        except BaseException:
            _drop(settings, stored.key)
            raise
        finally:
            bar.close()

    _remove_replaced(settings, old_keys)
    # The usual download then finds its file ready (docs/jobs.md).
    export_jobs.prebuild(engine, settings, [item.table_name for item in reports])
    # The heavy low-zoom tiles of large layers, made once (docs/ogc.md "Stored tiles").
    tile_warm.after_publication(engine, [item.table_name for item in reports])
    return IngestReport(
        dataset=plan.slug,
        created=created,
        file=display_name,
        format=plan.format_label,
        size=stored.size,
        checksum=stored.checksum,
        layers=reports,
        seconds=round(time.monotonic() - started, 3),
        privacy=held,
        validation=[r.as_dict() for r in checked.reports] if checked else [],
    )


def _drop(settings: Settings, key: str) -> None:
    """Delete this ingestion's own stored copy after it failed; a store that fails too
    leaves an orphan (`niaouli db cleanup`) and never hides the first error."""
    try:
        storage.remove_key(settings, key)
    except storage.StorageError as exc:
        LOGGER.warning("stored file %s left in the storage (niaouli db cleanup): %s", key, exc)


def _remove_replaced(settings: Settings, keys: list[str]) -> None:
    """Delete the files the committed ingestion replaced. The new data are in: a store
    that fails now must not turn the upload into a failure ("nothing was saved"); what it
    could not delete is an orphan, removed by `niaouli db cleanup`."""
    for key in keys:
        try:
            storage.remove_key(settings, key)
        except storage.StorageError as exc:
            LOGGER.warning(
                "replaced file %s left in the storage (niaouli db cleanup): %s", key, exc
            )


def ingest_stored(
    key: str,
    filename: str,
    *,
    settings: Settings | None = None,
    original_name: str | None = None,
    **options: Any,
) -> IngestReport:
    """Ingest a file already in the storage (`key`, `filename`): a background job's upload,
    received by one process and ingested by another, maybe on another machine.

    GDAL reads local files: the object is copied to a temporary file first (on the local
    backend, the stored file is read in place). The ingestion keeps its own copy under a
    new key, as `ingest_file` does; the caller removes `key` when it no longer needs it.
    `original_name`: the name the file was sent with (reports), if not the stored one.
    """
    settings = settings or load_settings()
    missing = _("fichier introuvable dans le stockage : « %(name)s »") % {"name": filename}
    try:
        if storage.stat(settings, key, filename) is None:
            raise IngestError(missing)
    except ValueError:  # not a storage name at all
        raise IngestError(missing) from None
    except storage.StorageError as exc:
        raise IngestError(_("stockage injoignable (%(error)s)") % {"error": exc}) from None
    with storage.local_copy(settings, key, filename) as path:
        return ingest_file(
            path, original_name=original_name or filename, settings=settings, **options
        )


def _ingest_in_transaction(
    conn: Connection,
    plan: IngestPlan,
    sources: list[LayerSource],
    stored: storage.StoredFile,
    progress: Progress,
    *,
    on_commit: OnCommit | None,
    actor: audit.Actor | None,
    checked: SchemaCheck | None = None,
) -> tuple[bool, list[str], list[LayerReport], list[dict[str, Any]]]:
    """Plan the target, load, swap: everything on `conn`, inside its one transaction."""
    session = Session(bind=conn, autoflush=False)
    target = resolve_target(session, plan, sources, stored.checksum)
    # The long part; readers still see the old tables.
    loaded = load(conn, plan, target, sources, progress)
    dataset = target.dataset
    if not plan.options.confirm and not target.appending and dataset is not None and dataset.layers:
        check_replace(dataset, loaded)
    swapped = swap(
        session,
        conn,
        plan,
        target,
        loaded,
        stored,
        on_commit=on_commit,
        actor=actor,
        validation=checked.reports if checked else None,
    )
    return target.created, swapped.old_keys, [item.report for item in loaded], swapped.held
