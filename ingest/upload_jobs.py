"""Large uploads ingested as background jobs: the request stores the file and answers 202.

The web API (`POST /api/datasets/{slug}/layers`) receives an upload above
`NIAOULI_UPLOAD_JOB_THRESHOLD_MB` as usual (streamed to disk, size checked), moves it
into the storage (`submit`: any worker on any machine can read it there), writes a
`job_records` row (`niaouli.jobs.records`) and queues the `ingest-upload` job; the
client follows `GET /api/jobs/{id}`.

The job (`ingest_upload_job`) runs the same all-or-nothing ingestion as a request
(`pipeline.ingest_stored`), as the submitter: it checks again, inside the ingestion's
transaction, that they may still edit the dataset, and writes the audit rows in their
name. Its record says where it is (progress on PostgreSQL: on SQLite the ingestion holds
the one write lock), then the report or the error, in the language the upload was made
in. A worker killed mid-ingestion published nothing (the transaction never committed):
the `interrupted` hook puts the record back to `queued` (the job runs again from the
stored upload) or, after `NIAOULI_JOBS_MAX_ATTEMPTS` interrupted runs, marks it failed
with the reason. The stored upload is removed once the job has finished either way.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import jobs, storage
from niaouli.accounts import audit
from niaouli.accounts.account_tables import User
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Dataset, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import get_engine, writing
from niaouli.i18n import _, speaking
from niaouli.ingest.errors import IngestError, UnconfirmedChangeError
from niaouli.jobs import liveness
from niaouli.jobs.records import JobRecord, JobState
from niaouli.jobs.registry import JobDef, JobInfo, register
from niaouli.settings import Settings, get_settings

LOGGER = logging.getLogger(__name__)
INGEST_UPLOAD = "ingest-upload"
INTERRUPTED = "ingestion interrompue (processus arrêté) : rien n'a été publié"


def submit(
    settings: Settings,
    record: JobRecord,
) -> None:
    """Queue (or start, inline) the ingestion of `record`, already committed."""
    outcome = jobs.submit(
        settings,
        INGEST_UPLOAD,
        lock=f"ingest:{record.organisation_id}:{record.dataset_slug}",
        record_id=record.id,
    )
    LOGGER.info("ingestion %s : %s", record.id, outcome)


def _report(report: Any) -> dict[str, Any]:  # noqa: ANN401 - an IngestReport
    return {
        "dataset": report.dataset,
        "file": report.file,
        "format": report.format,
        "size": report.size,
        "checksum": report.checksum,
        "feature_count": report.feature_count,
        "added_count": report.added_count,
        "seconds": report.seconds,
        "repaired": sum(layer.repaired for layer in report.layers),
        "layers": [
            {"name": layer.name, "collection_id": layer.collection_id} for layer in report.layers
        ],
        "validation": report.validation,
    }


def _finish(engine: Any, record_id: int, state: JobState, **values: Any) -> None:  # noqa: ANN401
    with Session(writing(engine)) as session, session.begin():
        record = session.get(JobRecord, record_id)
        if record is not None:
            record.state = state.value
            record.finished_at = utcnow()
            for name, value in values.items():
                setattr(record, name, value)


def _progress(engine: Any, record_id: int, embedded: bool):  # noqa: ANN001, ANN202, ANN401
    last = [0.0]

    def report(done: int, total: int | None, _name: str) -> None:
        if embedded or not total or time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        from niaouli.jobs.records import set_progress

        with Session(engine) as session:
            set_progress(session, record_id, done / total)

    return report


def marker(settings: Settings, record_id: int) -> Path:
    """The liveness marker a run of record `record_id` holds (`niaouli.jobs.liveness`)."""
    return liveness.marker(settings, f"ingest-upload-{record_id}")


def ingest_upload_job(info: JobInfo, record_id: int) -> str:
    """The `ingest-upload` job: ingest the stored upload of record `record_id`, holding
    its liveness marker from before it is marked running until it is finished."""
    settings = info.settings or get_settings()
    with liveness.holding(marker(settings, record_id), wait=2.0) as held:
        if not held:
            return "déjà en cours"
        return _ingest_upload(info, settings, record_id)


def _ingest_upload(info: JobInfo, settings: Settings, record_id: int) -> str:
    engine = get_engine(settings)
    with Session(writing(engine)) as session, session.begin():
        record = session.get(JobRecord, record_id)
        if record is None or record.finished:
            return "déjà traitée"
        record.state = JobState.RUNNING.value
        record.started_at = utcnow()
        record.queue_job_id = info.id
        params = dict(record.params)
        organisation_id, slug = record.organisation_id, record.dataset_slug
        submitter = session.get(User, record.submitter_id) if record.submitter_id else None
        viewer = viewer_for_user(session, submitter) if submitter else ANONYMOUS
        from niaouli.catalogue.models import Organisation

        organisation = session.get(Organisation, organisation_id)
        org_slug = organisation.slug if organisation is not None else ""

    def still_editable(_session: Session, dataset: Dataset) -> None:
        if not allowed(viewer, Action.DATASET_EDIT, dataset):
            raise IngestError(_("jeu de données changé pendant l'envoi"))

    actor = audit.Actor(viewer.user_id, params.get("via", "api-job"), params.get("client"))
    # Here, not at the top: every `niaouli` command registers this job kind
    # (`niaouli.startup`), and these bring GDAL, pandas and frictionless (1.3 s).
    from niaouli.ingest.pipeline import ingest_stored
    from niaouli.ingest.schema_check import SchemaValidationError

    with speaking(params.get("language", "fr")):
        try:
            report = ingest_stored(
                params["key"],
                params["filename"],
                settings=settings,
                original_name=params.get("original_name"),
                engine=engine,
                organisation=org_slug,
                dataset=slug,
                crs=params.get("crs"),
                sheet=params.get("sheet"),
                mode=params.get("mode", "replace"),
                confirm=bool(params.get("confirm")),
                keep_version=True,
                on_commit=still_editable,
                actor=actor,
                progress="none",
                on_progress=_progress(engine, record_id, settings.is_embedded),
            )
        except (UnconfirmedChangeError, SchemaValidationError) as exc:
            error = {"code": exc.code, "message": exc.describe(), "details": exc.details}
            _fail(engine, settings, record_id, params, error)
            return exc.code
        except IngestError as exc:
            _fail(
                engine,
                settings,
                record_id,
                params,
                {"code": "IngestFailed", "message": exc.describe()},
            )
            return "IngestFailed"
        except storage.StorageError as exc:
            message = _("stockage injoignable (%(error)s)") % {"error": exc}
            _fail(
                engine,
                settings,
                record_id,
                params,
                {"code": "StorageUnavailable", "message": message},
            )
            raise
        except Exception as exc:  # a bug: said in the record, then the job fails too
            message = _("erreur interne pendant l'intégration (%(error)s)") % {
                "error": type(exc).__name__
            }
            _fail(
                engine, settings, record_id, params, {"code": "InternalError", "message": message}
            )
            raise
    _finish(engine, record_id, JobState.SUCCEEDED, result=_report(report), progress=1.0)
    storage.remove_key(settings, params["key"])
    return f"{report.feature_count} objets"


def _fail(
    engine: Any,
    settings: Settings,
    record_id: int,
    params: dict[str, Any],
    error: dict[str, Any],  # noqa: ANN401
) -> None:
    _finish(engine, record_id, JobState.FAILED, error=error)
    storage.remove_key(settings, params["key"])


def _interrupted(info: JobInfo, record_id: int) -> None:
    """A worker died during the ingestion: nothing was published (one transaction).
    Run again from the stored upload, or failed after too many interrupted runs."""
    settings = info.settings or get_settings()
    engine = get_engine(settings)
    last = info.attempts + 1 >= settings.jobs_max_attempts
    with Session(writing(engine)) as session, session.begin():
        record = session.get(JobRecord, record_id)
        if record is None or record.finished:
            return
        if last:
            record.state = JobState.FAILED.value
            record.finished_at = utcnow()
            record.error = {"code": "Interrupted", "message": INTERRUPTED}
            key = record.params.get("key")
        else:
            record.state = JobState.QUEUED.value
            record.progress = None
            key = None
    if key:
        storage.remove_key(settings, key)
    LOGGER.warning("ingestion %s interrompue (%s)", record_id, "échec" if last else "reprise")


def _unfinished(engine: Any) -> list[int]:  # noqa: ANN401
    with Session(engine) as session:
        return list(
            session.scalars(
                select(JobRecord.id).where(
                    JobRecord.kind == INGEST_UPLOAD,
                    JobRecord.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                )
            )
        )


def _free(settings: Settings, record_id: int) -> bool:
    """Nobody holds the record's marker: no live process runs it."""
    with liveness.holding(marker(settings, record_id)) as free:
        return free


