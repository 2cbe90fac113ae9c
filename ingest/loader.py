"""Ingest one file into the catalogue, all or nothing.

Everything happens in one database transaction: each layer is loaded into a new,
server-named table, then the dataset's previous tables are dropped and its catalogue
rows replaced, then the transaction commits. A failure or a kill at any point before the
commit leaves the previous version untouched (PostgreSQL and SQLite both roll back DDL);
the stored copy of the file is removed on failure, or by `niaouli db cleanup` after a kill.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from geoalchemy2 import WKTElement
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from niaouli import metrics, storage
from niaouli.accounts import audit
from niaouli.catalogue import columns as column_notes
from niaouli.catalogue import service, versions
from niaouli.catalogue.models import (
    AccessLevel,
    Dataset,
    Layer,
    Resource,
    ResourceKind,
    utcnow,
)
from niaouli.db.engine import get_engine, writing
from niaouli.db.layers import LayerStore, layer_store, new_table_name
from niaouli.db.pgcopy import CopyValueError
from niaouli.i18n import _
from niaouli.ingest import geometry, wkb
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.columns import plan_columns
from niaouli.ingest.crs import Reprojector, crs_label, guess_crs, parse_crs, should_swap_axes
from niaouli.ingest.errors import IngestError, UnconfirmedChangeError
from niaouli.ingest.progress import Progress, ProgressCallback
from niaouli.ingest.sniff import FORMAT_LABELS, MEDIA_TYPES, check_local_path, identify
from niaouli.ingest.source import LayerSource, SourceBatch
from niaouli.ingest.sources import open_sources
from niaouli.settings import Settings, load_settings


@dataclass
class LayerReport:
    name: str
    collection_id: str
    table_name: str
    feature_count: int
    geometry_type: str | None
    native_crs: str | None
    extent: tuple[float, float, float, float] | None
    repaired: int = 0
    repaired_rows: list[int] = field(default_factory=list)
    z_dropped: int = 0
    empty_geometries: int = 0
    axes_swapped: bool = False
    notes: list[str] = field(default_factory=list)
    added: int = 0  # rows read from this file (`feature_count` is the layer's total)


@dataclass
class IngestReport:
    dataset: str
    created: bool
    file: str
    format: str
    size: int
    checksum: str
    layers: list[LayerReport]
    seconds: float

    @property
    def feature_count(self) -> int:
        return sum(layer.feature_count for layer in self.layers)

    @property
    def added_count(self) -> int:
        """Rows read from this file (an append's new rows, not the layers' totals)."""
        return sum(layer.added for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Loaded:
    report: LayerReport
    columns: list[dict[str, str]]
    source_layer: str


def _bounds(geoms: np.ndarray) -> tuple[float, float, float, float] | None:
    present = geoms[~shapely.is_missing(geoms)]
    if len(present) == 0:
        return None
    minx, miny, maxx, maxy = shapely.total_bounds(present)
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return None
    return (float(minx), float(miny), float(maxx), float(maxy))


def _sample_bounds(batch: SourceBatch) -> tuple[float, float, float, float] | None:
    """Bounds of a batch in the source CRS (to guess the CRS and the axis order)."""
    if batch.wkb is not None:
        points = wkb.read_points(batch.wkb)
        if points is not None:
            return points.bounds()
    return _bounds(batch.geometries)


def _normalised(
    batch: SourceBatch,
    target: str,
    reproject: Reprojector,
    stats: geometry.GeometryStats,
    layer: str,
    file: str,
) -> tuple[np.ndarray | pa.Array, tuple[float, float, float, float] | None]:
    """The batch's geometries in EPSG:4326, normalised to `target`, and their bounds.

    Points come straight from the reader's WKB when they can (`niaouli.ingest.wkb`, the
    same result without GEOS); everything else goes through shapely.
    """
    if batch.wkb is not None:
        fast = wkb.normalise_points(batch.wkb, target, reproject, stats)
        if fast is not None:
            return fast
    geoms = reproject(batch.geometries)
    geoms = geometry.normalise(geoms, target, batch.first_row, stats, file=file, layer=layer)
    return geoms, _bounds(geoms)


def _merge(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _load_layer(
    conn: Connection,
    store: LayerStore,
    source: LayerSource,
    table: str,
    *,
    file: str,
    crs_override: str | None,
    progress: Progress,
    first_fid: int = 1,
) -> tuple[LayerReport, list[dict[str, str]]]:
    columns = plan_columns(source.fields)
    has_geometry = source.geometry_type is not None
    target = (
        (source.known_target or geometry.target_type(source.geometry_type))
        if has_geometry
        else None
    )
    notes = list(source.notes)
    batches = source.batches()
    first = next(batches, None)

    reproject = None
    native = None
    swapped = False
    if has_geometry:
        sample = _sample_bounds(first) if first is not None and first.has_geometries else None
        if crs_override:
            crs = parse_crs(crs_override, file=file)
        elif source.crs is not None:
            crs = source.crs
        elif source.crs_problem:
            raise IngestError(
                _("%(problem)s ; précisez-le avec --crs EPSG:xxxx")
                % {"problem": source.crs_problem},
                file=file,
                layer=source.name,
            )
        else:
            crs, note = guess_crs(sample, file=file, layer=source.name)
            notes.append(note)
        native = crs_label(crs)
        swapped = bool(crs.is_geographic and sample and should_swap_axes(sample))
        if swapped:
            notes.append(ingest_notes.note(ingest_notes.AXES_SWAPPED))
        reproject = Reprojector(crs, swap_axes=swapped)

    store.create(conn, table, columns, target)
    stats = geometry.GeometryStats()
    extent = None
    next_fid = first_fid
    checked = False
    with store.writer(conn, table, columns, has_geometry) as write:
        for batch in itertools.chain([first], batches) if first is not None else ():
            geoms = None
            if has_geometry and batch.has_geometries:
                geoms, batch_bounds = _normalised(
                    batch, target, reproject, stats, source.name, file
                )
                if batch_bounds and not checked:
                    checked = True
                    west, south, east, north = batch_bounds
                    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
                        raise IngestError(
                            _(
                                "coordonnées impossibles une fois en EPSG:4326 depuis "
                                "%(crs)s : le système de coordonnées déclaré est sans doute "
                                "faux (précisez --crs)"
                            )
                            % {"crs": native},
                            file=file,
                            layer=source.name,
                        )
                extent = _merge(extent, batch_bounds)
            count = batch.attributes.num_rows
            fids = np.arange(next_fid, next_fid + count, dtype=np.int64)
            try:
                write(fids, batch.attributes, geoms)
            except CopyValueError as exc:
                raise IngestError(str(exc), file=file, layer=source.name) from None
            next_fid += count
            progress.advance(count)
    store.finish(conn, table, has_geometry)

    if stats.repaired:
        notes.append(ingest_notes.note(ingest_notes.REPAIRED, count=stats.repaired))
    if stats.z_dropped:
        notes.append(ingest_notes.note(ingest_notes.Z_DROPPED, count=stats.z_dropped))
    if stats.empty:
        notes.append(ingest_notes.note(ingest_notes.EMPTY, count=stats.empty))
    report = LayerReport(
        name=source.name,
        collection_id="",
        table_name=table,
        feature_count=next_fid - first_fid,
        added=next_fid - first_fid,
        geometry_type=target,
        native_crs=native,
        extent=extent,
        repaired=stats.repaired,
        repaired_rows=stats.repaired_rows,
        z_dropped=stats.z_dropped,
        empty_geometries=stats.empty,
        axes_swapped=swapped,
        notes=notes,
    )
    return report, [c.as_dict() for c in columns]


def _layer_names(sources: list[LayerSource], dataset_slug: str) -> list[tuple[str, str]]:
    """(layer name, collection id) for each source; one layer takes the dataset's slug."""
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    for source in sources:
        base = service.make_slug(source.name, max_length=60) or "couche"
        name, counter = base, 1
        while name in seen:
            counter += 1
            name = f"{base}-{counter}"
        seen.add(name)
        collection = dataset_slug if len(sources) == 1 else f"{dataset_slug}-{name}"
        names.append((name, collection))
    return names


