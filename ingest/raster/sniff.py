"""Is an uploaded file a raster, and which? Decided from its bytes, like `ingest.sniff`.

Accepted: GeoTIFF (classic and BigTIFF), JPEG 2000 (JP2 box or raw codestream), and PNG
or JPEG with a world file — which only a zip can carry, so a bare PNG or JPEG stays the
"document" the vector sniffing refuses. A zip is a raster when it holds exactly one
image of those kinds (and, for PNG/JPEG, its world file); its entries are checked with
the vector archives' rules (no link, no escaping path, caps on size and ratio) and only
the image, its world file and a `.prj` are extracted, into a fresh folder.
"""

from __future__ import annotations

import enum
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from niaouli.i18n import _
from niaouli.ingest.archive import REFUSED_SUFFIXES, ArchiveLimits, _entry_name, copy_member
from niaouli.ingest.errors import IngestError


class RasterFormat(enum.StrEnum):
    GEOTIFF = "geotiff"
    JPEG2000 = "jpeg2000"
    PNG = "png"
    JPEG = "jpeg"


DRIVERS = {
    RasterFormat.GEOTIFF: ("GTiff",),
    RasterFormat.JPEG2000: ("JP2OpenJPEG",),
    RasterFormat.PNG: ("PNG",),
    RasterFormat.JPEG: ("JPEG",),
}
LABELS = {
    RasterFormat.GEOTIFF: "GeoTIFF",
    RasterFormat.JPEG2000: "JPEG 2000",
    RasterFormat.PNG: "PNG + fichier de calage",
    RasterFormat.JPEG: "JPEG + fichier de calage",
}
MEDIA_TYPES = {
    RasterFormat.GEOTIFF: "image/tiff; application=geotiff",
    RasterFormat.JPEG2000: "image/jp2",
    RasterFormat.PNG: "image/png",
    RasterFormat.JPEG: "image/jpeg",
}
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
JP2_MAGIC = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")
IMAGE_SUFFIXES = {
    ".tif": RasterFormat.GEOTIFF,
    ".tiff": RasterFormat.GEOTIFF,
    ".jp2": RasterFormat.JPEG2000,
    ".j2k": RasterFormat.JPEG2000,
    ".png": RasterFormat.PNG,
    ".jpg": RasterFormat.JPEG,
    ".jpeg": RasterFormat.JPEG,
}
WORLD_FILES = {
    RasterFormat.PNG: (".pgw", ".pngw", ".wld"),
    RasterFormat.JPEG: (".jgw", ".jpgw", ".jpegw", ".wld"),
}


def format_of_bytes(head: bytes) -> RasterFormat | None:
    if head[:4] in TIFF_MAGIC:
        return RasterFormat.GEOTIFF
    if head.startswith(JP2_MAGIC):
        return RasterFormat.JPEG2000
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return RasterFormat.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return RasterFormat.JPEG
    return None


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(16)


