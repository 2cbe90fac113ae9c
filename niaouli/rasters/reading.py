"""Opening a stored COG with rasterio, from the local folder or from object storage.

Locally the COG is a file: GDAL opens its path. On S3 it is read by byte ranges through
the storage backend (`niaouli.storage`, obstore), plugged into GDAL with rasterio's
`opener=`: GDAL's own network clients (/vsis3/, /vsicurl/) stay closed by
`niaouli.gdalguard`, the credentials stay in one place, and a window of a large COG costs
a few range requests, never the whole file. Reads are aligned on `BLOCK`-sized blocks
kept in a small per-handle cache, so that GDAL's many small header reads make few
requests.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import rasterio
from rasterio.abc import MultiByteRangeResourceContainer

from niaouli import gdalguard
from niaouli.catalogue.models import RasterLayer
from niaouli.settings import Settings
from niaouli.storage import FILES, area, object_name
from niaouli.storage.backend import Backend
from niaouli.storage.local import LocalBackend

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

BLOCK = 64 << 10  # bytes fetched at least per request
CACHED_BLOCKS = 128  # per open handle: 8 MiB


class StoredObject:
    """A read-only, seekable file over one stored object, read by ranges."""

    def __init__(self, backend: Backend, name: str, size: int) -> None:
        self.backend, self.name, self.size = backend, name, size
        self.position = 0
        self.blocks: OrderedDict[int, bytes] = OrderedDict()
        self.requests = 0  # how many range reads reached the storage (tests, bench)

    # -- file protocol GDAL's plugin uses ---------------------------------------------
    def __enter__(self) -> StoredObject:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.blocks.clear()

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        data = self._range(self.position, end)
        self.position += len(data)
        return data

    def get_byte_ranges(self, offsets: list[int], sizes: list[int]) -> list[bytes]:
        return [self._range(o, min(self.size, o + s)) for o, s in zip(offsets, sizes, strict=True)]

    # -- ranges through the block cache ---------------------------------------------------
    def _range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        first, last = start // BLOCK, (end - 1) // BLOCK
        if last - first >= CACHED_BLOCKS // 2:  # a big read: straight through
            return self._fetch(start, end)
        missing = [b for b in range(first, last + 1) if b not in self.blocks]
        if missing:
            lo, hi = missing[0], missing[-1]
            data = self._fetch(lo * BLOCK, min(self.size, (hi + 1) * BLOCK))
            for block in range(lo, hi + 1):
                offset = (block - lo) * BLOCK
                self._keep(block, data[offset : offset + BLOCK])
        joined = b"".join(self.blocks[b] for b in range(first, last + 1))
        for block in range(first, last + 1):
            self.blocks.move_to_end(block)
        skip = start - first * BLOCK
        return joined[skip : skip + end - start]

    def _keep(self, block: int, data: bytes) -> None:
        self.blocks[block] = data
        self.blocks.move_to_end(block)
        while len(self.blocks) > CACHED_BLOCKS:
            self.blocks.popitem(last=False)

    def _fetch(self, start: int, end: int) -> bytes:
        self.requests += 1
        return b"".join(self.backend.read(self.name, start, end))


class StorageOpener(MultiByteRangeResourceContainer):
    """rasterio's opener for one stored object: `open` gives a `StoredObject`."""

    def __init__(self, backend: Backend, name: str, size: int) -> None:
        self.backend, self.name, self._size = backend, name, size
        self.opened: list[StoredObject] = []

    def _ours(self, path: str) -> bool:
        return path.rstrip("/").endswith(self.name)

    def open(self, path: str, mode: str = "rb", **_kwds: Any) -> StoredObject:
        if not self._ours(path) or "w" in mode or "a" in mode:
            raise FileNotFoundError(path)  # side-car files (.aux.xml, .ovr): none stored
        handle = StoredObject(self.backend, self.name, self._size)
        self.opened.append(handle)
        return handle

    def isfile(self, path: str) -> bool:
        return self._ours(path)

    def isdir(self, path: str) -> bool:
        return False

    def ls(self, path: str) -> list[str]:
        return []

    def mtime(self, path: str) -> int:
        return 0

    def rm(self, path: str) -> None:
        raise PermissionError(path)

    def size(self, path: str) -> int:
        if not self._ours(path):
            raise FileNotFoundError(path)
        return self._size


@contextmanager
def open_stored(settings: Settings, key: str, filename: str) -> Iterator[DatasetReader]:
    """A rasterio dataset of the stored file `<key>/<filename>`; FileNotFoundError if gone."""
    gdalguard.install()
    name = object_name(key, filename)
    backend = area(settings, FILES)
    if isinstance(backend, LocalBackend):
        path = backend.path(name)
        if not path.is_file():
            raise FileNotFoundError(name)
        # No directory listing for side-car files (.aux.xml, .ovr): none is stored. The
        # setting holds for the opening only (the dataset may be used from other threads).
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            dataset = rasterio.open(path)
        try:
            yield dataset
        finally:
            dataset.close()
        return
    info = backend.stat(name)
    if info is None:
        raise FileNotFoundError(name)
    opener = StorageOpener(backend, name, info.size)
    with rasterio.open(name, opener=opener) as dataset:
        yield dataset


def is_local(settings: Settings) -> bool:
    """Whether the file storage is a local folder (its COGs are opened by path)."""
    return isinstance(area(settings, FILES), LocalBackend)


def open_raster(settings: Settings, layer: RasterLayer) -> Any:
    """`with open_raster(settings, layer) as dataset:` — the layer's COG, opened with
    rasterio wherever the storage keeps it (no network client of GDAL involved)."""
    return open_stored(settings, layer.cog_key, layer.cog_filename)