def _title_from(filename: str) -> str:
    stem = Path(filename).stem.replace("_", " ").replace("-", " ").strip()
    return (stem[:1].upper() + stem[1:]) or "Jeu de données"


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
    """
    if mode not in ("replace", "append"):
        raise IngestError(
            _("mode inconnu « %(mode)s » (attendu : replace ou append)") % {"mode": mode}
        )
    started = time.monotonic()
    settings = settings or load_settings()
    engine = engine or get_engine(settings)
    source_path = check_local_path(path)
    display_name = Path(original_name).name if original_name else source_path.name
    kind = identify(source_path, display_name)

    with Session(engine) as lookup:
        try:
            org = service.get_organisation(lookup, organisation)
        except service.NotFoundError as exc:
            raise IngestError(str(exc)) from None
        org_id = org.id
    slug = dataset or service.make_slug(title or Path(display_name).stem)
    try:
        service.check_dataset_slug(slug)
    except service.CatalogueError as exc:
        raise IngestError(str(exc)) from None

    with tempfile.TemporaryDirectory(prefix="niaouli-ingest-") as workdir:
        try:
            sources = open_sources(source_path, kind, Path(workdir), sheet=sheet)
        except IngestError as exc:
            raise exc.located(file=display_name) from None
        total = sum(s.feature_count or 0 for s in sources) or None
        bar = Progress(total, display_name, mode=progress, callback=on_progress)
        stored = storage.store_file(source_path, settings, display_name)
        old_keys: list[str] = []
        try:
            # It reads (the dataset, taken collection ids) before it writes: on SQLite the
            # write lock is taken first, else a concurrent commit fails it at once.
            with writing(engine).begin() as conn:
                created, old_keys, reports = _ingest_in_transaction(
                    conn,
                    sources,
                    stored,
                    slug,
                    org_id,
                    title=title,
                    description=description,
                    access_level=access_level,
                    display_name=display_name,
                    kind_label=FORMAT_LABELS[kind],
                    media_type=MEDIA_TYPES[kind],
                    crs=crs,
                    progress=bar,
                    mode=mode,
                    on_commit=on_commit,
                    confirm=confirm,
                    keep_version=keep_version,
                    actor=actor,
                )
        except IntegrityError as exc:
            storage.remove_key(settings, stored.key)
            raise IngestError(
                _("conflit avec une autre publication en cours ou existante (%(error)s)")
                % {"error": exc.orig},
                file=display_name,
            ) from None
        except IngestError as exc:
            storage.remove_key(settings, stored.key)
            raise exc.located(file=display_name) from None
        except BaseException:
            storage.remove_key(settings, stored.key)
            raise
        finally:
            bar.close()

    for key in old_keys:
        storage.remove_key(settings, key)
    return IngestReport(
        dataset=slug,
        created=created,
        file=display_name,
        format=FORMAT_LABELS[kind],
        size=stored.size,
        checksum=stored.checksum,
        layers=reports,
        seconds=round(time.monotonic() - started, 3),
    )


def ingest_stored(
    key: str, filename: str, *, settings: Settings | None = None, **options: Any
) -> IngestReport:
    """Ingest a file already in the storage (`key`, `filename`): a background job's upload,
    received by one process and ingested by another, maybe on another machine.

    GDAL reads local files: the object is copied to a temporary file first (on the local
    backend, the stored file is read in place). The ingestion keeps its own copy under a
    new key, as `ingest_file` does; the caller removes `key` when it no longer needs it.
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
        return ingest_file(path, original_name=filename, settings=settings, **options)


