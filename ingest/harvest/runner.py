"""Run one harvest job: list → plan → apply, deleting only after a full list.

1. **list**: the source's harvester enumerates the remote (`harvest.base.Harvester`);
2. **plan**: each entry is decided as it comes (`harvest.job_plan.ListingPlan`: skip as a
   duplicate, a failure or unchanged; write; withdraw), and the end of the listing
   decides the status and whether absent records are withdrawn;
3. **apply**: each write or withdrawal in its own savepoint (`harvest.apply`), then the
   data copies (`harvest.datacopy`) and the job's report row.

Rules (row R2 of SECURITY-CASES.md):
- each record is written in its own savepoint: a record that fails is reported with its
  reason and the others go on; records are committed in small batches as they come;
- records whose content hash did not change are `unchanged` and not written;
- deletions happen only when the enumeration completed (no HTTP error, timeout,
  unreadable or empty page, and as many records as the remote announced) and the count
  did not drop by more than half; otherwise the job is `partial` (or `failed` when
  nothing could be read) and nothing is deleted;
- a dry run does all of it in one transaction that is rolled back: the same report and
  diff, nothing written (no job row either), no data downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from niaouli import metrics
from niaouli.catalogue import changes
from niaouli.catalogue.models import utcnow
from niaouli.db.engine import writing
from niaouli.ingest.harvest import registry, resume
from niaouli.ingest.harvest.apply import (
    RecordWriter,
    withdraw_in_savepoint,
    write_deferred,
    write_in_savepoint,
)
from niaouli.ingest.harvest.base import EnumerationError, HarvestError, PageDone, SourceConfig
from niaouli.ingest.harvest.datacopy import CopyContext, DataCopy, copy_data, data_enabled
from niaouli.ingest.harvest.fetch import Fetcher, Limits, spool_dir_for
from niaouli.ingest.harvest.harvest_tables import (
    HarvestedRecord,
    HarvestJob,
    HarvestJobItem,
    ItemAction,
    JobStatus,
)
from niaouli.ingest.harvest.job_plan import Decision, Known, ListingPlan, Withdraw, known_records
from niaouli.ingest.harvest.job_report import ItemReport, JobReport, ProgressHook
from niaouli.ingest.harvest.messages import (
    ABSENT,
    ADOPTED,
    DATA_NOT_COPIED,
    DELETE_FAILED,
    DELETED_BY_SOURCE,
    DROPPED,
    DUPLICATE,
    FEWER_THAN_ANNOUNCED,
    INCOMPLETE,
    INCREMENTAL,
    OTHER_ORGANISATION,
    OTHER_SOURCE,
    RESUMED,
    SOME_FAILED,
    STALE,
    STORED_MESSAGES,
    UNEXPECTED,
)
from niaouli.ingest.harvest.messages import reason_of as _reason
from niaouli.ingest.harvest.service import get_source
from niaouli.jobs import liveness
from niaouli.settings import Settings, load_settings

# The message templates and the reports live in their own modules; they are named here
# too, where the portal, the CLI and the tests have always found them.
__all__ = [
    "ABSENT",
    "ADOPTED",
    "DATA_NOT_COPIED",
    "DELETED_BY_SOURCE",
    "DELETE_FAILED",
    "DROPPED",
    "DUPLICATE",
    "FEWER_THAN_ANNOUNCED",
    "INCOMPLETE",
    "INCREMENTAL",
    "OTHER_ORGANISATION",
    "OTHER_SOURCE",
    "RESUMED",
    "SOME_FAILED",
    "STALE",
    "STORED_MESSAGES",
    "UNEXPECTED",
    "HarvestBusyError",
    "ItemReport",
    "JobReport",
    "ProgressHook",
    "fail_job",
    "run_source",
]

# Seconds a run waits for its source's marker (held for an instant by a start-up check;
# held for the whole run by another run of the source, which then is busy).
MARKER_WAIT = 2.0


@metrics.harvest_counted  # /metrics: niaouli_harvest_runs_total by the job's outcome
def run_source(
    slug: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    engine: Engine | None = None,
    settings: Settings | None = None,
    limits: Limits | None = None,
    on_item: ProgressHook | None = None,
    fetcher: Fetcher | None = None,
    queue_job: int | None = None,
) -> JobReport:
    """Harvest source `slug` once; the report says what was (or would be) done.

    `fetcher` replaces the network client (the demo replays a shipped snapshot through
    it: `niaouli.demo_harvest`); it is never taken from a source's own settings.
    `queue_job`: the queued job running this harvest (kept on its job row).

    A real run holds its source's liveness marker (`niaouli.jobs.liveness`) from before
    its job row is written until the row is finished: a row left `running` whose marker
    nobody holds belongs to a dead process (`launch.resolve_abandoned`)."""
    from niaouli.db.engine import get_engine

    settings = settings or load_settings()
    engine = engine or get_engine(settings)
    options = (dry_run, force, engine, settings, limits, on_item, fetcher, queue_job)
    if dry_run:
        return _run_source(slug, *options)
    with Session(engine) as session:
        source_id = get_source(session, slug).id
    with liveness.holding(source_marker(settings, source_id), wait=MARKER_WAIT) as held:
        if not held:
            raise HarvestBusyError("une moisson de cette source est déjà en cours")
        report = _run_source(slug, *options)
    _refresh_statistics(engine, report)
    return report


def _refresh_statistics(engine: Engine, report: JobReport) -> None:
    """The embedded database's statistics of the CSW records once a harvest wrote some
    (`sqlite_trigram.refresh_statistics`: pycsw's AnyText plan). Never fails a run."""
    counts = report.counts
    if engine.dialect.name != "sqlite" or not (counts["created"] or counts["deleted"]):
        return
    from niaouli.db import sqlite_trigram

    sqlite_trigram.refresh_statistics_quietly(engine)


def source_marker(settings: Settings, source_id: int) -> Path:
    """The liveness marker of a source's runs."""
    return liveness.marker(settings, f"harvest-source-{source_id}")


def _run_source(
    slug: str,
    dry_run: bool,
    force: bool,
    engine: Engine,
    settings: Settings,
    limits: Limits | None,
    on_item: ProgressHook | None,
    fetcher: Fetcher | None,
    queue_job: int | None,
) -> JobReport:
    report = JobReport(source=slug, dry_run=dry_run)
    # Every transaction below reads then writes: on SQLite, take the write lock first.
    with Session(writing(engine)) as session:
        source = get_source(session, slug)
        cls = registry.harvester_class(source.type)
        last_success = session.scalar(
            select(HarvestJob.started_at)
            .where(
                HarvestJob.source_id == source.id,
                HarvestJob.status == JobStatus.SUCCESS,
                HarvestJob.dry_run.is_(False),
            )
            .order_by(HarvestJob.id.desc())
            .limit(1)
        )
        allow_private = source.allow_private_network
        config = SourceConfig(
            url=source.url,
            options=dict(source.options or {}),
            last_success=last_success.isoformat() if last_success else None,
        )
        if not dry_run:
            report.job_id = _claim(session, source.id, queue_job)

    fetcher = fetcher or Fetcher(
        allow_private_network=allow_private,
        limits=limits or Limits(total_timeout=settings.harvest_fetch_timeout),
        spool_dir=spool_dir_for(settings.data_dir),
    )
    harvester = cls(config, fetcher)
    try:
        with Session(writing(engine)) as session:
            _run(session, harvester, slug, settings, engine, report, dry_run, force, on_item)
    except Exception as exc:
        # Whatever was not committed is rolled back; nothing was deleted. Keep the job.
        if report.job_id is not None:
            fail_job(engine, report, UNEXPECTED % {"detail": _reason(exc)})
        raise
    finally:
        fetcher.close()
    return report


def _run(
    session: Session,
    harvester: Any,
    slug: str,
    settings: Settings,
    engine: Engine,
    report: JobReport,
    dry_run: bool,
    force: bool,
    on_item: ProgressHook | None,
) -> None:
    job = _JobRun(session, harvester, slug, settings, engine, report, dry_run, on_item)
    resumed = job.resume_from(force)
    plan = ListingPlan(known_records(session, job.source.id), force=force)
    if resumed is not None:
        plan.resume(resumed.done, resumed.read)
    if not force:
        harvester.known_hashes = {known.content_hash for known in plan.known.values()}
    with changes.batched(session):
        incomplete = job.apply_listing(plan)
        job.close(plan, incomplete)
        job.end_batch(plan, job.final_state(plan, incomplete))
    if dry_run:
        session.rollback()
        return
    job.copy_and_finish()


# One page of writes is one transaction; a page longer than this is cut (and the
# harvesters without pages are committed every `BATCH` written records).
BATCH = 200
_KEEP = object()  # `end_batch`: the job row's cursor left as it is


@dataclass
class _JobRun:
    """One job while it lists, plans and applies, in its session (see `run_source`).

    Writes go in batches (`changes.batched`): each new dataset added without a flush,
    the batch flushed at once (`_open_batch`), each other record in its own savepoint
    inside the batch, the catalogue's derived views (CSW records, search text, full-text index)
    rewritten once per batch, then the batch is committed with its report lines and the
    listing's cursor (`harvest.resume`). When rewriting the views fails for the batch
    (e.g. a record whose identifier another dataset already publishes in our CSW), the
    batch is rolled back and written again record by record, each with its own views:
    only the culprit fails."""

    session: Session
    harvester: Any
    slug: str
    settings: Settings
    engine: Engine
    report: JobReport
    dry_run: bool
    on_item: ProgressHook | None
    data_queue: list[DataCopy] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.source = get_source(self.session, self.slug)
        self.writer = RecordWriter(self.session, self.source)
        self.print = resume.fingerprint(self.source)
        self.cursor: Any = None  # the last page boundary reached (`base.PageDone`)
        self.ops: list[tuple[str, Any]] = []  # the open batch's writes, to redo one by one
        self.plan: ListingPlan | None = None
        self._open_batch()

    def resume_from(self, force: bool) -> resume.Resume | None:
        """Take over an interrupted job's listing, when there is one to resume."""
        if self.dry_run or force or self.report.job_id is None:
            return None
        if not getattr(type(self.harvester), "resumable", False):
            return None
        found = resume.find(self.session, self.source, self.report.job_id)
        if found is None:
            return None
        self.harvester.resume_at = self.cursor = found.cursor
        self.report.resumed_from = found.job_id
        self.report.resumed_at = found.read
        self.session.execute(
            update(HarvestJob)
            .where(HarvestJob.id == self.report.job_id)
            .values(resumed_from=found.job_id)
        )
        return found

    def record_item(self, item: ItemReport) -> None:
        self.report.items.append(item)
        if self.on_item is not None:
            self.on_item(item, self.harvester.expected_total)

    def apply_listing(self, plan: ListingPlan) -> str | None:
        """Decide and apply each listed entry as it comes, one batch per page of the
        remote; the reason the listing is incomplete, if it is."""
        self.plan = plan
        try:
            for entry in self.harvester.enumerate():
                if isinstance(entry, PageDone):  # every record before it is applied
                    self.cursor = entry.cursor
                    self.end_batch(plan, resume.state(self.print, entry.cursor, plan.read))
                    continue
                if len(self.ops) >= BATCH:
                    self.end_batch(plan)  # the cursor stays at the page's start
                self.apply(plan, plan.decide(entry))
        except EnumerationError as exc:
            return str(exc)
        return None

    def apply(self, plan: ListingPlan, decision: Decision, redo: bool = False) -> None:
        """Apply one decision (`redo`: again, alone, after its batch was rolled back)."""
        if decision is None:
            return
        if isinstance(decision, ItemReport):
            self.record_item(decision)
            return
        if isinstance(decision, Withdraw):
            self.withdraw(decision.remote_id, decision.known, DELETED_BY_SOURCE)
            return
        if not redo:
            self.ops.append(("write", decision))
        record = decision.record
        deferred = self.deferring and decision.known is None and record.kind != "code_project"
        if deferred:
            try:
                item = write_deferred(self.writer, record)
            except Exception:  # noqa: BLE001 - the batch is written again, record by record
                self._fall_back(plan)
                return
        else:
            if not self._settle(plan):
                return  # written again with the batch
            item = write_in_savepoint(self.writer, record, decision.known)
        if item.action != ItemAction.FAILED:
            if record.notes:
                item.reason = " ; ".join([*filter(None, [item.reason]), *record.notes])
            if deferred:  # its link row has no id before the batch's flush
                self.unsettled.append((record.remote_id, self.writer.last_link, item.target))
            else:
                plan.written(record.remote_id, self.writer.last_link, item.target)
            if record.data is not None and data_enabled(self.source) and item.target:
                self.data_queue.append(DataCopy(record, item.target))
        self.record_item(item)

    def withdraw(
        self, remote_id: str, known: Known, reason: str = ABSENT, failure: str | None = None
    ) -> None:
        self.ops.append(("withdraw", (remote_id, known, reason, failure)))
        if not self._settle(self.plan):
            return  # done again with the batch
        self.record_item(withdraw_in_savepoint(self.writer, remote_id, known, reason, failure))

    def close(self, plan: ListingPlan, incomplete: str | None) -> None:
        """The job's status and message; the absent records withdrawn when allowed."""
        harvester, report = self.harvester, self.report
        closing = plan.close(
            incomplete, harvester.expected_total, harvester.complete_listing, report
        )
        report.status, report.message = closing.status, closing.message
        for remote_id, known in closing.withdraw:
            self.withdraw(remote_id, known, failure=DELETE_FAILED)
        if closing.complete:
            failed = report.count(ItemAction.FAILED)
            if failed:
                report.message = SOME_FAILED % {"failed": failed}
        if report.resumed_from is not None:
            note = RESUMED % {"job": report.resumed_from, "position": report.resumed_at + 1}
            report.message = " ; ".join(filter(None, [note, report.message]))

    def final_state(self, plan: ListingPlan, incomplete: str | None) -> dict[str, Any] | None:
        """The cursor kept on the job row at its end: where a cut listing stopped."""
        if incomplete is None or self.cursor is None or plan.read == 0:
            return None
        return resume.state(self.print, self.cursor, plan.read)

    # --- batches -----------------------------------------------------------------------

    def _open_batch(self) -> None:
        """A savepoint around the batch (rolled back whole if its views cannot be
        written), and what to undo in memory with it.

        New datasets of the batch are written without a savepoint or a flush each
        (`apply.write_deferred`): the batch's one flush inserts them all, and their
        links are known to the plan once it is done (`unsettled`). When a deferred
        write or that flush fails, the batch is written again record by record, each
        in its own savepoint, and the rest of the batch too."""
        self.ops = []
        self.deferring = True
        self.unsettled: list[tuple[str, HarvestedRecord, str | None]] = []
        self.writer.batch_slugs = set()
        self.writer.pending_links = []
        self.writer.next_ids = {}
        self.batch_start = len(self.report.items)
        self.keys_start = len(self.writer.deleted_keys)
        self.copies_start = len(self.data_queue)
        orphans = self.writer._orphans
        self.orphans = dict(orphans) if orphans is not None else None
        self.batch_savepoint = self.session.begin_nested()

    def end_batch(self, plan: ListingPlan, state: Any = _KEEP) -> None:
        """Rewrite the derived views once for the batch, then commit it with its report
        lines and `state` (the cursor the listing reached); open the next batch."""
        session = self.session
        try:
            session.flush()
            self.writer.insert_pending_links()  # the new datasets have their ids now
            changes.notify_batch(session)
        except Exception:  # noqa: BLE001 - the batch is written again, record by record
            self._redo(plan)
        else:
            self.batch_savepoint.commit()
            for remote_id, link, target in self.unsettled:
                plan.written(remote_id, link, target)
            if self.writer.stored_slugs is not None:
                self.writer.stored_slugs |= self.writer.batch_slugs
        if not self.dry_run and self.report.job_id is not None:
            self._save_items()
            if state is not _KEEP:
                session.execute(
                    update(HarvestJob)
                    .where(HarvestJob.id == self.report.job_id)
                    .values(resume_state=state)
                )
            session.commit()
            # Keep the identity map small (a dry run stays in its one transaction).
            session.expunge_all()
            self.writer.source = self.source = get_source(session, self.slug)
        self._open_batch()

    def _settle(self, plan: ListingPlan | None) -> bool:
        """Flush the batch's deferred writes before a write in a savepoint (opening one
        flushes: its failure must not be that record's). False when the flush failed
        and the batch, this write included, was written again record by record."""
        if not (self.deferring and self.unsettled):
            return True
        assert plan is not None  # deferred writes come from `apply`, which has the plan
        try:
            self.session.flush()
        except Exception:  # noqa: BLE001
            self._fall_back(plan)
            return False
        return True

    def _fall_back(self, plan: ListingPlan) -> None:
        """A deferred write (or their flush) failed: the batch so far written again
        record by record, and the rest of the batch written so."""
        self._redo(plan)
        self._open_batch()
        self.deferring = False  # until the batch ends

    def _redo(self, plan: ListingPlan) -> None:
        """The batch rolled back, its writes applied again one by one, each with its
        derived views at once (a failure there fails that record only)."""
        self.deferring = False
        ops = self.ops
        self.batch_savepoint.rollback()
        changes.drop_batch(self.session)
        self.unsettled = []
        self.writer.pending_links = []
        self.writer.batch_slugs = set()
        self.writer.next_ids = {}
        self.writer.stored_slugs = None  # the records written again query their slugs
        del self.report.items[self.batch_start :]
        del self.writer.deleted_keys[self.keys_start :]
        del self.data_queue[self.copies_start :]
        self.writer._orphans = self.orphans
        held = self.session.info.pop(changes.BATCH_KEY)
        try:
            for kind, op in ops:
                if kind == "write":
                    self.apply(plan, op, redo=True)
                else:
                    remote_id, known, reason, failure = op
                    self.record_item(
                        withdraw_in_savepoint(self.writer, remote_id, known, reason, failure)
                    )
        finally:
            self.session.info[changes.BATCH_KEY] = held

    def _save_items(self) -> None:
        """The report lines of the batch, stored with it (a killed job keeps them)."""
        report = self.report
        fresh = report.items[report.saved :]
        if fresh:
            self.session.execute(
                insert(HarvestJobItem), [_item_row(report.job_id, i) for i in fresh]
            )
        report.saved = len(report.items)

    def copy_and_finish(self) -> None:
        """Remove the withdrawn files, copy the data, write the job's report."""
        session, settings, source = self.session, self.settings, self.source
        context = CopyContext(
            source.organisation.slug, source.id, settings, self.engine, self.report
        )
        session.commit()
        if self.writer.deleted_keys:
            from niaouli import storage

            for key in self.writer.deleted_keys:
                storage.remove_key(settings, key)
        for copy in self.data_queue:
            # No transaction of ours is open while the ingestion writes (SQLite: one writer).
            copy_data(session, self.harvester, copy, context)
        if self.data_queue and self.report.job_id is not None:
            _update_copied_items(
                session, self.report, {c.record.remote_id for c in self.data_queue}
            )
        _finish(session, self.report)


def _item_row(job_id: int | None, item: ItemReport) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "remote_id": item.remote_id[:500],
        "action": item.action,
        "reason": item.reason,
        "diff": item.diff,
        "target": item.target,
    }


