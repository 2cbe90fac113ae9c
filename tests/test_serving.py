"""`niaouli serve --workers N`: accepted connections get TCP_NODELAY (no 40 ms stall).

Why it matters: a response is written in two parts (headers, then body); without
TCP_NODELAY, Nagle's algorithm holds the body until the client's delayed ACK, about 40 ms
later, on every request. uvicorn's own multi-worker socket has protocol 0, for which
asyncio never sets the option; ours is bound with IPPROTO_TCP.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn

from niaouli import serving
from tests.ports import free_port


def _nodelay_of_accepted(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted by asyncio on `listener` (as uvicorn does)."""

    async def scenario() -> int:
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(found, 5)
        writer.close()
        server.close()
        return value

    return asyncio.run(scenario())


def test_accepted_connections_have_nodelay() -> None:
    listener = serving.tcp_socket("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert _nodelay_of_accepted(listener) != 0


def test_uvicorn_own_worker_socket_has_it_from_0_55() -> None:
    """The reason for `serving`: uvicorn < 0.55 bound its multi-worker socket with
    protocol 0 (no TCP_NODELAY); 0.55 binds it with IPPROTO_TCP. `serving` stays for the
    peers' servers that `bench/` starts with older uvicorn releases."""
    config = uvicorn.Config("niaouli.web:create_app", host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    fixed = tuple(int(part) for part in uvicorn.__version__.split(".")[:2]) >= (0, 55)
    assert bool(_nodelay_of_accepted(listener)) == fixed


def test_serve_answers_quickly_on_one_connection(tmp_path) -> None:  # noqa: ANN001
    """Two workers, 30 keep-alive requests on one connection: far below 30 × 40 ms."""
    import os
    import subprocess
    import sys
    import time

    app = tmp_path / "tinyapp.py"
    app.write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200,\n"
        "                'headers': [(b'content-type', b'text/plain')]})\n"
        "    await send({'type': 'http.response.body', 'body': b'ok'})\n"
    )
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "niaouli.serving",
            "tinyapp:app",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],  # fmt: skip
        env=env,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
            started = time.perf_counter()
            for _ in range(30):
                assert client.get("/").text == "ok"
            elapsed = time.perf_counter() - started
        assert elapsed < 0.6, f"30 requests took {elapsed:.2f} s (40 ms stall per response?)"
    finally:
        process.terminate()
        process.wait(timeout=15)


# --- generated files belong under the data directory --------------------------------

SKIPPED_DIRS = {".git", ".venv", ".venv-pycsw", "node_modules", "__pycache__", ".pytest_cache"}
SKIPPED_DIRS |= {".ruff_cache"}
# Written by other work running meanwhile (benchmarks, other tests' outputs, the default
# data directory of a checkout), never by the server under test, whose data is elsewhere.
SKIPPED_PATHS = {"bench/out", "tests/artifacts", "var"}


def _files_changed_since(root, since_ns: int) -> list:  # noqa: ANN001
    """Files under `root` created or modified since `since_ns` (caches and venvs aside)."""
    import os
    from pathlib import Path

    changed = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder).relative_to(root)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not d.endswith(".egg-info")
            and (here / d).as_posix() not in SKIPPED_PATHS
        ]
        for name in files:
            path = Path(folder) / name
            try:
                if path.lstat().st_mtime_ns >= since_ns:
                    changed.append(path)
            except FileNotFoundError:
                continue
    return changed


def _ignored_by_git(root, paths: list) -> list:  # noqa: ANN001
    """The git-ignored ones among `paths` (what generated files are); all without git.

    Other people may edit sources in this checkout meanwhile: those are tracked or
    plainly untracked files, never ignored ones."""
    import subprocess

    if not paths:
        return []
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--stdin"],
            input="\n".join(str(p) for p in paths),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError:
        return paths
    if result.returncode not in (0, 1):  # not a git work tree
        return paths
    return [line for line in result.stdout.splitlines() if line]


def test_serving_writes_nothing_into_the_checkout(tmp_path, sqlite_template) -> None:  # noqa: ANN001
    """`niaouli serve` (pycsw's configuration, pygeoapi's generated configuration) writes
    under NIAOULI_DATA_DIR only: a checkout may be read-only, shared by several servers,
    and is a git work tree. Issue 13: every start left pycsw/generated/pycsw-<port>.cfg."""
    import shutil
    import time
    from pathlib import Path

    from niaouli.db.engine import make_engine
    from niaouli.settings import Settings
    from tests.conftest import REPO, Backend
    from tests.csw_support import PYCSW_PYTHON, serve

    if not PYCSW_PYTHON.exists():
        import pytest

        pytest.skip("pycsw's environment (.venv-pycsw) is not installed")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "niaouli.sqlite")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'niaouli.sqlite'}",
        spatialite_library="mod_spatialite",
    )
    backend = Backend("sqlite", settings, make_engine(settings))
    started = time.time_ns() - 1_000_000_000  # coarse file-system clocks
    try:
        with serve(backend) as server:
            # pygeoapi's configuration is generated on the first /ogc request.
            assert server.get("/ogc/collections", f="json").status_code == 200
            assert server.get("/").status_code == 200
            proc = Path(f"/proc/{server.pycsw_pid()}/cmdline")
            cmdline = proc.read_bytes().split(b"\0")
            config = cmdline[cmdline.index(b"--config") + 1].decode()
            assert config.startswith(str(data_dir / "pycsw") + "/"), config
            assert (data_dir / "pygeoapi" / "pygeoapi-config.yml").is_file()
            written = _ignored_by_git(REPO, _files_changed_since(REPO, started))
    finally:
        backend.engine.dispose()
    assert written == []
    assert not list((data_dir / "pycsw").glob("*.cfg")), "the stopped server left its cfg"
