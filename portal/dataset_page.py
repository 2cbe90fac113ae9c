"""What the dataset page adds to the catalogue record so people can *use* the data.

The licence in plain words, the freshness facts, the table preview rows and, per layer,
the "Utiliser ces données" boxes: absolute URLs (OGC API Features, vector tiles, CSW)
and ready-to-paste snippets (MapLibre, curl, Python, JavaScript).

Snippets are plain text built here; the template escapes them. Every value coming from
the data (an attribute name, a cell) only reaches a snippet percent-encoded inside a URL,
and every URL is written as a JSON / Python / shell literal, so a hostile value can
neither break the HTML nor the code it sits in (SECURITY-CASES S20-S22).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import pyogrio
import pyogrio.errors
from sqlalchemy import Connection
from starlette.requests import Request

from niaouli import gdalguard, storage
from niaouli.catalogue.models import Dataset, Layer, Resource, ResourceKind
from niaouli.db.layers import ColumnSpec, first_rows
from niaouli.i18n import _
from niaouli.portal import licences
from niaouli.publicurl import public_root
from niaouli.settings import Settings

TABLE_ROWS = 20  # preview of a table without geometry
SPATIAL_ROWS = 10  # attribute preview under a map
UNSAFE_IN_EXAMPLE = re.compile("['\\x00-\\x1f\\x7f\\u0085\\u2028\\u2029]")
SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LAMBERT_NC = "http://www.opengis.net/def/crs/EPSG/0/3163"
NC_BOUNDS = (155.0, -27.0, 175.0, -14.0)  # the islands and their waters, loosely


def preview_rows(conn: Connection, layer: Layer) -> list[dict[str, Any]]:
    columns = [ColumnSpec(a["name"], a["column"], a["type"]) for a in layer.attribute_schema or ()]
    limit = SPATIAL_ROWS if layer.geometry_type else TABLE_ROWS
    return first_rows(conn, layer.table_name, columns, limit)


@dataclass(frozen=True)
class Snippet:
    key: str  # anchor-safe
    title: str
    language: str
    code: str


@dataclass(frozen=True)
class LayerUse:
    collection_id: str
    spatial: bool
    collection_url: str
    items_url: str
    filter_url: str | None
    filter_text: str | None
    crs_url: str | None
    tiles_url: str | None
    snippets: list[Snippet]


def _literal(value: object) -> str:
    """A scalar as a CQL2 text literal, or "" when it is not a safe, simple example.

    No quote (pygeofilter's CQL2 text refuses `''` escapes, docs/ogc.md) and no control
    or line-separator character: the filter is also printed in a shell comment, where a
    newline would start a command.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, str) and len(value) <= 80 and not UNSAFE_IN_EXAMPLE.search(value):
        return f"'{value}'"
    return ""


def sample_filter(layer: Layer, row: dict[str, Any] | None) -> str | None:
    """A CQL2 filter on a real attribute and value of the layer (its first row)."""
    if not row:
        return None
    for kind in ("string", "integer", "number"):
        for attribute in layer.attribute_schema or ():
            if attribute["type"] != kind or not SIMPLE_NAME.match(attribute["name"]):
                continue
            literal = _literal(row.get(attribute["column"]))
            if literal:
                return f"{attribute['name']}={literal}"
    return None


def _maplibre_layer(collection_id: str, geometry: str | None) -> dict[str, Any]:
    kind = (geometry or "").lower()
    base: dict[str, Any] = {"id": collection_id, "source": "niaouli"}
    base["source-layer"] = collection_id
    if "point" in kind:
        return base | {"type": "circle", "paint": {"circle-radius": 4, "circle-color": "#c2410c"}}
    if "line" in kind:
        return base | {"type": "line", "paint": {"line-width": 2, "line-color": "#0b5c4b"}}
    return base | {
        "type": "fill",
        "paint": {"fill-color": "#1f8a70", "fill-opacity": 0.5, "fill-outline-color": "#0b5c4b"},
    }


def _centre(layer: Layer) -> tuple[float, float]:
    extent = layer.extent
    if not extent:
        return (165.5, -21.3)
    return (round((extent[0] + extent[2]) / 2, 4), round((extent[1] + extent[3]) / 2, 4))


MAPLIBRE = "https://unpkg.com/maplibre-gl@6/dist"  # or your own copy (npm: maplibre-gl)


