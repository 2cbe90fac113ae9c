"""A dataset's Table Schema and its files' validation reports: attach or detach a
schema (its editors; audit rows `dataset.schema_attach|schema_detach`), keep a report,
and read the latest one (`latest_report`, which the quality score reads).

Attaching checks the schema (`validate.check_schema`) but does not validate the data
already published: the next file sent is validated (docs/schemas.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import quality_store
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset, Layer
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import ForbiddenError
from niaouli.i18n import _
from niaouli.tableschema.examples import example
from niaouli.tableschema.schema_tables import TableSchemaLink, ValidationRecord
from niaouli.tableschema.validate import Report, SchemaError, check_schema

KEPT = 20  # reports kept per dataset (the latest)


def attached(session: Session, dataset_id: int) -> TableSchemaLink | None:
    return session.scalar(select(TableSchemaLink).where(TableSchemaLink.dataset_id == dataset_id))


def _check_editor(viewer: Viewer, dataset: Dataset) -> None:
    if not allowed(viewer, Action.DATASET_EDIT, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))


def attach(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    dataset: Dataset,
    *,
    descriptor: Any = None,  # noqa: ANN401 - untrusted JSON (text or parsed)
    example_name: str | None = None,
) -> TableSchemaLink:
    """Attach a schema given as JSON, or one of the shipped examples by name."""
    _check_editor(viewer, dataset)
    if example_name:
        descriptor = example(example_name)
        if descriptor is None:
            raise SchemaError(_("schéma d'exemple inconnu : « %(name)s »") % {"name": example_name})
        source = f"example:{example_name}"
    elif descriptor is None:
        raise SchemaError(_("donnez un schéma (fichier JSON) ou le nom d'un schéma d'exemple"))
    else:
        source = "upload"
    checked = check_schema(descriptor)
    title = str(checked.get("title") or checked.get("name") or _("schéma sans titre"))[:300]
    link = attached(session, dataset.id)
    if link is None:
        link = TableSchemaLink(dataset_id=dataset.id)
        session.add(link)
    link.descriptor, link.title, link.source = checked, title, source
    link.attached_by_id = viewer.user_id
    audit.record(
        session,
        actor,
        "dataset.schema_attach",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        schema=title,
        source=source,
    )
    session.flush()
    return link


def detach(session: Session, viewer: Viewer, actor: audit.Actor, dataset: Dataset) -> bool:
    """Remove the dataset's schema (its kept reports stay); False when there was none."""
    _check_editor(viewer, dataset)
    link = attached(session, dataset.id)
    if link is None:
        return False
    session.delete(link)
    audit.record(
        session,
        actor,
        "dataset.schema_detach",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        schema=link.title,
    )
    session.flush()
    return True


def keep(
    session: Session, dataset: Dataset, report: Report, *, layer: str, file: str, checksum: str
) -> ValidationRecord:
    """Store a published file's report (in the ingestion's transaction); older reports
    beyond `KEPT` are deleted."""
    record = ValidationRecord(
        dataset_id=dataset.id,
        layer=layer,
        file=file[:300],
        checksum=checksum,
        schema_title=report.schema_title[:300],
        valid=report.valid,
        error_count=report.error_count,
        capped=report.capped,
        rows=report.rows,
        errors=report.stored_errors(),
    )
    session.add(record)
    session.flush()
    old = session.scalars(
        select(ValidationRecord.id)
        .where(ValidationRecord.dataset_id == dataset.id)
        .order_by(ValidationRecord.id.desc())
        .offset(KEPT)
    ).all()
    for stale in old:
        session.delete(session.get(ValidationRecord, stale))
    # The quality score reads the kept reports (its table-schema criterion): a report is
    # not a tracked catalogue row, so the score is rechecked here, in the same transaction.
    quality_store.recheck(session, [dataset.id])
    return record


def latest_report(session: Session, target: Layer | Dataset) -> ValidationRecord | None:
    """The latest kept report of a layer's current data, or of a dataset's (the newest
    of its layers') — None when the data now published was not validated (no schema
    when it was sent, or sent before the schema was attached). A report counts for a
    layer when it was kept with that layer's collection id no earlier than the layer row
    (each ingestion writes new layer rows; a merge changes the rows in place and keeps
    the report). The quality score reads this."""
    if isinstance(target, Dataset):
        found = [r for layer in target.layers if (r := latest_report(session, layer))]
        return max(found, key=lambda r: r.id, default=None)
    since = select(Layer.created_at).where(Layer.id == target.id).scalar_subquery()
    return session.scalar(
        select(ValidationRecord)
        .where(
            ValidationRecord.dataset_id == target.dataset_id,
            ValidationRecord.layer == target.collection_id,
            ValidationRecord.created_at >= since,
        )
        .order_by(ValidationRecord.id.desc())
        .limit(1)
    )


def as_report(record: ValidationRecord) -> Report:
    """A kept report back as a `Report` (its messages in the language they were written)."""
    from niaouli.tableschema.validate import CellError

    return Report(
        record.valid,
        record.error_count,
        record.rows,
        record.capped,
        [CellError(**e) for e in record.errors or []],
        record.layer,
        record.schema_title,
    )


def record_view(record: ValidationRecord) -> dict[str, Any]:
    """A kept report as plain data (API, CLI, pages)."""
    return {
        **as_report(record).as_dict(),
        "id": record.id,
        "file": record.file,
        "checksum": record.checksum,
        "created_at": record.created_at.isoformat() if record.created_at else None,
    }
