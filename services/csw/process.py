"""The pycsw process: its generated configuration, start, restart if it dies, stop.

pycsw 2.6 runs in its own environment (`.venv-pycsw`), so `niaouli serve` starts
`pycsw/niaouli_csw.py` with that interpreter on a free loopback port and supervises it
from a thread: if pycsw exits, it is started again (with a short back-off), and it is
stopped with the server. `niaouli serve` gives its workers the pool's address and the
secret that authenticates the viewer they forward (made at each start) in their settings
(`Settings.csw_backend`, `Settings.csw_proxy_key`); pycsw gets the secret in its
environment. `pycsw/` is package data (`niaouli.pycsw`), found where it is installed.

`niaouli_csw.py` is a pool: gunicorn's arbiter and `NIAOULI_CSW_WORKERS` forked pycsw
processes (default: as many as the server's workers, at least 2), each replaced after
about `NIAOULI_CSW_MAX_REQUESTS` requests or above `NIAOULI_CSW_MAX_RSS_MB`. The pool runs
in a process group of its own, so that a pool whose arbiter died leaves no worker behind.
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from niaouli.catalogue.csw_table import TABLE_NAME
from niaouli.db.engine import REPLICA_CONNECT_TIMEOUT
from niaouli.resources import package_dir
from niaouli.settings import Settings, get_settings

LOGGER = logging.getLogger(__name__)
PYCSW_DIR = package_dir("niaouli.pycsw")
PROGRAM = PYCSW_DIR / "niaouli_csw.py"
BASE_CONFIG = PYCSW_DIR / "base.cfg"
# The secret that authenticates the proxy's viewer header to pycsw (its environment).
PROXY_KEY_ENV = "NIAOULI_CSW_PROXY_KEY"


class PycswUnavailableError(RuntimeError):
    """pycsw's environment is missing or the process does not start."""


def pycsw_python() -> Path:
    """The interpreter of pycsw's own environment (`NIAOULI_PYCSW_PYTHON`)."""
    path = get_settings().pycsw_python
    if not path.exists():
        raise PycswUnavailableError(
            f"environnement pycsw introuvable ({path}) : lancez scripts/install"
        )
    return path


