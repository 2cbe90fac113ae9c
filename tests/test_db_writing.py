"""SQLite: a unit of work that reads then writes must wait for a concurrent writer,
not fail with "database is locked" (seen on sign-in while usage counters were flushed)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from niaouli.db.engine import DeferredWriteError, make_engine, writing


def _read_then_write(engine, other_writer_done: threading.Event, started: threading.Event):
    with engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM scratch")).scalar()
        started.set()
        other_writer_done.wait(timeout=0.5)  # the other connection commits meanwhile
        conn.execute(text("INSERT INTO scratch (n) VALUES (1)"))


def _concurrent_write(engine, started: threading.Event, done: threading.Event) -> None:
    started.wait(timeout=5)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO scratch (n) VALUES (2)"))
    done.set()


def _race(unit_engine, other_engine) -> None:
    started, done = threading.Event(), threading.Event()
    writer = threading.Thread(target=_concurrent_write, args=(other_engine, started, done))
    writer.start()
    try:
        _read_then_write(unit_engine, done, started)
    finally:
        writer.join(timeout=10)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_plain_transaction_fails_and_writing_one_waits(backend):
    engine = backend.engine  # not strict: SQLite's own behaviour, not the tests' guard
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (n integer)"))
    # Without the option: the stale snapshot cannot be upgraded — SQLite refuses at once.
    with pytest.raises(OperationalError, match="locked"):
        _race(engine, engine)
    # With it: BEGIN IMMEDIATE — the other writer waits for us, nothing fails.
    _race(writing(engine), engine)
    with engine.connect() as conn:  # both writes of the second race landed
        assert conn.execute(text("SELECT count(*) FROM scratch")).scalar() == 3


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_writing_is_harmless_on_postgis(backend):
    with writing(backend.engine).begin() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_strict_mode_refuses_a_deferred_read_then_write_even_alone(backend):
    """The tests' guard (NIAOULI_SQLITE_STRICT_WRITES, set by conftest): a unit of work
    without `writing()` fails every time, not only when another writer commits."""
    engine = make_engine(backend.settings, strict=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (n integer)"))  # a write first: allowed
        conn.execute(text("SELECT count(*) FROM scratch"))
        conn.execute(text("INSERT INTO scratch (n) VALUES (1)"))
    with pytest.raises(DeferredWriteError, match="writing"), engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM scratch")).scalar()
        conn.execute(text("INSERT INTO scratch (n) VALUES (2)"))
    with writing(engine).begin() as conn:
        conn.execute(text("SELECT count(*) FROM scratch")).scalar()
        conn.execute(text("INSERT INTO scratch (n) VALUES (3)"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM scratch ORDER BY n")).scalars().all() == [1, 3]
    engine.dispose()
