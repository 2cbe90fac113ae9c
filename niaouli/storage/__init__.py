"""Stored files behind one interface: a local folder by default, an S3-compatible bucket
in production (`NIAOULI_STORAGE=s3`); see docs/storage.md.

Two areas share the backend: resource files (uploads, ingested originals) under
server-generated keys, `files/<key>/<clean filename>`, and the layer export cache,
`exports/<table>/export.<format>`. Locally they stay where they always were
(`$NIAOULI_DATA_DIR/files/…`, `$NIAOULI_DATA_DIR/exports/…`). The key is random and
every name is checked (`backend.check_name`), so a crafted name or id can never reach
another file (SECURITY-CASES S16).

Callers never build paths: they store a file, read a byte range, delete a key, or get a
local copy for GDAL with `local_copy` (a download to a temporary file on S3).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from slugify import slugify

from niaouli.settings import Settings, get_settings
from niaouli.storage.backend import Backend, ObjectInfo, StorageError, check_name, check_segment

__all__ = [
    "Backend",
    "ObjectInfo",
    "StorageError",
    "StoredFile",
    "adopt_file",
    "area",
    "clean_filename",
    "local_copy",
    "max_upload_bytes",
    "object_name",
    "orphan_keys",
    "read",
    "remove_key",
    "stat",
    "storage_reachable",
    "store_file",
]

FILES = "files"
EXPORTS = "exports"


@dataclass(frozen=True)
class StoredFile:
    key: str
    filename: str
    size: int
    checksum: str  # "sha256:<hex>"

    @property
    def name(self) -> str:
        return f"{self.key}/{self.filename}"


def clean_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = slugify(stem, max_length=80, separator="_", lowercase=False) or "fichier"
    suffix = slugify(suffix, max_length=10, lowercase=True)
    return f"{stem}.{suffix}" if suffix else stem


def object_name(key: str, filename: str) -> str:
    """`<key>/<filename>` of a stored file; ValueError if either part is unsafe."""
    return check_name(f"{check_segment(key)}/{check_segment(filename)}")


# --- the backend ----------------------------------------------------------------------

_s3_stores: dict[tuple[str, ...], object] = {}
_lock = threading.Lock()


def area(settings: Settings, which: str = FILES) -> Backend:
    """The backend holding one area (`files` or `exports`) under these settings."""
    if which not in (FILES, EXPORTS):
        raise ValueError(f"unknown storage area {which!r}")
    if settings.storage == "local":
        from niaouli.storage.local import LocalBackend

        return LocalBackend(settings.files_dir if which == FILES else settings.data_dir / which)
    from niaouli.storage import s3

    prefix = "/".join(p for p in (settings.s3_prefix.strip("/"), which) if p)
    secret = settings.s3_secret_access_key.get_secret_value()
    config = (
        settings.s3_bucket,
        prefix,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        secret,
    )
    with _lock:
        store = _s3_stores.get(config)
        if store is None:
            store = _s3_stores[config] = s3.make_store(
                settings.s3_bucket,
                prefix,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret,
            )
    where = f"s3://{settings.s3_bucket}/{prefix}"
    if settings.s3_endpoint_url:
        where += f" at {settings.s3_endpoint_url}"
    return s3.S3Backend(store, where)  # type: ignore[arg-type]


def storage_reachable(settings: Settings) -> str | None:
    """For readiness checks: None when files can be stored, else a short reason."""
    try:
        return area(settings).reachable()
    except Exception as exc:  # noqa: BLE001 - a bad configuration is a reason too
        return f"storage misconfigured ({type(exc).__name__})"


# --- resource files ---------------------------------------------------------------------


def _new(original_name: str) -> tuple[str, str]:
    return secrets.token_hex(16), clean_filename(original_name)


def store_file(source: Path, settings: Settings, original_name: str) -> StoredFile:
    """A copy of `source` under a new key (the source stays)."""
    key, filename = _new(original_name)
    size, checksum = area(settings).put(object_name(key, filename), source)
    return StoredFile(key, filename, size, checksum)


def adopt_file(
    source: Path, settings: Settings, original_name: str, size: int, checksum: str
) -> StoredFile:
    """Take an already received and hashed file under a new key (moved, not copied, when
    the files are on the same disk)."""
    key, filename = _new(original_name)
    area(settings).put(object_name(key, filename), source, move=True, known=(size, checksum))
    return StoredFile(key, filename, size, checksum)


def stat(settings: Settings, key: str, filename: str) -> ObjectInfo | None:
    return area(settings).stat(object_name(key, filename))


def read(
    settings: Settings, key: str, filename: str, start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """Bytes [start, end) of a stored file; FileNotFoundError if it is gone."""
    return area(settings).read(object_name(key, filename), start, end)


def local_copy(settings: Settings, key: str, filename: str) -> AbstractContextManager[Path]:
    """A local path to the stored file while the context lasts (for GDAL)."""
    return area(settings).local_path(object_name(key, filename))


def remove_key(settings: Settings, key: str) -> None:
    """Delete a stored file by its key; an invalid key deletes nothing."""
    try:
        check_segment(key)
    except ValueError:
        return
    area(settings).delete_group(key)


def orphan_keys(settings: Settings, referenced: set[str], min_age_seconds: float) -> list[str]:
    """Stored keys no catalogue row points to, older than `min_age_seconds`."""
    now = time.time()
    return sorted(
        key
        for key, changed in area(settings).groups().items()
        if key not in referenced and now - changed >= min_age_seconds
    )


def max_upload_bytes() -> int:
    """`NIAOULI_MAX_UPLOAD_BYTES` (default 512 MiB): bigger uploads get a 413 (the API and
    the portal's upload page)."""
    return get_settings().max_upload_bytes