def repository_url(settings: Settings, *, replica: bool = False) -> str:
    """The catalogue database as pycsw (SQLAlchemy 1.4) opens it: read-only (row S4);
    `replica`: the read replica (`NIAOULI_DATABASE_READ_URL`), if there is one.

    Behind PgBouncer (`NIAOULI_DATABASE_TRANSACTION_POOLING`) the read-only guard cannot
    be a startup `options` parameter (PgBouncer refuses it): pycsw is read-only by its
    own configuration (`transactions=false`) and the guard is left to the database
    role (docs/scaling.md). psycopg2 prepares nothing server-side."""
    raw = settings.database_read_url if replica and settings.database_read_url else None
    url = make_url(raw or settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").resolve()
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    query = {"application_name": "niaouli-csw-replica" if raw else "niaouli-csw"}
    if raw:  # a replica that does not answer is found out fast (niaouli.db.replica)
        query["connect_timeout"] = str(REPLICA_CONNECT_TIMEOUT)
    if not settings.database_transaction_pooling:
        query["options"] = "-c default_transaction_read_only=on"
    url = url.set(drivername="postgresql+psycopg2").update_query_dict(query)
    return url.render_as_string(hide_password=False)


def write_config(settings: Settings, public_csw_url: str, port: int) -> Path:
    """`<data dir>/pycsw/pycsw-<port>.cfg`: base.cfg plus the runtime values.

    Under the data directory, never in the checkout (which may be read-only, shared by
    several servers, or a git work tree); `PycswProcess.stop` removes it.
    """
    config = configparser.ConfigParser(interpolation=None)
    config.read(BASE_CONFIG, encoding="utf-8")
    config.set("server", "url", public_csw_url)
    config.set("repository", "database", repository_url(settings, replica=True))
    if settings.database_read_url and not settings.is_embedded:
        # Writers' requests read the primary (X-Niaouli-Read: primary, niaouli_csw.py).
        config.set("repository", "primary_database", repository_url(settings))
    config.set("repository", "table", TABLE_NAME)
    folder = settings.data_dir / "pycsw"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pycsw-{port}.cfg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        config.write(handle)
    return path


def pool_size(server_workers: int = 1) -> int:
    """pycsw processes: `NIAOULI_CSW_WORKERS`, else one per server worker and at least 2
    (with one, a slow request would make every other wait)."""
    return get_settings().csw_workers or max(2, server_workers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PycswUnavailableError(
                f"pycsw s'est arrêté au démarrage (code {process.returncode})"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise PycswUnavailableError(f"pycsw ne répond pas sur le port {port} après {timeout:.0f} s")


class PycswProcess:
    """One supervised pycsw pool (arbiter + `workers` processes) on 127.0.0.1:`port`."""

    def __init__(
        self,
        settings: Settings,
        public_csw_url: str,
        port: int | None = None,
        workers: int = 2,
    ) -> None:
        self.settings = settings
        self.public_csw_url = public_csw_url
        self.port = port or free_port()
        self.workers = workers
        self.max_requests = get_settings().csw_max_requests
        self.max_rss_mb = get_settings().csw_max_rss_mb
        self.config_path = write_config(settings, public_csw_url, self.port)
        self.python = pycsw_python()
        self.proxy_key = secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            str(self.python),
            str(PROGRAM),
            "--config",
            str(self.config_path),
            "--port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
            "--workers",
            str(self.workers),
            "--max-requests",
            str(self.max_requests),
            "--max-rss-mb",
            str(self.max_rss_mb),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env[PROXY_KEY_ENV] = self.proxy_key
        # Its own process group: `_kill_group` reaches the workers too.
        return subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            cwd=PYCSW_DIR,
            start_new_session=True,
        )

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL what is left of a pool (workers whose arbiter is gone keep the port)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def start(self, timeout: float = 30) -> None:
        """Start pycsw, wait until it accepts connections, then supervise it."""
        self._process = self._spawn()
        _wait_for_port(self.port, self._process, timeout)
        self._thread = threading.Thread(target=self._supervise, name="pycsw", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            self._kill_group(process)
            print(f"pycsw arrêté (code {code}) : redémarrage", file=sys.stderr, flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 10)
            try:
                self._process = self._spawn()
                _wait_for_port(self.port, self._process, 30)
                self.restarts += 1
                delay = 0.5
            except PycswUnavailableError as exc:
                print(f"pycsw : {exc}", file=sys.stderr, flush=True)

    def stop(self, timeout: float = 5) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # the arbiter stops its workers, then exits
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            self._kill_group(process)
        if self._thread is not None:
            self._thread.join(timeout)
        self.config_path.unlink(missing_ok=True)


def start_for_server(settings: Settings, workers: int = 1) -> tuple[PycswProcess | None, Settings]:
    """Start pycsw for `niaouli serve`; None (with a warning) if unavailable.

    `settings` are the server's, with its public URL decided (by default the address it
    listens on): the advertised CSW URL is that URL + /csw. `workers` is the server's
    worker count: the pycsw pool follows it (`pool_size`). Also returns the settings the
    server's workers need to reach the pool (its address, size and key).
    """
    public = settings.public_url.rstrip("/")
    try:
        size = pool_size(workers)
        process = PycswProcess(settings, f"{public}/csw", workers=size)
        process.start()
    except PycswUnavailableError as exc:
        print(f"attention : CSW indisponible — {exc}", file=sys.stderr, flush=True)
        return None, settings
    reach = {
        "csw_backend": process.backend_url,
        "csw_proxy_key": process.proxy_key,
        "csw_workers": size,
    }
    return process, settings.model_copy(update=reach)
