"""Layer exports as jobs (niaouli/export_jobs.py, docs/jobs.md) and the worker's health.

Through a real `niaouli serve` on loopback, on both backends: an export not prepared yet
answers 202 « en préparation » (a French page for browsers, JSON with `Retry-After` and
the status URL for scripts), is prepared in the background, then the same URL serves
the file (ranges too). On PostGIS, a real `niaouli worker` prepares the exports queued
right after a publication, one job per export however often it is asked; and
`niaouli worker --check` passes for a running worker and fails for a killed one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pyogrio
import pytest
from sqlalchemy import text

from niaouli import export_jobs, exports
from niaouli.catalogue import service
from niaouli.ingest import ingest_file
from niaouli.jobs import heartbeat, inline, queue
from tests.conftest import GEODATA, NIAOULI, Backend, fresh_backend
from tests.jobs_support import Worker, wait_for
from tests.portal_support import LiveServer

ORG = "province-sud"
PAGE = "/jeux-de-donnees/communes"
NAMES: dict[str, str] = {}  # collection id -> layer name (in the export's URL)


def _publish(backend: Backend, prebuild: bool = False) -> exports.LayerInfo:
    settings = backend.settings.model_copy(update={"exports_prebuild": prebuild})
    with backend.session() as session, session.begin():
        try:
            service.get_organisation(session, ORG)
        except service.NotFoundError:
            service.create_organisation(session, ORG, "Province Sud", "province")
    report = ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation=ORG,
        dataset="communes",
        title="Communes",
        access_level="public",
        settings=settings,
        engine=backend.engine,
        progress="none",
    )
    layer = export_jobs.layer_info(backend.engine, report.layers[0].table_name)
    assert layer is not None
    NAMES[layer.collection_id] = report.layers[0].name
    return layer


def _export_url(layer: exports.LayerInfo, key: str) -> str:
    return f"{PAGE}/couches/{NAMES[layer.collection_id]}/{layer.collection_id}.{key}"


@pytest.fixture
def published(backend: Backend) -> exports.LayerInfo:
    return _publish(backend)


def test_an_export_being_prepared_answers_202_then_the_file(
    backend: Backend, published: exports.LayerInfo, tmp_path: Path
) -> None:
    url = _export_url(published, "gpkg")
    env = {"NIAOULI_EXPORT_WAIT": "0"}  # answer at once: the 202 is what is tested
    with (
        LiveServer(backend, extra_env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        page = http.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 202, page.text
        assert page.headers["retry-after"] == "5"
        assert "Votre fichier est en préparation" in page.text
        assert f'href="{PAGE}"' in page.text  # back to the dataset
        assert "/static/js/export.js" in page.text and 'data-status="' in page.text
        assert "text/html" in page.headers["content-type"]

        english = http.get(url, headers={"Accept": "text/html"}, cookies={"niaouli_lang": "en"})
        assert english.status_code in (200, 202)
        if english.status_code == 202:
            assert "Your file is being prepared" in english.text

        asked = http.get(url, headers={"Accept": "application/json"})
        if asked.status_code == 202:  # not ready yet: a script is told where to look
            body = asked.json()
            assert body["state"] in ("queued", "running")
            assert body["status_url"] == f"{url}?etat" and body["url"] == url
            assert asked.headers["retry-after"] == "5" and body["retry_after"] == 5
        status = wait_for(
            lambda: (r := http.get(f"{url}?etat")).json()["state"] == "ready" and r,
            seconds=60,
            what="the export prepared",
        )
        assert status.status_code == 200 and status.json()["dataset_url"] == PAGE

        done = http.get(url, headers={"Accept": "text/html"})
        assert done.status_code == 200
        assert done.headers["content-disposition"].startswith("attachment")
        saved = tmp_path / "communes.gpkg"
        saved.write_bytes(done.content)
        assert pyogrio.read_info(saved)["features"] == 33
        part = http.get(url, headers={"Range": "bytes=0-15"})
        assert part.status_code == 206 and part.content == b"SQLite format 3\x00"
    # Prepared once: the stored export is the one the first request asked for.
    assert exports.cache(backend.settings).stat(
        exports.export_name(published, exports.FORMATS["gpkg"])
    )


def test_inline_builds_of_one_export_never_overlap(published, backend: Backend) -> None:
    if backend.settings.job_queue:
        pytest.skip("the queue's own locks: test_the_worker_prepares_exports_once_each…")
    fmt = exports.FORMATS["shp.zip"]
    before = inline.running()
    for _ in range(5):
        export_jobs.request(backend.engine, backend.settings, published, fmt)
    assert inline.running() - before <= 1
    wait_for(
        lambda: (
            export_jobs.state(backend.engine, backend.settings, published, fmt).state == "ready"
        ),
        what="the shapefile export",
    )


# --- PostGIS: the queue and `niaouli worker` ----------------------------------------------

WORKER_ENV = {"NIAOULI_JOBS_STALLED_AFTER": "6"}


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_backend(request, "postgis", tmp_path) as made:
        yield made
    queue.close_apps()


def _export_jobs(pg: Backend) -> list[tuple[str, str]]:
    with pg.engine.connect() as conn:
        return [
            (str(row[0]), str(row[1]))
            for row in conn.execute(
                text(
                    "SELECT lock, status FROM procrastinate_jobs WHERE task_name = 'export'"
                    " ORDER BY id"
                )
            )
        ]


def _check(pg: Backend) -> subprocess.CompletedProcess[str]:
    env = pg.env() | WORKER_ENV
    return subprocess.run(
        [str(NIAOULI), "worker", "--check"], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_worker_prepares_exports_once_each_and_its_check_follows_it(
    pg: Backend, tmp_path: Path
) -> None:
    layer = _publish(pg)
    gpkg = exports.FORMATS["gpkg"]
    # A worker seen alive (its heartbeat row) but busy: requests queue, never twice.
    with pg.engine.begin() as conn:
        conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
    for _ in range(3):
        export_jobs.request(pg.engine, pg.settings, layer, gpkg)
    name = exports.export_name(layer, gpkg)
    assert _export_jobs(pg) == [(f"export:{name}", "todo")]
    assert export_jobs.state(pg.engine, pg.settings, layer, gpkg).state == "queued"
    settings = pg.settings.model_copy(update={"jobs_stalled_after": 6.0})
    beat = heartbeat.heartbeat_path(settings)
    assert "aucun worker" in (heartbeat.check(pg.engine, settings, beat) or "")

    with Worker(pg, tmp_path / "worker.log", **WORKER_ENV) as worker:
        wait_for(
            lambda: _export_jobs(pg) == [(f"export:{name}", "succeeded")],
            what="the queued export\n" + worker.output(),
        )
        assert export_jobs.state(pg.engine, pg.settings, layer, gpkg).state == "ready"
        # Published again while the worker runs: its four exports are queued at once.
        again = _publish(pg, prebuild=True)
        assert again.table_name != layer.table_name
        wait_for(
            lambda: (
                [s for lock, s in _export_jobs(pg) if again.table_name in lock] == ["succeeded"] * 4
            ),
            what="the exports of the new table\n" + worker.output(),
        )
        # `niaouli worker --check`, the container's health check: alive, then killed.
        wait_for(lambda: heartbeat.check(pg.engine, settings, beat) is None, what="a heartbeat")
        alive = _check(pg)
        assert alive.returncode == 0 and "vivant" in alive.stdout, alive.stderr
        worker.kill()
    dead = _check(pg)
    assert dead.returncode == 1
    assert re.search(r"processus du worker \(\d+\) est arrêté", dead.stderr), dead.stderr
    for fmt in exports.formats_for(again):
        assert exports.cache(pg.settings).stat(exports.export_name(again, fmt)) is not None
