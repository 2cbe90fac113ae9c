"""Harvest, step 2 — plan: what each listed record calls for, and whether to withdraw.

The listing (step 1, the harvester's `enumerate`) is streamed: each entry is decided as
it comes (`ListingPlan.decide`) — skipped as a duplicate, a failure or unchanged, written
(created or updated), or withdrawn because the source says it was deleted — and applied
at once (step 3, `apply`), so that 10,000 records never sit in memory. When the listing
ends, `ListingPlan.close` decides the job's status and whether the records absent from
it are withdrawn: only after a complete listing (no error, as many records as the remote
announced) whose count did not drop by more than half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import CodeProject, Dataset
from niaouli.ingest.harvest.base import LazyRecord, RecordDeleted, RecordFailure, RemoteRecord
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, ItemAction, JobStatus
from niaouli.ingest.harvest.job_report import ItemReport, JobReport
from niaouli.ingest.harvest.messages import (
    DROPPED,
    DUPLICATE,
    FEWER_THAN_ANNOUNCED,
    INCOMPLETE,
    INCREMENTAL,
)


@dataclass
class Known:
    """A record the source already brought: its link row, content hash and target slug."""

    id: int
    content_hash: str
    target: str | None


class Write(NamedTuple):
    """Create or update the catalogue record of `record` (`known`: its link, if any)."""

    record: RemoteRecord
    known: Known | None


class Withdraw(NamedTuple):
    """Delete what `remote_id` became: the source says it is gone."""

    remote_id: str
    known: Known


# An `ItemReport` is reported as it is (nothing written); None: nothing to do at all.
Decision = Write | Withdraw | ItemReport | None


@dataclass
class Closing:
    """How the job ends: its status and message, and which absent records go."""

    status: JobStatus
    message: str = ""
    withdraw: list[tuple[str, Known]] = field(default_factory=list)
    complete: bool = False  # a complete listing: the absent records are withdrawn


def known_records(session: Session, source_id: int) -> dict[str, Known]:
    """What the source already brought: ids, hashes and slugs only (not the ORM rows and
    their original documents: 10,000 records would hold hundreds of megabytes)."""
    return {
        remote_id: Known(link_id, content_hash, dataset_slug or project_slug)
        for remote_id, link_id, content_hash, dataset_slug, project_slug in session.execute(
            select(
                HarvestedRecord.remote_id,
                HarvestedRecord.id,
                HarvestedRecord.content_hash,
                Dataset.slug,
                CodeProject.slug,
            )
            .outerjoin(Dataset, Dataset.id == HarvestedRecord.dataset_id)
            .outerjoin(CodeProject, CodeProject.id == HarvestedRecord.code_project_id)
            .where(HarvestedRecord.source_id == source_id)
        )
    }


@dataclass
class ListingPlan:
    """The decisions of one job, entry by entry, then at the end of the listing."""

    known: dict[str, Known]
    force: bool = False
    previous: int = field(init=False)
    seen: dict[str, int] = field(default_factory=dict)  # remote id -> first position
    read: int = 0  # records listed, duplicates included: what the remote's total counts

    # Remote ids an interrupted job this one resumes had listed (`harvest.resume`).
    resumed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.previous = len(self.known)

    def resume(self, done: set[str], read: int) -> None:
        """Continue an interrupted job's listing: `read` records were read before its
        cursor, `done` were listed (and written, reported) by it."""
        self.resumed, self.read = set(done), read

    def decide(self, entry: RemoteRecord | LazyRecord | RecordDeleted | RecordFailure) -> Decision:
        """What this listed entry calls for (a lazy record is fetched whole when written)."""
        self.read += 1
        if entry.remote_id in self.resumed and entry.remote_id not in self.seen:
            # Done by the interrupted job (a page cut by a commit is read again).
            self.seen[entry.remote_id] = self.read
            return None
        if entry.remote_id in self.seen:
            reason = DUPLICATE % {"kept": self.seen[entry.remote_id], "position": self.read}
            return ItemReport(entry.remote_id, ItemAction.FAILED, reason)
        self.seen[entry.remote_id] = self.read
        if isinstance(entry, RecordDeleted):
            if entry.remote_id in self.known:
                return Withdraw(entry.remote_id, self.known.pop(entry.remote_id))
            return None
        if isinstance(entry, RecordFailure):
            return ItemReport(entry.remote_id, ItemAction.FAILED, entry.reason)
        known = self.known.get(entry.remote_id)
        digest = entry.content_hash if isinstance(entry, LazyRecord) else entry.content_hash()
        if known is not None and not self.force and known.content_hash == digest:
            return ItemReport(entry.remote_id, ItemAction.UNCHANGED, target=known.target)
        if isinstance(entry, LazyRecord):
            loaded = entry.load()
            if isinstance(loaded, RecordFailure):
                return ItemReport(entry.remote_id, ItemAction.FAILED, loaded.reason)
            loaded.remote_id, loaded.hash_override = entry.remote_id, digest
            entry = loaded
        return Write(entry, known)

    def written(self, remote_id: str, link: HarvestedRecord, target: str | None) -> None:
        """A record was written: it is known now (and not absent at the end)."""
        self.known[remote_id] = Known(link.id, link.content_hash, target)

    def close(
        self,
        incomplete: str | None,
        expected: int | None,
        complete_listing: bool,
        report: JobReport,
    ) -> Closing:
        """The job's end: partial or failed when the listing was incomplete, nothing
        withdrawn on an incremental listing or a count that dropped by more than half."""
        # Compared with the records read, not the distinct ids: a remote listing one id
        # twice is complete, and must not be "partial" (no deletion ever) on every run.
        if incomplete is None and expected is not None and self.read < expected:
            incomplete = FEWER_THAN_ANNOUNCED % {"expected": expected, "read": self.read}

        if incomplete is not None:
            done = sum(1 for i in report.items if i.action != ItemAction.FAILED)
            status = JobStatus.PARTIAL if done else JobStatus.FAILED
            return Closing(status, INCOMPLETE % {"detail": incomplete})
        if not complete_listing:
            return Closing(JobStatus.SUCCESS, INCREMENTAL)
        listed = self.seen.keys() | self.resumed
        if self.previous and len(listed) * 2 < self.previous:
            message = DROPPED % {"before": self.previous, "after": len(listed)}
            return Closing(JobStatus.PARTIAL, message)
        absent = sorted(set(self.known) - listed)
        return Closing(
            JobStatus.SUCCESS,
            withdraw=[(remote_id, self.known[remote_id]) for remote_id in absent],
            complete=True,
        )
