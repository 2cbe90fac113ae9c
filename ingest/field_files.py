"""Files from field apps and GPS devices, read as proposed features for a campaign.

Volunteers send what their tools export: GPX waypoints and tracks, GeoJSON, KML or KMZ,
a CSV with coordinates, a GeoPackage from QField, ODK Central or KoboToolbox exports (CSV,
zipped CSV, XLSX or GeoJSON). The file goes through the ingestion's guards — real format
from the content (`sniff`), GDAL's allowlist and virtual paths refused, safe unzip with
its caps (`archive`), XML without DTD or entities (`xmlguard`), GDAL kept off the network
— and its readers (`sources`); nothing is stored here. Each feature comes out as a dict
shaped like a campaign's `ProposedFeature`: `uid`, `geometry` (GeoJSON, EPSG:4326) and
`properties` named after the campaign's schema, plus `where` (the row or object, to name
it in the report).

The uid is the export's own instance id when it has one (ODK's `KEY`/`instanceID`,
Kobo's `_uuid`, a GeoJSON `id`, a `uuid` column), else a hash of the feature's content:
sending the same file again proposes the same uids, so nothing is duplicated.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from niaouli.geometry_kinds import FAMILY_OF
from niaouli.i18n import N_, _
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.archive import ArchiveLimits, extract_data_files
from niaouli.ingest.csvtable import LAT_NAMES, LON_NAMES, WKT_NAMES
from niaouli.ingest.errors import IngestError
from niaouli.ingest.reproject import Reprojector, guess_crs, should_swap_axes
from niaouli.ingest.sniff import FORMAT_LABELS, SourceKind, check_local_path, identify
from niaouli.ingest.source import LayerSource
from niaouli.ingest.sources import open_sources

MAX_BYTES = 20 << 20
MAX_FEATURES = 5000
ARCHIVE_LIMITS = ArchiveLimits(max_entries=500, max_total_bytes=200 << 20, max_ratio=200)
KINDS = {
    SourceKind.GEOJSON,
    SourceKind.GEOPACKAGE,
    SourceKind.KML,
    SourceKind.GPX,
    SourceKind.CSV,
    SourceKind.XLSX,
    SourceKind.ODS,
    SourceKind.SHAPEFILE_ZIP,
}
# What a field-app zip may hold, best first (ODK Central: `form.csv` and its repeats).
ZIPPED = (".kml", ".gpx", ".geojson", ".json", ".gpkg", ".csv")
ACCEPTED = N_("GPX, GeoJSON, KML/KMZ, CSV avec lon/lat, GeoPackage (QField), exports ODK / Kobo")
# A contribution's uid as the campaigns accept it (`catalogue.campaigns.contributions.UID`).
UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}$")
# The export's own id for a feature, by column key (see `_key`), best first.
UID_KEYS = (
    "metainstanceid",
    "instanceid",
    "key",
    "uuid",
    "uid",
    "globalid",
    "id",
)
# GPS devices name their points `name` and `desc`: they fill the schema's usual fields.
ALIASES = {
    "name": ("nom", "name", "titre", "title", "libelle", "label"),
    "desc": ("description", "desc", "commentaire", "comment", "remarque", "note"),
    "cmt": ("commentaire", "comment", "remarque", "note", "description"),
}
# ODK geopoint / geotrace / geoshape text: "lat lon [alt [accuracy]]", points joined by ";".
ODK_POINT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)(?:\s+-?\d+(?:\.\d+)?){0,2}\s*$")
# Kobo's `_geolocation`: "[lat, lon]".
BRACKETED = re.compile(r"^\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]\s*$")
LAT_LON_COLUMN = re.compile(r"^(?P<prefix>.*?)[-_/.: ]?(?P<axis>latitude|longitude)$", re.I)
# Columns every ODK Central / KoboToolbox export adds about the submission, not the
# feature: never reported as "ignored" (by `_key`).
EXPORT_METADATA = {
    "submissiondate",
    "submitterid",
    "submittername",
    "attachmentspresent",
    "attachmentsexpected",
    "status",
    "reviewstate",
    "deviceid",
    "edits",
    "formversion",
    "start",
    "end",
    "today",
    "starttime",
    "endtime",
    "username",
    "subscriberid",
    "version",
}
TRUE = {"true", "vrai", "oui", "yes", "1", "o", "y"}
FALSE = {"false", "faux", "non", "no", "0", "n"}


@dataclass
class FieldFile:
    """What a field file proposes: features, and notes on how it was read."""

    format: str
    features: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def _key(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


def _last_segment(name: str) -> str:
    """`groupe/nom` (Kobo), `groupe-nom` (ODK Central), `groupe:nom` → `nom`."""
    return re.split(r"[/:]|-(?=[^-]+$)", name)[-1]


class SchemaMap:
    """Source column → campaign field, by name, label (French or English) or last path
    segment, case and accents ignored; values coerced to the field's type when clear."""

    def __init__(self, schema: list[dict[str, Any]]) -> None:
        self.fields = {f["name"]: f for f in schema if isinstance(f, dict) and f.get("name")}
        self.by_key: dict[str, str] = {}
        for name, spec in self.fields.items():
            labels = spec.get("label") or {}
            labels = labels.values() if isinstance(labels, dict) else [labels]
            for text in (name, *labels):
                if text:
                    self.by_key.setdefault(_key(str(text)), name)

    def field_of(self, column: str) -> str | None:
        for candidate in (column, _last_segment(column)):
            found = self.by_key.get(_key(candidate))
            if found:
                return found
        for alias in ALIASES.get(column.lower(), ()):
            found = self.by_key.get(_key(alias))
            if found:
                return found
        return None

    def value(self, name: str, raw: Any) -> Any:
        """A JSON value for field `name`, coerced when the intent is unambiguous."""
        spec = self.fields[name]
        value = _json_value(raw)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        kind = spec.get("type")
        if kind == "enum" and isinstance(value, str | int | float):
            folded = _key(str(value))
            for member in spec.get("enum") or []:
                if _key(str(member)) == folded:
                    return member
        elif kind == "boolean" and isinstance(value, str | int):
            text = str(value).strip().lower()
            if text in TRUE:
                return True
            if text in FALSE:
                return False
        elif kind == "integer" and _is_whole(value):
            return int(value)
        elif kind == "number" and isinstance(value, str):
            text = value.strip().replace(",", ".")
            if re.fullmatch(r"-?\d+(\.\d*)?", text):
                return float(text)
        elif kind == "date" and isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
        elif kind == "string" and not isinstance(value, str):
            return str(value)
        return value


