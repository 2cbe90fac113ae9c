"""The PostgreSQL job queue: procrastinate, in the catalogue's own database.

Why procrastinate: the jobs live in the PostGIS the platform already runs (no broker to
install, back up or watch), it speaks psycopg 3 like the rest, and it has what a killed
worker needs: workers write a heartbeat, the jobs of a worker whose heartbeat stopped
can be found and run again, and a `lock` keeps two jobs of the same lock (a harvest
source) from ever running at once. Its tables are made by the migration
`0022_job_queue` (PostgreSQL only).

`get_app` builds the procrastinate `App` of a process (tasks made from
`registry.registered()`); `submit` defers a job; `run_worker` runs one worker with its
recovery loop (`recover_stalled`): a job left `doing` by a dead worker is run again,
or marked failed after `NIAOULI_JOBS_MAX_ATTEMPTS` interrupted runs, each time after
its definition's `interrupted` hook has said so in the job's own records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

import procrastinate
from procrastinate import exceptions as pc_exceptions
from procrastinate.jobs import Job, Status
from procrastinate.worker import Worker
from sqlalchemy.engine import make_url

from niaouli.jobs import heartbeat, registry
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)
_apps: dict[tuple[int, str], procrastinate.App] = {}
_apps_lock = threading.Lock()


def conninfo(settings: Settings) -> str:
    """The libpq URL of the catalogue database (without SQLAlchemy's driver name)."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def build_app(settings: Settings, max_size: int = 4) -> procrastinate.App:
    """A new App on the catalogue database with every registered job as a task."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(settings), min_size=1, max_size=max_size
    )
    app = procrastinate.App(connector=connector)
    for job in registry.registered():
        _add_task(app, job, settings)
    return app


def _add_task(app: procrastinate.App, job: registry.JobDef, settings: Settings) -> None:
    def run(context: procrastinate.JobContext, **kwargs: Any) -> Any:  # noqa: ANN401
        kwargs.pop("timestamp", None)  # what procrastinate gives a periodic task
        assert context.job.id is not None
        info = registry.JobInfo(context.job.id, context.job.attempts, settings)
        return job.func(info, **kwargs)

    run.__name__ = run.__qualname__ = job.name.replace("-", "_")
    task = app.task(name=job.name, queue=job.queue, pass_context=True)(run)
    if job.cron:
        # One deferral per tick whatever the number of workers (procrastinate's own
        # table), and none while the previous one still waits.
        app.periodic(cron=job.cron, periodic_id=job.name, queueing_lock=job.name)(task)


def get_app(settings: Settings) -> procrastinate.App:
    """This process's App for deferring (opened synchronously, a small pool)."""
    key = (os.getpid(), settings.database_url)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = build_app(settings)
            app.open()
            _apps[key] = app
        return app


def close_apps() -> None:
    """Close the pools opened by `get_app` in this process (tests, shutdown)."""
    with _apps_lock:
        for (pid, _url), app in list(_apps.items()):
            if pid == os.getpid():
                app.close()
        _apps.clear()


def defer(
    settings: Settings,
    name: str,
    *,
    lock: str | None = None,
    queueing_lock: str | None = None,
    **kwargs: Any,  # noqa: ANN401
) -> int | None:
    """Queue job `name`; its id, or None when `queueing_lock` already has one waiting."""
    task = get_app(settings).configure_task(name, lock=lock, queueing_lock=queueing_lock)
    try:
        return task.defer(**kwargs)
    except pc_exceptions.AlreadyEnqueued:
        return None


async def recover_stalled(app: procrastinate.App, settings: Settings) -> list[int]:
    """Run again (or fail) the jobs left `doing` by workers whose heartbeat stopped.

    Each such job's definition is told first (`interrupted`: a harvest marks its
    `running` row failed); then the job goes back to the queue, where its lock still
    keeps it from running beside another job of the same lock, or, after
    `jobs_max_attempts` interrupted runs, is marked failed. Returns the ids handled.
    """
    manager = app.job_manager
    await manager.prune_stalled_workers(settings.jobs_stalled_after)
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=settings.jobs_stalled_after)
    handled = []
    for job in stalled:
        assert job.id is not None
        definition = _definition(job.task_name)
        info = registry.JobInfo(job.id, job.attempts, settings)
        try:
            if definition is not None and definition.interrupted is not None:
                await asyncio.to_thread(definition.interrupted, info, **job.task_kwargs)
            if job.attempts + 1 >= settings.jobs_max_attempts:
                LOGGER.error("job %s (%s) interrupted too often: failed", job.id, job.task_name)
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            else:
                LOGGER.warning("job %s (%s) of a dead worker: run again", job.id, job.task_name)
                await _retry(app, job)
        except Exception:  # noqa: BLE001 - another worker may have handled it first
            LOGGER.exception("stalled job %s", job.id)
            continue
        handled.append(job.id)
    return handled


