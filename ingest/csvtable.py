"""CSV files: encoding, separator, typed columns, and points from lon/lat or WKT columns.

French CSVs come with `;` separators, decimal commas, Windows-1252 accents and postcodes
with leading zeros; this reader handles all of them and never guesses a code as a
number. Types are inferred over the whole column, not the first rows.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from niaouli.i18n import _
from niaouli.ingest import geometry
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.errors import IngestError
from niaouli.ingest.source import BATCH_SIZE, LayerSource, SourceBatch

LON_NAMES = {
    "lon",
    "lng",
    "long",
    "longitude",
    "x",
    "xcoord",
    "coordx",
    "xwgs84",
    "lonwgs84",
    "longitudewgs84",
    "longitudedeg",
    "longdeg",
}
LAT_NAMES = {
    "lat",
    "latitude",
    "y",
    "ycoord",
    "coordy",
    "ywgs84",
    "latwgs84",
    "latitudewgs84",
    "latitudedeg",
    "latdeg",
}
CODE_NAMES = {"cp", "insee", "siret", "siren", "ridet", "codgeo", "depcom", "fid"}
WKT_NAMES = {"wkt", "geometry", "geom", "thegeom", "geometrie", "shape", "wktgeom", "geomwkt"}

INTEGER = r"^[+-]?(0|[1-9][0-9]{0,17})$"
NUMBER_DOT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
NUMBER_COMMA = r"^[+-]?([0-9]+(,[0-9]*)?|,[0-9]+)$"
BOOLEAN = r"(?i)^(true|false|vrai|faux)$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
WKT_START = re.compile(
    r"^\s*(SRID=\d+;\s*)?(POINT|LINESTRING|POLYGON|MULTI|GEOMETRYCOLLECTION)", re.IGNORECASE
)


def _key(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


def _decode(raw: bytes, name: str) -> tuple[str, str | None]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), ingest_notes.note(ingest_notes.CSV_LATIN1)


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        return max(",;\t|", key=header.count)


def _column_names(header: list[str]) -> list[str]:
    names, seen = [], set()
    for index, raw in enumerate(header, start=1):
        name = raw.strip() or f"colonne_{index}"
        base, counter = name, 1
        while name.lower() in seen:
            counter += 1
            name = f"{base}_{counter}"
        seen.add(name.lower())
        names.append(name)
    return names


def _all_match(values: pa.ChunkedArray, pattern: str) -> bool:
    present = pc.drop_null(values)
    if len(present) == 0:
        return False
    return bool(pc.all(pc.match_substring_regex(present, pattern)).as_py())


def _is_code(name: str) -> bool:
    """Columns named like identifiers (codes INSEE, postaux, SIRET...) stay text."""
    key = _key(name)
    return "code" in key or key in CODE_NAMES or key.startswith(("id", "num"))


def _typed(name: str, values: pa.ChunkedArray, allow_comma: bool) -> pa.ChunkedArray:
    """The narrowest type every non-empty value fits; codes and leading zeros stay text."""
    if _is_code(name) and _all_match(values, INTEGER):
        return values
    if _all_match(values, INTEGER):
        return values.cast(pa.int64())
    if _all_match(values, NUMBER_DOT):
        return values.cast(pa.float64())
    if allow_comma and _all_match(values, NUMBER_COMMA):
        return pc.replace_substring(values, ",", ".").cast(pa.float64())
    if _all_match(values, BOOLEAN):
        truthy = pc.is_in(pc.utf8_lower(values), value_set=pa.array(["true", "vrai"]))
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), truthy)
    if _all_match(values, DATE):
        try:
            return values.cast(pa.date32())
        except pa.ArrowInvalid:
            return values
    return values


def _coordinates(table: pa.Table, column: str, file: str) -> np.ndarray:
    values = table.column(column)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return pc.fill_null(values.cast(pa.float64()), float("nan")).to_numpy()
    text = pc.replace_substring(values, ",", ".")
    ok = pc.match_substring_regex(text, NUMBER_DOT)
    bad = pc.and_(pc.is_valid(text), pc.invert(ok))
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise IngestError(
            _("coordonnée « %(value)s » non numérique dans la colonne « %(column)s »")
            % {"value": values[row].as_py()[:50], "column": column},
            file=file,
            row=row + 2,
        )
    return pc.fill_null(text.cast(pa.float64()), float("nan")).to_numpy()


def _ragged_line(text: str, delimiter: str, width: int) -> int | None:
    """The file line (from 1, header included) where the first record of another width
    than the header starts."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    start = 1
    for record in reader:
        if start > 1 and record and len(record) != width:
            return start
        start = reader.line_num + 1
    return None


