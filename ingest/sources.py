"""Open an identified file as layer sources, through pyogrio (GDAL) or the CSV reader."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyogrio
import pyogrio.errors
import shapely
from pyogrio.raw import open_arrow, read_arrow

from niaouli import gdalguard
from niaouli.i18n import _
from niaouli.ingest import geometry, xmlguard
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.archive import check_spreadsheet, extract_shapefiles
from niaouli.ingest.csvtable import read_csv, table_source
from niaouli.ingest.errors import IngestError
from niaouli.ingest.reproject import parse_crs
from niaouli.ingest.sniff import SourceKind
from niaouli.ingest.source import BATCH_SIZE, LayerSource, SourceBatch

GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
)
GPX_SKIPPED = {"route_points", "track_points"}  # the same points as routes/tracks, one by one
ENCODING_ALIASES = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "65001": "UTF-8",
    "1252": "CP1252",
    "ansi 1252": "CP1252",
    "cp1252": "CP1252",
    "windows-1252": "CP1252",
    "iso-8859-1": "ISO-8859-1",
    "iso88591": "ISO-8859-1",
    "88591": "ISO-8859-1",
    "latin1": "ISO-8859-1",
    "iso-8859-15": "ISO-8859-15",
}
SAMPLE_BYTES = 32 << 20
# A spreadsheet is read like a CSV: its first row names the columns (GDAL would
# otherwise call them Field1, Field2... when every cell of the first rows is text).
SPREADSHEET_CONFIG = {"OGR_XLSX_HEADERS": "FORCE", "OGR_ODS_HEADERS": "FORCE"}


def _gdal_error(exc: Exception, path: Path) -> IngestError:
    message = str(exc).replace(str(path.parent) + "/", "")
    return IngestError(
        _("fichier illisible (%(error)s)") % {"error": message[:300]}, file=path.name
    )


def shapefile_encoding(shp: Path) -> tuple[str, str | None]:
    """The DBF's encoding: `.cpg` when it is right, else UTF-8 if it decodes, else Latin-1."""
    dbf = shp.with_suffix(".dbf")
    with dbf.open("rb") as handle:
        header = handle.read(32)
        header_len = int.from_bytes(header[8:10], "little") if len(header) >= 10 else 32
        handle.seek(header_len)
        sample = handle.read(SAMPLE_BYTES)
    try:
        sample.decode("utf-8")
        is_utf8 = True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still UTF-8.
        is_utf8 = exc.start >= len(sample) - 3 and len(sample) == SAMPLE_BYTES
    cpg = shp.with_suffix(".cpg")
    declared = None
    if cpg.exists():
        declared = ENCODING_ALIASES.get(cpg.read_text("ascii", errors="ignore").strip().lower())
    if declared == "UTF-8" and not is_utf8:
        return "CP1252", ingest_notes.note(ingest_notes.CPG_WRONG)
    if declared:
        return declared, None
    if is_utf8:
        return "UTF-8", None if sample.isascii() else ingest_notes.note(ingest_notes.DBF_UTF8)
    return "CP1252", ingest_notes.note(ingest_notes.DBF_LATIN1)


def _ogr_layer(
    path: Path,
    layer: str | None,
    encoding: str | None = None,
    display: str | None = None,
    count: bool = False,
) -> LayerSource:
    """A layer opened through GDAL; `count` forces counting where the driver cannot tell.

    GDAL never reaches the network here (`niaouli.gdalguard`): a CRS given by URL (a
    GeoJSON `crs` member of type `link` or `url`) is not fetched, and the layer is then
    treated as declaring no CRS, with a note saying so.
    """
    with gdalguard.refused_urls() as remote:
        try:
            info = pyogrio.read_info(
                path, layer=layer, encoding=encoding, force_feature_count=count
            )
        except GDAL_ERRORS as exc:
            raise _gdal_error(exc, path) from None
        try:
            with open_arrow(
                path, layer=layer, encoding=encoding, batch_size=1, use_pyarrow=True
            ) as (meta, reader):
                geom_name = _geometry_field(reader.schema, meta)
                fields = [(f.name, f.type) for f in reader.schema if f.name != geom_name]
        except GDAL_ERRORS as exc:
            raise _gdal_error(exc, path) from None
    name = display or layer or info.get("layer_name") or path.stem
    crs = parse_crs(info["crs"], file=path.name) if info.get("crs") and not remote else None
    declared = info.get("geometry_type")
    count = info.get("features")

    def batches():
        row = 1
        try:
            with (
                gdalguard.refused_urls(),
                open_arrow(
                    path, layer=layer, encoding=encoding, batch_size=BATCH_SIZE, use_pyarrow=True
                ) as (meta, reader),
            ):
                geom_name = _geometry_field(reader.schema, meta)
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    wkb = None
                    if declared is not None and geom_name and geom_name in table.column_names:
                        wkb = table.column(geom_name)  # decoded by the loader if needed
                        table = table.drop_columns([geom_name])
                    yield SourceBatch(attributes=table, first_row=row, wkb=wkb)
                    row += table.num_rows
        except GDAL_ERRORS as exc:
            raise _gdal_error(exc, path) from None

    known_target = None
    if declared is not None and geometry.base_type(declared) is None:
        # "Unknown": GDAL saw mixed types (GeoJSON mixing Polygon and MultiPolygon, ...).
        seen: set[str] = set()
        for batch in batches():
            if batch.geometries is not None:
                present = batch.geometries[~shapely.is_missing(batch.geometries)]
                seen.update(g.geom_type for g in present)
        known_target = geometry.target_from_types(seen) if seen else geometry.GENERIC

    source = LayerSource(
        name=name,
        crs=crs,
        geometry_type=declared,
        feature_count=count if count is not None and count >= 0 else None,
        fields=fields,
        batches=batches,
        known_target=known_target,
    )
    if remote:
        source.notes.append(ingest_notes.note(ingest_notes.CRS_REMOTE_IGNORED, url=remote[0][:200]))
    return source


