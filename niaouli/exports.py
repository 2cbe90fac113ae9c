"""Layer exports (GeoPackage, GeoJSON, CSV, zipped Shapefile), generated once and cached.

Why from the layer table and not the uploaded file: the table is what was validated,
repaired and published (EPSG:4326, repaired rings), whatever the source format was.
Rows are streamed from the database (`niaouli.db.layers.read_layer`) straight into
GDAL (`pyogrio.write_arrow`), so a big layer never sits whole in memory.

The cache is the storage's `exports` area (`niaouli.storage`): `<data dir>/exports/<table
name>/export.<format>` locally, `exports/<table name>/…` in the bucket. Table names are
server-made (`lyr_<hex>`) and change with every ingestion, so a re-ingested layer can
never be served from a stale export; a campaign merge changes a table in place, so its
exports are named by the merge too (`LayerInfo.revision`) and the older ones removed
after it (`drop_exports`); `prune` removes the exports of tables that are gone.
An export is written to a temporary folder and stored in one atomic put (a rename on a
local disk), so concurrent requests never see half an export.
"""

from __future__ import annotations

import re
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyogrio
from sqlalchemy import Engine

from niaouli import storage
from niaouli.db.layers import GEOMETRY_FIELD, ColumnSpec, layer_arrow_schema, read_layer
from niaouli.settings import Settings

TABLE_NAME = re.compile(r"^lyr_[0-9a-f]{8,32}$")
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass(frozen=True)
class ExportFormat:
    key: str  # in URLs: `<collection>.<key>`
    label: str
    driver: str
    media_type: str
    spatial_only: bool
    layer_options: tuple[tuple[str, str], ...] = ()


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat(
            "gpkg", "GeoPackage", "GPKG", "application/geopackage+sqlite3", spatial_only=True
        ),
        ExportFormat(
            "geojson",
            "GeoJSON",
            "GeoJSON",
            "application/geo+json",
            spatial_only=True,
            layer_options=(("RFC7946", "YES"),),
        ),
        ExportFormat(
            "csv",
            "CSV",
            "CSV",
            "text/csv; charset=utf-8",
            spatial_only=False,
            layer_options=(("GEOMETRY", "AS_WKT"), ("WRITE_BOM", "NO")),
        ),
        ExportFormat(
            "shp.zip",
            "Shapefile (zip)",
            "ESRI Shapefile",
            "application/zip",
            spatial_only=True,
            layer_options=(("ENCODING", "UTF-8"),),
        ),
    )
}


@dataclass(frozen=True)
class LayerInfo:
    """What an export needs to know about a layer (detached from any session)."""

    table_name: str
    collection_id: str
    geometry_type: str | None
    columns: tuple[ColumnSpec, ...]
    revision: int | None = None  # the last campaign merge into the table (changed in place)

    @classmethod
    def from_layer(cls, layer: object) -> LayerInfo:
        columns = tuple(
            ColumnSpec(c["name"], c["column"], c["type"])
            for c in getattr(layer, "attribute_schema", None) or ()
        )
        revision = (getattr(layer, "ingest_report", None) or {}).get("merge_revision")
        return cls(
            layer.table_name,
            layer.collection_id,
            layer.geometry_type,
            columns,
            revision if isinstance(revision, int) else None,
        )

    @property
    def has_geometry(self) -> bool:
        return self.geometry_type is not None


def formats_for(layer: LayerInfo) -> list[ExportFormat]:
    return [f for f in FORMATS.values() if layer.has_geometry or not f.spatial_only]


def cache(settings: Settings) -> storage.Backend:
    """Where exports are kept (the storage's `exports` area)."""
    return storage.area(settings, storage.EXPORTS)


def export_name(layer: LayerInfo, fmt: ExportFormat) -> str:
    if not TABLE_NAME.match(layer.table_name):
        raise ValueError(f"unexpected layer table name {layer.table_name!r}")
    if layer.revision is not None:  # a merged campaign changed the table: a new name
        return f"{layer.table_name}/export-m{layer.revision}.{fmt.key}"
    return f"{layer.table_name}/export.{fmt.key}"


def ensure_export(engine: Engine, settings: Settings, layer: LayerInfo, fmt: ExportFormat) -> str:
    """The stored export's name in `cache(settings)`, generated first when missing.
    Blocking: run in a thread."""
    if fmt.spatial_only and not layer.has_geometry:
        raise ValueError(f"{fmt.label} needs a spatial layer")
    name = export_name(layer, fmt)
    backend = cache(settings)
    if backend.stat(name) is not None:
        return name
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=backend.scratch_dir()) as work:
        produced = _write(engine, layer, fmt, Path(work))
        backend.put(name, produced, move=True)
    return name


def _output_names(layer: LayerInfo) -> list[str]:
    """Attribute names as in the source file, unless they clash with fid/geometry."""
    reserved = {"fid", GEOMETRY_FIELD, "wkt"}
    names: list[str] = []
    for column in layer.columns:
        name = column.name if column.name.lower() not in reserved else column.column
        if name.lower() in reserved or name.lower() in {n.lower() for n in names}:
            name = column.column
        names.append(name)
    return names


