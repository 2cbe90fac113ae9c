"""The large-tile cache of the OGC API Tiles (services/ogc/tilecache.py) and the gate of
heavy tiles (services/ogc/tilegate.py), in isolation."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time

import pytest

from niaouli.services.ogc.tilecache import TileCache
from niaouli.services.ogc.tilegate import TileBusyError, TileGate, gate_from_environment

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


# --- the heavy-tile gate (services/ogc/tilegate.py) ------------------------------------


def test_heavy_tiles_beyond_the_slots_are_refused_once_the_wait_is_over():
    async def scenario() -> list[str]:
        gate = TileGate(slots=1, wait_seconds=0)
        seen: list[str] = []
        async with gate.slot():
            seen.append("first in")
            with pytest.raises(TileBusyError):  # taken, no wait: refused at once
                async with gate.slot():
                    seen.append("never")
        async with gate.slot():  # free again
            seen.append("second in")
        return seen

    assert asyncio.run(scenario()) == ["first in", "second in"]


def test_a_heavy_tile_waits_for_a_slot_to_free_up():
    async def scenario() -> list[str]:
        gate = TileGate(slots=1, wait_seconds=30)
        seen: list[str] = []
        inside = asyncio.Event()
        leave = asyncio.Event()

        async def first() -> None:
            async with gate.slot():
                seen.append("first in")
                inside.set()
                await leave.wait()
                seen.append("first out")

        async def second() -> None:
            await inside.wait()
            async with gate.slot():
                seen.append("second in")

        async def release_later() -> None:
            await inside.wait()
            await asyncio.sleep(0)  # the second one is waiting by now
            seen.append("release")
            leave.set()

        await asyncio.gather(first(), second(), release_later())
        return seen

    assert asyncio.run(scenario()) == ["first in", "release", "first out", "second in"]


def test_a_wait_that_runs_out_is_a_busy_answer():
    async def scenario() -> None:
        gate = TileGate(slots=2, wait_seconds=0.05)
        async with gate.slot(), gate.slot():
            with pytest.raises(TileBusyError):
                async with gate.slot():
                    pass
        async with gate.slot(), gate.slot():  # both given back, even after a refusal
            pass

    asyncio.run(scenario())


def test_no_slot_refuses_every_heavy_tile(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIAOULI_TILE_HEAVY_SLOTS", "0")
    monkeypatch.setenv("NIAOULI_TILE_HEAVY_WAIT", "3")
    gate = gate_from_environment()
    assert (gate.slots, gate.wait_seconds) == (0, 3.0)

    async def scenario() -> None:
        with pytest.raises(TileBusyError):
            async with gate.slot():
                pass

    asyncio.run(scenario())
