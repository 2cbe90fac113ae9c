"""Harvest, after the records: copy the data of records that bring some, through the
ingestion (`niaouli.ingest.ingest_file`), once the job's records are committed.

Opt-in per source (option `data`). No transaction of the job is open while the
ingestion writes (SQLite has one writer). A copy that fails marks its record failed in
the report and clears the link's content hash, so the next run tries again.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.ingest.harvest.base import EnumerationError, RemoteRecord
from niaouli.ingest.harvest.fetch import FetchError
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, HarvestSource, ItemAction
from niaouli.ingest.harvest.job_report import JobReport
from niaouli.ingest.harvest.messages import DATA_NOT_COPIED
from niaouli.settings import Settings


@dataclass(frozen=True)
class DataCopy:
    """A written record whose data is copied once the job has committed."""

    record: RemoteRecord
    target: str  # the dataset's slug


@dataclass(frozen=True)
class CopyContext:
    """Where copies go: the source's organisation and the job's database and report."""

    organisation: str
    source_id: int
    settings: Settings
    engine: Engine
    report: JobReport


def data_enabled(source: HarvestSource) -> bool:
    return str(source.options.get("data", "false")).lower() in ("1", "true", "yes", "oui")


def copy_data(session: Session, harvester: Any, copy: DataCopy, context: CopyContext) -> None:
    """Copy the data through the ingestion; a failure is reported and retried next run."""
    from niaouli.ingest import IngestError, ingest_file

    record = copy.record
    report = context.report
    item = next(i for i in reversed(report.items) if i.remote_id == record.remote_id)
    try:
        with tempfile.TemporaryDirectory(prefix="niaouli-harvest-") as workdir:
            path, crs = harvester.fetch_data(record, Path(workdir))
            result = ingest_file(
                path,
                organisation=context.organisation,
                dataset=copy.target,
                crs=crs,
                original_name=(record.data.filename if record.data else None) or path.name,
                settings=context.settings,
                engine=context.engine,
                progress="none",
            )
        item.diff["données"] = f"{result.feature_count} entité(s) copiée(s)"
        if result.held:  # personal data found: the dataset stays a draft (the report says)
            from niaouli.privacy.guard import held_note

            item.diff["données personnelles"] = held_note(result.privacy)
    except (FetchError, EnumerationError, IngestError, OSError, ValueError) as exc:
        message = exc.describe() if isinstance(exc, IngestError) else str(exc)
        item.action = ItemAction.FAILED
        item.reason = (DATA_NOT_COPIED % {"detail": message})[:1000]
        link = session.scalar(
            select(HarvestedRecord).where(
                HarvestedRecord.source_id == context.source_id,
                HarvestedRecord.remote_id == record.remote_id,
            )
        )
        if link is not None:
            link.content_hash = ""  # retried at the next run
        session.commit()
