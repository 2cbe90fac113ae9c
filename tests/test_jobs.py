"""Background jobs (niaouli/jobs, docs/jobs.md): a killed worker loses nothing.

On PostGIS, real `niaouli worker` processes run queued harvests against a fake remote
that can hold its answers: the worker is killed with SIGKILL in the middle of a run,
another one starts, and the run is resolved (its row failed with the reason, never left
`running`), the job runs again to success, and a second run of the same source asked
meanwhile waits for it (never two at once). Scheduled harvests are the workers' too.
On SQLite, the same job runs in a thread of the process that asked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from niaouli.catalogue import service
from niaouli.catalogue.models import Dataset
from niaouli.ingest.harvest import launch
from niaouli.ingest.harvest.harvest_tables import HarvestJob, HarvestSource, JobStatus
from niaouli.ingest.harvest.runner import STALE
from niaouli.jobs import Submitted, inline, queue, registry, status
from niaouli.jobs.inline import Scheduler
from niaouli.jobs.registry import JobDef
from tests.accounts_support import LoggedServer
from tests.conftest import Backend, fresh_backend
from tests.harvest_support import FakeCsw, FakeRemote, add_source_for, real_iso_records
from tests.jobs_support import Gate, Worker, wait_for

ORG = "province-sud"
# Dead after 8 s without a heartbeat (every 8/3 s): quick enough for a test, slow
# enough for a loaded machine's live worker not to be taken for dead.
WORKER_ENV = {"NIAOULI_JOBS_STALLED_AFTER": "8", "NIAOULI_HARVEST_FETCH_TIMEOUT": "300"}


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with fresh_backend(request, "postgis", tmp_path) as made:
        with made.session() as session, session.begin():
            service.create_organisation(session, ORG, "Province Sud", "province")
        yield made
    queue.close_apps()


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate(FakeCsw(real_iso_records()))
    remote = FakeRemote(held)
    held.url = remote.url
    try:
        yield held
    finally:
        held.open()
        remote.close()


def _runs(backend: Backend) -> list[HarvestJob]:
    with backend.session() as session:
        return list(session.scalars(select(HarvestJob).order_by(HarvestJob.id)).all())


def _queued(backend: Backend, task: str = "harvest") -> list[tuple[int, str, int]]:
    with backend.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT id, status::text, attempts FROM procrastinate_jobs"
                    " WHERE task_name = :task ORDER BY id"
                ),
                {"task": task},
            )
        ]


def test_a_killed_worker_loses_nothing(pg: Backend, gate: Gate, tmp_path: Path) -> None:
    add_source_for(pg, ORG, gate.url + "/csw", "sud-csw", "csw")
    gate.hold()
    assert launch.start(pg.engine, pg.settings, "sud-csw") == Submitted.QUEUED
    # Asked twice while it waits: one job (queueing lock), the second request says so.
    assert launch.start(pg.engine, pg.settings, "sud-csw") == Submitted.ALREADY_QUEUED
    assert status.queue_depth(pg.engine) == 1

    with Worker(pg, tmp_path / "first.log", **WORKER_ENV) as first:
        wait_for(gate.entered.is_set, what="the first run's request")
        [run] = _runs(pg)
        assert run.status == JobStatus.RUNNING
        [(job_id, state, attempts)] = _queued(pg)
        assert (run.queue_job_id, state, attempts) == (job_id, "doing", 0)
        first.kill()
    # Dead in the middle of its run: both rows still say it is under way.
    assert _runs(pg)[0].status == JobStatus.RUNNING
    assert _queued(pg)[0][1] == "doing"
    gate.open()  # the dead worker's held request ends into a closed socket
    wait_for(lambda: gate.in_flight == 0, what="the dead request")
    gate.reset_count()
    gate.hold()
    # A second run of the same source, asked meanwhile, must wait for the first.
    assert launch.start(pg.engine, pg.settings, "sud-csw") == Submitted.QUEUED
    later = _queued(pg)[1][0]

    with Worker(pg, tmp_path / "second.log", **WORKER_ENV) as second:
        wait_for(gate.entered.is_set, what="the run taken up again")
        runs = _runs(pg)
        assert (runs[0].status, runs[0].message) == (JobStatus.FAILED, STALE)
        assert runs[0].finished_at is not None
        assert [(r.status, r.queue_job_id) for r in runs[1:]] == [(JobStatus.RUNNING, job_id)]
        assert [(i, s) for i, s, _a in _queued(pg)] == [(job_id, "doing"), (later, "todo")]
        gate.open()
        wait_for(
            lambda: [s for _i, s, _a in _queued(pg)] == ["succeeded", "succeeded"],
            what="both jobs done\n" + second.output(),
        )
    assert gate.max_in_flight == 1, "two runs of one source at once"
    runs = _runs(pg)
    assert [(r.status, r.queue_job_id) for r in runs] == [
        (JobStatus.FAILED, job_id),
        (JobStatus.SUCCESS, job_id),
        (JobStatus.SUCCESS, later),
    ]
    assert (runs[1].created, runs[2].unchanged) == (3, 3)
    assert _queued(pg)[0][2] == 2  # runs: the interrupted one, then the one that succeeded
    with pg.session() as session:
        assert len(session.scalars(select(Dataset.slug)).all()) == 3
    assert status.failed_jobs(pg.engine) == 0 and status.queue_depth(pg.engine) == 0
    assert "of a dead worker: run again" in second.output()


def test_a_job_interrupted_too_often_is_failed_with_its_report(pg: Backend, gate: Gate) -> None:
    """The recovery's last word: after NIAOULI_JOBS_MAX_ATTEMPTS interrupted runs the job is
    failed (counted by `failed_jobs`) and its harvest row says why."""
    add_source_for(pg, ORG, gate.url + "/csw", "sud-csw", "csw")
    assert launch.start(pg.engine, pg.settings, "sud-csw") == Submitted.QUEUED
    [(job_id, _s, _a)] = _queued(pg)
    # What a third killed worker leaves: the job `doing` for no live worker, its run
    # `running`.
    with pg.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', attempts = 2 WHERE id = :id"),
            {"id": job_id},
        )
    with pg.session() as session, session.begin():
        source = session.scalar(select(HarvestSource))
        session.add(HarvestJob(source_id=source.id, status=JobStatus.RUNNING, queue_job_id=job_id))
    settings = pg.settings.model_copy(update={"jobs_stalled_after": 5.0})

    async def recover() -> list[int]:
        app = queue.build_app(settings)
        async with app.open_async():
            return await queue.recover_stalled(app, settings)

    assert asyncio.run(recover()) == [job_id]
    assert _queued(pg) == [(job_id, "failed", 3)]  # three runs, none finished
    [run] = _runs(pg)
    assert (run.status, run.message) == (JobStatus.FAILED, STALE)
    assert status.failed_jobs(pg.engine) == 1 and status.queue_depth(pg.engine) == 0
    assert asyncio.run(recover()) == []  # nothing left to recover


def test_scheduled_harvests_are_run_by_the_worker(pg: Backend, gate: Gate, tmp_path: Path) -> None:
    add_source_for(pg, ORG, gate.url + "/csw", "planifiee", "csw")
    with pg.session() as session, session.begin():
        session.execute(update(HarvestSource).values(schedule="hourly"))
    # In production the worker logs JSON lines, as the web server does.
    with Worker(pg, tmp_path / "worker.log", **WORKER_ENV, NIAOULI_LOG_FORMAT="json") as worker:
        # The periodic `harvest-due` job (every minute) queues the due source.
        wait_for(
            lambda: [r.status for r in _runs(pg)] == [JobStatus.SUCCESS],
            seconds=240,
            what="the scheduled run\n" + worker.output(),
        )
        assert status.workers_alive(pg.engine) == 1
    lines = [line for line in worker.output().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"].startswith("procrastinate") for r in records)
    assert [s for _i, s, _a in _queued(pg)] == ["succeeded"]
    assert [s for _i, s, _a in _queued(pg, "harvest-due")][0] == "succeeded"


def test_status_answers_for_operations(pg: Backend) -> None:
    assert status.jobs_reachable(pg.engine) is None
    assert status.queue_depth(pg.engine) == 0 and status.failed_jobs(pg.engine) == 0
    without = create_engine(pg.engine.url.set(database="postgres"))
    try:
        assert status.jobs_reachable(without) == "file de tâches absente (niaouli db upgrade)"
    finally:
        without.dispose()
    nowhere = create_engine(pg.engine.url.set(host="127.0.0.1", port=1))
    try:
        reason = status.jobs_reachable(nowhere)
        assert reason is not None and reason.startswith("file de tâches injoignable : ")
    finally:
        nowhere.dispose()


def test_the_worker_needs_postgresql(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("the embedded backend's answer")
    result = backend.run("worker", check=False)
    assert result.returncode != 0
    assert "`niaouli worker` demande PostgreSQL" in result.stderr + result.stdout


def test_embedded_jobs_run_inline(backend: Backend, gate: Gate) -> None:
    """SQLite: the portal's `launch.start` runs the same job in a thread of this
    process, and the scheduler thread runs the periodic one; nothing to start."""
    if backend.name != "sqlite":
        pytest.skip("the embedded backend")
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Province Sud", "province")
    add_source_for(backend, ORG, gate.url + "/csw", "sud-csw", "csw")
    assert not backend.settings.job_queue
    assert launch.start(backend.engine, backend.settings, "sud-csw") == Submitted.STARTED
    wait_for(lambda: [r.status for r in _runs(backend)] == [JobStatus.SUCCESS], what="the run")
    assert _runs(backend)[0].queue_job_id is None
    assert status.jobs_reachable(backend.engine) is None
    wait_for(lambda: status.queue_depth(backend.engine) == 0, what="the thread's end")
    # Scheduled: due at once (never run as scheduled), run by the server's thread.
    add_source_for(backend, ORG, gate.url + "/csw", "planifiee", "csw")
    with backend.session() as session, session.begin():
        session.execute(
            update(HarvestSource).where(HarvestSource.slug == "planifiee").values(schedule="daily")
        )
    scheduler = Scheduler(backend.settings, tick=0.5)
    scheduler.start()
    try:
        wait_for(lambda: len(_runs(backend)) == 2, seconds=150, what="the scheduled run")
    finally:
        scheduler.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_embedded_server_killed_mid_harvest_resolves_it_at_start(
    backend: Backend, gate: Gate, tmp_path: Path
) -> None:
    """SQLite: `niaouli serve` killed (SIGKILL, its whole process group) in the middle
    of a scheduled harvest. At its next start the run is failed with its reason (never
    left `running`), and a schedule that came due while it was down runs once."""
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Province Sud", "province")
    add_source_for(backend, ORG, gate.url + "/csw", "planifiee", "csw")
    with backend.session() as session, session.begin():
        session.execute(update(HarvestSource).values(schedule="hourly"))
    down_since = datetime.now(UTC) - timedelta(hours=3)
    # The scheduler last looked three hours ago: its first look runs the due source.
    inline.note_look(backend.settings, down_since)
    gate.hold()
    with LoggedServer(backend, tmp_path / "first.log") as first:
        wait_for(gate.entered.is_set, what="the scheduled run at start\n" + first.log())
        [run] = _runs(backend)
        assert run.status == JobStatus.RUNNING
        first.kill()
    assert [r.status for r in _runs(backend)] == [JobStatus.RUNNING]  # what a crash leaves
    gate.open()  # the dead server's held request ends into a closed socket
    wait_for(lambda: gate.in_flight == 0, what="the dead request")

    # Down for three hours: a daily source last harvested three days ago came due.
    add_source_for(backend, ORG, gate.url + "/csw", "quotidienne", "csw")
    with backend.session() as session, session.begin():
        daily = session.scalar(select(HarvestSource).where(HarvestSource.slug == "quotidienne"))
        daily.schedule = "daily"
        daily_id = daily.id
        session.add(
            HarvestJob(
                source_id=daily_id,
                status=JobStatus.SUCCESS,
                dry_run=False,
                started_at=datetime.now(UTC) - timedelta(days=3),
                finished_at=datetime.now(UTC) - timedelta(days=3),
            )
        )
    inline.note_look(backend.settings, down_since)
    with LoggedServer(backend, tmp_path / "second.log") as second:
        # Resolved before the server answered anything.
        killed = next(r for r in _runs(backend) if r.id == run.id)
        assert (killed.status, killed.message) == (JobStatus.FAILED, STALE)
        assert killed.finished_at is not None
        wait_for(
            lambda: (
                [r.status for r in _runs(backend) if r.source_id == daily_id][-1:]
                == [JobStatus.SUCCESS]
                and len([r for r in _runs(backend) if r.source_id == daily_id]) == 2
            ),
            what="the daily source's run\n" + second.log(),
        )
        assert "interrompue" in second.log()
    by_source = [(r.source_id, r.status) for r in _runs(backend)]
    # Each source once: the killed run counts as the hourly source's run of this hour;
    # the daily one ran once for its three missed days.
    assert by_source == [
        (run.source_id, JobStatus.FAILED),
        (daily_id, JobStatus.SUCCESS),
        (daily_id, JobStatus.SUCCESS),
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_periodic_job_missed_while_down_runs_once(backend: Backend) -> None:
    """The scheduler's last look survives the process: a cron that came several times
    while the server was down gives one run at start, then none until it comes again."""
    calls: list[datetime] = []
    registry.register(
        JobDef("essai-cinq-minutes", lambda _info: calls.append(datetime.now(UTC)), "*/5 * * * *")
    )
    try:
        fresh = Scheduler(backend.settings, tick=0.1)  # never looked before: nothing missed
        fresh.start()
        time.sleep(0.5)
        fresh.stop()
        fresh.join(5)
        assert calls == []
        inline.note_look(backend.settings, datetime.now(UTC) - timedelta(hours=5))  # 60 missed
        scheduler = Scheduler(backend.settings, tick=0.1)
        scheduler.start()
        time.sleep(1.0)
        scheduler.stop()
        scheduler.join(5)
        assert len(calls) == 1, calls
        last = inline.last_look(backend.settings)
        assert last is not None and datetime.now(UTC) - last < timedelta(seconds=5)
    finally:
        registry._jobs.pop("essai-cinq-minutes", None)  # noqa: SLF001 - test-only job