def _update_copied_items(session: Session, report: JobReport, copied: set[str]) -> None:
    """Report lines stored before their data copy: what the copy added to them."""
    for item in report.items[: report.saved]:
        if item.remote_id in copied:
            session.execute(
                update(HarvestJobItem)
                .where(
                    HarvestJobItem.job_id == report.job_id,
                    HarvestJobItem.remote_id == item.remote_id[:500],
                )
                .values(action=item.action, reason=item.reason, diff=item.diff)
            )
    session.commit()


STALE_AFTER = timedelta(hours=6)


class HarvestBusyError(HarvestError):
    """Another job of the same source is running (another process or worker)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _claim(session: Session, source_id: int, queue_job: int | None = None) -> int:
    """Insert this run's job row; refuse when another run of the source is under way.

    The row is committed first, then the other running rows are looked at: of two
    processes racing, at least one sees the other and backs off (both may, and retry at
    the next tick), so a source is never harvested twice at once. Running rows older
    than `STALE_AFTER` belong to killed processes: they are marked failed.
    """
    job = HarvestJob(
        source_id=source_id, dry_run=False, status=JobStatus.RUNNING, queue_job_id=queue_job
    )
    session.add(job)
    session.commit()
    others = session.scalars(
        select(HarvestJob).where(
            HarvestJob.source_id == source_id,
            HarvestJob.status == JobStatus.RUNNING,
            HarvestJob.id != job.id,
        )
    ).all()
    busy = False
    for other in others:
        if utcnow() - _aware(other.started_at) > STALE_AFTER:
            other.status = JobStatus.FAILED
            other.finished_at = utcnow()
            other.message = STALE
        else:
            busy = True
    if busy:
        session.delete(job)
        session.commit()
        raise HarvestBusyError("une moisson de cette source est déjà en cours")
    session.commit()
    return job.id


def _finish(session: Session, report: JobReport) -> None:
    job = session.get(HarvestJob, report.job_id)
    if job is None:
        return
    job.status = report.status
    job.message = report.message
    job.finished_at = utcnow()
    for action in ItemAction:
        setattr(job, action.value, report.count(action))
    fresh = report.items[report.saved :]
    if fresh:
        session.execute(insert(HarvestJobItem), [_item_row(job.id, i) for i in fresh])
    report.saved = len(report.items)
    session.commit()


def fail_job(engine: Engine, report: JobReport, message: str) -> None:
    """Mark a job that crashed as failed (nothing is deleted by a crash)."""
    report.status = JobStatus.FAILED
    report.message = message
    with Session(writing(engine)) as session:
        _finish(session, report)
