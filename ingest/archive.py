"""Unpack uploaded zip archives without trusting them (zip slip, bombs, symlinks).

Only the parts of shapefiles are extracted, flattened into a fresh temporary folder, with
caps on entries, total size and compression ratio, counted while streaming
(SECURITY-CASES S15, S17). A GDAL VRT inside the archive is refused outright (S14).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from niaouli.i18n import _
from niaouli.ingest.errors import IngestError

SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qpj", ".sbn", ".sbx", ".qix"}
REFUSED_SUFFIXES = {".vrt", ".ovf", ".ovr"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 2000
    max_total_bytes: int = 4 << 30
    max_ratio: int = 200


def _entry_name(info: zipfile.ZipInfo, archive: str) -> PurePosixPath:
    raw = info.filename
    unix_mode = info.external_attr >> 16
    if stat.S_ISLNK(unix_mode):
        raise IngestError(
            _("lien symbolique dans l'archive refusé : « %(name)s »") % {"name": raw[:200]},
            file=archive,
        )
    normalised = raw.replace("\\", "/")
    parts = PurePosixPath(normalised).parts
    if normalised.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise IngestError(
            _("chemin dangereux dans l'archive refusé : « %(name)s »") % {"name": raw[:200]},
            file=archive,
        )
    return PurePosixPath(normalised)


def _choose(
    zf: zipfile.ZipFile, name: str, limits: ArchiveLimits, suffixes: set[str]
) -> dict[str, zipfile.ZipInfo]:
    """The entries to extract, by flat lower-case name: those with one of `suffixes`,
    after refusing too many entries, links, escaping paths, VRTs and name clashes."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise IngestError(
            _("archive refusée : plus de %(count)s fichiers") % {"count": limits.max_entries},
            file=name,
        )
    chosen: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        entry = _entry_name(info, name)
        if info.is_dir():
            continue
        suffix = entry.suffix.lower()
        if suffix in REFUSED_SUFFIXES:
            raise IngestError(
                _("fichier VRT/OVR dans l'archive refusé : « %(name)s »") % {"name": entry.name},
                file=name,
            )
        if suffix not in suffixes or entry.name.startswith("._"):
            continue
        key = entry.name.lower()
        if key in chosen:
            raise IngestError(
                _("deux fichiers « %(name)s » dans l'archive") % {"name": entry.name}, file=name
            )
        chosen[key] = info
    return chosen


def extract_shapefiles(
    archive: Path, dest: Path, limits: ArchiveLimits | None = None
) -> list[Path]:
    """Extract shapefile parts of `archive` into `dest`; return the `.shp` paths."""
    limits = limits or ArchiveLimits()
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise IngestError(_("archive zip illisible ou tronquée"), file=name) from None
    with zf:
        chosen = _choose(zf, name, limits, SHAPEFILE_PARTS)
        if not any(k.endswith(".shp") for k in chosen):
            raise IngestError(_("l'archive ne contient aucun fichier .shp"), file=name)

        _extract(zf, chosen, dest, limits, name)

    shapefiles = sorted(dest / k for k in chosen if k.endswith(".shp"))
    for shp in shapefiles:
        for part in (".shx", ".dbf"):
            if not shp.with_suffix(part).exists():
                raise IngestError(
                    _("« %(name)s » manquant dans l'archive") % {"name": shp.stem + part}, file=name
                )
    return shapefiles


def _extract(
    zf: zipfile.ZipFile,
    chosen: dict[str, zipfile.ZipInfo],
    dest: Path,
    limits: ArchiveLimits,
    name: str,
) -> None:
    """Write the chosen entries flat into `dest`, counting bytes while streaming."""
    total = 0
    for key, info in chosen.items():
        target = dest / key
        total = copy_member(zf, info, target, total, limits, name)
        if target.resolve().parent != dest.resolve():
            raise IngestError(_("chemin dangereux dans l'archive refusé"), file=name)


