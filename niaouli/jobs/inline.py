"""The embedded backend: a job runs in a thread of the process that asked for it.

With SQLite there is no server to hold a queue, and the platform must run with no
other process: `start` runs the job's function (the same one the queue's workers run)
in a daemon thread, and `Scheduler` (a thread of `niaouli serve`) calls the periodic
jobs when their cron comes. A job dies with its process; what it left marked as under
way is resolved when `niaouli serve` starts again (`recover`, through each job's
`abandoned` hook: a harvest's `running` row is failed with its reason). The scheduler
keeps the time it last looked in the data directory, so a periodic job that came due
while the server was down runs once after start (not once per missed period).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from niaouli.jobs import registry
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)
_lock = threading.Lock()
_running: set[threading.Thread] = set()
_failed = 0


def start(job: registry.JobDef, settings: Settings | None, **kwargs: Any) -> threading.Thread:  # noqa: ANN401
    """Run `job` with `kwargs` in a daemon thread; returns at once."""

    def target() -> None:
        global _failed
        try:
            job.func(registry.JobInfo(settings=settings), **kwargs)
        except Exception:  # noqa: BLE001 - a background thread must log, not die silently
            LOGGER.exception("tâche %s en échec", job.name)
            with _lock:
                _failed += 1
        finally:
            with _lock:
                _running.discard(threading.current_thread())

    thread = threading.Thread(target=target, name=f"niaouli-job-{job.name}", daemon=True)
    with _lock:
        _running.add(thread)
    thread.start()
    return thread


def running() -> int:
    """Jobs under way in this process's threads."""
    with _lock:
        return len(_running)


def failed() -> int:
    """Jobs of this process that ended with an exception since it started."""
    with _lock:
        return _failed


def recover(settings: Settings) -> int:
    """At start: resolve what runs of the registered jobs left under way in processes that
    are gone (each job's `abandoned` hook); how many runs were resolved."""
    found = 0
    for job in registry.registered():
        if job.abandoned is None:
            continue
        try:
            found += job.abandoned(settings)
        except Exception:  # noqa: BLE001 - a start-up chore must not stop the server
            LOGGER.exception("reprise des tâches %s interrompues", job.name)
    return found


def schedule_state(settings: Settings) -> Path:
    """Where the scheduler keeps the time it last looked at the periodic jobs."""
    return settings.data_dir / "jobs" / "scheduler.json"


def last_look(settings: Settings) -> datetime | None:
    try:
        raw = json.loads(schedule_state(settings).read_text(encoding="utf-8"))
        value = datetime.fromisoformat(raw["last"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def note_look(settings: Settings, when: datetime) -> None:
    """Record `when` (a temporary file renamed over the old one: never half written)."""
    path = schedule_state(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"last": when.isoformat()}), encoding="utf-8")
    temporary.replace(path)


class Scheduler(threading.Thread):
    """Calls each periodic job in this thread when its cron comes (checked every `tick`
    seconds, the first time at once): one at a time, as SQLite has one writer.

    The last look survives the process (`schedule_state`): at start, a job whose cron
    came while the server was down runs once, whatever the number of periods missed."""

    def __init__(self, settings: Settings, tick: float = 20.0) -> None:
        super().__init__(name="niaouli-job-scheduler", daemon=True)
        self.settings, self.tick = settings, tick
        self.stopping = threading.Event()

    def run(self) -> None:
        last = last_look(self.settings) or datetime.now(UTC)
        wait = 0.0
        while not self.stopping.wait(wait):
            wait = self.tick
            now = datetime.now(UTC)
            for job in registry.registered():
                if job.cron and croniter(job.cron, last).get_next(datetime) <= now:
                    try:
                        job.func(registry.JobInfo(settings=self.settings))
                    except Exception:  # noqa: BLE001 - keep the thread alive
                        LOGGER.exception("tâche périodique %s", job.name)
            last = now
            try:
                note_look(self.settings, now)
            except OSError:
                LOGGER.warning(
                    "calendrier des tâches : %s non écrit", schedule_state(self.settings)
                )

    def stop(self) -> None:
        self.stopping.set()
