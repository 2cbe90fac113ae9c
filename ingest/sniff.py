"""Identify what a file really is from its bytes, and allow only the accepted formats.

GDAL picks a driver from content, not from the name: a `.tif` may be VRT XML that opens
`/etc/passwd` or a remote URL (SECURITY-CASES S14). So we decide the format ourselves,
refuse GDAL's virtual paths, and hand GDAL only formats on the allowlist.
"""

from __future__ import annotations

import csv
import enum
import io
import os
import stat
import zipfile
from pathlib import Path

from niaouli.i18n import N_, _
from niaouli.ingest.errors import IngestError
from niaouli.ingest.xmlguard import root_element

HEAD_SIZE = 8192
TEXT_SAMPLE = 65536  # what the tabular check of a text file reads
MAX_HEADER_CELL = 100  # characters: a longer first-line "column name" is a sentence
GPKG_APPLICATION_IDS = {0x47504B47, 0x47503130, 0x47503131}  # "GPKG", "GP10", "GP11"


class SourceKind(enum.StrEnum):
    GEOJSON = "geojson"
    GEOPACKAGE = "gpkg"
    SHAPEFILE_ZIP = "shapefile-zip"
    SHAPEFILE = "shapefile"
    KML = "kml"
    GPX = "gpx"
    CSV = "csv"
    XLSX = "xlsx"
    ODS = "ods"


FORMAT_LABELS = {
    SourceKind.GEOJSON: "GeoJSON",
    SourceKind.GEOPACKAGE: "GeoPackage",
    SourceKind.SHAPEFILE_ZIP: "Shapefile (zip)",
    SourceKind.SHAPEFILE: "Shapefile",
    SourceKind.KML: "KML",
    SourceKind.GPX: "GPX",
    SourceKind.CSV: "CSV",
    SourceKind.XLSX: "XLSX",
    SourceKind.ODS: "ODS",
}

