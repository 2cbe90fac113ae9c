"""The job definitions: registered once by the composition root, run by either backend.

The core may not import the layers above it, so the jobs that call them (harvests) are
defined in their own layer and registered at start-up (`niaouli.startup.install`). Both
backends run exactly the function given here: procrastinate wraps it into a task
(`queue.py`), the inline backend calls it in a thread (`inline.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from niaouli.settings import Settings


@dataclass(frozen=True)
class JobInfo:
    """What a running job knows of itself: its queue id (None inline), how many runs of
    it were interrupted before this one (a killed worker's run counts), and the settings
    of the process running it (None: `get_settings()`)."""

    id: int | None = None
    attempts: int = 0
    settings: Settings | None = None


@dataclass(frozen=True)
class JobDef:
    """A job: `func(info, **kwargs)`; `cron` (five fields) makes it periodic, called with
    no kwargs by the workers (queue) or by the server's scheduler thread (inline).
    `interrupted(info, **kwargs)` is called when a worker died during a run of it (queue
    only), before the job is run again or failed: it resolves what the run left marked
    as under way. `abandoned(settings)` is called when `niaouli serve` starts with the
    inline backend (`inline.recover`): it resolves what runs of this job left under way
    by processes that are gone (`liveness.py`), and says how many."""

    name: str
    func: Callable[..., Any]
    cron: str | None = None
    queue: str = "default"
    interrupted: Callable[..., None] | None = None
    abandoned: Callable[[Settings], int] | None = None


_jobs: dict[str, JobDef] = {}
_lock = threading.Lock()


def register(job: JobDef) -> None:
    """Add (or replace, idempotently) a job definition."""
    with _lock:
        _jobs[job.name] = job


def get(name: str) -> JobDef:
    try:
        return _jobs[name]
    except KeyError:
        raise LookupError(f"job {name!r} not registered (niaouli.startup.install)") from None


def registered() -> list[JobDef]:
    with _lock:
        return list(_jobs.values())
