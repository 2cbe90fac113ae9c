"""CSW scales over a pool of pycsw processes, replaced when they die or grow (issue 13).

pycsw answers one request at a time per process (synchronous, CPU-bound Python), so
`niaouli serve` runs a pool of them (gunicorn's arbiter in `.venv-pycsw`). Checked here,
with no timing: concurrent requests are answered by more than one pycsw process; a worker
killed with SIGKILL is replaced and the requests go on being answered meanwhile; a worker
is replaced after its request quota or above its memory threshold; the proxy answers 503
with `Retry-After` when its queue is full instead of holding more, and a client that gave
up waiting is not sent on to pycsw.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from niaouli.catalogue import service
from niaouli.services.csw.importer import import_records
from niaouli.services.csw.process import PycswProcess
from niaouli.services.csw.proxy import CswProxy
from tests.conftest import Backend
from tests.csw_support import ISO_RECORD, NS, free_port, serve, wait_for

GET_RECORDS = {
    "service": "CSW",
    "version": "2.0.2",
    "request": "GetRecords",
    "typenames": "csw:Record",
    "elementsetname": "brief",
    "resulttype": "results",
}
WORKER_HEADER = "x-niaouli-csw-worker"


def children(pid: int) -> set[int]:
    tasks = Path(f"/proc/{pid}/task")
    return {int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()}


def port_of(pid: int) -> int:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[args.index(b"--port") + 1])


def worker_pids(base: str, rounds: int = 20, clients: int = 8) -> set[int]:
    """The pycsw pids that answered bursts of concurrent GetRecords (stops at two)."""
    seen: set[int] = set()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(rounds):
            answers = list(
                pool.map(lambda _i: httpx.get(base, params=GET_RECORDS, timeout=60), range(clients))
            )
            assert all(a.status_code == 200 for a in answers)
            seen |= {int(a.headers[WORKER_HEADER]) for a in answers}
            if len(seen) >= 2:
                break
    return seen


def test_concurrent_requests_use_several_workers_and_a_killed_worker_is_replaced(
    backend: Backend,
):
    with backend.session() as session, session.begin():
        service.create_organisation(session, "gouvernement-nc", "Gouvernement", "government")
    import_records(backend.engine, [ISO_RECORD], "gouvernement-nc")
    with serve(backend) as server:
        arbiter = server.pycsw_pid()
        assert arbiter
        workers = children(arbiter)
        assert len(workers) == 2  # `serve --workers 1` still gets a pool of two
        direct = f"http://127.0.0.1:{port_of(arbiter)}/"
        seen = worker_pids(direct)
        assert len(seen) >= 2 and seen <= workers

        # Through the proxy, concurrent requests all answer (the debug header stays inside).
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _i: server.get(**GET_RECORDS), range(16)))
        assert {a.status_code for a in answers} == {200}
        assert all(WORKER_HEADER not in a.headers for a in answers)

        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        # The next request answers at once (the other worker), through the proxy.
        answer = server.get(**GET_RECORDS)
        assert answer.status_code == 200
        results = server.xml(answer).find(".//csw:SearchResults", NS)
        assert results.get("numberOfRecordsMatched") == "1"
        # The arbiter replaces the dead worker; serve's supervisor did not have to restart it.
        assert wait_for(lambda: len(children(arbiter) - {victim}) == 2, timeout=20)
        assert victim not in children(arbiter)
        assert server.pycsw_pid() == arbiter
        assert len(worker_pids(direct)) == 2


@contextmanager
def pool(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, max_rss_mb: int, max_requests: int
) -> Iterator[str]:
    """A pycsw pool of two started as `serve` starts it, with these recycling settings."""
    monkeypatch.setenv("NIAOULI_CSW_MAX_RSS_MB", str(max_rss_mb))
    monkeypatch.setenv("NIAOULI_CSW_MAX_REQUESTS", str(max_requests))
    process = PycswProcess(backend.settings, "http://127.0.0.1:1/csw", workers=2)
    process.start()
    try:
        yield process.backend_url + "/"
    finally:
        process.stop()
        assert not process.config_path.exists()


def sequential_pids(url: str, count: int) -> list[int]:
    pids = []
    for _ in range(count):
        answer = httpx.get(url, params={**GET_RECORDS, "resulttype": "hits"}, timeout=60)
        assert answer.status_code == 200
        pids.append(int(answer.headers[WORKER_HEADER]))
    return pids


def test_workers_are_recycled_above_the_memory_threshold(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
):
    # 1 MB: every worker is above it after its first answer, so each answer is its last.
    with pool(backend, monkeypatch, max_rss_mb=1, max_requests=0) as url:
        pids = sequential_pids(url, 4)
    assert len(set(pids)) == 4


def test_workers_are_recycled_after_their_request_quota(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
):
    # 2 requests (+ up to 1 of jitter) per worker, memory threshold off: 8 answers need
    # at least three workers over time.
    with pool(backend, monkeypatch, max_rss_mb=0, max_requests=2) as url:
        pids = sequential_pids(url, 8)
    assert len(set(pids)) >= 3
    assert all(pids.count(p) <= 3 for p in set(pids))


@dataclass
class Held:
    """A stand-in for a pycsw worker that answers only when the test lets it.

    The proxy's queue is about timing, which real pycsw cannot be made to hold still; the
    proxy itself (the code under test) is the real one, over real loopback HTTP.
    """

    url: str
    release: threading.Event
    arrived: threading.Semaphore
    paths: list[str]


@pytest.fixture
def held() -> Iterator[Held]:
    release, arrived, paths = threading.Event(), threading.Semaphore(0), []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            paths.append(self.path)
            arrived.release()
            release.wait(30)
            body = b"<ok/>"
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Held(f"http://127.0.0.1:{server.server_address[1]}", release, arrived, paths)
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_proxy_sheds_load_with_503_and_retry_after_when_its_queue_is_full(held: Held):
    proxy = CswProxy(backend=held.url, capacity=1, queue=1)

    async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://csw") as client:
            first = asyncio.create_task(client.get("/csw?n=1"))
            # The first one is at the backend, the second waits for it in the proxy.
            assert await asyncio.to_thread(held.arrived.acquire, True, 10)
            second = asyncio.create_task(client.get("/csw?n=2"))
            await asyncio.sleep(0.2)
            refused = await client.get("/csw?n=3")
            held.release.set()
            answered = list(await asyncio.gather(first, second))
            after = await client.get("/csw?n=4")
            return answered, refused, after

    answered, refused, after = asyncio.run(scenario())
    assert refused.status_code == 503
    assert refused.headers["retry-after"].isdigit()
    assert b"ExceptionReport" in refused.content
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200  # the queue is free again
    assert held.paths == ["/?n=1", "/?n=2", "/?n=4"]


def test_a_client_that_leaves_the_queue_is_not_sent_to_pycsw(held: Held):
    proxy = CswProxy(backend=held.url, capacity=1, queue=4)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, timeout=10)
    base = f"http://127.0.0.1:{port}/csw"
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.get, f"{base}?n=1", timeout=30)
            assert held.arrived.acquire(timeout=10)
            # Waits behind the first, then gives up and closes its connection.
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"{base}?n=2", timeout=0.5)
            time.sleep(0.3)
            held.release.set()
            assert first.result().status_code == 200
            assert httpx.get(f"{base}?n=3", timeout=30).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
    assert held.paths == ["/?n=1", "/?n=3"]
