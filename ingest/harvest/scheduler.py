"""Which sources' schedule is due, and running them one after the other.

The periodic job `harvest-due` (`launch.py`) asks `due_sources` every minute: with the
job queue each due source becomes a queued `harvest` job; inline (SQLite) `run_due`
harvests them in the server's scheduler thread. `niaouli harvest worker` (cron-style,
no queue) calls `run_due` too. They can run at once: a source is claimed through its
job row (`runner._claim`), never harvested twice at the same time. A source is due
when its last job (whatever its outcome: a failing remote is not hammered) started
more than its interval ago.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import utcnow
from niaouli.ingest.harvest.harvest_tables import HarvestJob, HarvestSource
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)
INTERVALS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}


def due_sources(session: Session, now: datetime | None = None) -> list[str]:
    """Slugs of the scheduled sources whose interval has passed since their last job."""
    from niaouli.ingest.harvest.runner import _aware

    now = now or utcnow()
    last = (
        select(HarvestJob.source_id, func.max(HarvestJob.started_at).label("started"))
        .where(HarvestJob.dry_run.is_(False))  # a dry run from the portal is not a run
        .group_by(HarvestJob.source_id)
        .subquery()
    )
    rows = session.execute(
        select(HarvestSource.slug, HarvestSource.schedule, last.c.started)
        .outerjoin(last, last.c.source_id == HarvestSource.id)
        .where(HarvestSource.schedule.is_not(None))
        .order_by(HarvestSource.slug)
    ).all()
    due = []
    for slug, schedule, started in rows:
        interval = INTERVALS.get(schedule)
        if interval is None:
            continue
        if started is None or now - _aware(started) >= interval:
            due.append(slug)
    return due


def run_due(
    engine: Engine, settings: Settings, echo: Callable[[str], None] = LOGGER.info
) -> list[str]:
    """Harvest every due source once; the French summary line of each."""
    from niaouli.ingest.harvest.runner import HarvestBusyError, run_source

    with Session(engine) as session:
        slugs = due_sources(session)
    summaries = []
    for slug in slugs:
        try:
            report = run_source(slug, engine=engine, settings=settings)
        except HarvestBusyError:
            continue
        except Exception as exc:  # noqa: BLE001 - one source must not stop the others
            LOGGER.exception("moisson de %s impossible", slug)
            summaries.append(f"moisson en échec ({slug}) : {exc}")
            continue
        summaries.append(report.summary())
    for line in summaries:
        echo(line)
    return summaries
