"""Helpers for the CSW tests: a live `niaouli serve` (with its pycsw), a loopback canary.

The server runs as a real subprocess on a free 127.0.0.1 port, on the test's backend, so
the clients (OWSLib, GDAL, the CITE runner) talk HTTP to the same stack users get:
uvicorn -> /csw reverse proxy -> pycsw in `.venv-pycsw` -> `csw_records`.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from tests.conftest import NIAOULI, REPO, Backend
from tests.ports import free_port

PYCSW_PYTHON = REPO / ".venv-pycsw" / "bin" / "python"
ISO_RECORD = REPO / "tests" / "fixtures" / "iso19139_geonetwork_record.xml"


def shared_dir() -> Path:
    """The project's shared folder: `NIAOULI_SHARED_DIR`, else beside the checkout."""
    configured = os.environ.get("NIAOULI_SHARED_DIR")
    if configured:
        return Path(configured)
    for candidate in (REPO.parent / "shared", Path("/work/shared")):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared"


SHARED = shared_dir()
CITE_SUITE = SHARED / "conformance" / "csw-cite"
NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "dc": "http://purl.org/dc/elements/1.1/",
    "ows": "http://www.opengis.net/ows",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "atom": "http://www.w3.org/2005/Atom",
    "oai": "http://www.openarchives.org/OAI/2.0/",
}


@dataclass
class CswServer:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def csw(self) -> str:
        return f"{self.base}/csw"

    def get(self, path: str = "/csw", **params: str) -> httpx.Response:
        return httpx.get(self.base + path, params=params, timeout=30)

    def post(self, body: str | bytes, path: str = "/csw") -> httpx.Response:
        return httpx.post(
            self.base + path,
            content=body,
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )

    def xml(self, response: httpx.Response) -> etree._Element:
        return etree.fromstring(response.content)

    def pycsw_pid(self) -> int | None:
        """The pycsw child of the server process (its supervised subprocess)."""
        # Children are listed per thread: a restarted pycsw is a child of the supervisor's.
        tasks = Path(f"/proc/{self.process.pid}/task")
        pids = [p for t in tasks.iterdir() for p in (t / "children").read_text().split()]
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"niaouli_csw.py" in cmdline:
                return int(pid)
        return None


def csw_ready(base: str) -> bool:
    try:
        response = httpx.get(
            f"{base}/csw", params={"service": "CSW", "request": "GetCapabilities"}, timeout=5
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and b"Capabilities" in response.content


@contextmanager
def serve(
    backend: Backend, timeout: float = 60, env: dict[str, str] | None = None
) -> Iterator[CswServer]:
    """`niaouli serve` on a free loopback port until the block ends (`env`: more
    variables for it)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**backend.env(), **(env or {})}
    env["NIAOULI_PUBLIC_URL"] = base
    log = backend.settings.data_dir / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(NIAOULI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = CswServer(base, process, log)
    try:
        deadline = time.monotonic() + timeout
        while not csw_ready(base):
            if process.poll() is not None:
                raise AssertionError(f"server exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate, timeout: float = 15, step: float = 0.3) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@dataclass
class Canary:
    """A loopback HTTP listener that records every hit: any hit fails a test."""

    url: str
    hits: list[str] = field(default_factory=list)


@contextmanager
def canary() -> Iterator[Canary]:
    record = Canary("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            record.hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<x/>")

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def identifiers(root: etree._Element) -> list[str]:
    return [e.text for e in root.iterfind(".//dc:identifier", NS)]
