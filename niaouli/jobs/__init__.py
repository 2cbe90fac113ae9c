"""Long jobs (harvests, scheduled runs) outside the web requests: one definition, two ways.

A job is a plain function registered once (`registry.JobDef`). With PostgreSQL it goes
through procrastinate's queue in the same database (`queue.py`), run by `niaouli
worker` processes: heartbeats, a job of a dead worker run again, locks so that two jobs
of one lock never run at once. With the embedded SQLite default the same function runs
in a thread of the process that asked (`inline.py`): no other process to start.
`submit` (below) picks one from `NIAOULI_JOBS`; `status.py` answers the operations'
questions. See docs/jobs.md.
"""

from __future__ import annotations

import enum
from typing import Any

from niaouli.jobs import registry
from niaouli.settings import Settings


class Submitted(enum.StrEnum):
    QUEUED = "queued"  # in the PostgreSQL queue; a worker will run it
    ALREADY_QUEUED = "already-queued"  # the same work waits in the queue already
    STARTED = "started"  # inline: running in a thread of this process


def submit(
    settings: Settings,
    name: str,
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
    **kwargs: Any,  # noqa: ANN401
) -> Submitted:
    """Run job `name` in the background: queued (PostgreSQL) or in a thread (inline).

    `lock`: jobs sharing it never run at once (queue); `queueing_lock`: at most one job
    of it waits in the queue. Inline, the job's own guard applies (a harvest claims its
    source)."""
    job = registry.get(name)
    if settings.job_queue:
        from niaouli.jobs import queue

        queued = queue.defer(settings, name, lock=lock, queueing_lock=queueing_lock, **kwargs)
        return Submitted.QUEUED if queued is not None else Submitted.ALREADY_QUEUED
    from niaouli.jobs import inline

    inline.start(job, settings, **kwargs)
    return Submitted.STARTED
