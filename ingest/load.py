"""Ingestion, step 2 — load: every layer of the file into a new, server-named table.

Runs inside the ingestion's transaction (`niaouli.ingest.pipeline`), before the swap:
readers still see the previous tables until the commit. Geometries are brought to
EPSG:4326 (the CRS given, declared or guessed; axes swapped when the file has them
lat/lon) and normalised to one type; an append copies the existing rows into the new
table too, after checking that the file has the same structure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely
from sqlalchemy import Connection

from niaouli.catalogue.models import Layer
from niaouli.db.layers import LayerStore, layer_store, new_table_name
from niaouli.db.pgcopy import CopyValueError
from niaouli.i18n import _
from niaouli.ingest import geometry, wkb
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.column_plan import plan_columns
from niaouli.ingest.errors import IngestError
from niaouli.ingest.ingest_report import LayerReport
from niaouli.ingest.plan import IngestPlan, Target
from niaouli.ingest.progress import Progress
from niaouli.ingest.reproject import Reprojector, crs_label, guess_crs, parse_crs, should_swap_axes
from niaouli.ingest.source import LayerSource, SourceBatch

Extent = tuple[float, float, float, float]


@dataclass
class LoadedLayer:
    """One layer written to its new table, waiting for the swap."""

    report: LayerReport
    columns: list[dict[str, str]]
    source_layer: str


@dataclass
class _Projection:
    """How a source's geometries reach EPSG:4326: target type, CRS, axis order."""

    target: str | None
    native: str | None = None
    swapped: bool = False
    reproject: Reprojector | None = None


def load(
    conn: Connection,
    plan: IngestPlan,
    target: Target,
    sources: list[LayerSource],
    progress: Progress,
) -> list[LoadedLayer]:
    """Write each source into a new table (with an append's existing rows first)."""
    store = layer_store(conn)
    loaded: list[LoadedLayer] = []
    for source, (name, collection), old in zip(
        sources, target.names, target.appended_to, strict=True
    ):
        table = new_table_name()
        first_fid = store.max_fid(conn, old.table_name) + 1 if old is not None else 1
        try:
            report, columns = load_layer(
                conn,
                store,
                source,
                table,
                file=plan.display_name,
                crs_override=plan.options.crs,
                progress=progress,
                first_fid=first_fid,
            )
            if old is not None:
                _keep_existing_rows(conn, store, old, report, columns)
        except IngestError as exc:
            raise exc.located(layer=source.name) from None
        except CopyValueError as exc:  # raised when the COPY ends (the server's limits)
            raise IngestError(str(exc), layer=source.name) from None
        report.name, report.collection_id = name, collection
        loaded.append(LoadedLayer(report, columns, old.source_layer if old else source.name))
    return loaded


def _keep_existing_rows(
    conn: Connection,
    store: LayerStore,
    old: Layer,
    report: LayerReport,
    columns: list[dict[str, str]],
) -> None:
    """An append: copy the layer's current rows into the new table, after the same checks."""
    check_same_structure(old, report, columns)
    new_column = {c["name"]: c["column"] for c in columns}
    pairs = [(c["column"], new_column[c["name"]]) for c in old.attribute_schema]
    store.copy_rows(conn, old.table_name, report.table_name, pairs, old.geometry_type is not None)
    report.feature_count += old.feature_count
    report.extent = merge_extent(report.extent, old.extent)
    report.notes.append(
        ingest_notes.note(
            ingest_notes.APPENDED,
            kept=old.feature_count,
            added=report.feature_count - old.feature_count,
        )
    )


def load_layer(
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
    """Create `table` and stream the source's batches into it; the layer's report."""
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
    projection = _projection(source, target, first, crs_override, file, notes)

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
                    batch, target, projection.reproject, stats, source.name, file
                )
                if batch_bounds and not checked:
                    checked = True
                    _check_within_world(batch_bounds, projection.native, file, source.name)
                extent = merge_extent(extent, batch_bounds)
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
        native_crs=projection.native,
        extent=extent,
        repaired=stats.repaired,
        repaired_rows=stats.repaired_rows,
        z_dropped=stats.z_dropped,
        empty_geometries=stats.empty,
        axes_swapped=projection.swapped,
        notes=notes,
    )
    return report, [c.as_dict() for c in columns]


def _projection(
    source: LayerSource,
    target: str | None,
    first: SourceBatch | None,
    crs_override: str | None,
    file: str,
    notes: list[str],
) -> _Projection:
    """The CRS given, declared or guessed (with a note), and whether axes are swapped."""
    if target is None:
        return _Projection(target=None)
    sample = _sample_bounds(first) if first is not None and first.has_geometries else None
    if crs_override:
        crs = parse_crs(crs_override, file=file)
    elif source.crs is not None:
        crs = source.crs
    elif source.crs_problem:
        raise IngestError(
            _("%(problem)s ; précisez-le avec --crs EPSG:xxxx") % {"problem": source.crs_problem},
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
    return _Projection(target, native, swapped, Reprojector(crs, swap_axes=swapped))


def _check_within_world(bounds: Extent, native: str | None, file: str, layer: str) -> None:
    """The first batch's bounds, once in EPSG:4326, must be on the Earth."""
    west, south, east, north = bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise IngestError(
            _(
                "coordonnées impossibles une fois en EPSG:4326 depuis "
                "%(crs)s : le système de coordonnées déclaré est sans doute "
                "faux (précisez --crs)"
            )
            % {"crs": native},
            file=file,
            layer=layer,
        )


def _bounds(geoms: np.ndarray) -> Extent | None:
    present = geoms[~shapely.is_missing(geoms)]
    if len(present) == 0:
        return None
    minx, miny, maxx, maxy = shapely.total_bounds(present)
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        return None
    return (float(minx), float(miny), float(maxx), float(maxy))


def _sample_bounds(batch: SourceBatch) -> Extent | None:
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
) -> tuple[np.ndarray | pa.Array, Extent | None]:
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


def merge_extent(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def check_same_structure(old: Layer, report: LayerReport, columns: list[dict[str, str]]) -> None:
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
