"""Ingest one raster file, all or nothing: check → convert to COG → store → swap.

1. Before any write: the organisation and slug are checked, the file sniffed
   (`sniff`), its header read and refused if hostile (`checks`).
2. The conversion to a COG (`cog`, GDAL's translate with a progress callback) writes a
   temporary file, beside the storage when it is local; then the COG and the original
   are stored under new keys.
3. One transaction (`swap`): the dataset row locked (or created), its previous raster
   layers replaced, the new row and its two download resources inserted, audit rows.

A failure anywhere removes the new keys and leaves the previous version untouched; the
previous files are removed only after the commit. `ingest_raster` is a plain function:
the command line, the web upload and a background job call it alike (`ingest_file`
dispatches here when the file is a raster).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import rasterio
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from niaouli import storage
from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.models import AccessLevel, Dataset, RasterKind
from niaouli.db.engine import get_engine, writing
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError
from niaouli.ingest.ingest_report import IngestReport, RasterReport
from niaouli.ingest.plan import IngestOptions, IngestPlan
from niaouli.ingest.progress import Progress, ProgressCallback
from niaouli.ingest.raster import cog, gdal
from niaouli.ingest.raster.checks import environment, read_header
from niaouli.ingest.raster.describe import describe
from niaouli.ingest.raster.sniff import RasterFile, prepare
from niaouli.ingest.raster.swap import swap_raster
from niaouli.ingest.sniff import check_local_path
from niaouli.settings import Settings, load_settings


def ingest_raster(
    path: str | Path,
    *,
    organisation: str,
    dataset: str | None = None,
    title: str | None = None,
    description: str | None = None,
    crs: str | None = None,
    access_level: str | AccessLevel | None = None,
    original_name: str | None = None,
    kind: str | RasterKind | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
    progress: str = "auto",
    on_progress: ProgressCallback | None = None,
    mode: str = "replace",
    on_commit: Callable[[Session, Dataset], None] | None = None,
    actor: audit.Actor | None = None,
    **_ignored: object,
) -> IngestReport:
    """Publish the raster at `path` as dataset `dataset` of `organisation`, replacing
    the dataset's previous raster layer (its vector layers stay). `crs` names the CRS of
    a raster that has none; `kind` overrides the guessed kind (orthophoto, elevation,
    classified, other). The keyword arguments of `ingest_file` it does not use
    (`sheet`, `confirm`, `keep_version`) are accepted and ignored."""
    started = time.monotonic()
    settings = settings or load_settings()
    engine = engine or get_engine(settings)
    source_path = check_local_path(path)
    display_name = Path(original_name).name if original_name else source_path.name
    if mode != "replace":
        raise IngestError(
            _("un raster remplace le précédent : l'ajout (append) n'est pas possible"),
            file=display_name,
        )
    plan = _plan(
        source_path,
        display_name,
        organisation,
        engine,
        dataset,
        title,
        description,
        crs,
        access_level,
    )
    chosen = RasterKind(kind) if kind else None
    bar = Progress(100, display_name, mode=progress, callback=on_progress, unit="%")
    scratch = storage.area(settings).scratch_dir()
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    new_keys: list[str] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="niaouli-raster-") as workdir,
            tempfile.TemporaryDirectory(prefix="niaouli-cog-", dir=scratch) as cogdir,
        ):
            raster = prepare(source_path, display_name, Path(workdir))
            info = read_header(raster, display_name, crs)
            raster_kind = chosen or cog.guess_kind(info)
            output = Path(cogdir) / f"{Path(display_name).stem or 'raster'}.tif"
            # The original is copied (and hashed) into the storage while GDAL converts:
            # reading 1.2 GB again afterwards was 5-8 s of a DEM's ingestion, now hidden
            # behind the conversion (GDAL runs outside the GIL, ctypes releases it).
            with ThreadPoolExecutor(1, thread_name_prefix="niaouli-original") as copier:
                copying = copier.submit(storage.store_file, source_path, settings, display_name)
                try:
                    convert_started = time.monotonic()
                    _convert(
                        raster,
                        output,
                        cog.translate_arguments(raster_kind, info, crs),
                        bar,
                        display_name,
                    )
                    convert_seconds = time.monotonic() - convert_started
                finally:
                    # Kept even when the conversion failed, so that it is removed below.
                    with contextlib.suppress(Exception):
                        new_keys.append(copying.result().key)
                original = copying.result()  # the copy's own error, if it failed
            described = describe(output)
            cog_size = output.stat().st_size
            cog_file = storage.adopt_file(output, settings, output.name, cog_size, _sha256(output))
            new_keys.append(cog_file.key)
        try:
            with writing(engine).begin() as conn:
                swapped = swap_raster(
                    Session(bind=conn, autoflush=False),
                    plan,
                    raster_kind,
                    raster.label,
                    raster.media_type if raster.path == source_path else "application/zip",
                    described,
                    cog_file,
                    original,
                    on_commit=on_commit,
                    actor=actor,
                )
        except IntegrityError as exc:
            raise IngestError(
                _("conflit avec une autre publication en cours ou existante (%(error)s)")
                % {"error": exc.orig},
                file=display_name,
            ) from None
    except IngestError as exc:
        _remove(settings, new_keys)
        raise exc.located(file=display_name) from None
    except BaseException:
        _remove(settings, new_keys)
        raise
    finally:
        bar.close()
    # A store failing now leaves orphans for `niaouli db cleanup`, never a failed upload.
    _remove_replaced(settings, swapped.old_keys)
    layer = RasterReport(
        name=swapped.layer.name,
        collection_id=swapped.layer.collection_id,
        kind=raster_kind.value,
        format=raster.label,
        size_before=original.size,
        size_after=cog_file.size,
        width=described.width,
        height=described.height,
        band_count=described.band_count,
        crs=described.crs_code,
        resolution=described.resolution,
        extent=described.extent,
        native_bounds=described.native_bounds,
        bands=described.bands,
        compression=described.compression,
        overview_levels=described.overview_levels,
        convert_seconds=round(convert_seconds, 3),
    )
    return IngestReport(
        dataset=plan.slug,
        created=swapped.created,
        file=display_name,
        format=raster.label,
        size=original.size,
        checksum=original.checksum,
        layers=[],
        seconds=round(time.monotonic() - started, 3),
        rasters=[layer],
    )


def _plan(
    path: Path,
    display_name: str,
    organisation: str,
    engine: Engine,
    dataset: str | None,
    title: str | None,
    description: str | None,
    crs: str | None,
    access_level: str | AccessLevel | None,
) -> IngestPlan:
    options = IngestOptions(
        dataset=dataset,
        title=title,
        description=description,
        crs=crs,
        access_level=access_level,
        original_name=display_name,
    )
    with Session(engine) as lookup:
        try:
            org_id = service.get_organisation(lookup, organisation).id
        except service.NotFoundError as exc:
            raise IngestError(str(exc)) from None
    slug = dataset or service.make_slug(title or Path(display_name).stem)
    try:
        service.check_dataset_slug(slug)
    except service.CatalogueError as exc:
        raise IngestError(str(exc)) from None
    return IngestPlan(path, display_name, "raster", org_id, slug, options)


def _convert(
    raster: RasterFile, output: Path, arguments: list[str], bar: Progress, name: str
) -> None:
    done = [0]

    def advance(fraction: float) -> None:
        percent = min(100, int(fraction * 100))
        if percent > done[0]:
            bar.advance(percent - done[0])
            done[0] = percent

    try:
        # rasterio's environment: GDAL_DATA and PROJ's data for the ctypes calls too.
        with (
            rasterio.Env(**environment(raster)),
            gdal.opened(raster.path, raster.drivers, raster.siblings) as source,
        ):
            gdal.translate(source, output, arguments, advance)
    except gdal.GDALError as exc:
        raise IngestError(
            _("fichier %(format)s illisible, tronqué ou abîmé (%(error)s)")
            % {"format": raster.label, "error": str(exc)[:200]},
            file=name,
        ) from None


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _remove(settings: Settings, keys: list[str]) -> None:
    """This ingestion's own stored files after it failed (a failing store: orphans)."""
    for key in keys:
        _drop(settings, key)


def _remove_replaced(settings: Settings, keys: list[str]) -> None:
    from niaouli.ingest.pipeline import _remove_replaced as remove

    remove(settings, keys)


def _drop(settings: Settings, key: str) -> None:
    from niaouli.ingest.pipeline import _drop as drop

    drop(settings, key)
