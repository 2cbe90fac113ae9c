"""Files and links of a dataset, and its layers' data (replace or append), from uploads.

Authorisation is checked before the body is read: a refused upload stores nothing.
Layer uploads go through the ingestion's all-or-nothing path (`ingest_file`): the new
table is built beside the old one and swapped in with the catalogue rows in one
transaction, with the audit row; until then readers get the previous version, and a bad
file leaves it untouched.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from niaouli import storage
from niaouli.catalogue import resources, versions
from niaouli.catalogue.community.common import check_http_url
from niaouli.catalogue.models import Dataset, Resource, ResourceKind
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.i18n import _, current_language
from niaouli.ingest import IngestError, ingest_file, upload_jobs
from niaouli.ingest.errors import UnconfirmedChangeError
from niaouli.ingest.schema_check import SchemaValidationError
from niaouli.ingest.sniff import MEDIA_TYPES, identify
from niaouli.jobs.records import JobRecord, JobState
from niaouli.services.api import job_routes, links, schemas, streaming, views
from niaouli.services.api.catalogue import editable_dataset
from niaouli.services.api.core import Call, Operation, parse, read_json
from niaouli.services.api.errors import ApiError, not_found


def storage_unavailable() -> ApiError:
    """The file storage (an S3 bucket) does not answer: nothing was stored."""
    return ApiError(
        503,
        "StorageUnavailable",
        _("stockage des fichiers momentanément indisponible : rien n'a été enregistré"),
    )


def _check_editable(call: Call) -> tuple[str, str]:
    """(dataset slug, organisation slug) if the viewer may change the dataset."""
    with Session(call.context.engine) as session:
        dataset = editable_dataset(session, call)
        return dataset.slug, dataset.organisation.slug


async def add_resource(call: Call) -> tuple[int, schemas.ResourceInfo]:
    """A file (multipart, stored as is with its checksum) or a link (JSON)."""
    await run_in_threadpool(_check_editable, call)
    if call.request.headers.get("content-type", "").startswith("application/json"):
        link: schemas.LinkCreate = parse(schemas.LinkCreate, await read_json(call.request))
        return await run_in_threadpool(_add_link, call, link)
    upload = await streaming.receive(
        call.request, call.context.settings.data_dir, call.context.max_upload
    )
    try:
        return await run_in_threadpool(_add_file, call, upload)
    finally:
        upload.discard()


def _add_link(call: Call, link: schemas.LinkCreate) -> tuple[int, schemas.ResourceInfo]:
    url = check_http_url(link.url)
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        resource = Resource(
            title=link.title, kind=ResourceKind.LINK, role="link", url=url, format=link.format
        )
        resources.add_resource(session, call.viewer, call.actor(), dataset, resource)
        return 201, views.resource(resource, links.root_of(call.request))


def _add_file(call: Call, upload: streaming.Upload) -> tuple[int, schemas.ResourceInfo]:
    settings = call.context.settings
    assert upload.path is not None
    title = (upload.fields.get("title") or upload.original_name).strip()[:500]
    try:
        kind = identify(upload.path)
        media_type = MEDIA_TYPES[kind]
    except IngestError:
        media_type = "application/octet-stream"
    try:
        stored = storage.adopt_file(
            upload.path, settings, upload.original_name, upload.size, upload.checksum
        )
    except storage.StorageError:
        raise storage_unavailable() from None
    try:
        with Session(writing(call.context.engine)) as session, session.begin():
            dataset = editable_dataset(session, call, lock=True)
            resource = Resource(
                title=title or stored.filename,
                kind=ResourceKind.FILE,
                role="attachment",
                storage_key=stored.key,
                filename=stored.filename,
                format=stored.filename.rpartition(".")[2].upper() or None,
                media_type=media_type,
                size=stored.size,
                checksum=stored.checksum,
            )
            resources.add_resource(session, call.viewer, call.actor(), dataset, resource)
            return 201, views.resource(resource, links.root_of(call.request))
    except BaseException:
        # The row was not written: drop the stored copy (an orphan for `niaouli db
        # cleanup` if the store fails now too; the first error is the one reported).
        with contextlib.suppress(storage.StorageError):
            storage.remove_key(settings, stored.key)
        raise


def delete_resource(call: Call) -> dict[str, Any]:
    raw = call.params["resource_id"]
    key = None
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        resource = next((r for r in dataset.resources if str(r.id) == raw), None)
        if resource is None:
            raise not_found("ressource")
        key = resources.remove_resource(session, call.viewer, call.actor(), dataset, resource)
    if key:
        storage.remove_key(call.context.settings, key)
    return {"deleted": int(raw)}


def _confirmed(call: Call, upload: streaming.Upload) -> bool:
    value = call.request.query_params.get("confirm") or upload.fields.get("confirm") or ""
    return value.strip().lower() in ("true", "1", "oui", "yes")


async def upload_layers(call: Call) -> schemas.IngestResult | JSONResponse:
    mode = call.request.query_params.get("mode", "replace")
    if mode not in ("replace", "append"):
        raise ApiError(400, "InvalidParameter", _("mode : replace ou append"))
    slug, organisation = await run_in_threadpool(_check_editable, call)
    upload = await streaming.receive(
        call.request, call.context.settings.data_dir, call.context.max_upload
    )
    try:
        threshold = call.context.settings.upload_job_threshold_mb * 1024 * 1024
        if upload.size >= threshold:
            return await run_in_threadpool(_ingest_later, call, upload, slug, mode)
        return await run_in_threadpool(_ingest, call, upload, slug, organisation, mode)
    finally:
        upload.discard()


def _ingest_later(call: Call, upload: streaming.Upload, slug: str, mode: str) -> JSONResponse:
    """A large upload: stored, its ingestion queued as a job (`ingest/upload_jobs.py`);
    202 with the job's status resource."""
    settings = call.context.settings
    assert upload.path is not None
    try:
        stored = storage.adopt_file(
            upload.path, settings, upload.original_name, upload.size, upload.checksum
        )
    except storage.StorageError:
        raise storage_unavailable() from None
    actor = call.actor()
    try:
        engine = writing(call.context.engine)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            dataset = editable_dataset(session, call)
            record = JobRecord(
                kind=upload_jobs.INGEST_UPLOAD,
                state=JobState.QUEUED.value,
                organisation_id=dataset.organisation_id,
                submitter_id=call.viewer.user_id,
                dataset_slug=slug,
                params={
                    "key": stored.key,
                    "filename": stored.filename,
                    "original_name": upload.original_name,
                    "mode": mode,
                    "crs": upload.fields.get("crs") or None,
                    "sheet": upload.fields.get("sheet") or None,
                    "confirm": _confirmed(call, upload),
                    "language": current_language(),
                    "via": actor.via,
                    "client": actor.client,
                },
            )
            session.add(record)
        upload_jobs.submit(settings, record)
    except BaseException:
        storage.remove_key(settings, stored.key)
        raise
    root = links.root_of(call.request)
    body = schemas.JobAccepted(
        job=job_routes.view(record, root),
        status_url=job_routes.status_url(root, record.id),
        retry_after=job_routes.RETRY_AFTER,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202,
        headers={
            "Location": body.status_url,
            "Retry-After": str(job_routes.RETRY_AFTER),
            "Cache-Control": "no-store",
        },
    )


