"""Resource files on disk, under server-generated keys (never a user-chosen path).

A stored file lives at `<files_dir>/<key>/<clean filename>`; the key is random, so a
crafted name or id can never reach another file (SECURITY-CASES S16).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from slugify import slugify

from niaouli.settings import get_settings

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    key: str
    filename: str
    path: Path
    size: int
    checksum: str  # "sha256:<hex>"


def clean_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = slugify(stem, max_length=80, separator="_", lowercase=False) or "fichier"
    suffix = slugify(suffix, max_length=10, lowercase=True)
    return f"{stem}.{suffix}" if suffix else stem


def resolve(files_dir: Path, key: str, filename: str) -> Path:
    """The path of a stored file, asserted to lie under `files_dir`."""
    root = files_dir.resolve()
    path = (root / key / filename).resolve()
    if root not in path.parents:
        raise ValueError("storage path outside the files directory")
    return path


def store_file(source: Path, files_dir: Path, original_name: str) -> StoredFile:
    key = secrets.token_hex(16)
    filename = clean_filename(original_name)
    target = resolve(files_dir, key, filename)
    target.parent.mkdir(parents=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return StoredFile(key, filename, target, size, f"sha256:{digest.hexdigest()}")


def adopt_file(
    source: Path, files_dir: Path, original_name: str, size: int, checksum: str
) -> StoredFile:
    """Move an already received and hashed file (same file system) under a new key."""
    key = secrets.token_hex(16)
    filename = clean_filename(original_name)
    target = resolve(files_dir, key, filename)
    target.parent.mkdir(parents=True)
    os.replace(source, target)
    return StoredFile(key, filename, target, size, checksum)


def remove_key(files_dir: Path, key: str) -> None:
    if not key or "/" in key or "\\" in key or key in (".", ".."):
        return
    shutil.rmtree(files_dir / key, ignore_errors=True)


def orphan_keys(files_dir: Path, referenced: set[str], min_age_seconds: float) -> list[str]:
    """Stored keys no catalogue row points to, older than `min_age_seconds`."""
    if not files_dir.is_dir():
        return []
    now = time.time()
    return sorted(
        entry.name
        for entry in files_dir.iterdir()
        if entry.is_dir()
        and entry.name not in referenced
        and now - entry.stat().st_mtime >= min_age_seconds
    )


def max_upload_bytes() -> int:
    """`NIAOULI_MAX_UPLOAD_BYTES` (default 512 MiB): bigger uploads get a 413 (the API and
    the portal's upload page)."""
    return get_settings().max_upload_bytes
