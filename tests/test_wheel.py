"""The wheel installs and serves outside the checkout (issue 16 §4).

A wheel built from the project is installed into a fresh virtualenv under a temporary
folder (no system site-packages, no checkout on the path); from a working directory
outside the checkout, with its own data directory, `niaouli demo load` fills the
embedded database and `niaouli serve` answers the home page, the OGC API collections and
the CSW capabilities. The committed configuration (`pygeoapi-config/`, `pycsw/`) and the
demo data must come with the package, and files written at run time must land in the
data directory, never in the installed package.

Fast enough for the suite (about a minute): the dependencies are installed with the
versions of the checkout's own `.venv` as constraints (cached wheels, no backtracking)
and without byte-compiling; pycsw's separate environment is the checkout's
`.venv-pycsw` (`NIAOULI_PYCSW_PYTHON`), which `scripts/install` makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.portal_support import free_port

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
PYCSW_PYTHON = ROOT / ".venv-pycsw" / "bin" / "python"

pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout=300):
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _sources(target: Path) -> Path:
    """The project's files (tracked or new, not ignored) copied out of the checkout, so
    that building leaves no `build/` behind in it."""
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv, outside the checkout, with the project's wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    sources = _sources(base / "src")
    _run([*PIP, "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(sources)], base)
    (wheel,) = (base / "dist").glob("niaouli-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    frozen = _run([*PIP, "freeze", "--exclude-editable"], base).stdout
    constraints = base / "constraints.txt"
    constraints.write_text(
        "".join(f"{line}\n" for line in frozen.splitlines() if not line.startswith("niaouli"))
    )
    _run(
        [*PIP, "--python", str(venv / "bin" / "python"), "install", "-q", "--no-compile"]
        + ["-c", str(constraints), str(wheel)],
        base,
        timeout=600,
    )
    return venv


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIAOULI_", "PYTHON"))}
    env["NIAOULI_DATA_DIR"] = str(data_dir)
    env["NIAOULI_PYCSW_PYTHON"] = str(PYCSW_PYTHON)
    return env


def test_the_wheel_serves_the_demo_outside_the_checkout(installed, tmp_path):
    if not PYCSW_PYTHON.exists():
        pytest.fail(f"{PYCSW_PYTHON} is missing: run scripts/install")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _environment(tmp_path / "data")
    python = installed / "bin" / "python"
    niaouli = installed / "bin" / "niaouli"
    where = _run([str(python), "-c", "import niaouli; print(niaouli.__file__)"], elsewhere, env)
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(installed) and not package.is_relative_to(ROOT)
    shipped = _files(package)

    _run([str(niaouli), "demo", "load"], elsewhere, env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(niaouli), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            deadline = time.monotonic() + 90
            while True:
                assert server.poll() is None, f"server exited:\n{log.read_text()}"
                try:
                    if http.get("/csw", params={"service": "CSW"}).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"server did not start:\n{log.read_text()}"
                time.sleep(0.5)

            home = http.get("/")
            assert home.status_code == 200 and "Niaouli" in home.text
            collections = http.get("/ogc/collections", params={"f": "json"})
            assert collections.status_code == 200, collections.text[:500]
            ids = {c["id"] for c in collections.json()["collections"]}
            assert any("communes" in i for i in ids), ids
            capabilities = http.get("/csw", params={"service": "CSW", "request": "GetCapabilities"})
            assert capabilities.status_code == 200, log.read_text()
            assert "Capabilities" in capabilities.text and f"{base}/csw" in capabilities.text
    finally:
        server.terminate()
        server.wait(30)
    # Written at run time: under the data directory, nothing in the installed package.
    assert (tmp_path / "data" / "niaouli.sqlite").is_file()
    assert list((tmp_path / "data" / "pygeoapi").iterdir())
    assert _files(package) == shipped


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject.toml lists the packages (the folders are mapped into `niaouli.*`): a
    folder left out is missing from the wheel (`niaouli.stats` was, until this test)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    folders = config["setuptools"]["package-dir"]
    listed = set(config["setuptools"]["packages"])
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            name = ".".join([package, *relative.parts])
            assert name in listed, f"{name} ({init.parent}) is not in pyproject's packages"