def _ingest_in_transaction(
    conn: Connection,
    sources: list[LayerSource],
    stored: storage.StoredFile,
    slug: str,
    org_id: int,
    *,
    title: str | None,
    description: str | None,
    access_level: str | AccessLevel | None,
    display_name: str,
    kind_label: str,
    media_type: str,
    crs: str | None,
    progress: Progress,
    mode: str = "replace",
    on_commit: Callable[[Session, Dataset], None] | None = None,
    confirm: bool = True,
    keep_version: bool = False,
    actor: audit.Actor | None = None,
) -> tuple[bool, list[str], list[LayerReport]]:
    session = Session(bind=conn, autoflush=False)
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug).with_for_update())
    created = dataset is None
    if dataset is not None and dataset.organisation_id != org_id:
        raise IngestError(
            _("le jeu de données « %(slug)s » appartient à une autre organisation") % {"slug": slug}
        )

    names = _layer_names(sources, slug)
    appending = mode == "append" and dataset is not None and bool(dataset.layers)
    if appending and not confirm:
        _check_not_sent_before(dataset, stored.checksum)
    targets = _append_targets(sources, names, dataset) if appending else [None] * len(sources)
    if appending:  # the rows join existing layers: same names and collections
        names = [(old.name, old.collection_id) for old in targets]
    taken = session.scalars(
        select(Layer.collection_id).where(
            Layer.collection_id.in_([c for _, c in names]),
            Layer.dataset_id != (dataset.id if dataset else -1),
        )
    ).all()
    if taken:
        raise IngestError(
            _("identifiant de collection déjà pris par un autre jeu : %(id)s") % {"id": taken[0]}
        )

    # 1. Load every layer into a new table (the long part; readers still see the old ones).
    store = layer_store(conn)
    loaded: list[_Loaded] = []
    for source, (name, collection), old in zip(sources, names, targets, strict=True):
        table = new_table_name()
        first_fid = store.max_fid(conn, old.table_name) + 1 if old is not None else 1
        try:
            report, columns = _load_layer(
                conn,
                store,
                source,
                table,
                file=display_name,
                crs_override=crs,
                progress=progress,
                first_fid=first_fid,
            )
            if old is not None:
                _check_same_structure(old, report, columns)
                new_column = {c["name"]: c["column"] for c in columns}
                pairs = [(c["column"], new_column[c["name"]]) for c in old.attribute_schema]
                store.copy_rows(conn, old.table_name, table, pairs, old.geometry_type is not None)
                report.feature_count += old.feature_count
                report.extent = _merge(report.extent, old.extent)
                report.notes.append(
                    ingest_notes.note(
                        ingest_notes.APPENDED,
                        kept=old.feature_count,
                        added=report.feature_count - old.feature_count,
                    )
                )
        except IngestError as exc:
            raise exc.located(layer=source.name) from None
        except CopyValueError as exc:  # raised when the COPY ends (the server's limits)
            raise IngestError(str(exc), layer=source.name) from None
        report.name, report.collection_id = name, collection
        loaded.append(_Loaded(report, columns, old.source_layer if old else source.name))

    if not confirm and not appending and dataset is not None and dataset.layers:
        _check_replace(dataset, loaded)

    # 2. Swap: drop the previous tables and rows, insert the new ones (all in this transaction).
    if created:
        dataset = service.create_dataset(
            session,
            session.get(service.Organisation, org_id),
            slug,
            title or _title_from(display_name),
            description=description or "",
            access_level=access_level or AccessLevel.PUBLIC,
        )
    else:
        changes: dict[str, Any] = {}
        if title:
            changes["title"] = title
        if description:
            changes["description"] = description
        if access_level:
            changes["access_level"] = access_level
        if changes:
            service.update_dataset(session, dataset, **changes)
    previous = list(dataset.layers)
    keep = keep_version and not created and versions.kept_versions() > 0
    old_keys = []
    if keep:  # the previous tables and files stay, listed as a version
        versions.shelve(session, dataset, move_sources=not appending)
    else:
        for old in previous:
            store.drop(conn, old.table_name, old.geometry_type is not None)
            dataset.layers.remove(old)
        for resource in list(dataset.resources) if not appending else []:
            if resource.role == "source":
                if resource.storage_key:
                    old_keys.append(resource.storage_key)
                dataset.resources.remove(resource)
    session.flush()

    extent = None
    for item in loaded:
        r = item.report
        extent = _merge(extent, r.extent)
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
            title=display_name,
            kind=ResourceKind.FILE,
            role="source",
            storage_key=stored.key,
            filename=stored.filename,
            format=kind_label,
            media_type=media_type,
            size=stored.size,
            checksum=stored.checksum,
        )
    )
    dataset.is_spatial = any(item.report.geometry_type for item in loaded)
    dataset.spatial_coverage = WKTElement(shapely.box(*extent).wkt, srid=4326) if extent else None
    dataset.provenance = {
        **(dataset.provenance or {}),
        "source_file": display_name,
        "ingested_at": utcnow().isoformat(),
    }
    dataset.updated_at = utcnow()
    session.flush()
    if keep:
        old_keys += versions.prune(session, store, dataset.id, versions.kept_versions())
    if on_commit is not None:
        on_commit(session, dataset)
        session.flush()
    if actor is not None:
        _record_ingestion(session, actor, dataset, created, mode, display_name, stored.checksum)
    return created, old_keys, [item.report for item in loaded]