def resolve_dead_inline(engine: Any, settings: Settings, record_id: int) -> None:  # noqa: ANN401
    """Inline (SQLite), a job dies with its process: a record `running` whose marker
    nobody holds is failed with the reason when read, never left `running` (nothing was
    published: one transaction). The next `niaouli serve` runs such uploads again
    (`resume_abandoned`) before anyone reads them."""
    if settings.job_queue:
        return  # the queue's own recovery (`interrupted`); markers are per machine
    with Session(engine) as session:
        record = session.get(JobRecord, record_id)
        if record is None or record.state != JobState.RUNNING.value:
            return
    if not _free(settings, record_id):
        return
    with Session(writing(engine)) as session, session.begin():
        record = session.get(JobRecord, record_id)
        if record is None or record.state != JobState.RUNNING.value:
            return
        record.state = JobState.FAILED.value
        record.finished_at = utcnow()
        record.error = {"code": "Interrupted", "message": INTERRUPTED}
        key = record.params.get("key")
    if key:
        storage.remove_key(settings, key)


def resume_abandoned(settings: Settings) -> int:
    """The `abandoned` hook (`niaouli serve` starting, inline): the uploads a stopped
    server left queued or under way run again from their stored file; how many."""
    if settings.job_queue:
        return 0
    engine = get_engine(settings)
    resumed = 0
    for record_id in _unfinished(engine):
        if not _free(settings, record_id):
            continue
        with Session(writing(engine)) as session, session.begin():
            record = session.get(JobRecord, record_id)
            if record is None or record.finished:
                continue
            record.state = JobState.QUEUED.value
            record.progress = None
        jobs.submit(settings, INGEST_UPLOAD, record_id=record_id)
        resumed += 1
    return resumed


def install() -> None:
    """Register the `ingest-upload` job (the composition root calls it at start-up)."""
    register(
        JobDef(
            INGEST_UPLOAD,
            ingest_upload_job,
            queue="ingest",
            interrupted=_interrupted,
            abandoned=resume_abandoned,
        )
    )
