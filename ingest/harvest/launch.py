"""Start a harvest from the portal: in a background thread of the server's process.

The real run goes through `runner.run_source`, which claims the source through its job
row (`runner._claim`) exactly as the scheduler and `niaouli harvest worker` do, so a
source is never harvested twice at once. A dry run writes nothing to the catalogue; its
report is kept as a job row flagged `dry_run` (with its per-record items) so the person
who asked for it can read it on the source's page. Dry-run rows never count as a last
success (incremental harvests) nor as a last run (the schedule).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import utcnow
from niaouli.db.engine import writing
from niaouli.ingest.harvest.models import HarvestJob, HarvestSource, JobStatus
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)


def is_running(session: Session, source_id: int) -> bool:
    return (
        session.scalar(
            select(HarvestJob.id)
            .where(HarvestJob.source_id == source_id, HarvestJob.status == JobStatus.RUNNING)
            .limit(1)
        )
        is not None
    )


def _work(engine: Engine, settings: Settings, slug: str, dry_run: bool) -> None:
    from niaouli.ingest.harvest.runner import HarvestBusyError, _finish, run_source

    started = utcnow()
    try:
        report = run_source(slug, dry_run=dry_run, engine=engine, settings=settings)
    except HarvestBusyError:
        LOGGER.info("moisson de %s déjà en cours", slug)
        return
    except Exception:  # noqa: BLE001 - a background thread must log, not die silently
        LOGGER.exception("moisson de %s impossible", slug)
        return
    if dry_run:
        with Session(writing(engine)) as session:
            source = session.scalar(select(HarvestSource).where(HarvestSource.slug == slug))
            if source is None:
                return
            job = HarvestJob(
                source_id=source.id, dry_run=True, started_at=started, status=report.status
            )
            session.add(job)
            session.commit()
            report.job_id = job.id
            _finish(session, report)


def start(engine: Engine, settings: Settings, slug: str, dry_run: bool = False) -> threading.Thread:
    """Run (or simulate) source `slug` in a daemon thread; returns at once."""
    thread = threading.Thread(
        target=_work,
        args=(engine, settings, slug, dry_run),
        name=f"niaouli-harvest-{slug}",
        daemon=True,
    )
    thread.start()
    return thread