def _record_ingestion(
    session: Session,
    actor: audit.Actor,
    dataset: Dataset,
    created: bool,
    mode: str,
    file: str,
    checksum: str,
) -> None:
    """The audit rows of an ingestion, in its transaction."""
    where = {"subject": dataset.slug, "organisation_id": dataset.organisation_id}
    if created:
        audit.record(
            session, actor, "dataset.create", **where, access_level=dataset.access_level.value
        )
    audit.record(session, actor, f"layer.{mode}", **where, file=file, checksum=checksum)
    session.flush()


def _append_targets(
    sources: list[LayerSource], names: list[tuple[str, str]], dataset: Dataset
) -> list[Layer]:
    """The existing layer each source's rows are added to (one to one, else by name)."""
    layers = list(dataset.layers)
    if len(sources) == 1 and len(layers) == 1:
        return layers
    by_name = {layer.name: layer for layer in layers}
    targets = [by_name.get(name) for name, _ in names]
    if None in targets or len(set(map(id, targets))) != len(targets):
        known = ", ".join(sorted(by_name)) or _("aucune")
        raise IngestError(
            _(
                "ajout impossible : les couches du fichier ne correspondent pas à celles du "
                "jeu de données (couches existantes : %(known)s)"
            )
            % {"known": known}
        )
    return targets  # type: ignore[return-value]