def _is_whole(value: Any) -> bool:
    if isinstance(value, str):
        return re.fullmatch(r"\s*-?\d{1,18}\s*", value) is not None
    return isinstance(value, float) and value.is_integer()


def _json_value(raw: Any) -> Any:
    if isinstance(raw, dt.datetime):
        return raw.isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    if isinstance(raw, decimal.Decimal):
        return float(raw)
    if isinstance(raw, np.generic):
        return raw.item()
    if isinstance(raw, bytes | bytearray | memoryview):
        return None
    if isinstance(raw, float) and not np.isfinite(raw):
        return None
    return raw


# --- geometries ---------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if np.isfinite(value) else None
    text = str(value).strip().replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _odk_geometry(text: str) -> shapely.Geometry | None:
    """An ODK geopoint, geotrace or geoshape string (or Kobo's "[lat, lon]")."""
    bracketed = BRACKETED.match(text)
    if bracketed:
        return shapely.Point(float(bracketed.group(2)), float(bracketed.group(1)))
    points = []
    for part in text.strip().strip(";").split(";"):
        match = ODK_POINT.match(part)
        if not match:
            return None
        points.append((float(match.group(2)), float(match.group(1))))
    if len(points) == 1:
        return shapely.Point(points[0])
    if len(points) >= 4 and points[0] == points[-1]:
        return shapely.Polygon(points)
    return shapely.LineString(points) if len(points) >= 2 else None


