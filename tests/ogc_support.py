"""A live `niaouli serve` for the OGC API tests, on the test backend, with known data.

The catalogue holds the demo data (communes polygons, a population table without
geometry), the communes shapefile ingested from EPSG:3163, a small point layer with a
date and HTML in its values (for `datetime` and escaping tests), and a draft dataset that
must never appear.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from tests.conftest import FIXTURES, NIAOULI, Backend, fresh_backend
from tests.ports import free_port

ORG = "gouvernement-nc"
XSS = "<script>alert('x')</script>"
POINTS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.45 + i * 0.01, -22.3 + i * 0.005]},
            "properties": {
                "name": f"site {i}" if i != 3 else XSS,
                "visited": f"2024-0{1 + i % 9}-15",
                "score": i * 10,
            },
        }
        for i in range(12)
    ],
}


@dataclass
class OgcServer:
    url: str  # http://127.0.0.1:PORT/ogc
    backend: Backend

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)


def load_test_data(backend: Backend, tmp: Path) -> None:
    load_demo(backend.settings, echo=lambda _m: None)
    ingest_file(
        FIXTURES / "communes_3163_latin1.zip",
        organisation=ORG,
        dataset="communes-lambert",
        title="Communes (Lambert NC, EPSG:3163)",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    points = tmp / "sites.geojson"
    points.write_text(json.dumps(POINTS), encoding="utf-8")
    ingest_file(
        points,
        organisation=ORG,
        dataset="sites-visites",
        title=f"Sites visités {XSS}",
        description=f"Description avec {XSS}",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    ingest_file(
        FIXTURES / "communes.gpkg",
        organisation=ORG,
        dataset="brouillon-prive",
        title="Brouillon privé",
        access_level="draft",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )


def wait_for(condition, seconds: float = 10) -> float:  # noqa: ANN001
    """Poll `condition` until true (AssertionError after `seconds`); the time it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not visible in time"
        time.sleep(0.2)
    return time.monotonic() - started


@contextmanager
def serve(backend: Backend, timeout: float = 30, workers: int = 1) -> Iterator[OgcServer]:
    """`niaouli serve` as a subprocess on a free loopback port, stopped afterwards."""
    port = free_port()
    env = backend.env()
    env.pop("NIAOULI_PUBLIC_URL", None)
    log = backend.settings.data_dir / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(NIAOULI), "serve", "--host", "127.0.0.1", "--port", str(port)]
            + ["--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = OgcServer(f"http://127.0.0.1:{port}/ogc", backend)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def ogc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A live server over the test data, on both backends, shared by a test module.

    Built like conftest's `backend` (same template database, same PostGIS reset) but
    module-scoped: starting a server and loading the data once per module keeps the
    suite fast; tests that add data use their own dataset slugs.
    """
    root = tmp_path_factory.mktemp(f"ogc-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        load_test_data(backend, root)
        with serve(backend) as server:
            yield server