def _check_same_structure(old: Layer, report: LayerReport, columns: list[dict[str, str]]) -> None:
    """Appending needs the same geometry type and the same columns (names and types)."""
    if (old.geometry_type or None) != (report.geometry_type or None):
        raise IngestError(
            _(
                "ajout impossible : géométries %(new)s dans le fichier, %(old)s dans la "
                "couche « %(layer)s »"
            )
            % {
                "new": report.geometry_type or _("absentes"),
                "old": old.geometry_type or _("absentes"),
                "layer": old.name,
            }
        )
    before = {c["name"]: c["type"] for c in old.attribute_schema or []}
    after = {c["name"]: c["type"] for c in columns}
    if before != after:
        missing = sorted(set(before) - set(after))
        extra = sorted(set(after) - set(before))
        changed = sorted(n for n in set(before) & set(after) if before[n] != after[n])
        parts = []
        if missing:
            parts.append(
                _("colonnes absentes du fichier : %(names)s") % {"names": ", ".join(missing)}
            )
        if extra:
            parts.append(
                _("colonnes en plus dans le fichier : %(names)s") % {"names": ", ".join(extra)}
            )
        if changed:
            parts.append(_("types différents : %(names)s") % {"names": ", ".join(changed)})
        raise IngestError(
            _("ajout impossible, la structure diffère de la couche « %(layer)s » (%(parts)s)")
            % {"layer": old.name, "parts": " ; ".join(parts)}
        )


def _check_not_sent_before(dataset: Dataset, checksum: str) -> None:
    """Appending a file whose rows are already in the layers would duplicate them."""
    for resource in dataset.resources:
        if resource.role == "source" and resource.checksum == checksum:
            raise UnconfirmedChangeError(
                "DuplicateFile",
                _(
                    "ce fichier a déjà été envoyé (« %(name)s », même empreinte SHA-256) : "
                    "l'ajouter encore doublerait ses lignes"
                )
                % {"name": resource.filename or resource.title},
                previous=resource.filename or resource.title,
                checksum=checksum,
            )


REPLACE_LOSS = 0.5  # a replace keeping fewer rows than this share asks first


def layer_summary(name: str, columns: list[dict[str, str]] | None, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "columns": [c["name"] for c in columns or []],
        "feature_count": count,
    }


def _check_replace(dataset: Dataset, loaded: list[_Loaded]) -> None:
    """A replace that changes the columns or loses most rows: say what changes, ask first."""
    before = [layer_summary(x.name, x.attribute_schema, x.feature_count) for x in dataset.layers]
    after = [layer_summary(x.report.name, x.columns, x.report.feature_count) for x in loaded]
    old_columns = {c for layer in before for c in layer["columns"]}
    new_columns = {c for layer in after for c in layer["columns"]}
    old_count = sum(layer["feature_count"] for layer in before)
    new_count = sum(layer["feature_count"] for layer in after)
    reasons = []
    if old_columns != new_columns or len(before) != len(after):
        reasons.append(_("les colonnes changent"))
    if new_count < old_count * REPLACE_LOSS:
        reasons.append(
            _("%(after)s objet(s) au lieu de %(before)s")
            % {"after": new_count, "before": old_count}
        )
    if reasons:
        raise UnconfirmedChangeError(
            "ReplaceChanges",
            _("ce remplacement changerait beaucoup les données (%(reasons)s) : confirmez-le")
            % {"reasons": " ; ".join(reasons)},
            before=before,
            after=after,
            removed_columns=sorted(old_columns - new_columns),
            added_columns=sorted(new_columns - old_columns),
        )
