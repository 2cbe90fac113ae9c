"""Resumable harvests: where an interrupted job stopped, and what it had done.

A harvester that can restart its listing part-way sets `Harvester.cursor` (JSON-able,
e.g. a CSW startPosition) to the start of the page it is reading. The runner commits at
each page boundary — the records of the pages before are written, their report lines
stored — and keeps the cursor on the job row (`harvest_jobs.resume_state`) in that very
transaction, so what the row says is always what was committed. A listing that
completes clears it.

When a job was cut (the remote went down: `partial` or `failed`; the process was
killed: `running`, then `failed` once resolved), the next run of the same source with
the same address and options starts its listing at the cursor (`Harvester.resume_at`)
instead of the first page: nothing done is fetched again. The records the interrupted
jobs had already reported (their report rows) count as listed — they are not absent,
and are not written twice — and the report says which job was resumed (`RESUMED`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.ingest.harvest.harvest_tables import (
    HarvestJob,
    HarvestJobItem,
    HarvestSource,
    JobStatus,
)

# A chain of interrupted jobs resumed one after the other is followed this far back.
MAX_CHAIN = 50


@dataclass
class Resume:
    """An interrupted job to take over: its cursor, and the records it had listed."""

    job_id: int
    cursor: Any
    read: int
    done: set[str] = field(default_factory=set)


def fingerprint(source: HarvestSource) -> str:
    """What a cursor holds for: the same address and options (another filter, page size
    or schema lists other records at other positions)."""
    payload = json.dumps([source.url, source.options or {}], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def state(source_print: str, cursor: Any, read: int) -> dict[str, Any]:
    """The job row's `resume_state`: the cursor and the records read before it."""
    return {"cursor": cursor, "read": read, "source": source_print}


def find(session: Session, source: HarvestSource, before_job: int | None) -> Resume | None:
    """The last real job of `source` (before `before_job`) when it was interrupted with a
    cursor that still holds; None when the next run starts from the beginning."""
    query = select(HarvestJob).where(
        HarvestJob.source_id == source.id, HarvestJob.dry_run.is_(False)
    )
    if before_job is not None:
        query = query.where(HarvestJob.id < before_job)
    last = session.scalar(query.order_by(HarvestJob.id.desc()).limit(1))
    if last is None or last.status not in (JobStatus.FAILED, JobStatus.PARTIAL):
        return None
    saved = last.resume_state
    if not isinstance(saved, dict) or saved.get("source") != fingerprint(source):
        return None
    read = int(saved.get("read") or 0)
    if read <= 0 or saved.get("cursor") is None:
        return None
    resume = Resume(last.id, saved["cursor"], read)
    job_id: int | None = last.id
    for _ in range(MAX_CHAIN):
        if job_id is None:
            break
        resume.done.update(
            session.scalars(select(HarvestJobItem.remote_id).where(HarvestJobItem.job_id == job_id))
        )
        job_id = session.scalar(select(HarvestJob.resumed_from).where(HarvestJob.id == job_id))
    return resume
