"""`niaouli worker` processes for the tests (PostgreSQL job queue), and a remote whose
answers can be held: to catch a harvest in the middle of its run."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import NIAOULI, Backend
from tests.harvest_support import Handler, Reply


class Worker:
    """A `niaouli worker` subprocess on `backend`, its output in `log`."""

    def __init__(self, backend: Backend, log: Path, **env: str) -> None:
        self.backend, self.log_path, self.extra = backend, log, env
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        env = self.backend.env()
        env.update(self.extra)
        command = [str(NIAOULI) if NIAOULI.exists() else "niaouli", "worker"]
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        """`kill -9`: no handler runs, no job is finished or released."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Gate:
    """Wraps a fake remote's handler: while `holding`, each request waits for `open()`;
    counts the requests answered at the same time (a harvest asks one page at a time,
    so two at once means two runs of the source at once)."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner
        self.url = ""  # the fake remote's, set by whoever serves it
        self.holding = False
        self.entered = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def hold(self) -> None:
        self.entered.clear()
        self.released.clear()
        self.holding = True

    def open(self) -> None:
        self.holding = False
        self.released.set()

    def reset_count(self) -> None:
        with self._lock:
            self.max_in_flight = self.in_flight

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.holding:
                self.entered.set()
                self.released.wait(120)
            return self.inner(path, query)
        finally:
            with self._lock:
                self.in_flight -= 1


def wait_for(predicate, seconds: float = 120.0, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
