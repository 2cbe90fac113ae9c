"""The one entrypoint of the container and of bare metal, run here (issue 17 §2).

`scripts/entrypoint` is what docker/Dockerfile starts: wait for the database, `niaouli
db upgrade`, then `exec niaouli serve` (or `worker`). It runs here against the local
PostGIS, on a database created empty for the test: the schema must end at Alembic's
head and the server answer on a free loopback port, as the very process the entrypoint
started (exec'd, so that `docker stop`'s SIGTERM reaches it). An unreachable database
must end in a clear French error and a non-zero exit once NIAOULI_DB_WAIT_TIMEOUT has
passed, not a traceback nor a wait for ever.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from niaouli.db.schema import MIGRATIONS_DIR
from tests.conftest import _pg_url
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "scripts" / "entrypoint"
VENV_BIN = ROOT / ".venv" / "bin"


def _admin_url() -> str:
    return make_url(_pg_url()).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A PostGIS database created empty for this test (no extension, no table)."""
    url = make_url(_pg_url())
    url = url.set(database=f"{url.database}_entrypoint")
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("NIAOULI_REQUIRE_POSTGIS") == "1":
            pytest.fail(f"PostGIS required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NIAOULI_DATABASE_URL"] = database_url
    env["NIAOULI_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _revision(database_url: str) -> str | None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _head() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_entrypoint_upgrades_an_empty_database_then_serves(tmp_path, empty_database):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "entrypoint.log"
    env = _env(tmp_path, empty_database, NIAOULI_PUBLIC_URL=base)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(ENTRYPOINT), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180  # a start-up deadline, not a speed check
        answer = None
        while answer is None:
            assert process.poll() is None, f"entrypoint exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer:\n{log.read_text()}"
            try:
                answer = httpx.get(base + "/", timeout=10)
            except httpx.HTTPError:
                time.sleep(0.5)
        assert answer.status_code == 200, answer.text[:500]
        assert "Niaouli" in answer.text
        collections = httpx.get(base + "/ogc/collections", params={"f": "json"}, timeout=30)
        assert collections.status_code == 200
        # The schema went from nothing to Alembic's head on the way.
        assert _revision(empty_database) == _head()
        output = log.read_text()
        assert "base de données joignable" in output
        assert f"schéma à jour (révision {_head()})" in output
        # exec: the process the entrypoint started *is* the server (it gets SIGTERM).
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert any(part.endswith(b"niaouli") for part in cmdline), cmdline
        assert b"serve" in cmdline and not any(b"entrypoint" in p for p in cmdline), cmdline
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode is not None


def test_unreachable_database_is_a_clear_error_after_the_timeout(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql://niaouli:not-the-password@127.0.0.1:{port}/niaouli"
    env = _env(tmp_path, url, NIAOULI_DB_WAIT_TIMEOUT="3")
    started = time.monotonic()
    done = subprocess.run(
        [str(ENTRYPOINT), "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    waited = time.monotonic() - started
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr  # which database
    assert "n'a pas répondu en 3 s" in done.stderr  # after how long
    assert "dernière erreur" in done.stderr  # and why
    assert "not-the-password" not in done.stderr + done.stdout  # the URL shown masked
    assert "en attente de la base de données" in done.stderr  # it did retry
    assert waited >= 3  # it waited for the deadline (a lower bound: always true if so)
    assert "schéma à jour" not in done.stdout  # nothing ran after the failed wait


def test_two_upgrades_at_once_on_an_empty_database(tmp_path, empty_database):
    """The app and the worker containers start together, each upgrading the schema."""
    env = _env(tmp_path, empty_database)
    processes = [
        subprocess.Popen(
            [str(VENV_BIN / "niaouli"), "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p, *p.communicate(timeout=300)) for p in processes]
    for process, out, err in results:
        assert process.returncode == 0, f"{out}\n{err[-3000:]}"
    assert _revision(empty_database) == _head()


def test_other_commands_run_as_given(tmp_path):
    """Anything but serve/worker is run as is, without waiting for a database."""
    env = _env(tmp_path, "postgresql://nobody@127.0.0.1:1/none")
    done = subprocess.run(
        [str(ENTRYPOINT), "niaouli", "settings"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "NIAOULI_DATABASE_URL=postgresql+psycopg://nobody@127.0.0.1:1/none" in done.stdout


def test_db_wait_on_the_embedded_database(tmp_path):
    env = _env(tmp_path, "")
    del env["NIAOULI_DATABASE_URL"]
    done = subprocess.run(
        [str(VENV_BIN / "niaouli"), "db", "wait"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "base de données joignable" in done.stdout
