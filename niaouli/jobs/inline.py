"""The embedded backend: a job runs in a thread of the process that asked for it.

With SQLite there is no server to hold a queue, and the platform must run with no
other process: `start` runs the job's function (the same one the queue's workers run)
in a daemon thread, and `Scheduler` (a thread of `niaouli serve`) calls the periodic
jobs when their cron comes. What this gives up, said in docs/jobs.md: a job dies with
its process (a harvest's `running` row is then resolved by the runner's 6-hour rule).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
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


class Scheduler(threading.Thread):
    """Calls each periodic job in this thread when its cron comes (checked every `tick`
    seconds): one at a time, as SQLite has one writer."""

    def __init__(self, settings: Settings, tick: float = 20.0) -> None:
        super().__init__(name="niaouli-job-scheduler", daemon=True)
        self.settings, self.tick = settings, tick
        self.stopping = threading.Event()

    def run(self) -> None:
        last = datetime.now(UTC)
        while not self.stopping.wait(self.tick):
            now = datetime.now(UTC)
            for job in registry.registered():
                if job.cron and croniter(job.cron, last).get_next(datetime) <= now:
                    try:
                        job.func(registry.JobInfo(settings=self.settings))
                    except Exception:  # noqa: BLE001 - keep the thread alive
                        LOGGER.exception("tâche périodique %s", job.name)
            last = now

    def stop(self) -> None:
        self.stopping.set()
