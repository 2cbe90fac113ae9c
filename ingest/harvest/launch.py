"""Harvests as background jobs: their definitions, and how the portal starts one.

Two jobs, registered at start-up (`install`, called by `niaouli.startup.install`) and
run by either backend of `niaouli.jobs` — the PostgreSQL queue's `niaouli worker`, or
a thread of the process that asked (embedded SQLite):

- `harvest` (`slug`, `dry_run`): one run of a source through `runner.run_source`, which
  claims the source through its job row (`runner._claim`), so a source is never
  harvested twice at once even beside `niaouli harvest run`. Queued with the lock
  `harvest:<slug>`: two queued runs of one source never run at once either. A dry run
  writes nothing to the catalogue; its report is kept as a job row flagged `dry_run`
  (with its per-record items) so the person who asked for it can read it on the
  source's page. Dry-run rows never count as a last success nor as a last run.
- `harvest-due` (every minute): the scheduled sources whose interval has passed
  (`scheduler.due_sources`); queued one job each (queue), or run one after the other
  in the server's scheduler thread (inline: SQLite has one writer).

A worker killed during a run: procrastinate finds the job of the dead worker, our
`interrupted` hook marks its `running` row failed ("moisson interrompue"), and the job
runs again (a harvest is idempotent: unchanged records are skipped) or, after
`NIAOULI_JOBS_MAX_ATTEMPTS` interrupted runs, is failed (docs/jobs.md). On the embedded
database a run dies with `niaouli serve`; when it starts again, `resolve_abandoned` (the
`abandoned` hook) fails the rows whose process is gone, with the same reason.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli import jobs
from niaouli.catalogue.models import utcnow
from niaouli.db.engine import get_engine, writing
from niaouli.ingest.harvest.harvest_tables import HarvestJob, HarvestSource, JobStatus
from niaouli.jobs import liveness
from niaouli.jobs.registry import JobDef, JobInfo, register
from niaouli.settings import Settings, get_settings

LOGGER = logging.getLogger(__name__)
HARVEST = "harvest"
HARVEST_DUE = "harvest-due"


def is_running(session: Session, source_id: int) -> bool:
    return (
        session.scalar(
            select(HarvestJob.id)
            .where(HarvestJob.source_id == source_id, HarvestJob.status == JobStatus.RUNNING)
            .limit(1)
        )
        is not None
    )


def lock_of(slug: str) -> str:
    """The queue lock of a source's runs: never two at once."""
    return f"harvest:{slug}"


def start(engine: Engine, settings: Settings, slug: str, dry_run: bool = False) -> jobs.Submitted:
    """Run (or simulate) source `slug` in the background; returns at once."""
    del engine  # the job opens its own (the worker's process, or this one's)
    return jobs.submit(
        settings,
        HARVEST,
        lock=lock_of(slug),
        queueing_lock=f"{lock_of(slug)}:{'essai' if dry_run else 'run'}",
        slug=slug,
        dry_run=dry_run,
    )


def resolve_interrupted(engine: Engine, queue_job: int) -> int:
    """Mark failed the rows left `running` by an interrupted run of queued job
    `queue_job` (nothing was deleted by it); how many there were."""
    from niaouli.ingest.harvest.runner import STALE

    with Session(writing(engine)) as session:
        rows = session.scalars(
            select(HarvestJob).where(
                HarvestJob.queue_job_id == queue_job, HarvestJob.status == JobStatus.RUNNING
            )
        ).all()
        for row in rows:
            row.status = JobStatus.FAILED
            row.finished_at = utcnow()
            row.message = STALE
        session.commit()
        return len(rows)


def resolve_abandoned(settings: Settings) -> int:
    """Embedded database: mark failed the runs left `running` by processes that are gone
    (their source's liveness marker is free: `runner.run_source`); how many there were.

    Only there: the markers are local files, and a PostgreSQL database may be shared by
    runs on other machines (the queue resolves its own: `interrupted`)."""
    from niaouli.ingest.harvest.runner import STALE, source_marker

    if not settings.is_embedded:
        return 0
    engine = get_engine(settings)
    with Session(engine) as session:
        found = session.execute(
            select(HarvestJob.id, HarvestJob.source_id).where(
                HarvestJob.status == JobStatus.RUNNING, HarvestJob.dry_run.is_(False)
            )
        ).all()
    by_source: dict[int, list[int]] = {}
    for job_id, source_id in found:
        by_source.setdefault(source_id, []).append(job_id)
    resolved = 0
    for source_id, ids in sorted(by_source.items()):
        with liveness.holding(source_marker(settings, source_id)) as free:
            if not free:  # a live process runs it
                continue
            with Session(writing(engine)) as session:
                for row in session.scalars(
                    select(HarvestJob).where(
                        HarvestJob.id.in_(ids), HarvestJob.status == JobStatus.RUNNING
                    )
                ):
                    row.status = JobStatus.FAILED
                    row.finished_at = utcnow()
                    row.message = STALE
                    resolved += 1
                session.commit()
    if resolved:
        LOGGER.warning("%d moisson(s) interrompue(s) par l'arrêt du serveur : en échec", resolved)
    return resolved


def _interrupted(info: JobInfo, slug: str = "", dry_run: bool = False) -> None:
    del slug, dry_run
    if info.id is not None:
        settings = info.settings or get_settings()
        found = resolve_interrupted(get_engine(settings), info.id)
        LOGGER.warning("job %s interrupted: %d harvest run(s) marked failed", info.id, found)


def harvest_job(info: JobInfo, slug: str, dry_run: bool = False) -> str:
    """The `harvest` job: one run of `slug`; its French summary line."""
    from niaouli.ingest.harvest.runner import HarvestBusyError, _finish, run_source

    settings = info.settings or get_settings()
    engine = get_engine(settings)
    if info.id is not None:
        resolve_interrupted(engine, info.id)  # if the recovery's hook did not run
    started = utcnow()
    try:
        report = run_source(
            slug, dry_run=dry_run, engine=engine, settings=settings, queue_job=info.id
        )
    except HarvestBusyError:
        LOGGER.info("moisson de %s déjà en cours", slug)
        return "déjà en cours"
    if dry_run:
        with Session(writing(engine)) as session:
            source = session.scalar(select(HarvestSource).where(HarvestSource.slug == slug))
            if source is not None:
                job = HarvestJob(
                    source_id=source.id, dry_run=True, started_at=started, status=report.status
                )
                session.add(job)
                session.commit()
                report.job_id = job.id
                _finish(session, report)
    return report.summary()


def harvest_due_job(info: JobInfo) -> list[str]:
    """The `harvest-due` job: every scheduled source whose interval has passed."""
    from niaouli.ingest.harvest.scheduler import due_sources, run_due

    settings = info.settings or get_settings()
    engine = get_engine(settings)
    if not settings.job_queue:
        return run_due(engine, settings)  # one after the other, in this thread
    with Session(engine) as session:
        slugs = due_sources(session)
    for slug in slugs:
        jobs.submit(
            settings,
            HARVEST,
            lock=lock_of(slug),
            queueing_lock=f"{lock_of(slug)}:run",
            slug=slug,
            dry_run=False,
        )
    return slugs


def install() -> None:
    """Register the harvest jobs (the composition root calls it at start-up)."""
    register(
        JobDef(
            HARVEST,
            harvest_job,
            queue="harvest",
            interrupted=_interrupted,
            abandoned=resolve_abandoned,
        )
    )
    register(JobDef(HARVEST_DUE, harvest_due_job, cron="* * * * *"))
