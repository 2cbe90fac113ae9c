"""Test harness: every test that takes `backend` runs on SQLite/SpatiaLite and on PostGIS.

PostGIS comes from `NIAOULI_TEST_DATABASE_URL` (default: a `niaouli_test` database on
127.0.0.1:5432, recreated for each run). When `NIAOULI_REQUIRE_POSTGIS=1` (set by
`scripts/test`, so in CI) an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from niaouli import gdalguard, startup
from niaouli.catalogue import service
from niaouli.db import schema
from niaouli.db.engine import STRICT_ENV, make_engine, release_engine
from niaouli.settings import TEST_PASSWORD_HASHING, Settings, normalise_database_url

# SQLite: in the application's engines (`get_engine`: apps built in-process, the servers
# and commands tests start), a unit of work that reads then writes without
# `niaouli.db.engine.writing` fails at once in every test that runs it.
os.environ.setdefault(STRICT_ENV, "1")
# Exports are prepared as jobs right after each publication in production; here only the
# tests of that (tests/test_export_jobs.py) turn it on, so other tests start no threads.
os.environ.setdefault("NIAOULI_EXPORTS_PREBUILD", "0")
# Argon2id at its smallest cost for the accounts the tests make and sign in (hundreds,
# half a second each at the real cost on a loaded CI machine); subprocesses inherit it.
# tests/test_accounts_core.py checks the real cost is the default.
os.environ.setdefault("NIAOULI_TEST_PASSWORD_HASHING", TEST_PASSWORD_HASHING)
# What `niaouli serve` and every `niaouli` command install at start-up (the composition
# root): tests write the catalogue in-process, with the same change hooks.
startup.install()

REPO = Path(__file__).resolve().parents[1]
GEODATA = REPO / "geodata"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/niaouli_test"
CATALOGUE_TABLES = (
    "reuse_datasets, event_datasets, code_project_datasets, resources, layers, raster_layers, "
    "reuses, "
    "events, code_projects, datasets, organisations, csw_records, "
    "users, memberships, api_tokens, user_sessions, password_resets, login_failures, "
    "audit_events, job_records, "
    "harvested_records, harvest_job_items, harvest_jobs, harvest_sources, "
    "search_documents, usage_daily"
)
# PostgreSQL only: the job queue (niaouli/jobs/queue.py), emptied between tests too.
QUEUE_TABLES = (
    "procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, procrastinate_workers"
)


@dataclass
class Backend:
    name: str
    settings: Settings
    engine: Engine

    def env(self) -> dict[str, str]:
        """Environment for a `niaouli` subprocess on this backend."""
        env = dict(os.environ)
        env["NIAOULI_DATA_DIR"] = str(self.settings.data_dir)
        env["NIAOULI_DATABASE_URL"] = self.settings.database_url
        return env

    def session(self) -> Session:
        return Session(self.engine)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(NIAOULI) if NIAOULI.exists() else "niaouli", *args]
        result = subprocess.run(
            command, env=self.env(), capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result


def _pg_url() -> str:
    """The PostGIS test database; one per pytest-xdist worker (`<name>_gw0`, ...)."""
    url = normalise_database_url(os.environ.get("NIAOULI_TEST_DATABASE_URL") or DEFAULT_PG)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_{worker}").render_as_string(
            hide_password=False
        )
    return url


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    url = make_url(_pg_url())
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("NIAOULI_REQUIRE_POSTGIS") == "1":
            pytest.fail(f"PostGIS required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    finally:
        admin.dispose()
    rendered = url.render_as_string(hide_password=False)
    settings = Settings(
        data_dir=Path("/nonexistent"), database_url=rendered, spatialite_library="mod_spatialite"
    )
    engine = make_engine(settings)
    schema.upgrade(engine)
    engine.dispose()
    yield rendered


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (InitSpatialMetaData is slow)."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "niaouli.sqlite"
    settings = Settings(
        data_dir=folder, database_url=f"sqlite:///{path}", spatialite_library="mod_spatialite"
    )
    engine = make_engine(settings)
    schema.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _reset_postgis(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema.LAYER_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema.LAYER_SCHEMA}"))
        conn.execute(text(f"TRUNCATE {CATALOGUE_TABLES} RESTART IDENTITY CASCADE"))
        conn.execute(text(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY CASCADE"))


@contextmanager
def fresh_backend(
    request: pytest.FixtureRequest,
    name: str,
    folder: Path,
    factory: Callable[[str, Settings, Engine], Backend] = Backend,
) -> Iterator[Backend]:
    """An empty, migrated catalogue on backend `name` with its data directory in `folder`.

    SQLite starts from a copy of the migrated template, PostGIS from the session's database
    emptied; module-scoped live servers and the per-test `backend` fixture share this.
    """
    data_dir = folder / "data"
    data_dir.mkdir()
    if name == "sqlite":
        db_path = data_dir / "niaouli.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), db_path)
        url = f"sqlite:///{db_path}"
    else:
        url = request.getfixturevalue("postgis_url")
    settings = Settings(data_dir=data_dir, database_url=url, spatialite_library="mod_spatialite")
    engine = make_engine(settings)
    if name == "postgis":
        _reset_postgis(engine)
    try:
        yield factory(name, settings, engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with fresh_backend(request, request.param, tmp_path) as made:
        yield made
    release_engine(made.settings)  # the engine the app under test made for these settings


@pytest.fixture
def gdal_client() -> Iterator[None]:
    """The test reads the platform with GDAL as a client (`OAPIF:` URLs) in this process:
    GDAL's HTTP client, which `niaouli.gdalguard` replaces wherever files are ingested, is
    back for the test's duration."""
    with gdalguard.suspended():
        yield


@pytest.fixture
def org(backend: Backend) -> str:
    """A registered organisation (its slug)."""
    with backend.session() as session, session.begin():
        service.create_organisation(
            session, "gouvernement-nc", "Gouvernement de la Nouvelle-Calédonie", "government"
        )
    return "gouvernement-nc"


def pytest_report_header() -> list[str]:
    return [f"python {sys.version.split()[0]}; PostGIS test database: {_pg_url()}"]