def _candidates(table: pa.Table) -> Iterator[tuple[np.ndarray, str]]:
    """Geometry columns a field app writes, in order: latitude/longitude pairs with a
    common prefix (`_position_latitude` from Kobo, `position-Latitude` from ODK
    Central), then columns of ODK geopoint/geotrace/geoshape text or Kobo's
    `_geolocation`; each with the note that names it."""
    lat: dict[str, str] = {}
    lon: dict[str, str] = {}
    for name in table.column_names:
        match = LAT_LON_COLUMN.match(name)
        if match:
            side = lat if match.group("axis").lower() == "latitude" else lon
            side.setdefault(_key(match.group("prefix")), name)
    for prefix, lat_name in lat.items():
        lon_name = lon.get(prefix)
        if lon_name is None:
            continue
        ys = [_number(v) for v in table.column(lat_name).to_pylist()]
        xs = [_number(v) for v in table.column(lon_name).to_pylist()]
        pairs = zip(xs, ys, strict=True)
        points = [None if x is None or y is None else shapely.Point(x, y) for x, y in pairs]
        note = _("points construits à partir des colonnes « %(lon)s » et « %(lat)s »")
        yield np.array(points, dtype=object), note % {"lon": lon_name, "lat": lat_name}
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        values = column.to_pylist()
        present = [v for v in values if v and v.strip()]
        if not present or not all(
            ODK_POINT.match(v.split(";")[0]) or BRACKETED.match(v) for v in present
        ):
            continue
        geoms = [_odk_geometry(v) if v and v.strip() else None for v in values]
        if all(g is not None for g, v in zip(geoms, values, strict=True) if v and v.strip()):
            note = _("géométries lues dans la colonne « %(column)s » (format ODK / Kobo)")
            yield np.array(geoms, dtype=object), note % {"column": name}


def _field_app_geometries(table: pa.Table, family: str | None) -> tuple[np.ndarray, str] | None:
    """The first candidate (`_candidates`) holding geometries of the campaign's kind."""
    first = None
    for geoms, note in _candidates(table):
        present = [g for g in geoms if g is not None]
        if not present:
            continue
        first = first or (geoms, note)
        if family is None or any(_fit(g, family) is not None for g in present):
            return geoms, note
    return first


def _fit(geom: shapely.Geometry, family: str | None) -> shapely.Geometry | None:
    """The geometry as the campaign's kind (point, line, polygon), or None if it is not."""
    geom = shapely.force_2d(geom)
    kind = geom.geom_type
    if family is None:
        return geom
    if kind.startswith("Multi") and shapely.get_num_geometries(geom) == 1:
        geom = shapely.get_geometry(geom, 0)
        kind = geom.geom_type
    if kind == "MultiLineString" and family == "line":
        merged = shapely.line_merge(geom)
        return merged if merged.geom_type == "LineString" else geom
    if family == "polygon" and kind == "LineString" and geom.is_ring and len(geom.coords) >= 4:
        return shapely.Polygon(geom.coords)
    return geom if FAMILY_OF.get(kind) == family else None


# --- reading ------------------------------------------------------------------------------


def _zip_member(path: Path, name: str, workdir: Path) -> tuple[Path, SourceKind]:
    """The data file inside a field-app zip that holds no shapefile (ODK, KMZ)."""
    folder = workdir / "zip"
    folder.mkdir()
    members = extract_data_files(path, folder, set(ZIPPED), ARCHIVE_LIMITS)
    for suffix in ZIPPED:
        # ODK Central: `form.csv` beside `form-repeat.csv`: the shortest name is the form.
        found = sorted((m for m in members if m.suffix == suffix), key=lambda m: len(m.name))
        if found:
            member = found[0]
            return member, identify(member, member.name)
    raise IngestError(
        _("l'archive ne contient aucun fichier de terrain lisible (%(formats)s)")
        % {"formats": _(ACCEPTED)},
        file=name,
    )


def _has_shapefile(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.lower().endswith(".shp") for n in archive.namelist()[:5000])
    except (zipfile.BadZipFile, OSError):
        return True  # the archive reader gives the precise error


