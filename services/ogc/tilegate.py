"""How many *heavy* vector tiles a server worker makes at once.

Why: a tile that meets tens of thousands of features (a low zoom over a dense layer)
costs a scan of all of them, hundreds of milliseconds to seconds of database and CPU
work and, on SpatiaLite, tens of megabytes of memory while it is made. Before, six such
requests at once took a worker from 313 MB to 1.5 GB. Thinning bounds each tile
(`niaouli.db.tiles`); this bounds how many are made together: `slots` at a time per
worker, the others wait their turn up to `wait_seconds` — in the event loop, holding
no thread and no database connection — and are then answered `503` with `Retry-After`
(`services/ogc/tile_routes.py`). Cheap tiles never pass through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from niaouli.settings import get_settings

DEFAULT_SLOTS = 2
DEFAULT_WAIT_SECONDS = 10.0


class TileBusyError(Exception):
    """Every heavy-tile slot stayed taken for the whole wait."""


class TileGate:
    """At most `slots` heavy tiles at a time (0: heavy tiles are always refused)."""

    def __init__(self, slots: int = DEFAULT_SLOTS, wait_seconds: float = DEFAULT_WAIT_SECONDS):
        self.slots = max(0, slots)
        self.wait_seconds = max(0.0, wait_seconds)
        self._semaphore: asyncio.Semaphore | None = None  # made in the server's loop

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; `TileBusyError` if none frees up in time."""
        if self.slots == 0:
            raise TileBusyError
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        if self._semaphore.locked():  # else acquire() returns at once (one event loop)
            try:
                await asyncio.wait_for(self._semaphore.acquire(), self.wait_seconds)
            except TimeoutError:  # wait_for(..., 0) times out even when free: not here
                raise TileBusyError from None
        else:
            await self._semaphore.acquire()
        try:
            yield
        finally:
            self._semaphore.release()


def gate_from_environment() -> TileGate:
    """`NIAOULI_TILE_HEAVY_SLOTS` (default 2 per worker) and `NIAOULI_TILE_HEAVY_WAIT`
    (seconds a heavy tile may wait for a slot, default 10)."""
    settings = get_settings()
    return TileGate(settings.tile_heavy_slots, settings.tile_heavy_wait)