def _geometry_field(schema: pa.Schema, meta: dict) -> str | None:
    """The WKB geometry column of a pyogrio Arrow stream (its name varies by driver)."""
    for f in schema:
        if f.metadata and f.metadata.get(b"ARROW:extension:name") == b"geoarrow.wkb":
            return f.name
    name = meta.get("geometry_name")
    return name or ("wkb_geometry" if "wkb_geometry" in schema.names else None)


def _shapefile(shp: Path, display: str | None = None) -> LayerSource:
    encoding, note = shapefile_encoding(shp)
    source = _ogr_layer(shp, None, encoding=encoding, display=display or shp.stem)
    if note:
        source.notes.append(note)
    prj = shp.with_suffix(".prj")
    if source.crs is None and prj.exists() and prj.read_bytes().strip():
        source.crs_problem = _("système de coordonnées illisible dans « %(name)s »") % {
            "name": prj.name
        }
    return source


def _layers(path: Path) -> list[tuple[str, str | None]]:
    try:
        with gdalguard.refused_urls():
            return [(str(n), t) for n, t in pyogrio.list_layers(path)]
    except GDAL_ERRORS as exc:
        raise _gdal_error(exc, path) from None


def _pick_sheet(path: Path, sheet: str | None) -> tuple[str, list[str]]:
    """The sheet to read (named or numbered from 1 by `sheet`, else the first that holds
    rows) and the names of all the sheets."""
    names = [name for name, _type in _layers(path)]
    if not names:
        raise IngestError(_("classeur sans feuille"), file=path.name)
    if sheet:
        wanted = sheet.strip()
        by_name = {n.casefold(): n for n in names}
        if wanted.casefold() in by_name:
            return by_name[wanted.casefold()], names
        if wanted.isdigit() and 1 <= int(wanted) <= len(names):
            return names[int(wanted) - 1], names
        raise IngestError(
            _("feuille « %(sheet)s » introuvable (feuilles : %(names)s)")
            % {"sheet": wanted[:100], "names": ", ".join(names)},
            file=path.name,
        )
    for name in names:
        try:
            with gdalguard.refused_urls():
                count = pyogrio.read_info(path, layer=name, force_feature_count=True)["features"]
        except GDAL_ERRORS as exc:
            raise _gdal_error(exc, path) from None
        if count:
            return name, names
    raise IngestError(_("toutes les feuilles du classeur sont vides"), file=path.name)


def _spreadsheet(path: Path, sheet: str | None) -> LayerSource:
    """One sheet of an XLSX or ODS workbook, read like a CSV (typed columns, points from
    lon/lat, shapes from a WKT column); the sheet read is named in the notes."""
    check_spreadsheet(path)
    pyogrio.set_gdal_config_options(SPREADSHEET_CONFIG)
    chosen, names = _pick_sheet(path, sheet)
    try:
        with gdalguard.refused_urls():
            _meta, table = read_arrow(path, layer=chosen)
    except GDAL_ERRORS as exc:
        raise _gdal_error(exc, path) from None
    if table.num_columns == 0:
        raise IngestError(_("feuille « %(sheet)s » vide") % {"sheet": chosen}, file=path.name)
    notes = [
        ingest_notes.note(
            ingest_notes.SHEET_READ, sheet=chosen, count=len(names), names=", ".join(names)[:500]
        )
    ]
    return table_source(table, chosen, path.name, notes)


def open_sources(
    path: Path, kind: SourceKind, workdir: Path, *, sheet: str | None = None
) -> list[LayerSource]:
    """The layers of an identified file, ready to stream. `workdir` receives unpacked parts;
    `sheet` picks a spreadsheet's sheet (by name or number)."""
    if kind is SourceKind.CSV:
        return [read_csv(path)]
    if kind in (SourceKind.XLSX, SourceKind.ODS):
        return [_spreadsheet(path, sheet)]
    if kind is SourceKind.SHAPEFILE_ZIP:
        return [_shapefile(shp) for shp in extract_shapefiles(path, workdir)]
    if kind is SourceKind.SHAPEFILE:
        for part in (".shx", ".dbf"):
            if not path.with_suffix(part).exists():
                raise IngestError(
                    _("« %(name)s » manquant à côté du .shp") % {"name": path.stem + part},
                    file=path.name,
                )
        return [_shapefile(path)]
    if kind is SourceKind.GEOJSON:
        return [_ogr_layer(path, None, display=path.stem)]
    if kind in (SourceKind.KML, SourceKind.GPX):
        xmlguard.check_document(path)
    sources = []
    for layer, _geometry_type in _layers(path):
        if kind is SourceKind.GPX and layer in GPX_SKIPPED:
            continue
        xml = kind in (SourceKind.KML, SourceKind.GPX)
        # GPX and KML drivers report no count (-1) unless asked to read the layer.
        source = _ogr_layer(path, layer, count=xml)
        if xml and not source.feature_count:
            continue  # GPX always declares its five layers; KML folders may be empty
        sources.append(source)
    if not sources:
        raise IngestError(_("aucune couche à importer dans ce fichier"), file=path.name)
    return sources
