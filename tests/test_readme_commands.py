"""The README's commands run as written, in order, on the demo (issue 15 §8).

Every ```sh block of README.md is run, command by command, from the repository root,
against a temporary data directory where `scripts/start`'s steps (`db upgrade`,
`demo load`) have run on the embedded SQLite/SpatiaLite database. The only blocks left
out are the ones the README itself marks with `<!-- not run by
tests/test_readme_commands.py: <reason> -->` on the line before (the install and full
test-suite commands, which this test runs under). The test fails naming the first
command that failed, with its output.

What the test does to run them, without changing a command's text:

- Each command runs in `bash` (`set -a`, `pipefail`) with the variables earlier commands
  set (`TOKEN=$(...)` then `curl ... $TOKEN`), no controlling terminal, and a password
  typed twice on its standard input (what an operator types at `user create`'s prompt).
- `niaouli serve` is started in the background, not awaited; the test waits until it
  answers, checks it printed no warning or traceback, and stops it at the end. It
  listens on a free port instead of 8000 (two test runs or a developer's own server may
  hold 8000): `--port 8000` and every later `localhost:8000` are rewritten to that port,
  the only substitution made.
- `harvest run` reads a real remote catalogue. Where this machine cannot reach it, the
  harvester must say so in a clear French report (exit status 2, "simulation en échec"
  with the reason) and never print a traceback; with the network it must succeed.
- Environment only: `NIAOULI_DATA_DIR` (the temporary directory),
  `NIAOULI_HARVEST_FETCH_TIMEOUT=20` (an unreachable catalogue fails in seconds) and
  `NIAOULI_HARVEST_SCHEDULER=0` (the server harvests nothing on its own meanwhile).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ogc_support import free_port

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_RUN = "<!-- not run by tests/test_readme_commands.py:"
PASSWORD = "mot-de-passe-du-readme-2026"
README_PORT = "8000"
SHELL_VARIABLES = {"_", "PWD", "OLDPWD", "SHLVL"}


@dataclass
class Command:
    text: str  # as written in the README (continuation lines joined)
    block: int  # which ```sh block (1-based), for the failure message


def sh_blocks(markdown: str) -> list[tuple[str, bool]]:
    """Each ```sh block's body, and whether the README marks it as not run."""
    blocks = []
    for match in re.finditer(r"```sh\n(.*?)```", markdown, re.S):
        before = markdown[: match.start()].rstrip().splitlines()
        marked = bool(before) and before[-1].strip().startswith(NOT_RUN)
        blocks.append((match.group(1), marked))
    return blocks


def commands_of(body: str, block: int) -> list[Command]:
    commands, pending = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text and not text.startswith("#"):
            commands.append(Command(text, block))
    return commands


def readme_commands() -> tuple[list[Command], list[int]]:
    run, skipped = [], []
    for number, (body, marked) in enumerate(sh_blocks(README.read_text("utf-8")), 1):
        if marked:
            skipped.append(number)
        else:
            run.extend(commands_of(body, number))
    return run, skipped


def is_serve(command: str) -> bool:
    return re.match(r"\.venv/bin/niaouli serve\b", command) is not None


def on_port(command: str, port: int) -> str:
    """The command with the README's port 8000 replaced by the test server's port."""
    command = re.sub(rf"--port {README_PORT}\b", f"--port {port}", command)
    return re.sub(rf"\b(localhost|127\.0\.0\.1):{README_PORT}\b", rf"\1:{port}", command)


def shell_script(command: str, env_file: Path) -> str:
    return f"set -a -o pipefail\n{command}\n__status=$?\nenv -0 > {env_file}\nexit $__status\n"


def failure(command: Command, result: subprocess.CompletedProcess[str] | None, why: str) -> str:
    output = "" if result is None else f"\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return f"README command failed ({why}), block {command.block}:\n  {command.text}{output}"


def harvest_offline(result: subprocess.CompletedProcess[str]) -> bool:
    """The harvester's clear report of an unreachable source (no network here)."""
    text = result.stdout + result.stderr
    return (
        result.returncode == 2
        and "simulation en échec" in text
        and re.search(r"injoignable|introuvable|délai|refus|connexion", text) is not None
    )


def start_server(command: str, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one at the end
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"`{command}` exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=3).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(process)
    raise AssertionError(f"`{command}` did not answer within 120 s:\n{log.read_text()}")


def run_command(text: str, env: dict[str, str], env_file: Path) -> subprocess.CompletedProcess:
    """One command in bash, without a terminal (a password prompt reads stdin); its whole
    process group is killed if it outlives 300 s (e.g. a command that serves)."""
    process = subprocess.Popen(
        ["bash", "-c", shell_script(text, env_file)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(f"{PASSWORD}\n{PASSWORD}\n", timeout=300)
    except subprocess.TimeoutExpired:
        stop(process)
        stdout, stderr = process.communicate()
        stderr += "\n(killed after 300 s)"
    return subprocess.CompletedProcess(text, process.returncode, stdout, stderr)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_readme_blocks_are_found_and_only_marked_ones_skipped() -> None:
    commands, skipped = readme_commands()
    texts = [c.text for c in commands]
    # The setup blocks (two), the Docker Compose install (no daemon on these machines), the
    # restore (it would replace the catalogue the later blocks use; tests/test_backup.py
    # runs it) and the upgrade (it installs a new version).
    assert len(skipped) <= 5, f"blocks marked as not run: {skipped}"
    assert any(is_serve(t) for t in texts), "no `niaouli serve` among the commands run"
    assert any(t.startswith("curl ") for t in texts), "the curl example is not run"
    assert any(" ingest " in t for t in texts), "no ingestion among the commands run"


def test_readme_commands_run_as_written_on_the_demo(tmp_path: Path) -> None:
    commands, _ = readme_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    env.update(
        NIAOULI_DATA_DIR=str(tmp_path / "data"),
        NIAOULI_HARVEST_FETCH_TIMEOUT="20",
        NIAOULI_HARVEST_SCHEDULER="0",
        NIAOULI_SQLITE_STRICT_WRITES=os.environ.get("NIAOULI_SQLITE_STRICT_WRITES", "1"),
    )
    niaouli = str(REPO / ".venv" / "bin" / "niaouli")
    for step in (["db", "upgrade"], ["demo", "load"]):  # what scripts/start does first
        subprocess.run([niaouli, *step], cwd=REPO, env=env, check=True, capture_output=True)

    port = free_port()
    env_file = tmp_path / "env"
    servers: list[subprocess.Popen] = []
    try:
        for command in commands:
            text = on_port(command.text, port)
            if is_serve(text):
                log = tmp_path / "serve.log"
                servers.append(start_server(text, env, port, log))
                printed = log.read_text(errors="replace")
                assert not re.search(r"Warning|Traceback", printed), failure(
                    command, None, f"the server printed a warning:\n{printed}"
                )
                continue
            started = time.monotonic()
            result = run_command(text, env, env_file)
            print(f"{time.monotonic() - started:6.1f} s  {command.text[:90]}")
            assert "Traceback" not in result.stderr, failure(command, result, "traceback")
            offline = " harvest run " in f" {text} " and harvest_offline(result)
            assert result.returncode == 0 or offline, failure(
                command, result, f"exit status {result.returncode}"
            )
            for item in env_file.read_bytes().decode().split("\0"):
                key, _, value = item.partition("=")
                if key and key not in SHELL_VARIABLES and env.get(key) != value:
                    env[key] = value  # e.g. TOKEN for the curl example
    finally:
        for process in servers:
            stop(process)


@pytest.mark.parametrize(
    ("written", "run"),
    [
        (
            ".venv/bin/niaouli serve --host 0.0.0.0 --port 8000",
            ".venv/bin/niaouli serve --host 0.0.0.0 --port 4321",
        ),
        ('curl "http://localhost:8000/api/x"', 'curl "http://localhost:4321/api/x"'),
        ("echo 80000 localhost:80001", "echo 80000 localhost:80001"),
    ],
)
def test_only_the_port_is_substituted(written: str, run: str) -> None:
    assert on_port(written, 4321) == run


def test_a_dry_run_on_an_unknown_host_is_a_clear_french_report(tmp_path: Path) -> None:
    """What the README's `harvest run` gives without network, on any machine: a host that
    can never resolve (`.invalid`, RFC 2606) ends in the French report, not a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    env["NIAOULI_DATA_DIR"] = str(tmp_path)
    niaouli = str(REPO / ".venv" / "bin" / "niaouli")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [niaouli, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )

    assert run("db", "upgrade").returncode == 0
    assert run("org", "create", "dass-nc", "--name", "DASS", "--kind", "government").returncode == 0
    url = "https://catalogue.invalid/geonetwork/srv/fre/csw"
    assert run("harvest", "add", "dass-nc", "csw", url, "--slug", "absent").returncode == 0
    result = run("harvest", "run", "absent", "--dry-run", "--progress", "none")
    assert harvest_offline(result), result.stdout + result.stderr
    assert "nom d'hôte introuvable : catalogue.invalid" in result.stdout
    assert "Traceback" not in result.stderr
