"""Opened COGs kept per process, so that a map tile does not open its COG again.

Opening a COG (GDAL parsing the header and the overviews' directory, rasterio's
environment, on S3 a few range requests) cost about as much as drawing a small tile,
on every tile. `OpenRasters.borrow` lends an opened rasterio dataset of a stored file
and takes it back afterwards; a GDAL dataset is not safe to use from two threads at
once, so each handle is lent to one request at a time (a second concurrent request
opens a second handle). Only COGs of a local file storage are kept: on S3, rasterio's
`opener=` registration belongs to the context that opened the file, so each request
opens its own there (through `niaouli.rasters.reading`, as before). Idle handles are
kept, least recently used first out, up to `max_idle` in all. A replaced raster has
new storage keys: its old handles are never asked for again and leave the pool as
others come in. A handle whose file or storage failed is closed, never lent again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from rasterio.errors import RasterioIOError

from niaouli.rasters.reading import is_local, open_stored
from niaouli.settings import Settings

MAX_IDLE = 32


class OpenRasters:
    """A bounded pool of opened stored COGs, keyed by storage key and file name."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[str, str, int], list[tuple[ExitStack, Any]]] = OrderedDict()
        self._count = 0
        self._pid = os.getpid()
        self.opened = 0  # how many times a COG was really opened (tests, bench)
        self._storage_kinds: dict[int, tuple[Settings, bool]] = {}

    def _take(self, key: tuple[str, str, int]) -> tuple[ExitStack, Any] | None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker: its parent's handles are not its
                self._idle.clear()
                self._count, self._pid = 0, os.getpid()
            handles = self._idle.get(key)
            if not handles:
                return None
            self._count -= 1
            handle = handles.pop()
            if not handles:
                del self._idle[key]
            return handle

    def _give_back(self, key: tuple[str, str, int], handle: tuple[ExitStack, Any]) -> None:
        evicted: list[tuple[ExitStack, Any]] = []
        with self._lock:
            self._idle.setdefault(key, []).append(handle)
            self._idle.move_to_end(key)
            self._count += 1
            while self._count > self.max_idle:
                oldest, handles = next(iter(self._idle.items()))
                evicted.append(handles.pop(0))
                self._count -= 1
                if not handles:
                    del self._idle[oldest]
        for stack, _dataset in evicted:
            stack.close()

    @contextmanager
    def borrow(self, settings: Settings, key: str, filename: str) -> Iterator[Any]:
        """`with pool.borrow(settings, key, filename) as dataset:` — an opened rasterio
        dataset of `<key>/<filename>`, for this thread only until the `with` ends."""
        if not self._local(settings):
            with open_stored(settings, key, filename) as dataset:
                yield dataset
            return
        pool_key = (key, filename, id(settings))
        handle = self._take(pool_key)
        if handle is None:
            stack = ExitStack()
            try:
                dataset = stack.enter_context(open_stored(settings, key, filename))
            except BaseException:
                stack.close()
                raise
            self.opened += 1
            handle = (stack, dataset)
        try:
            yield handle[1]
        except (OSError, RasterioIOError):  # the file or the storage failed: not lent again
            handle[0].close()
            raise
        except BaseException:
            self._give_back(pool_key, handle)
            raise
        self._give_back(pool_key, handle)

    def _local(self, settings: Settings) -> bool:
        known = self._storage_kinds.get(id(settings))
        if known is None or known[0] is not settings:
            known = (settings, is_local(settings))
            self._storage_kinds[id(settings)] = known
        return known[1]

    def clear(self) -> None:
        with self._lock:
            handles = [h for hs in self._idle.values() for h in hs]
            self._idle.clear()
            self._count = 0
        for stack, _dataset in handles:
            stack.close()


OPEN_RASTERS = OpenRasters()
