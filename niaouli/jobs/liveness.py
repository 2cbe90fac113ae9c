"""Is the process that marked a run "under way" still alive? A lock the kernel releases.

A run in a thread of `niaouli serve` (the embedded backend, `inline.py`) or of a command
dies with its process, leaving its row `running`. While it runs it holds an exclusive
`flock` on a marker file under `$NIAOULI_DATA_DIR/jobs/running/`; the kernel drops the
lock when the process ends, however it ends (`kill -9` too). At start-up, a row still
`running` whose marker nobody holds was left by a dead process and is resolved
(`registry.JobDef.abandoned`). `flock` locks belong to an open file, so two threads of
one process exclude each other as two processes do.

The markers are local to the machine: this answers for the embedded database (one
machine); the PostgreSQL queue has its own heartbeats (`queue.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from niaouli.settings import Settings

POLL = 0.05  # seconds between two tries while waiting for a marker


def marker(settings: Settings, name: str) -> Path:
    """The marker file of `name` (a short identifier, e.g. `harvest-source-3`)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad marker name {name!r}")
    return settings.data_dir / "jobs" / "running" / f"{name}.lock"


@contextlib.contextmanager
def holding(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Hold `path`'s lock while the context lasts: yields True, or False when another
    live holder kept it for `wait` seconds (then nothing is held)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(POLL)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
