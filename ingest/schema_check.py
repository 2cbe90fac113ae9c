"""Ingestion, between plan and load: a file sent to a dataset with a Table Schema is
validated (niaouli.tableschema, docs/schemas.md) before anything is written.

A CSV is validated as it is (what schema.data.gouv.fr's validators read); any other
table — a spreadsheet's sheet, a layer's attributes — is first streamed by the
ingestion's own reader into a temporary CSV (values as the reader typed them, at most
`validate.MAX_ROWS` rows), then validated the same way. Failing files are refused
(`SchemaValidationError`, nothing written) when the organisation chose `refuse`;
otherwise the reports go on to the swap, which keeps them with the new layers.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import Dataset, Organisation
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError
from niaouli.ingest.plan import IngestPlan
from niaouli.ingest.sniff import SourceKind
from niaouli.ingest.source import LayerSource
from niaouli.tableschema import reports, validate


class SchemaValidationError(IngestError):
    """The file fails its dataset's Table Schema and the organisation refuses such
    files: nothing was written. `reports` hold the errors by row and column."""

    code = "SchemaInvalid"

    def __init__(self, checked: list[validate.Report], *, file: str | None = None) -> None:
        self.reports = checked
        failing = [r for r in checked if not r.valid]
        first = failing[0].errors[0] if failing and failing[0].errors else None
        where = ""
        if first is not None:
            where = " — " + _("ligne %(row)s, colonne « %(column)s » : %(message)s") % {
                "row": first.row if first.row is not None else "—",
                "column": first.column or "—",
                "message": first.message,
            }
        message = _("fichier refusé : %(summary)s%(first)s") % {
            "summary": "; ".join(validate.summary(r) for r in failing),
            "first": where,
        }
        super().__init__(message, file=file)

    def located(
        self, *, file: str | None = None, layer: str | None = None, row: int | None = None
    ) -> IngestError:
        return SchemaValidationError(self.reports, file=self.file or file)

    @property
    def details(self) -> dict[str, Any]:
        """What the API adds to its answer: each table's report."""
        return {"validation": [r.as_dict() for r in self.reports]}


@dataclass
class SchemaCheck:
    """The reports of one file, and whether the organisation publishes failing files."""

    reports: list[validate.Report]
    publish_failing: bool

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.reports)


def check(
    plan: IngestPlan, sources: list[LayerSource], workdir: Path, engine: Engine
) -> SchemaCheck | None:
    """Validate the file against its dataset's schema; None when it has none. Raises
    `SchemaValidationError` for a failing file the organisation refuses."""
    with Session(engine) as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == plan.slug))
        link = reports.attached(session, dataset.id) if dataset is not None else None
        if link is None:
            return None
        descriptor, title = link.descriptor, link.title
        policy = session.scalar(
            select(Organisation.schema_policy).where(Organisation.id == plan.organisation_id)
        )
    checked = []
    if plan.kind is SourceKind.CSV:
        checked.append(
            validate.validate_file(plan.path, descriptor, title=title, layer=sources[0].name)
        )
    else:
        for index, source in enumerate(sources):
            table = workdir / f"schema-{index}.csv"
            _write_csv(source, table)
            checked.append(
                validate.validate_file(table, descriptor, title=title, layer=source.name)
            )
    result = SchemaCheck(checked, publish_failing=policy == "publish")
    if not result.valid and not result.publish_failing:
        raise SchemaValidationError(checked, file=plan.display_name)
    return result


def _cell(value: Any) -> str:  # noqa: ANN401 - a reader's typed value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _write_csv(source: LayerSource, path: Path) -> None:
    """A layer's attributes as UTF-8 CSV, at most `validate.MAX_ROWS` rows (+1: the
    validation then says it stopped)."""
    left = validate.MAX_ROWS + 1
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        names: list[str] | None = None
        for batch in source.batches():
            if names is None:
                names = list(batch.attributes.column_names)
                writer.writerow(names)
            columns = [batch.attributes.column(n).to_pylist() for n in names]
            for row in zip(*columns, strict=True):
                writer.writerow([_cell(v) for v in row])
                left -= 1
                if left <= 0:
                    return
        if names is None:
            writer.writerow([name for name, _type in source.fields])
