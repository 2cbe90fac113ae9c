"""A command that meets passing database trouble ends with one French sentence, not a
traceback, and writes nothing."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from sqlalchemy import text

from tests.conftest import NIAOULI, Backend


def _org_create(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(NIAOULI), "org", "create", "commune-test", "--name", "Test", "--kind"]
    return subprocess.run(
        [*command, "commune"], env=env, capture_output=True, text=True, timeout=120
    )


def test_sqlite_busy_past_its_timeout(backend: Backend):
    if backend.name != "sqlite":
        pytest.skip("SQLite's write lock")
    path = backend.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        env = backend.env() | {"NIAOULI_SQLITE_BUSY_TIMEOUT": "0.3"}
        result = _org_create(env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "la base de données est occupée" in result.stderr
    assert "Rien n'a été écrit" in result.stderr
    with backend.engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM organisations WHERE slug = 'commune-test'")
        ).scalar()
    assert count == 0
    assert _org_create(backend.env()).returncode == 0  # the same command, lock released


def test_postgresql_unreachable(backend: Backend):
    if backend.name != "postgis":
        pytest.skip("a PostgreSQL server that does not answer")
    env = backend.env() | {"NIAOULI_DATABASE_URL": "postgresql://postgres@127.0.0.1:9/absent"}
    result = _org_create(env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "la base de données est occupée par un autre processus ou injoignable" in (result.stderr)