def read_csv(path: Path) -> LayerSource:
    name = path.name
    text, encoding_note = _decode(path.read_bytes(), name)
    delimiter = _delimiter(text[:65536])
    first_line = next(csv.reader(io.StringIO(text[:65536]), delimiter=delimiter), None)
    if not first_line:
        raise IngestError(_("fichier CSV sans ligne d'en-tête"), file=name)
    names = _column_names(first_line)

    bad_rows: list[str] = []

    def _invalid(row: pacsv.InvalidRow) -> str:
        # `row.number` is unknown (None) when Arrow reads in parallel: located below.
        bad_rows.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise IngestError(_("CSV illisible : %(error)s") % {"error": exc}, file=name) from None
    if bad_rows:
        raise IngestError(
            (
                _("nombre de colonnes différent de l'en-tête (%(count)s attendues)")
                % {"count": len(names)}
            )
            + (
                _(" ; %(count)s lignes concernées") % {"count": len(bad_rows)}
                if len(bad_rows) > 1
                else ""
            ),
            file=name,
            row=_ragged_line(text, delimiter, len(names)),
        )

    notes = [encoding_note] if encoding_note else []
    return table_source(table, path.stem, name, notes, allow_comma=delimiter != ",")


def table_source(
    table: pa.Table, layer: str, name: str, notes: list[str], *, allow_comma: bool = True
) -> LayerSource:
    """A table read from a CSV or a spreadsheet, its text columns typed, its points or
    shapes built from lon/lat or WKT columns (`name`: the file, for messages)."""
    names = table.column_names
    columns = {
        n: _typed(n, table.column(n), allow_comma)
        if pa.types.is_string(table.column(n).type)
        else table.column(n)
        for n in names
    }
    table = pa.table(columns)

    keys = {_key(n): n for n in names}
    lon = next((keys[k] for k in keys if k in LON_NAMES), None)
    lat = next((keys[k] for k in keys if k in LAT_NAMES), None)
    wkt = next((keys[k] for k in keys if k in WKT_NAMES), None)

    geoms: np.ndarray | None = None
    known_target: str | None = None
    declared: str | None = None
    if wkt is not None:
        values = table.column(wkt).cast(pa.string()).to_numpy(zero_copy_only=False)
        geoms = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            if value is None:
                continue
            if not WKT_START.match(value):
                raise IngestError(
                    _("WKT invalide dans la colonne « %(column)s »") % {"column": wkt},
                    file=name,
                    row=i + 2,
                )
            try:
                geoms[i] = shapely.from_wkt(re.sub(r"^\s*SRID=\d+;", "", value))
            except shapely.errors.GEOSException as exc:
                raise IngestError(
                    _("WKT invalide dans la colonne « %(column)s » (%(error)s)")
                    % {"column": wkt, "error": exc},
                    file=name,
                    row=i + 2,
                ) from None
        types = {g.geom_type for g in geoms if g is not None}
        known_target = geometry.target_from_types(types) if types else "Point"
        declared = known_target
        table = table.drop_columns([wkt])
        notes.append(ingest_notes.note(ingest_notes.CSV_WKT, column=wkt))
    elif lon is not None and lat is not None:
        x = _coordinates(table, lon, name)
        y = _coordinates(table, lat, name)
        missing = np.isnan(x) | np.isnan(y)
        geoms = shapely.points(x, y)
        geoms[missing] = None
        if missing.any():
            count = int(missing.sum())
            notes.append(ingest_notes.note(ingest_notes.CSV_NO_COORDINATES, count=count))
        declared = known_target = "Point"
        notes.append(ingest_notes.note(ingest_notes.CSV_POINTS, lon=lon, lat=lat))

    fields = [(f.name, f.type) for f in table.schema]

    def batches():
        for offset in range(0, max(table.num_rows, 1), BATCH_SIZE):
            chunk = table.slice(offset, BATCH_SIZE)
            if chunk.num_rows == 0 and offset:
                break
            part = None if geoms is None else geoms[offset : offset + chunk.num_rows]
            yield SourceBatch(attributes=chunk, geometries=part, first_row=offset + 2)

    return LayerSource(
        name=layer,
        crs=None,
        geometry_type=declared,
        feature_count=table.num_rows,
        fields=fields,
        batches=batches,
        notes=notes,
        known_target=known_target,
    )