def _sources(path: Path, name: str, workdir: Path) -> tuple[list[LayerSource], SourceKind, str]:
    kind = identify(path, name)
    if kind not in KINDS:
        raise IngestError(
            _("format non accepté ici (acceptés : %(formats)s)") % {"formats": _(ACCEPTED)},
            file=name,
        )
    label = FORMAT_LABELS[kind]
    if kind is SourceKind.SHAPEFILE_ZIP and not _has_shapefile(path):
        path, kind = _zip_member(path, name, workdir)
        if kind not in KINDS or kind is SourceKind.SHAPEFILE_ZIP:
            raise IngestError(_("archive dans l'archive refusée"), file=name)
        label = f"{FORMAT_LABELS[kind]} (zip)"
    try:
        return open_sources(path, kind, workdir), kind, label
    except IngestError as exc:
        raise exc.located(file=name) from None


def _content_uid(layer: str, geom: shapely.Geometry | None, properties: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(layer.encode())
    digest.update(b"\0" + (shapely.to_wkb(geom, hex=True).encode() if geom is not None else b""))
    digest.update(b"\0" + json.dumps(properties, sort_keys=True, default=str).encode())
    return "f-" + digest.hexdigest()[:40]


def _reported(column: str, raw: Any) -> bool:
    """Whether an unmapped column is worth naming as ignored: it holds a value, and is
    neither an export's own (ids, metadata) nor where the geometry was read."""
    key = _key(column)
    value = _json_value(raw)
    if value is None or value == "":
        return False
    if isinstance(value, str) and (
        BRACKETED.match(value) or ODK_POINT.match(value.split(";", 1)[0])
    ):
        return False  # a geopoint / geotrace / geoshape
    return not (
        column.startswith("_")
        or key in EXPORT_METADATA
        or key in UID_KEYS
        or key in LON_NAMES
        or key in LAT_NAMES
        or key in WKT_NAMES
        or LAT_LON_COLUMN.match(column)
        or re.search(r"-(altitude|accuracy)$", column, re.I)
    )


def _clean_uid(value: Any) -> str | None:
    value = _json_value(value)
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]  # QGIS's uuid() (QField): {6f1c0e52-...}
    if not text:
        return None
    if UID.match(text):
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _uid_column(columns: list[str], schema: SchemaMap) -> str | None:
    keys = {}
    for column in columns:
        if schema.field_of(column) is not None:
            continue  # a campaign field called `id` is data, not the export's id
        keys.setdefault(_key(column), column)
        keys.setdefault(_key(_last_segment(column)), column)
    return next((keys[k] for k in UID_KEYS if k in keys), None)


def _rows(
    source: LayerSource, name: str, budget: list[int], family: str | None
) -> Iterator[tuple[int, dict[str, Any], Any]]:
    for batch in source.batches():
        rows = batch.attributes.to_pylist()
        if len(rows) > budget[0]:
            raise IngestError(
                _("trop d'objets dans le fichier : %(max)s au plus par envoi")
                % {"max": MAX_FEATURES},
                file=name,
            )
        budget[0] -= len(rows)
        geoms = batch.geometries
        if geoms is None:
            found = _field_app_geometries(batch.attributes, family)
            if found is not None:
                geoms, note = found
                if note not in source.notes:
                    source.notes.append(note)
        for index, row in enumerate(rows):
            yield batch.first_row + index, row, None if geoms is None else geoms[index]


