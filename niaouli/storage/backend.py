"""What a storage backend does, and the object names it accepts.

A backend keeps byte objects under *names*: relative POSIX paths made of server-made
segments (`<key>/<filename>`, `<table>/export.gpkg`). `check_name` is the one gate: a
name with an empty, dotted, hidden or over-long segment, a backslash or a control
character is refused before any backend sees it, so no crafted name can escape the root
folder or the bucket prefix (SECURITY-CASES S16). The local backend also asserts the
resolved path lies under its root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20
# One segment: letters, digits, `_`, `-`, `.` (not first), as keys, clean filenames and
# table names are made; 200 characters at most.
SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")
MAX_DEPTH = 4


class StorageError(Exception):
    """The storage failed (unreachable, refused): nothing was stored."""


def check_name(name: str) -> str:
    """`name` if it is a safe object name, else ValueError."""
    parts = name.split("/")
    if not name or len(parts) > MAX_DEPTH or not all(SEGMENT.match(p) for p in parts):
        raise ValueError("invalid storage name")
    if any(p in (".", "..") for p in parts):  # unreachable with SEGMENT; kept explicit
        raise ValueError("invalid storage name")
    return name


def check_segment(segment: str) -> str:
    """A single name segment (a key, a table folder), else ValueError."""
    if "/" in segment:
        raise ValueError("invalid storage name")
    return check_name(segment)


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: float  # seconds since the epoch


class Backend(Protocol):
    """Byte objects under names; every method validates the names it is given."""

    def put(
        self, name: str, source: Path, *, move: bool = False, known: tuple[int, str] | None = None
    ) -> tuple[int, str]:
        """Store the file at `source` under `name` (replacing it), atomically: readers
        see the old object or the whole new one. `move` lets the backend take `source`
        away (a rename on the same disk); `known` is its (size, checksum) when the caller
        already hashed it. Returns (size, "sha256:<hex>")."""
        ...

    def stat(self, name: str) -> ObjectInfo | None: ...

    def read(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of the object, in chunks; FileNotFoundError if absent."""
        ...

    def delete_group(self, group: str) -> None:
        """Remove every object whose name starts with `<group>/` (a key's folder)."""
        ...

    def groups(self) -> dict[str, float]:
        """Top-level folders (keys, tables) with the time of their newest change."""
        ...

    def names(self) -> list[str]:
        """Every object's name (`<group>/<file>`), sorted: what a backup copies."""
        ...

    def local_path(self, name: str) -> AbstractContextManager[Path]:
        """A local file with the object's bytes, for readers that need a path (GDAL);
        named like the object's last segment (GDAL looks at the suffix)."""
        ...

    def scratch_dir(self) -> Path | None:
        """Where to write a file that `put(move=True)` will then rename (same disk);
        None for the system's temporary folder."""
        ...

    def reachable(self) -> str | None:
        """None if the storage answers, else a short reason (no secret in it)."""
        ...

    def describe(self) -> str:
        """Where objects go, for logs and messages (no secret in it)."""
        ...