def maplibre_snippet(layer: Layer, tiles_url: str) -> str:
    """A complete HTML fragment: MapLibre GL JS (ES module) over the layer's vector tiles."""
    source = {"type": "vector", "tiles": [tiles_url], "minzoom": 0, "maxzoom": 22}
    style_layer = json.dumps(_maplibre_layer(layer.collection_id, layer.geometry_type), indent=2)
    return (
        f'<link rel="stylesheet" href="{MAPLIBRE}/maplibre-gl.css">\n'
        '<div id="carte" style="height: 400px"></div>\n'
        '<script type="module">\n'
        f'  import {{ Map }} from "{MAPLIBRE}/maplibre-gl.mjs";\n\n'
        "  const map = new Map({\n"
        '    container: "carte",\n'
        "    style: { version: 8, sources: {}, layers: [] },\n"
        f"    center: {json.dumps(list(_centre(layer)))},\n"
        "    zoom: 7,\n"
        "  });\n"
        '  map.on("load", () => {\n'
        f'    map.addSource("niaouli", {json.dumps(source)});\n'
        f"    map.addLayer({_indent(style_layer, 4)});\n"
        "  });\n"
        "</script>"
    )


def _indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def layer_use(root: str, layer: Layer, first_row: dict[str, Any] | None) -> LayerUse:
    """URLs and snippets for one layer, every URL absolute from `root`."""
    cid = quote(layer.collection_id, safe="")
    collection = f"{root}/ogc/collections/{cid}"
    items = f"{collection}/items?f=json&limit=100"
    spatial = layer.geometry_type is not None
    cql = sample_filter(layer, first_row)
    filter_url = (
        f"{collection}/items?" + urlencode({"f": "json", "filter-lang": "cql2-text", "filter": cql})
        if cql
        else None
    )
    crs_url = (
        f"{collection}/items?" + urlencode({"f": "json", "crs": LAMBERT_NC}) if spatial else None
    )
    tiles = f"{collection}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}" if spatial else None

    # Only the comments follow the reader's language; the commands are the same.
    comment = _("Les 100 premiers objets (GeoJSON)")
    curl = [f"# {comment}\ncurl -L {shlex.quote(items)}"]
    if filter_url:
        comment = _("Filtre CQL2 : %(filter)s") % {"filter": cql}
        curl.append(f"# {comment}\ncurl -L {shlex.quote(filter_url)}")
    if crs_url:
        comment = _("Coordonnées en Lambert Nouvelle-Calédonie (EPSG:3163)")
        curl.append(f"# {comment}\ncurl -L {shlex.quote(crs_url)}")
    oapif = f"OAPIF:{collection}"
    without_gdal = _("ou sans GDAL :")
    python = (
        "# pip install geopandas pyogrio\n"
        "import pyogrio\n\n"
        f"df = pyogrio.read_dataframe({json.dumps(oapif)})\n"
        "print(len(df), list(df.columns))\n\n"
        f"# {without_gdal}\n"
        "import requests\n\n"
        f"page = requests.get({json.dumps(items)}, timeout=60).json()\n"
        'print(len(page["features"]))'
    )
    javascript = (
        f"const url = {json.dumps(items)};\n"
        "const collection = await (await fetch(url)).json();\n"
        "console.log(collection.features.length, collection.features[0]?.properties);"
    )
    snippets = []
    if tiles:
        snippets.append(
            Snippet("web", "Web (MapLibre GL JS)", "html", maplibre_snippet(layer, tiles))
        )
    snippets += [
        Snippet("curl", "curl", "shell", "\n\n".join(curl)),
        Snippet("python", "Python", "python", python),
        Snippet("javascript", "JavaScript", "javascript", javascript),
    ]
    return LayerUse(
        layer.collection_id,
        spatial,
        collection,
        items,
        filter_url,
        cql,
        crs_url,
        tiles,
        snippets,
    )


def ingested_on(dataset: Dataset) -> date | datetime | str | None:
    return (dataset.provenance or {}).get("ingested_at")


def coverage_words(bbox: tuple[float, float, float, float] | None) -> str:
    """A place name for a bounding box, when we can honestly give one."""
    if bbox is None:
        return _("non renseignée")
    west, south, east, north = bbox
    inside = (
        NC_BOUNDS[0] <= west
        and NC_BOUNDS[1] <= south
        and east <= NC_BOUNDS[2]
        and north <= NC_BOUNDS[3]
    )
    return _("Nouvelle-Calédonie") if inside else _("au-delà de la Nouvelle-Calédonie")


CSV_PREVIEW_BYTES = 64 * 1024
CSV_PREVIEW_COLUMNS = 50
CSV_PREVIEW_CELL = 200


@dataclass(frozen=True)
class FilePreview:
    head: list[str]
    rows: list[list[str]]


def _is_csv(resource: Resource) -> bool:
    name = (resource.filename or "").lower()
    return (resource.format or "").lower() == "csv" or name.endswith(".csv")


