"""The large-tile cache of the OGC API Tiles (services/ogc/tilecache.py), in isolation."""

from __future__ import annotations

import gzip
import threading
import time

import pytest
from niaouli.services.ogc.tilecache import TileCache

BIG = b"x" * 40_000
SMALL = b"y" * 100


class Maker:
    """Counts how often a tile is made; optionally slow, to overlap requests."""

    def __init__(self, body: bytes, seconds: float = 0.0) -> None:
        self.body, self.seconds, self.calls = body, seconds, 0
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        return self.body


def test_large_tiles_are_kept_small_ones_are_not():
    cache = TileCache(max_bytes=1_000_000)
    big, small = Maker(BIG), Maker(SMALL)
    for _ in range(3):
        assert cache.tile(1, "big", big).body == BIG
        assert cache.tile(1, "small", small).body == SMALL
    assert big.calls == 1
    assert small.calls == 3
    assert cache.size == len(BIG)
    assert gzip.decompress(cache.tile(1, "big", big).gzipped()) == BIG


def test_a_new_catalogue_version_empties_the_cache():
    cache = TileCache(max_bytes=1_000_000)
    big = Maker(BIG)
    cache.tile(1, "big", big)
    cache.tile(2, "big", big)
    assert big.calls == 2
    assert cache.size == len(BIG)


def test_least_recently_used_tiles_go_first_within_the_budget():
    cache = TileCache(max_bytes=200_000)  # bodies may fill half: two 40 kB tiles fit
    makers = {name: Maker(BIG) for name in "abc"}
    cache.tile(1, "a", makers["a"])
    cache.tile(1, "b", makers["b"])
    cache.tile(1, "a", makers["a"])  # a is now the most recent
    cache.tile(1, "c", makers["c"])  # b goes
    assert cache.size <= 100_000
    cache.tile(1, "a", makers["a"])
    cache.tile(1, "b", makers["b"])
    assert (makers["a"].calls, makers["b"].calls, makers["c"].calls) == (1, 2, 1)


def test_concurrent_requests_for_one_tile_make_it_once():
    cache = TileCache(max_bytes=1_000_000)
    slow = Maker(BIG, seconds=0.3)
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.tile(1, "k", slow).body))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [BIG] * 8
    assert slow.calls == 1


def test_a_failure_is_not_cached_and_waiters_retry():
    cache = TileCache(max_bytes=1_000_000)
    calls = []

    def failing() -> bytes:
        calls.append(1)
        raise RuntimeError("database down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.tile(1, "k", failing)
    assert len(calls) == 2
    assert cache.tile(1, "k", Maker(BIG)).body == BIG


def test_size_zero_turns_the_cache_off():
    cache = TileCache(max_bytes=0)
    big = Maker(BIG)
    cache.tile(1, "big", big)
    cache.tile(1, "big", big)
    assert big.calls == 2