def zip_image(path: Path) -> PurePosixPath | None:
    """The raster image inside a zip, or None when the zip is not a raster's: it holds a
    GeoTIFF or JPEG 2000, or a PNG/JPEG beside its world file, and no shapefile; office
    documents (which are zips with pictures) are not."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [PurePosixPath(n.replace("\\", "/")) for n in archive.namelist()[:5000]]
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        return None
    plain = {str(n) for n in names}
    if "[Content_Types].xml" in plain or "mimetype" in plain:
        return None
    if any(n.suffix.lower() == ".shp" for n in names):
        return None
    lowered = {str(n.with_suffix(n.suffix.lower())).lower() for n in names}
    for name in names:
        kind = IMAGE_SUFFIXES.get(name.suffix.lower())
        if kind is None or name.name.startswith("._"):
            continue
        if kind not in WORLD_FILES:
            return name
        stem = str(name.with_suffix("")).lower()
        if any(stem + world in lowered for world in WORLD_FILES[kind]):
            return name
    return None


def is_raster(path: Path) -> bool:
    """Whether `path` is for the raster ingestion: a GeoTIFF or JPEG 2000, or a zip
    holding a raster (a bare PNG or JPEG stays a document, refused by `ingest.sniff`)."""
    head = _head(path)
    if format_of_bytes(head) in (RasterFormat.GEOTIFF, RasterFormat.JPEG2000):
        return True
    return head.startswith(b"PK\x03\x04") and zip_image(path) is not None


@dataclass(frozen=True)
class RasterFile:
    """The image GDAL will open, its sniffed format and the side-car files it may see."""

    path: Path
    format: RasterFormat
    siblings: tuple[str, ...] = ()  # names in the image's folder (world file, .prj)

    @property
    def drivers(self) -> tuple[str, ...]:
        return DRIVERS[self.format]

    @property
    def label(self) -> str:
        return LABELS[self.format]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def prepare(
    path: Path, name: str, workdir: Path, limits: ArchiveLimits | None = None
) -> RasterFile:
    """The raster to convert: `path` itself, or the image extracted from the zip."""
    head = _head(path)
    found = format_of_bytes(head)
    if found in (RasterFormat.PNG, RasterFormat.JPEG):
        raise IngestError(
            _(
                "image %(format)s sans fichier de calage : envoyez un zip avec l'image et son "
                "fichier de calage (%(world)s)"
            )
            % {"format": found.value.upper(), "world": ", ".join(WORLD_FILES[found])},
            file=name,
        )
    if found is not None:
        return RasterFile(path, found)
    return _extract(path, name, workdir, limits or ArchiveLimits())


def _extract(path: Path, name: str, workdir: Path, limits: ArchiveLimits) -> RasterFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise IngestError(_("archive zip illisible ou tronquée"), file=name) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise IngestError(
                _("archive refusée : plus de %(count)s fichiers") % {"count": limits.max_entries},
                file=name,
            )
        entries = {}
        for info in infos:
            entry = _entry_name(info, name)
            if info.is_dir() or entry.name.startswith("._"):
                continue
            if entry.suffix.lower() in REFUSED_SUFFIXES:
                raise IngestError(
                    _("fichier VRT/OVR dans l'archive refusé : « %(name)s »")
                    % {"name": entry.name},
                    file=name,
                )
            entries[entry] = info
        images = [e for e in entries if e.suffix.lower() in IMAGE_SUFFIXES]
        if len(images) != 1:
            raise IngestError(
                _("l'archive doit contenir une seule image raster (%(count)s trouvées)")
                % {"count": len(images)},
                file=name,
            )
        image = images[0]
        kind = IMAGE_SUFFIXES[image.suffix.lower()]
        chosen = {image: f"image{image.suffix.lower()}"}
        siblings: list[str] = []
        for entry in entries:
            same = entry.parent == image.parent and entry.stem == image.stem
            suffix = entry.suffix.lower()
            if same and suffix in WORLD_FILES.get(kind, ()):
                chosen[entry] = f"image{suffix}"
            elif same and suffix == ".prj":
                chosen[entry] = "image.prj"
        if kind in WORLD_FILES and not any(v.endswith(WORLD_FILES[kind]) for v in chosen.values()):
            raise IngestError(
                _("« %(name)s » sans fichier de calage (%(world)s) dans l'archive")
                % {"name": image.name, "world": ", ".join(WORLD_FILES[kind])},
                file=name,
            )
        total = 0
        for entry, target_name in chosen.items():
            total = copy_member(archive, entries[entry], workdir / target_name, total, limits, name)
            if target_name != chosen[image]:
                siblings.append(target_name)
    extracted = workdir / chosen[image]
    found = format_of_bytes(_head(extracted))
    if found != kind:
        raise IngestError(
            _("« %(name)s » n'est pas une image %(format)s malgré son nom")
            % {"name": image.name, "format": LABELS[kind]},
            file=name,
        )
    return RasterFile(extracted, kind, tuple(siblings))
