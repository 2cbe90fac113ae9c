"""Run the sources whose schedule is due: in the server's process, or in a worker.

`niaouli serve` starts a `Scheduler` thread (unless NIAOULI_HARVEST_SCHEDULER=0); in
production a separate `niaouli harvest worker` process does the same job. Both can run
at once: a source is claimed through its job row (`runner._claim`), never harvested
twice at the same time. A source is due when its last job (whatever its outcome: a
failing remote is not hammered) started more than its interval ago.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import utcnow
from niaouli.ingest.harvest.models import HarvestJob, HarvestSource
from niaouli.settings import Settings, get_settings

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


class Scheduler(threading.Thread):
    """A daemon thread running `run_due` every `tick` seconds (with a little jitter)."""

    def __init__(self, engine: Engine, settings: Settings, tick: float = 60.0) -> None:
        super().__init__(name="niaouli-harvest-scheduler", daemon=True)
        self.engine, self.settings, self.tick = engine, settings, tick
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.tick * random.uniform(0.9, 1.1)):  # noqa: S311
            try:
                run_due(self.engine, self.settings)
            except Exception:  # noqa: BLE001 - keep the thread alive
                LOGGER.exception("planificateur de moissons")

    def stop(self) -> None:
        self.stopping.set()


def start_for_server(settings: Settings) -> Scheduler | None:
    """The server's scheduler thread, unless NIAOULI_HARVEST_SCHEDULER=0."""
    if not get_settings().harvest_scheduler:
        return None
    from niaouli.db.engine import get_engine

    scheduler = Scheduler(get_engine(settings), settings)
    scheduler.start()
    return scheduler