def _batches(engine: Engine, layer: LayerInfo, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with engine.connect() as conn:
        for batch in read_layer(conn, layer.table_name, layer.columns, layer.has_geometry):
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _renamed_schema(layer: LayerInfo) -> pa.Schema:
    source = layer_arrow_schema(layer.columns, layer.has_geometry)
    head = 2 if layer.has_geometry else 1
    fields = list(source)[:head]
    fields += [
        field.with_name(name)
        for field, name in zip(list(source)[head:], _output_names(layer), strict=True)
    ]
    return pa.schema(fields)


def _write(engine: Engine, layer: LayerInfo, fmt: ExportFormat, work: Path) -> Path:
    schema = _renamed_schema(layer)
    reader = pa.RecordBatchReader.from_batches(schema, _batches(engine, layer, schema))
    name = layer.collection_id
    is_shapefile = fmt.key == "shp.zip"
    path = work / (f"{name}.shp" if is_shapefile else f"{name}.{fmt.key}")
    options = dict(fmt.layer_options)
    if is_shapefile and _gdal_geometry_type(layer.geometry_type) == "Unknown":
        return _zip_shapefiles(_write_by_family(engine, layer, fmt, work, schema), work, name)
    if fmt.key == "csv" and not layer.has_geometry:
        options.pop("GEOMETRY")
    pyogrio.write_arrow(
        reader,
        path,
        layer=name,
        driver=fmt.driver,
        geometry_name=GEOMETRY_FIELD if layer.has_geometry else None,
        geometry_type=_gdal_geometry_type(layer.geometry_type),
        crs="EPSG:4326" if layer.has_geometry else None,
        layer_options=options,
    )
    if not is_shapefile:
        return path
    return _zip_shapefiles([path], work, name)


def _zip_shapefiles(paths: list[Path], work: Path, name: str) -> Path:
    archive = work / f"{name}.shp.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in paths:
            for suffix in SHAPEFILE_PARTS:
                part = path.with_suffix(suffix)
                if part.is_file():
                    bundle.write(part, arcname=part.name)
    return archive


# A Shapefile holds one kind of geometry: a layer mixing them (points and polygons of
# one GeoJSON) is exported as one Shapefile per kind, in the same zip.
FAMILY_FILES = {"point": "points", "line": "lignes", "polygon": "polygones"}


def _write_by_family(
    engine: Engine, layer: LayerInfo, fmt: ExportFormat, work: Path, schema: pa.Schema
) -> list[Path]:
    """One Shapefile per geometry family of a mixed layer; rows without geometry go
    with the first family written (a Shapefile allows null shapes)."""
    import shapely

    from niaouli.geometry_kinds import FAMILY_OF

    written: dict[str, Path] = {}
    for batch in _batches(engine, layer, schema):
        geoms = shapely.from_wkb(batch.column(1).to_numpy(zero_copy_only=False))
        families = [FAMILY_OF.get(g.geom_type) if g is not None else None for g in geoms]
        unknown = {g.geom_type for g, f in zip(geoms, families, strict=True) if g and not f}
        if unknown:
            raise ValueError(f"Shapefile cannot hold {', '.join(sorted(unknown))}")
        first = next((f for f in families if f), "point")
        families = [f or next(iter(written), first) for f in families]
        for family in dict.fromkeys(families):
            rows = batch.filter(pa.array([f == family for f in families]))
            path = written.get(family) or work / f"{layer.collection_id}_{FAMILY_FILES[family]}.shp"
            pyogrio.write_arrow(
                rows,
                path,
                layer=path.stem,
                driver=fmt.driver,
                geometry_name=GEOMETRY_FIELD,
                geometry_type="Unknown",
                crs="EPSG:4326",
                layer_options=dict(fmt.layer_options),
                append=family in written,
            )
            written[family] = path
    return list(written.values())


def _gdal_geometry_type(geometry_type: str | None) -> str | None:
    if geometry_type is None:
        return None
    return "Unknown" if geometry_type.lower() == "geometry" else geometry_type


def prune(settings: Settings, live_tables: Sequence[str], min_age_seconds: float = 60) -> list[str]:
    """Remove cached exports of tables that no longer exist (re-ingested or deleted).

    Exports younger than `min_age_seconds` are spared: their table may have been created
    after the caller listed the live ones.
    """
    backend = cache(settings)
    live = set(live_tables)
    now = time.time()
    removed = []
    for table, changed in backend.groups().items():
        if table not in live and now - changed >= min_age_seconds:
            backend.delete_group(table)
            removed.append(table)
    return sorted(removed)


def drop_exports(settings: Settings, table_name: str) -> None:
    """Remove the cached exports of one table (after a merge changed it in place)."""
    if TABLE_NAME.match(table_name):
        cache(settings).delete_group(table_name)