def _ingest(
    call: Call, upload: streaming.Upload, slug: str, organisation: str, mode: str
) -> schemas.IngestResult:
    assert upload.path is not None

    def still_editable(session: Session, dataset: Dataset) -> None:
        if not allowed(call.viewer, Action.DATASET_EDIT, dataset):  # moved meanwhile
            raise IngestError(_("jeu de données changé pendant l'envoi"))

    try:
        report = ingest_file(
            upload.path,
            organisation=organisation,
            dataset=slug,
            original_name=upload.original_name,
            crs=(upload.fields.get("crs") or None),
            settings=call.context.settings,
            engine=call.context.engine,
            progress="none",
            mode=mode,
            on_commit=still_editable,
            sheet=(upload.fields.get("sheet") or None),
            confirm=_confirmed(call, upload),
            keep_version=True,
            actor=call.actor(),
        )
    except UnconfirmedChangeError as exc:
        # Nothing was written: the client shows the comparison and sends the file again
        # with confirm=true.
        raise ApiError(409, exc.code, exc.describe(), **exc.details) from None
    except SchemaValidationError as exc:  # refused by its Table Schema: nothing written
        raise ApiError(422, exc.code, exc.describe(), **exc.details) from None
    except IngestError as exc:
        raise ApiError(422, "IngestFailed", exc.describe()) from None
    except storage.StorageError:
        raise storage_unavailable() from None
    with Session(call.context.engine) as session:
        layers = [views.layer(x) for x in editable_dataset(session, call).layers]
    return schemas.IngestResult(
        dataset=report.dataset,
        mode=mode,  # type: ignore[arg-type]
        file=report.file,
        format=report.format,
        size=report.size,
        checksum=report.checksum,
        feature_count=report.feature_count,
        added_count=report.added_count,
        seconds=report.seconds,
        layers=layers,
        repaired=sum(layer.repaired for layer in report.layers),
        rasters=[asdict(raster) for raster in report.rasters],
        privacy=report.privacy,
        validation=report.validation,
    )


