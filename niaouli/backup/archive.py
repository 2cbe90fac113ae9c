"""Writing and reading the tar archive: the manifest first, then every member it names.

Reading treats the archive as untrusted (SECURITY-CASES S15, S17): members are read in
one sequential pass, only regular files whose names the manifest lists (and allows) are
accepted, each written by us under the staging folder with its size capped at the
declared one and its SHA-256 compared. Links, folders, devices, unknown, duplicate or
missing members, a truncated or corrupted stream: the whole archive is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import tarfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

from niaouli.backup.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    BackupError,
    Manifest,
    Member,
)

CHUNK = 1 << 20
_BROKEN = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def hash_file(path: Path) -> Member:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Member(name="", size=size, sha256=digest.hexdigest())


def write_mode(path: Path) -> str:
    """Compression from the name: `.tar.gz`/`.tgz` gzip, `.tar.xz` xz, else plain tar."""
    name = path.name.lower()
    if name.endswith((".gz", ".tgz")):
        return "w:gz"
    if name.endswith((".xz", ".txz")):
        return "w:xz"
    return "w"


class _HashingReader(io.RawIOBase):
    """Hashes what tarfile reads from a member, to check it did not change meanwhile."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - memoryview
        data = self.handle.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def write_archive(target: Path, manifest: Manifest, sources: dict[str, Path]) -> None:
    """Write the archive to a temporary name beside `target`, then rename it (a reader
    never sees half an archive under the final name)."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    now = time.time()
    try:
        with tarfile.open(partial, write_mode(target), format=tarfile.PAX_FORMAT) as tar:
            raw = manifest.to_json()
            _add_bytes(tar, MANIFEST_NAME, raw, now)
            for member in manifest.members:
                info = tarfile.TarInfo(member.name)
                info.size, info.mtime, info.mode = member.size, now, 0o600
                with sources[member.name].open("rb") as handle:
                    reader = _HashingReader(handle)
                    tar.addfile(info, io.BufferedReader(reader, CHUNK))
                if reader.digest.hexdigest() != member.sha256:
                    raise BackupError(f"{member.name} a changé pendant la sauvegarde ; relancez-la")
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _add_bytes(tar: tarfile.TarFile, name: str, raw: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(raw), mtime, 0o600
    tar.addfile(info, io.BytesIO(raw))


def read_manifest(archive: Path) -> Manifest:
    """Only the manifest (first member), for `niaouli restore --check`-like listings."""
    try:
        with tarfile.open(archive, "r|*") as tar:
            first = tar.next()
            return _manifest(tar, first)
    except BackupError:
        raise
    except _BROKEN as exc:
        raise _broken(exc) from None


def stage_archive(archive: Path, staging: Path) -> Manifest:
    """Check the whole archive and write its members under `staging` (which must exist
    and be empty). Raises `BackupError` at the first problem; the caller removes
    `staging` then."""
    if not archive.is_file():
        raise BackupError(f"archive introuvable : {archive}")
    root = staging.resolve()
    try:
        with tarfile.open(archive, "r|*") as tar:
            manifest = _manifest(tar, tar.next())
            expected = {m.name: m for m in manifest.members}
            seen: set[str] = set()
            for info in _members(tar):
                member = expected.get(info.name)
                if member is None:
                    raise BackupError(f"fichier inattendu dans l'archive : {info.name[:200]!r}")
                if info.name in seen:
                    raise BackupError(f"fichier en double dans l'archive : {info.name!r}")
                if not info.isreg():
                    raise BackupError(
                        f"{info.name!r} n'est pas un fichier ordinaire (lien, dossier...) : refusé"
                    )
                if info.size != member.size:
                    raise BackupError(f"taille de {info.name!r} différente de celle du manifeste")
                _extract(tar, info, member, root)
                seen.add(info.name)
    except BackupError:
        raise
    except _BROKEN as exc:
        raise _broken(exc) from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            f"archive incomplète ou tronquée : {len(missing)} fichier(s) du manifeste manquent "
            f"(dont {missing[0]!r})"
        )
    return manifest


def _members(tar: tarfile.TarFile) -> Iterable[tarfile.TarInfo]:
    while (info := tar.next()) is not None:
        yield info


def _manifest(tar: tarfile.TarFile, first: tarfile.TarInfo | None) -> Manifest:
    if first is None or first.name != MANIFEST_NAME or not first.isreg():
        raise BackupError("ce fichier n'est pas une sauvegarde Niaouli (pas de manifeste en tête)")
    if first.size > MAX_MANIFEST_BYTES:
        raise BackupError("manifeste trop grand")
    handle = tar.extractfile(first)
    assert handle is not None  # a regular file
    raw = handle.read(first.size + 1)
    if len(raw) != first.size:
        raise BackupError("manifeste tronqué")
    return Manifest.from_json(raw)


def _extract(tar: tarfile.TarFile, info: tarfile.TarInfo, member: Member, root: Path) -> None:
    target = (root / member.name).resolve()
    if root not in target.parents:  # names are checked by the manifest already
        raise BackupError(f"chemin hors du dossier de restauration : {member.name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(info)
    assert source is not None
    digest = hashlib.sha256()
    size = 0
    with open(target, "xb") as out:  # noqa: PTH123 - exclusive creation
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > member.size:
                raise BackupError(f"{member.name!r} dépasse la taille annoncée")
            digest.update(chunk)
            out.write(chunk)
    if size != member.size:
        raise BackupError(f"{member.name!r} est tronqué dans l'archive")
    if digest.hexdigest() != member.sha256:
        raise BackupError(
            f"empreinte SHA-256 de {member.name!r} différente du manifeste : archive altérée"
        )


def _broken(exc: BaseException) -> BackupError:
    return BackupError(f"archive tronquée ou corrompue ({type(exc).__name__}: {exc})")


__all__ = ["hash_file", "read_manifest", "stage_archive", "write_archive"]
