"""Identify what a file really is from its bytes, and allow only the accepted formats.

GDAL picks a driver from content, not from the name: a `.tif` may be VRT XML that opens
`/etc/passwd` or a remote URL (SECURITY-CASES S14). So we decide the format ourselves,
refuse GDAL's virtual paths, and hand GDAL only formats on the allowlist.
"""

from __future__ import annotations

import enum
import os
import stat
from pathlib import Path

from niaouli.ingest.errors import IngestError
from niaouli.ingest.xmlguard import root_element

from niaouli.i18n import _

HEAD_SIZE = 8192
GPKG_APPLICATION_IDS = {0x47504B47, 0x47503130, 0x47503131}  # "GPKG", "GP10", "GP11"


class SourceKind(enum.StrEnum):
    GEOJSON = "geojson"
    GEOPACKAGE = "gpkg"
    SHAPEFILE_ZIP = "shapefile-zip"
    SHAPEFILE = "shapefile"
    KML = "kml"
    GPX = "gpx"
    CSV = "csv"


FORMAT_LABELS = {
    SourceKind.GEOJSON: "GeoJSON",
    SourceKind.GEOPACKAGE: "GeoPackage",
    SourceKind.SHAPEFILE_ZIP: "Shapefile (zip)",
    SourceKind.SHAPEFILE: "Shapefile",
    SourceKind.KML: "KML",
    SourceKind.GPX: "GPX",
    SourceKind.CSV: "CSV",
}

MEDIA_TYPES = {
    SourceKind.GEOJSON: "application/geo+json",
    SourceKind.GEOPACKAGE: "application/geopackage+sqlite3",
    SourceKind.SHAPEFILE_ZIP: "application/zip",
    SourceKind.SHAPEFILE: "application/x-shapefile",
    SourceKind.KML: "application/vnd.google-earth.kml+xml",
    SourceKind.GPX: "application/gpx+xml",
    SourceKind.CSV: "text/csv",
}


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


def identify(path: Path) -> SourceKind:
    """The format of `path`, decided from its content; raises IngestError otherwise."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_SIZE)
    name = path.name
    suffix = path.suffix.lower()

    if head.startswith(b"SQLite format 3\x00"):
        application_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
        if application_id in GPKG_APPLICATION_IDS:
            return SourceKind.GEOPACKAGE
        raise IngestError(_("base SQLite qui n'est pas un GeoPackage : format refusé"), file=name)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return SourceKind.SHAPEFILE_ZIP
    if head[:4] == b"\x00\x00\x27\x0a":
        return SourceKind.SHAPEFILE
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raise IngestError(
            _("fichier raster (TIFF) : non accepté par l'ingestion vectorielle"), file=name
        )

    text_head = head.lstrip(b"\xef\xbb\xbf").lstrip()
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
    if text_head.startswith((b"{", b"[")):
        return SourceKind.GEOJSON
    if suffix == ".vrt":
        raise IngestError(_("fichier VRT de GDAL refusé"), file=name)
    if _looks_like_text(head):
        return SourceKind.CSV
    raise IngestError(
        _("format non reconnu (acceptés : GeoJSON, GeoPackage, Shapefile zippé, KML, GPX, CSV)"),
        file=name,
    )
