"""`GET /api/jobs/{id}`: where a background job someone started stands.

Only the submitter, the organisation's editors and admins, and the platform admins may
read a job (`niaouli.jobs.records.may_read`); to anyone else it does not exist (404,
as a dataset they may not see).
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.orm import Session

from niaouli.i18n import _
from niaouli.ingest import upload_jobs
from niaouli.jobs.records import JobRecord, JobState, may_read
from niaouli.services.api import links, schemas
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import ApiError

RETRY_AFTER = 2


def status_url(root: str, record_id: int) -> str:
    return f"{root}/api/jobs/{record_id}"


def view(record: JobRecord, root: str) -> schemas.JobStatus:
    related = [
        schemas.Link(
            rel="self", type="application/json", href=status_url(root, record.id), title="Tâche"
        )
    ]
    if record.state == JobState.SUCCEEDED.value:
        slug = quote(record.dataset_slug, safe="")
        related += [
            schemas.Link(
                rel="alternate",
                type="text/html",
                href=links.page(root, record.dataset_slug),
                title="Page du jeu de données",
            ),
            schemas.Link(
                rel="describedby",
                type="application/json",
                href=f"{root}/api/datasets/{slug}",
                title="Jeu de données (API)",
            ),
        ]
    return schemas.JobStatus(
        id=record.id,
        kind=record.kind,  # type: ignore[arg-type]
        state=record.state,  # type: ignore[arg-type]
        progress=record.progress,
        dataset=record.dataset_slug,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        result=record.result,
        error=schemas.JobError(**record.error) if record.error else None,
        links=related,
    )


def get_job(call: Call) -> schemas.JobStatus:
    raw = call.params["job_id"]
    missing = ApiError(404, "NotFound", _("tâche introuvable"))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 15):
        raise missing
    upload_jobs.resolve_dead_inline(call.context.engine, call.context.settings, int(raw))
    with Session(call.context.engine) as session:
        record = session.get(JobRecord, int(raw))
        if record is None:
            raise missing
        if not may_read(call.viewer, record):
            if call.viewer.user_id is None:
                raise ApiError(
                    401, "AuthenticationRequired", _("connectez-vous pour suivre cette tâche")
                )
            raise missing
        return view(record, links.root_of(call.request))


def operations() -> list[Operation]:
    return [
        Operation(
            "GET",
            "/jobs/{job_id}",
            get_job,
            "État d'une tâche de fond (intégration d'un gros fichier) : file, en cours, "
            "réussie (rapport) ou en échec (erreur) ; lisible par son auteur et les éditeurs "
            "de l'organisation",
            "Tâches",
            response=schemas.JobStatus,
            errors=(401, 404),
        )
    ]