MEDIA_TYPES = {
    SourceKind.GEOJSON: "application/geo+json",
    SourceKind.GEOPACKAGE: "application/geopackage+sqlite3",
    SourceKind.SHAPEFILE_ZIP: "application/zip",
    SourceKind.SHAPEFILE: "application/x-shapefile",
    SourceKind.KML: "application/vnd.google-earth.kml+xml",
    SourceKind.GPX: "application/gpx+xml",
    SourceKind.CSV: "text/csv",
    SourceKind.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    SourceKind.ODS: "application/vnd.oasis.opendocument.spreadsheet",
}
ACCEPTED = N_("GeoJSON, GeoPackage, Shapefile zippé, KML, GPX, CSV, XLSX, ODS")
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# Names that promise a format other than text: a text file named so is refused (a
# 45-byte `rapport.pdf` holding "a,b" was taken as a three-row CSV).
CLAIMED_SUFFIXES = {
    ".pdf": "PDF",
    ".zip": "zip",
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".xlsx": "XLSX",
    ".ods": "ODS",
    ".doc": "Word",
    ".docx": "Word",
    ".odt": "OpenDocument",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
# Content that is a known document, not data: (magic bytes, what it is).
DOCUMENTS = (
    (b"%PDF-", N_("document PDF")),
    (b"\x89PNG", N_("image PNG")),
    (b"\xff\xd8\xff", N_("image JPEG")),
    (b"GIF8", N_("image GIF")),
    (b"\xd0\xcf\x11\xe0", N_("document Office à l'ancien format (.xls, .doc)")),
)


def check_local_path(path: str | os.PathLike[str]) -> Path:
    """A plain local regular file: no GDAL virtual path, no symlink, not empty."""
    text = os.fspath(path)
    name = Path(text).name or text
    if "/vsi" in text.replace("\\", "/").lower() or text.lower().startswith("vsi"):
        raise IngestError(
            _("chemin virtuel GDAL refusé : seuls les fichiers locaux sont acceptés"), file=name
        )
    if "://" in text:
        raise IngestError(
            _("les URL ne sont pas acceptées ici : téléchargez d'abord le fichier"), file=name
        )
    candidate = Path(text)
    try:
        info = os.lstat(candidate)
    except FileNotFoundError:
        raise IngestError(_("fichier introuvable"), file=name) from None
    if stat.S_ISLNK(info.st_mode):
        raise IngestError(_("lien symbolique refusé"), file=name)
    if not stat.S_ISREG(info.st_mode):
        raise IngestError(_("ce n'est pas un fichier ordinaire"), file=name)
    if info.st_size == 0:
        raise IngestError(_("fichier vide"), file=name)
    return candidate.resolve()


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "cp1252"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _zip_kind(path: Path, name: str) -> SourceKind:
    """A zip is a spreadsheet (XLSX, ODS) or else a zipped shapefile, told by its entries.

    Office Open XML holds `[Content_Types].xml` and the workbook part; OpenDocument
    begins with a `mimetype` entry naming its type. Other office documents are refused
    here rather than reported as "no .shp in the archive".
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist()[:5000])
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size <= 200:
                mimetype = archive.read("mimetype").strip()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return SourceKind.SHAPEFILE_ZIP  # the archive reader gives the precise error
    if "[Content_Types].xml" in names:
        if "xl/workbook.xml" in names or any(n.startswith("xl/") for n in names):
            return SourceKind.XLSX
        raise IngestError(
            _("document Office (Word, PowerPoint) : ce n'est pas un tableau de données"),
            file=name,
        )
    if mimetype == ODS_MIMETYPE:
        return SourceKind.ODS
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        raise IngestError(
            _("document OpenDocument qui n'est pas un classeur (.ods) : format refusé"),
            file=name,
        )
    return SourceKind.SHAPEFILE_ZIP


def _text_sample(path: Path) -> tuple[str, bool]:
    """The beginning of a text file, decoded, and whether it is the whole file."""
    with path.open("rb") as handle:
        raw = handle.read(TEXT_SAMPLE + 1)
    whole = len(raw) <= TEXT_SAMPLE
    raw = raw[:TEXT_SAMPLE].removeprefix(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not whole and exc.start >= len(raw) - 3:
            text = raw[: exc.start].decode("utf-8")
        else:
            text = raw.decode("cp1252", errors="replace")
    if not whole:  # the last line may be cut
        text = text[: text.rfind("\n") + 1] if "\n" in text else text
    return text, whole


def _not_tabular(reason: str, name: str) -> IngestError:
    return IngestError(
        _("texte qui n'est pas un tableau : %(reason)s (formats acceptés : %(formats)s)")
        % {"reason": reason, "formats": _(ACCEPTED)},
        file=name,
    )


def check_tabular(path: Path, name: str) -> None:
    """Refuse a text file that is not a delimited table (prose, a list, a log...).

    A table has a header of at least two short names separated by `,` `;` tab or `|`,
    and at least half of the following records have as many fields as the header (a
    few ragged rows are reported by the CSV reader with their line number).
    """
    text, _whole = _text_sample(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise _not_tabular(_("aucune ligne de texte"), name)
    sample = "\n".join(lines[:200])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = max(",;\t|", key=lines[0].count)
    records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
    header = records[0] if records else []
    if len(header) < 2:
        raise _not_tabular(
            _(
                "une seule colonne, aucun séparateur (virgule, point-virgule, tabulation) "
                "sur la première ligne"
            ),
            name,
        )
    longest = max(len(cell.strip()) for cell in header)
    if longest > MAX_HEADER_CELL or not any(cell.strip() for cell in header):
        raise _not_tabular(_("la première ligne ne ressemble pas à un en-tête de colonnes"), name)
    rows = records[1:101]
    if rows:
        same = sum(1 for r in rows if len(r) == len(header))
        if same * 2 < len(rows):
            raise _not_tabular(
                _(
                    "séparateur « %(delimiter)s » irrégulier : %(same)s ligne(s) sur "
                    "%(count)s ont les %(width)s colonnes de l'en-tête"
                )
                % {
                    "delimiter": "\\t" if delimiter == "\t" else delimiter,
                    "same": same,
                    "count": len(rows),
                    "width": len(header),
                },
                name,
            )


def identify(path: Path, name: str | None = None) -> SourceKind:
    """The format of `path`, decided from its content; raises IngestError otherwise.

    `name` is the file's name as sent (the stored copy may be renamed): a name that
    promises another format than the content's is refused.
    """
    with path.open("rb") as handle:
        head = handle.read(HEAD_SIZE)
    name = name or path.name
    suffix = Path(name).suffix.lower()

    if head.startswith(b"SQLite format 3\x00"):
        application_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
        if application_id in GPKG_APPLICATION_IDS:
            return SourceKind.GEOPACKAGE
        raise IngestError(_("base SQLite qui n'est pas un GeoPackage : format refusé"), file=name)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path, name)
    if head[:4] == b"\x00\x00\x27\x0a":
        return SourceKind.SHAPEFILE
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raise IngestError(
            _("fichier raster (TIFF) : non accepté par l'ingestion vectorielle"), file=name
        )
    for magic, label in DOCUMENTS:
        if head.startswith(magic):
            raise IngestError(
                _(
                    "%(kind)s : ce n'est pas un format de données (acceptés : %(formats)s) ; "
                    "pour le publier tel quel, envoyez-le comme document joint"
                )
                % {"kind": _(label), "formats": _(ACCEPTED)},
                file=name,
            )

    text_head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    is_text = _looks_like_text(head)
    if text_head.startswith(b"<"):
        tag = root_element(path)
        if tag == "kml":
            return SourceKind.KML
        if tag == "gpx":
            return SourceKind.GPX
        if tag.lower().startswith(("ogrvrt", "vrtdataset")) or suffix == ".vrt":
            raise IngestError(_("fichier VRT de GDAL refusé"), file=name)
        raise IngestError(
            _("document XML non reconnu (élément racine « %(tag)s »)") % {"tag": tag[:60]},
            file=name,
        )
    if is_text and suffix in CLAIMED_SUFFIXES:
        raise IngestError(
            _("ce n'est pas un fichier %(format)s malgré son nom : son contenu est du texte")
            % {"format": CLAIMED_SUFFIXES[suffix]},
            file=name,
        )
    if text_head.startswith((b"{", b"[")):
        return SourceKind.GEOJSON
    if suffix == ".vrt":
        raise IngestError(_("fichier VRT de GDAL refusé"), file=name)
    if is_text:
        check_tabular(path, name)
        return SourceKind.CSV
    raise IngestError(
        _("format non reconnu (acceptés : %(formats)s)") % {"formats": _(ACCEPTED)},
        file=name,
    )
