"""Operations: /healthz, /readyz, request ids in JSON logs, /metrics (issue 17 §5).

Against a real `niaouli serve` (uvicorn workers, the pycsw pool) on 127.0.0.1: pycsw
stopped (SIGSTOP on its process group: it accepts connections and never answers) and the
database made unreachable (its connections go through a TCP relay the test closes) must
each turn /readyz into a 503 naming that dependency, while /healthz stays 200.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from niaouli import health, metrics
from niaouli.requestlog import accepted
from tests.conftest import Backend, fresh_backend
from tests.csw_support import PYCSW_PYTHON, CswServer, serve, wait_for

pytestmark = pytest.mark.skipif(
    not PYCSW_PYTHON.exists(), reason="pycsw's environment (.venv-pycsw) is not installed"
)
TOKEN = "a-metrics-token-for-the-tests-0123"


def _json_lines(log: Path) -> list[dict]:
    """The log's JSON lines (pycsw's own lines, in the same file, are plain text)."""
    records = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # every such line must parse
    return records


def _ready(server: CswServer, **headers: str) -> httpx.Response:
    return httpx.get(server.base + "/readyz", headers=headers, timeout=10)


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """The process group of `pid` stopped (SIGSTOP) for the block's duration."""
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """`niaouli serve` with 2 workers, JSON logs and a metrics token, on SQLite."""
    folder = tmp_path_factory.mktemp("ops")
    with fresh_backend(request, "sqlite", folder) as backend:
        env = {
            "NIAOULI_LOG_FORMAT": "json",
            "NIAOULI_WORKERS": "2",
            "NIAOULI_METRICS_TOKEN": TOKEN,
            # As docker-compose.yml: uvicorn believes every proxy's X-Forwarded-For.
            "FORWARDED_ALLOW_IPS": "*",
        }
        with serve(backend, timeout=180, env=env) as server:
            yield server


def test_healthz_and_readyz_when_all_is_up(live: CswServer) -> None:
    response = httpx.get(live.base + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert wait_for(lambda: _ready(live).status_code == 200)
    body = _ready(live).json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "csw": "ok",
        "storage": "ok",
        "jobs": "ok",
    }


def test_readyz_names_csw_when_pycsw_does_not_answer(live: CswServer) -> None:
    pid = live.pycsw_pid()
    assert pid is not None
    with _stopped(pid):
        assert wait_for(lambda: _ready(live).status_code == 503, timeout=20)
        time.sleep(health.CACHE_SECONDS + 0.2)  # a run of its own, not a shared result
        response = _ready(live, **{"X-Request-ID": "probe-csw-down-42"})
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["csw"]
        # The probe's own timeout (httpx) or the registry's, whichever comes first.
        assert body["checks"]["csw"]["status"] == "fail"
        assert body["checks"]["csw"]["error"] in ("ReadTimeout", "timeout")
        assert body["checks"]["database"]["status"] == "ok"
        # The process itself is alive.
        assert httpx.get(live.base + "/healthz", timeout=10).status_code == 200
    assert wait_for(lambda: _ready(live).status_code == 200, timeout=20)
    # The warning logged while answering that request carries its id.
    warnings = [
        r
        for r in _json_lines(live.log)
        if r.get("logger") == "niaouli.health" and r.get("request_id") == "probe-csw-down-42"
    ]
    assert warnings, "no log record of the readiness failure with the request's id"
    assert warnings[0]["level"] == "WARNING"
    assert "csw" in warnings[0]["message"]