def copy_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    total: int,
    limits: ArchiveLimits,
    name: str,
) -> int:
    """Stream one entry to `target` under the archive caps (compression ratio, total
    size); returns the running total of bytes written. Every unzip of untrusted files
    (shapefiles, data files, rasters) goes through it."""
    declared = max(info.compress_size, 1)
    written = 0
    try:
        with zf.open(info) as src, target.open("wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                total += len(chunk)
                if written > declared * limits.max_ratio and written > 10 * CHUNK:
                    raise IngestError(
                        _("archive refusée : taux de compression suspect (« %(name)s »)")
                        % {"name": info.filename[:200]},
                        file=name,
                    )
                if total > limits.max_total_bytes:
                    raise IngestError(
                        _("archive refusée : contenu décompressé trop gros"), file=name
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError, zlib.error) as exc:
        raise IngestError(
            _("archive zip corrompue ou tronquée (%(error)s)") % {"error": exc}, file=name
        ) from None
    return total


def extract_data_files(
    archive: Path, dest: Path, suffixes: set[str], limits: ArchiveLimits | None = None
) -> list[Path]:
    """Extract the entries of `archive` whose suffix is in `suffixes` (lower case, with
    the dot) flat into `dest`, with the caps and refusals of `extract_shapefiles`; return
    their paths, sorted. Used for field-app exports (ODK Central's zip, a KMZ)."""
    limits = limits or ArchiveLimits()
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise IngestError(_("archive zip illisible ou tronquée"), file=name) from None
    with zf:
        chosen = _choose(zf, name, limits, suffixes)
        _extract(zf, chosen, dest, limits, name)
    return sorted(dest / k for k in chosen)


class _Counted:
    """A zip entry read through the archive's caps (ratio, total), for the XML parser."""

    def __init__(self, stream, info: zipfile.ZipInfo, budget: list[int], limits, name: str):  # noqa: ANN001
        self.stream, self.info, self.budget, self.limits, self.name = (
            stream,
            info,
            budget,
            limits,
            name,
        )
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(CHUNK if size is None or size < 0 else min(size, CHUNK))
        self.read_bytes += len(chunk)
        self.budget[0] -= len(chunk)
        declared = max(self.info.compress_size, 1)
        if self.read_bytes > declared * self.limits.max_ratio and self.read_bytes > 10 * CHUNK:
            raise IngestError(
                _("archive refusée : taux de compression suspect (« %(name)s »)")
                % {"name": self.info.filename[:200]},
                file=self.name,
            )
        if self.budget[0] < 0:
            raise IngestError(_("archive refusée : contenu décompressé trop gros"), file=self.name)
        return chunk


def check_spreadsheet(path: Path, limits: ArchiveLimits | None = None) -> None:
    """Check an XLSX or ODS package before GDAL reads it (S6, S9, S15, S17).

    Its entries get the caps of the shapefile archives (count, total size, ratio, no
    link or escaping path), and every XML part is parsed once with DTDs and entities
    forbidden, so that GDAL's XML reader never meets a bomb or an external entity.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    limits = limits or ArchiveLimits()
    name = path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise IngestError(
            _("classeur illisible : archive zip tronquée ou abîmée"), file=name
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise IngestError(
                _("archive refusée : plus de %(count)s fichiers") % {"count": limits.max_entries},
                file=name,
            )
        budget = [limits.max_total_bytes]
        for info in infos:
            entry = _entry_name(info, name)
            if info.is_dir():
                continue
            if entry.suffix.lower() in REFUSED_SUFFIXES:
                raise IngestError(
                    _("fichier VRT/OVR dans l'archive refusé : « %(name)s »")
                    % {"name": entry.name},
                    file=name,
                )
            try:
                with zf.open(info) as raw:
                    counted = _Counted(raw, info, budget, limits, name)
                    if entry.suffix.lower() in (".xml", ".rels"):
                        for _event, element in iterparse(
                            counted,
                            events=("end",),
                            forbid_dtd=True,
                            forbid_entities=True,
                            forbid_external=True,
                        ):
                            element.clear()
                    else:
                        while counted.read(CHUNK):
                            pass
            except DefusedXmlException:
                raise IngestError(
                    _("document XML avec DTD ou entités refusé (risque XXE / « billion laughs »)"),
                    file=name,
                ) from None
            except SyntaxError as exc:
                raise IngestError(
                    _("XML mal formé ou tronqué : %(error)s") % {"error": exc}, file=name
                ) from None
            except (
                zipfile.BadZipFile,
                EOFError,
                zipfile.LargeZipFile,
                OSError,
                zlib.error,
                NotImplementedError,
                RuntimeError,
            ) as exc:
                raise IngestError(
                    _("archive zip corrompue ou tronquée (%(error)s)") % {"error": exc}, file=name
                ) from None