def read_field_file(
    path: Path,
    *,
    filename: str,
    schema: list[dict[str, Any]],
    geometry_type: str | None,
    workdir: Path,
) -> FieldFile:
    """The features `path` (sent as `filename`) proposes for a campaign with this
    attribute `schema` and `geometry_type` (Point, LineString, Polygon).

    Raises IngestError, in French or the request's language, for a file that is not an
    accepted format, hostile (archive bombs, escaping paths, XML entities, GDAL virtual
    paths), too big, or without any feature of the campaign's kind.
    """
    name = Path(str(filename).replace("\\", "/")).name[:200] or "fichier"
    path = check_local_path(path)
    if path.stat().st_size > MAX_BYTES:
        raise IngestError(
            _("fichier trop gros : %(max)s Mo au plus pour un envoi de terrain")
            % {"max": MAX_BYTES >> 20},
            file=name,
        )
    sources, kind, label = _sources(path, name, workdir)
    mapping = SchemaMap(schema)
    family = FAMILY_OF.get(geometry_type or "")
    features: list[dict[str, Any]] = []
    notes: list[str] = []
    ignored: dict[str, None] = {}
    skipped: dict[str, int] = {}
    seen: set[str] = set()
    duplicates = 0
    budget = [MAX_FEATURES]
    is_table = kind in (SourceKind.CSV, SourceKind.XLSX, SourceKind.ODS)
    for source in sources:
        try:
            rows = list(_rows(source, name, budget, family))
        except IngestError as exc:
            raise exc.located(file=name) from None
        geoms = np.array([g for _row, _attrs, g in rows], dtype=object)
        present = geoms[~shapely.is_missing(geoms)] if len(geoms) else geoms
        if not len(present):
            skipped[source.name] = skipped.get(source.name, 0) + len(rows)
            continue
        reproject = _reprojector(source, present, name, notes)
        moved = reproject(geoms) if not reproject.is_identity or reproject.swap_axes else geoms
        uid_column = _uid_column([f for f, _t in source.fields], mapping)
        for (row_number, attributes, _raw), geom in zip(rows, moved, strict=True):
            where = (
                _("ligne %(row)s") % {"row": row_number}
                if is_table
                else _("objet %(row)s de « %(layer)s »") % {"row": row_number, "layer": source.name}
            )
            properties: dict[str, Any] = {}
            for column, raw in attributes.items():
                target = mapping.field_of(column)
                if target is None:
                    if column != uid_column and _reported(column, raw):
                        ignored.setdefault(column, None)
                    continue
                value = mapping.value(target, raw)
                if value is not None and properties.get(target) is None:
                    properties[target] = value
            fitted = None if geom is None else _fit(geom, family)
            if geom is not None and fitted is None:
                skipped[source.name] = skipped.get(source.name, 0) + 1
                continue
            uid = _clean_uid(attributes.get(uid_column)) if uid_column else None
            uid = uid or _content_uid(source.name, fitted, properties)
            if uid in seen:
                duplicates += 1
                continue
            seen.add(uid)
            features.append(
                {
                    "uid": uid,
                    "geometry": None if fitted is None else json.loads(shapely.to_geojson(fitted)),
                    "properties": properties,
                    "where": where,
                }
            )
        notes.extend(ingest_notes.shown(n) for n in source.notes)
    for layer, count in skipped.items():
        notes.append(
            _("%(count)s objet(s) de « %(layer)s » ignoré(s) : la campagne attend des %(kind)s")
            % {"count": count, "layer": layer, "kind": _(KIND_WORDS.get(family or "", "objets"))}
        )
    if duplicates:
        notes.append(
            _("%(count)s objet(s) en double dans le fichier ignoré(s)") % {"count": duplicates}
        )
    if ignored:
        notes.append(
            _("colonnes sans champ correspondant dans la campagne, ignorées : %(names)s")
            % {"names": ", ".join(list(ignored)[:30])}
        )
    if not features:
        raise IngestError(
            _("aucun objet utilisable dans ce fichier (la campagne attend des %(kind)s)")
            % {"kind": _(KIND_WORDS.get(family or "", "objets"))},
            file=name,
        )
    return FieldFile(label, features, notes, list(ignored))


KIND_WORDS = {"point": N_("points"), "line": N_("lignes"), "polygon": N_("surfaces")}


def _reprojector(
    source: LayerSource, present: np.ndarray, name: str, notes: list[str]
) -> Reprojector:
    bounds = tuple(float(v) for v in shapely.total_bounds(present))
    if source.crs is not None:
        crs = source.crs
    elif source.crs_problem:
        raise IngestError(source.crs_problem, file=name, layer=source.name)
    else:
        crs, _note = guess_crs(bounds, file=name, layer=source.name)
    swapped = bool(crs.is_geographic and should_swap_axes(bounds))
    if swapped:
        notes.append(ingest_notes.shown(ingest_notes.AXES_SWAPPED))
    return Reprojector(crs, swap_axes=swapped)