async def _retry(app: procrastinate.App, job: Job) -> None:
    """Back to the queue. When another job with its queueing lock waits already (the
    same harvest asked again meanwhile), this one gives its queueing lock up: both run,
    one after the other (their `lock`), rather than the interrupted one never again."""
    try:
        await app.job_manager.retry_job(job)
    except pc_exceptions.UniqueViolation:
        await app.connector.execute_query_async(
            "UPDATE procrastinate_jobs SET queueing_lock = NULL"
            " WHERE id = %(job_id)s AND status = 'doing'",
            job_id=job.id,
        )
        await app.job_manager.retry_job(job)


def _definition(task_name: str) -> registry.JobDef | None:
    try:
        return registry.get(task_name)
    except LookupError:
        return None


async def _recovery_loop(app: procrastinate.App, settings: Settings) -> None:
    while True:
        try:
            await recover_stalled(app, settings)
        except Exception:  # noqa: BLE001 - the worker goes on; next round retries
            LOGGER.exception("stalled jobs")
        await asyncio.sleep(settings.jobs_stalled_after / 3)


async def _liveness_loop(worker: Worker, settings: Settings, path: Path) -> None:
    """The heartbeat file `niaouli worker --check` reads (`heartbeat.py`)."""
    while True:
        try:
            await asyncio.to_thread(heartbeat.write, path, worker.worker_id)
        except OSError:
            LOGGER.exception("heartbeat file %s", path)
        await asyncio.sleep(min(settings.jobs_stalled_after / 3, 10.0))


async def work(
    settings: Settings,
    concurrency: int,
    queues: list[str] | None = None,
    heartbeat_file: Path | None = None,
) -> None:
    """One worker until SIGINT/SIGTERM: jobs, periodic jobs, heartbeats, recovery."""
    app = build_app(settings, max_size=concurrency + 4)
    path = heartbeat_file or heartbeat.heartbeat_path(settings)
    async with app.open_async():
        # What `App.run_worker_async` does (procrastinate 3.10), keeping the Worker to
        # learn its id for the heartbeat file.
        app.perform_import_paths()
        worker = app._worker(  # noqa: SLF001
            queues=queues,
            concurrency=concurrency,
            update_heartbeat_interval=settings.jobs_stalled_after / 3,
            stalled_worker_timeout=settings.jobs_stalled_after,
            install_signal_handlers=True,
        )
        helpers = [
            asyncio.create_task(_recovery_loop(app, settings), name="niaouli-recovery"),
            asyncio.create_task(_liveness_loop(worker, settings, path), name="niaouli-alive"),
        ]
        try:
            await worker.run()
        finally:
            for helper in helpers:
                helper.cancel()
            heartbeat.remove(path)


def run_worker(
    settings: Settings,
    concurrency: int,
    queues: list[str] | None = None,
    heartbeat_file: Path | None = None,
) -> None:
    asyncio.run(work(settings, concurrency, queues, heartbeat_file))
