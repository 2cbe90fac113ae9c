"""Objects as files under a local folder: `<root>/<name>` (today's layout, unchanged)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from niaouli.storage.backend import CHUNK, ObjectInfo, check_name, check_segment


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        """The file of `name`, asserted to lie under the root (S16)."""
        root = self.root.resolve()
        path = (root / check_name(name)).resolve()
        if root not in path.parents:
            raise ValueError("storage path outside the files directory")
        return path

    def put(
        self, name: str, source: Path, *, move: bool = False, known: tuple[int, str] | None = None
    ) -> tuple[int, str]:
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            try:
                if known is None:
                    digest, size = _hash(source)
                    known = (size, f"sha256:{digest}")
                os.replace(source, target)
                return known
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        # A copy goes to a temporary file beside the target, renamed into place.
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            digest = hashlib.sha256()
            size = 0
            with source.open("rb") as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if move:
            source.unlink(missing_ok=True)
        return size, f"sha256:{digest.hexdigest()}"

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            found = self.path(name).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(found.st_size, found.st_mtime)

    def read(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        handle = self.path(name).open("rb")  # FileNotFoundError before the first chunk
        return _chunks(handle, start, end)

    def delete_group(self, group: str) -> None:
        check_segment(group)
        shutil.rmtree(self.root / group, ignore_errors=True)

    def groups(self) -> dict[str, float]:
        if not self.root.is_dir():
            return {}
        return {
            entry.name: entry.stat().st_mtime
            for entry in self.root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".")
        }

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.is_symlink() and not path.name.startswith(".")
        )

    @contextmanager
    def local_path(self, name: str) -> Iterator[Path]:
        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path

    def scratch_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def reachable(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"files folder {self.root} cannot be created ({exc.strerror})"
        if not os.access(self.root, os.W_OK | os.X_OK):
            return f"files folder {self.root} is not writable"
        return None

    def describe(self) -> str:
        return str(self.root)


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _chunks(handle, start: int, end: int | None) -> Iterator[bytes]:  # noqa: ANN001
    with handle:
        handle.seek(start)
        left = None if end is None else max(end - start, 0)
        while left is None or left > 0:
            chunk = handle.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk
