"""A per-worker memory cache of the *large* vector tiles, computed once at a time.

Why: a dense low-zoom tile (tens of thousands of features, megabytes) costs the database
a few hundred milliseconds, and it is exactly the tile every visitor of the map asks for
first; a small tile costs a few milliseconds, less than managing it in a cache. So only
tiles of at least `min_bytes` are kept (least recently used first out, within
`max_bytes`), and while one is being made, other requests for the same tile wait for it
instead of making it again (a map opening in many browsers at once).

Keys carry the layer table and the catalogue version: a re-ingested layer has a new
table, any catalogue change a new version, and the cache empties itself when the
version moves, so a tile never outlives its data or its publication. Access is checked
before the cache is consulted (`tiles.render`), so a cached tile is only ever given to a
viewer who may see its layer.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

WAIT_SECONDS = 60.0
MAX_SMALL_KEYS = 100_000


@dataclass
class CachedTile:
    body: bytes
    _gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        """The gzip encoding, made once (two threads may both make it: same bytes)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class TileCache:
    def __init__(self, max_bytes: int, min_bytes: int = 32 * 1024) -> None:
        self.max_bytes = max_bytes
        self.min_bytes = min_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._size = 0
        self._version: Hashable = None
        self._making: dict[Hashable, threading.Event] = {}
        self._small: OrderedDict[Hashable, None] = OrderedDict()  # known below min_bytes

    @property
    def size(self) -> int:
        return self._size

    def tile(self, version: Hashable, key: Hashable, make: Callable[[], bytes]) -> CachedTile:
        """The tile `key` of catalogue `version`: cached, awaited, or made by `make()`."""
        if self.max_bytes <= 0:
            return CachedTile(make())
        key = (version, key)
        while True:
            with self._lock:
                if version != self._version:
                    self._clear(version)
                if key in self._small:
                    break  # cheap tile: no waiting, no caching
                found = self._entries.get(key)
                if found is not None:
                    self._entries.move_to_end(key)
                    return found
                waiting = self._making.get(key)
                if waiting is None:
                    self._making[key] = threading.Event()
            if waiting is None:
                return self._make(key, make)  # outside the lock: others wait on the event
            waiting.wait(WAIT_SECONDS)  # then: cached, small, or failed (make it here)
        return CachedTile(make())

    def _make(self, key: Hashable, make: Callable[[], bytes]) -> CachedTile:
        try:
            made = CachedTile(make())
            with self._lock:
                current = key[0] == self._version  # not made for a catalogue since replaced
                if current and self.min_bytes <= len(made.body) <= self.max_bytes // 2:
                    self._store(key, made)
                else:
                    self._small[key] = None
                    while len(self._small) > MAX_SMALL_KEYS:
                        self._small.popitem(last=False)
            return made
        finally:
            with self._lock:
                event = self._making.pop(key, None)
            if event is not None:
                event.set()

    def _store(self, key: Hashable, tile: CachedTile) -> None:
        """Keep `tile` (lock held). Bodies fill at most half of `max_bytes`: their gzip
        copies, made on demand and never larger, fit in the other half."""
        self._entries[key] = tile
        self._size += len(tile.body)
        while self._size > self.max_bytes // 2 and len(self._entries) > 1:
            _key, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.body)

    def _clear(self, version: Hashable) -> None:
        self._entries.clear()
        self._small.clear()
        self._size = 0
        self._version = version