def test_request_id_echoed_and_on_the_access_log_line(live: CswServer) -> None:
    marker = "/ogc/collections?marker=request-id-test"
    response = httpx.get(live.base + marker, headers={"X-Request-ID": "trace-7f3a.1"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-7f3a.1"

    def access_line() -> list[dict]:
        return [
            r
            for r in _json_lines(live.log)
            if r.get("logger") == "uvicorn.access" and r.get("path") == marker
        ]

    assert wait_for(lambda: bool(access_line()), timeout=10)
    (line,) = access_line()
    assert line["request_id"] == "trace-7f3a.1"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert {"time", "level", "message"} <= line.keys()


@pytest.mark.parametrize(
    "given",
    [
        "x" * 129,  # oversized
        'abc" injected="1',  # quotes and spaces
        '{"level":"CRITICAL"}',
        "-starts-with-a-dash",
        "é-not-ascii",
    ],
)
def test_malformed_request_id_is_replaced_not_echoed(live: CswServer, given: str) -> None:
    raw = given.encode("utf-8")
    response = httpx.get(live.base + "/healthz", headers=[(b"X-Request-ID", raw)], timeout=10)
    assert response.status_code == 200
    made = response.headers["x-request-id"]
    assert made != given
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert wait_for(
        lambda: any(r.get("request_id") == made for r in _json_lines(live.log)), timeout=10
    )
    assert given not in live.log.read_text(errors="replace")


def _samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def test_metrics_add_up_every_worker(live: CswServer) -> None:
    def ogc_total() -> float:
        text = httpx.get(live.base + "/metrics", timeout=10).text
        samples = _samples(text, "niaouli_http_requests_total")
        return sum(v for k, v in samples.items() if 'interface="ogc"' in k)

    before = ogc_total()
    requests = 40
    for _ in range(requests):  # a new connection each time: both workers answer some
        assert httpx.get(live.base + "/ogc/conformance", timeout=30).status_code == 200
    # Whichever worker answers the scrape, it counts the requests of all of them.
    for _ in range(6):
        assert ogc_total() - before == requests
    response = httpx.get(live.base + "/metrics", timeout=10)
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "niaouli_http_request_duration_seconds_bucket" in text
    # The job queue's gauges (the queue is empty here: no harvest was asked).
    assert _samples(text, "niaouli_job_queue_depth") and _samples(text, "niaouli_jobs_failed")
    assert 'interface="csw"' in text  # the readiness waits of `serve` went to /csw
    # No raw path in any label.
    assert "/ogc/conformance" not in text
    # Every process wrote its own counters: the server process and its 2 workers.
    folders = list((live.log.parent / "metrics").glob("serve-*"))
    assert len(folders) == 1
    pids = {re.search(r"_(\d+)\.db$", p.name).group(1) for p in folders[0].glob("*.db")}
    assert len(pids) >= 2


def test_metrics_refused_to_a_remote_client_without_the_token(live: CswServer) -> None:
    # Through a proxy on this machine (X-Forwarded-For, trusted from 127.0.0.1 by
    # uvicorn), the client is the remote address: no token, no metrics.
    remote = {"X-Forwarded-For": "203.0.113.9"}
    response = httpx.get(live.base + "/metrics", headers=remote, timeout=10)
    assert response.status_code == 403
    assert "niaouli_" not in response.text
    # A client naming itself 127.0.0.1 (uvicorn believes the leftmost address when told
    # to trust every proxy, FORWARDED_ALLOW_IPS='*' as in docker-compose.yml) gets no more.
    for spoof in ("127.0.0.1", "127.0.0.1, 203.0.113.9"):
        response = httpx.get(live.base + "/metrics", headers={"X-Forwarded-For": spoof})
        assert response.status_code == 403, spoof
    wrong = {**remote, "Authorization": "Bearer not-the-token-at-all-xx"}
    assert httpx.get(live.base + "/metrics", headers=wrong, timeout=10).status_code == 403
    right = {**remote, "Authorization": f"Bearer {TOKEN}"}
    response = httpx.get(live.base + "/metrics", headers=right, timeout=10)
    assert response.status_code == 200
    assert "niaouli_http_requests_total" in response.text


# --- the database out of reach ------------------------------------------------------


class Relay:
    """A TCP relay on 127.0.0.1 to `target`; `cut()` closes it and every connection
    through it (new ones are refused), `restore()` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown first: a close alone leaves the accepting thread's socket listening
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()


def test_readyz_names_the_database_when_it_is_out_of_reach(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_backend(request, "postgis", tmp_path) as backend:
        url = make_url(backend.settings.database_url)
        relay = Relay((url.host or "127.0.0.1", url.port or 5432))
        relayed = url.set(port=relay.port).render_as_string(hide_password=False)
        settings = backend.settings.model_copy(update={"database_url": relayed})
        try:
            with serve(Backend("postgis", settings, backend.engine), timeout=180) as server:
                assert wait_for(lambda: _ready(server).status_code == 200, timeout=20)
                relay.cut()
                assert wait_for(lambda: _ready(server).status_code == 503, timeout=20)
                body = _ready(server).json()
                # The job queue lives in that database: out of reach with it, and said so.
                assert sorted(body["failing"]) == ["database", "jobs"]
                assert body["checks"]["database"]["status"] == "fail"
                assert body["checks"]["csw"]["status"] == "ok"
                # Nothing of the database's address or driver text in the answer.
                text = _ready(server).text
                assert str(relay.port) not in text and "127.0.0.1" not in text
                assert httpx.get(server.base + "/healthz", timeout=10).status_code == 200
                relay.restore()
                assert wait_for(lambda: _ready(server).status_code == 200, timeout=20)
        finally:
            relay.cut()


# --- the registry itself ------------------------------------------------------------


def test_registry_reports_each_failure_and_never_runs_a_hung_check_twice() -> None:
    started = []
    release = threading.Event()

    def hangs() -> None:
        started.append(1)
        release.wait(10)

    def secret_failure() -> None:
        raise RuntimeError("postgresql://admin:hunter2@db/niaouli unreachable")

    async def scenario() -> tuple[dict, dict]:
        registry = health.Registry()
        registry.register("ok", lambda: None)
        registry.register("false", lambda: False)
        registry.register("raises", secret_failure)
        registry.register("hangs", hangs, timeout=0.2)
        first = await registry.run()
        registry._last = None  # past the shared-result window
        second = await registry.run()
        return first, second

    first, second = asyncio.run(scenario())
    release.set()
    assert first["ok"]["status"] == "ok"
    assert first["false"] == {"status": "fail", "error": "false"}
    assert first["raises"] == {"status": "fail", "error": "RuntimeError"}
    assert "hunter2" not in json.dumps(first)
    assert first["hangs"] == second["hangs"] == {"status": "fail", "error": "timeout"}
    assert len(started) == 1  # the second run waited on the first, still hanging


def test_request_ids_accepted() -> None:
    for good in ("0f9c2d4e8a7b4c1d9e0f1a2b3c4d5e6f", "trace-1.2:3", "a" * 128):
        assert accepted(good) == good
    for bad in ("", "a" * 129, "a b", "a\r\nb", "a\nlevel=ERROR", "-x", "é"):
        assert accepted(bad) is None


def test_interfaces_are_a_few_fixed_labels() -> None:
    assert metrics.interface_of("/") == "portal"
    assert metrics.interface_of("/jeux-de-donnees/x/ressources/1") == "portal"
    assert metrics.interface_of("/ogc") == "ogc"
    assert metrics.interface_of("/ogc/collections/x/items") == "ogc"
    assert metrics.interface_of("/csw") == "csw"
    assert metrics.interface_of("/api/datasets") == "api"
    assert metrics.interface_of("/apiculture") == "portal"
    assert metrics.interface_of("/metrics") == "ops"


# --- harvest and ingestion counts (in this process: no multiprocess folder) ----------


def _count(name: str, outcome: str) -> float:
    text = metrics.exposition()[0].decode()
    return _samples(text, name).get(f'{name}{{outcome="{outcome}"}}', 0.0)


def test_ingestions_counted_by_outcome(backend: Backend, org: str, tmp_path: Path) -> None:
    from niaouli.ingest import IngestError
    from tests.ingest_support import fixture, ingest

    name = "niaouli_ingestions_total"
    before = {o: _count(name, o) for o in ("success", "rejected")}
    ingest(backend, fixture("points_baignade.geojson"), dataset="baignade")
    bad = tmp_path / "pas-un-fichier.geojson"
    bad.write_text("ceci n'est pas du GeoJSON")
    with pytest.raises(IngestError):
        ingest(backend, bad, dataset="casse")
    assert _count(name, "success") == before["success"] + 1
    assert _count(name, "rejected") == before["rejected"] + 1


def test_harvest_runs_counted_by_outcome(backend: Backend, org: str) -> None:
    from tests.harvest_support import FakeRemote, Reply, add_source_for, harvest

    remote = FakeRemote(lambda _path, _query: Reply(b"<html>en panne</html>", "text/html", 500))
    try:
        add_source_for(backend, org, remote.url + "/csw", "en-panne", "csw")
        name = "niaouli_harvest_runs_total"
        before = _count(name, "failed")
        report = harvest(backend, "en-panne", dry_run=True)  # not a harvest result
        assert _count(name, "failed") == before
        report = harvest(backend, "en-panne")
        assert report.status == "failed"
        assert _count(name, "failed") == before + 1
    finally:
        remote.close()