def version_view(version: versions.DatasetVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "replaced_at": version.created_at.isoformat(),
        "file": version.file,
        "feature_count": version.feature_count,
        "layers": [
            {
                "name": layer.get("name"),
                "feature_count": layer.get("feature_count"),
                "columns": [c["name"] for c in layer.get("attribute_schema") or []],
            }
            for layer in version.layers
        ],
    }


def list_versions(call: Call) -> dict[str, Any]:
    """The previous versions an editor may restore, newest first."""
    with Session(call.context.engine) as session:
        dataset = editable_dataset(session, call)
        return {
            "kept": versions.kept_versions(),
            "versions": [version_view(v) for v in versions.listed(session, dataset.id)],
        }


def restore_version(call: Call) -> dict[str, Any]:
    """Swap a previous version back in, all or nothing; the current one becomes a version."""
    raw = call.params["version_id"]
    if not raw.isdigit() or len(raw) > 15:
        raise not_found("version")
    keys: list[str] = []
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        keys = versions.restore_version(session, call.viewer, dataset, int(raw), call.actor())
        restored = {
            "dataset": dataset.slug,
            "restored": int(raw),
            "feature_count": sum(layer.feature_count for layer in dataset.layers),
            "layers": [views.layer(x).model_dump(mode="json") for x in dataset.layers],
        }
    for key in keys:
        storage.remove_key(call.context.settings, key)
    return restored


def operations() -> list[Operation]:
    tag = "Fichiers et données"
    return [
        Operation(
            "POST",
            "/datasets/{slug}/resources",
            add_resource,
            "Ajouter un fichier (multipart, champ file) ou un lien (JSON)",
            tag,
            writes=True,
            raw_body=True,
            response=schemas.ResourceInfo,
            status=201,
            errors=(400, 401, 403, 404, 413, 415, 422),
        ),
        Operation(
            "DELETE",
            "/datasets/{slug}/resources/{resource_id}",
            delete_resource,
            "Supprimer un fichier ou un lien",
            tag,
            writes=True,
            errors=(401, 403, 404, 409),
        ),
        Operation(
            "POST",
            "/datasets/{slug}/layers",
            upload_layers,
            "Remplacer (mode=replace) ou compléter (mode=append) les données des couches",
            tag,
            writes=True,
            upload=True,
            response=schemas.IngestResult,
            accepted=schemas.JobAccepted,
            errors=(400, 401, 403, 404, 409, 413, 415, 422),
            query=[
                {
                    "name": "mode",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["replace", "append"]},
                },
                {
                    "name": "confirm",
                    "in": "query",
                    "description": (
                        "true : envoyer quand même après une réponse 409 (DuplicateFile : "
                        "même fichier déjà ajouté ; ReplaceChanges : colonnes changées ou "
                        "plus de la moitié des lignes perdues, avec before/after)"
                    ),
                    "schema": {"type": "boolean"},
                },
            ],
        ),
        Operation(
            "GET",
            "/datasets/{slug}/versions",
            list_versions,
            "Versions précédentes des couches (éditeurs), à restaurer",
            tag,
            errors=(401, 403, 404),
        ),
        Operation(
            "POST",
            "/datasets/{slug}/versions/{version_id}/restore",
            restore_version,
            "Restaurer une version précédente des couches (tout ou rien)",
            tag,
            writes=True,
            errors=(401, 403, 404),
        ),
    ]