def csv_file_preview(settings: Settings, resource: Resource) -> FilePreview | None:
    """The first TABLE_ROWS rows of an attached CSV file (read from its first 64 KiB).

    Only files that were not ingested: an ingested file's rows are the layer's preview.
    Anything unreadable is no preview, never an error page.
    """
    if resource.kind != ResourceKind.FILE or resource.role == "source" or not _is_csv(resource):
        return None
    if not resource.storage_key or not resource.filename:
        return None
    try:
        raw = b"".join(
            storage.read(settings, resource.storage_key, resource.filename, 0, CSV_PREVIEW_BYTES)
        )
    except (OSError, ValueError, storage.StorageError):
        return None
    truncated = len(raw) == CSV_PREVIEW_BYTES
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if truncated and error.start > len(raw) - 4:  # cut inside the last character
            text = raw[: error.start].decode("utf-8-sig")
        else:  # not UTF-8: the usual spreadsheet export encoding
            text = raw.decode("cp1252", errors="replace")
    lines = text.splitlines()
    if truncated:
        lines = lines[:-1]  # the last line may be cut
    lines = lines[: TABLE_ROWS + 1]
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:5]), delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [
        [cell[:CSV_PREVIEW_CELL] for cell in row[:CSV_PREVIEW_COLUMNS]]
        for row in csv.reader(io.StringIO("\n".join(lines)), dialect)
    ]
    if not rows:
        return None
    width = max(len(row) for row in rows)  # ragged rows: pad, so the table stays a grid
    rows = [row + [""] * (width - len(row)) for row in rows]
    return FilePreview(rows[0], rows[1 : TABLE_ROWS + 1])


SPREADSHEET_SUFFIXES = (".xlsx", ".ods")
SPREADSHEET_MAX_BYTES = 5_000_000
SPREADSHEET_MAX_UNPACKED = 50_000_000  # a zip bomb is no preview


def spreadsheet_file_preview(settings: Settings, resource: Resource) -> FilePreview | None:
    """The first TABLE_ROWS rows of an attached XLSX / ODS file's first sheet (GDAL).

    Ingestion takes no spreadsheet, so these files are attachments; the preview reads at
    most TABLE_ROWS rows, and only from a small file whose unpacked size is bounded.
    """
    name = (resource.filename or "").lower()
    if resource.kind != ResourceKind.FILE or not name.endswith(SPREADSHEET_SUFFIXES):
        return None
    if not resource.storage_key:
        return None
    try:
        found = storage.stat(settings, resource.storage_key, resource.filename or "")
        if found is None or found.size > SPREADSHEET_MAX_BYTES:
            return None
        with storage.local_copy(settings, resource.storage_key, resource.filename or "") as path:
            with zipfile.ZipFile(path) as archive:
                if sum(i.file_size for i in archive.infolist()) > SPREADSHEET_MAX_UNPACKED:
                    return None
            gdalguard.install()  # an attachment is untrusted: GDAL must not reach the network
            _meta, table = pyogrio.read_arrow(
                path,
                max_features=TABLE_ROWS,
                read_geometry=False,
                headers="FORCE",  # GDAL open options: first row = names, cells as shown
                field_types="STRING",
            )
    except (
        OSError,
        ValueError,
        zipfile.BadZipFile,
        pyogrio.errors.DataSourceError,
        storage.StorageError,
    ):
        return None
    head = [c for c in table.column_names if c != "OGC_FID"][:CSV_PREVIEW_COLUMNS]
    rows = [
        ["" if row[c] is None else str(row[c])[:CSV_PREVIEW_CELL] for c in head]
        for row in table.to_pylist()
    ]
    return FilePreview(head, rows)


def file_preview(settings: Settings, resource: Resource) -> FilePreview | None:
    return csv_file_preview(settings, resource) or spreadsheet_file_preview(settings, resource)


def validation_by_layer(session: Any, dataset: Dataset) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """The latest Table Schema report of each layer (published with it), by collection id."""
    from niaouli.tableschema import reports

    found = {}
    for layer in dataset.layers:
        record = reports.latest_report(session, layer)
        if record is not None:
            found[layer.collection_id] = reports.record_view(record)
    return found


def page_extras(
    request: Request,
    dataset: Dataset,
    previews: dict[str, list[dict[str, Any]]],
    bbox: tuple[float, float, float, float] | None,
    settings: Settings,
) -> dict[str, Any]:
    """Everything `dataset.html`'s partials read, under one `page` name."""
    from niaouli.catalogue import versions
    from niaouli.portal import versions_page

    root = public_root(request)
    uses = [
        layer_use(root, layer, (previews.get(layer.collection_id) or [None])[0])
        for layer in dataset.layers
    ]
    return {
        "root": root,
        "ogc_url": f"{root}/ogc",
        "csw_url": f"{root}/csw",
        "record_url": f"{root}/ogc/collections/catalogue/items/{quote(dataset.slug, safe='')}",
        "licence": licences.describe(dataset.licence).in_words(),
        "ingested_on": ingested_on(dataset),
        "coverage_words": coverage_words(bbox),
        "uses": uses,
        "spatial_uses": [u for u in uses if u.spatial],
        # Editors see the kept versions of the layers (`niaouli.portal.versions_page`).
        "versions": versions_page.for_editors(request, dataset),
        "kept_versions": versions.kept_versions(),
        "file_previews": {
            r.id: preview
            for r in dataset.resources
            if (preview := file_preview(settings, r)) is not None
        },
    }
