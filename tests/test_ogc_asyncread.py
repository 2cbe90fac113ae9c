"""The OGC API's async reads on PostGIS (`services/ogc/asyncread.py`): bounded, never
waiting for a connection, giving up on errors so the thread path answers instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from niaouli.services.ogc import asyncread


@pytest.fixture
def engine(postgis_url: str) -> Iterator[Engine]:
    made = create_engine(postgis_url)
    yield made
    made.dispose()


def test_reads_rows_like_the_engine(engine: Engine) -> None:
    async def run() -> list[tuple]:
        reader = asyncread.reader_for(engine, replica=False)
        assert reader is asyncread.reader_for(engine, replica=False)  # one per loop
        rows = await reader.fetch("SELECT %(n)s::int + 1, 'é'::text", {"n": 41})
        assert rows is not None
        return rows

    assert asyncio.run(run()) == [(42, "é")]


def test_no_free_connection_means_none_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_CONNECTIONS busy connections a read does not queue: None, the caller's
    thread path answers."""
    monkeypatch.setattr(asyncread, "MAX_CONNECTIONS", 1)

    async def run() -> tuple[list | None, list | None, list | None]:
        reader = asyncread.AsyncReader(engine, replica=False)
        slow = asyncio.create_task(reader.fetch("SELECT 1 FROM pg_sleep(0.3)", {}))
        await asyncio.sleep(0.1)  # the slow one holds the only connection
        started = asyncio.get_running_loop().time()
        refused = await reader.fetch("SELECT 2", {})
        assert asyncio.get_running_loop().time() - started < 0.1
        return refused, await slow, await reader.fetch("SELECT 3", {})

    refused, slow, after = asyncio.run(run())
    assert refused is None
    assert slow == [(1,)]
    assert after == [(3,)]  # the connection went back to the idle list


def test_a_database_error_gives_none_and_drops_the_connection(engine: Engine) -> None:
    async def run() -> tuple[list | None, list | None, int]:
        reader = asyncread.AsyncReader(engine, replica=False)
        failed = await reader.fetch("SELECT 1/0", {})
        after = await reader.fetch("SELECT 7", {})
        return failed, after, reader._open  # noqa: SLF001

    failed, after, still_open = asyncio.run(run())
    assert failed is None
    assert after == [(7,)]
    assert still_open == 1  # the failed one closed, one new


def test_a_connection_the_server_dropped_gives_none_then_a_new_one(engine: Engine) -> None:
    async def run() -> tuple[list | None, list | None, list | None]:
        reader = asyncread.AsyncReader(engine, replica=False)
        rows = await reader.fetch("SELECT pg_backend_pid()", {})
        assert rows is not None
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({rows[0][0]})")
        return rows, await reader.fetch("SELECT 8", {}), await reader.fetch("SELECT 9", {})

    _pid, dropped, after = asyncio.run(run())
    assert dropped is None
    assert after == [(9,)]


def test_the_connections_of_a_closed_loop_are_closed_by_the_next_loop(
    engine: Engine,
) -> None:
    """A test client may run an event loop per request: their connections must not pile
    up until the garbage collector finds the loops (PostgreSQL counts connections)."""

    async def backend_pid() -> int:
        reader = asyncread.reader_for(engine, replica=False)
        rows = await reader.fetch("SELECT pg_backend_pid()", {})
        assert rows is not None
        return rows[0][0]

    def alive(pid: int) -> bool:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")
            return bool(found.scalar_one())

    finished = asyncio.new_event_loop()  # closed, but still referenced (not collected)
    first = finished.run_until_complete(backend_pid())
    finished.close()
    assert alive(first)  # its loop is closed, the connection still open...
    second = asyncio.run(backend_pid())  # ...until another loop asks for a reader
    assert second != first
    for _ in range(50):
        if not alive(first):
            break
        time.sleep(0.05)
    assert not alive(first)


def test_not_on_the_embedded_database(tmp_path) -> None:  # noqa: ANN001
    sqlite = create_engine(f"sqlite:///{tmp_path / 'x.db'}")

    async def run() -> object:
        return asyncread.reader_for(sqlite, replica=False)

    assert asyncio.run(run()) is None
