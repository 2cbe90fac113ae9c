"""Is this machine's `niaouli worker` alive? Its heartbeat file, and the check of it.

A container's health check runs beside the worker, not inside it: the worker writes a
small file (`heartbeat_path`: under the data folder, one per host name, so one per
container) every third of `NIAOULI_JOBS_STALLED_AFTER`, naming its process and its
procrastinate worker id. `check` (`niaouli worker --check`) says the worker is alive
only when that process exists, the file is fresh, and procrastinate's own heartbeat of
that worker in `procrastinate_workers` is fresh too (so the worker's event loop runs
and reaches the database). A worker killed with `kill -9` fails the check at once (its
process is gone); a hung one within `NIAOULI_JOBS_STALLED_AFTER` seconds.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from niaouli.settings import Settings


def heartbeat_path(settings: Settings) -> Path:
    return settings.data_dir / "run" / f"worker-{socket.gethostname()}.json"


def write(path: Path, worker_id: int | None) -> None:
    """Replace the heartbeat file in one rename (a check never reads half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    body = {"pid": os.getpid(), "worker_id": worker_id, "at": time.time()}
    partial.write_text(json.dumps(body), encoding="utf-8")
    partial.replace(path)


def remove(path: Path) -> None:
    """A worker that stops cleanly says so: its check fails at once."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


def check(engine: Engine, settings: Settings, path: Path) -> str | None:
    """None when the worker of `path` is alive; else why not (French)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        pid, worker_id, at = int(body["pid"]), body.get("worker_id"), float(body["at"])
    except FileNotFoundError:
        return f"aucun worker en marche ici ({path} absent)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"fichier de battement illisible : {path}"
    limit = settings.jobs_stalled_after
    if not _process_alive(pid):
        return f"le processus du worker ({pid}) est arrêté"
    if time.time() - at > limit:
        return f"pas de battement du worker depuis {time.time() - at:.0f} s"
    if worker_id is None:
        return "worker pas encore inscrit dans la file"
    try:
        with engine.connect() as conn:
            age = conn.scalar(
                text(
                    "SELECT extract(epoch FROM now() - last_heartbeat)"
                    " FROM procrastinate_workers WHERE id = :id"
                ),
                {"id": int(worker_id)},
            )
    except SQLAlchemyError as exc:
        return f"file de tâches injoignable : {type(exc).__name__}"
    if age is None:
        return f"worker {worker_id} absent de la file (tenu pour mort)"
    if float(age) > limit:
        return f"pas de battement du worker {worker_id} dans la file depuis {float(age):.0f} s"
    return None
