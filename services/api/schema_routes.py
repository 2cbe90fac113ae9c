"""Table Schemas through the API: a dataset's schema (attach one as JSON or by the name
of a shipped example, remove it), its files' latest validation reports, and the shipped
examples. The rules are the core's (`niaouli.tableschema`); an upload refused by its
schema is a 422 `SchemaInvalid` whose body holds the reports (`uploads.py`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.db.engine import writing
from niaouli.i18n import _
from niaouli.services.api.catalogue import editable_dataset, visible_dataset
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.schemas import Input
from niaouli.tableschema import examples, reports
from niaouli.tableschema.schema_tables import ValidationRecord
from niaouli.tableschema.validate import SchemaError

LISTED_REPORTS = 5


class SchemaAttach(Input):
    table_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="Le Table Schema (frictionless), en JSON",
    )
    example: str | None = Field(
        default=None, max_length=100, description="Ou le nom d'un schéma d'exemple"
    )


class SchemaStatus(BaseModel):
    schema_: dict[str, Any] | None = Field(
        alias="schema", description="Le schéma joint (title, source, descriptor), ou null"
    )
    policy: str = Field(description="Fichier non conforme : refuse ou publish (organisation)")
    reports: list[dict[str, Any]] = Field(
        description="Derniers rapports de validation conservés, le plus récent d'abord"
    )


class SchemaExample(BaseModel):
    name: str
    title: str
    description: str
    descriptor: dict[str, Any]


def status(session: Session, dataset: Any) -> dict[str, Any]:  # noqa: ANN401
    link = reports.attached(session, dataset.id)
    kept = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.dataset_id == dataset.id)
        .order_by(ValidationRecord.id.desc())
        .limit(LISTED_REPORTS)
    ).all()
    return {
        "schema": None
        if link is None
        else {"title": link.title, "source": link.source, "descriptor": link.descriptor},
        "policy": dataset.organisation.schema_policy,
        "reports": [reports.record_view(r) for r in kept],
    }


def show_schema(call: Call) -> dict[str, Any]:
    with Session(call.context.engine) as session:
        return status(session, editable_dataset(session, call))


def attach_schema(call: Call) -> dict[str, Any]:
    body: SchemaAttach = call.body
    if (body.table_schema is None) == (body.example is None):
        raise SchemaError(_("donnez soit « schema » (le Table Schema), soit « example »"))
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        reports.attach(
            session,
            call.viewer,
            call.actor(),
            dataset,
            descriptor=body.table_schema,
            example_name=body.example,
        )
        return status(session, dataset)


def detach_schema(call: Call) -> dict[str, Any]:
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        reports.detach(session, call.viewer, call.actor(), dataset)
        return status(session, dataset)


def list_examples(call: Call) -> list[dict[str, Any]]:  # noqa: ARG001 - public list
    return [
        {
            "name": name,
            "title": d.get("title", name),
            "description": d.get("description", ""),
            "descriptor": d,
        }
        for name, d in examples.examples().items()
    ]


def show_validation(call: Call) -> dict[str, Any]:
    """The latest kept report of a dataset that readers may see (published with it)."""
    with Session(call.context.engine) as session:
        dataset = visible_dataset(session, call)
        latest = reports.latest_report(session, dataset)
        return {"report": reports.record_view(latest) if latest else None}


def operations() -> list[Operation]:
    tag = "Schémas de données"
    errors = (400, 401, 403, 404, 422)
    return [
        Operation(
            "GET",
            "/schemas/examples",
            list_examples,
            "Schémas d'exemple livrés avec la plateforme (Table Schema)",
            tag,
        ),
        Operation(
            "GET",
            "/datasets/{slug}/schema",
            show_schema,
            "Schéma joint, choix de l'organisation et derniers rapports (éditeurs)",
            tag,
            response=SchemaStatus,
            errors=(401, 403, 404),
        ),
        Operation(
            "PUT",
            "/datasets/{slug}/schema",
            attach_schema,
            "Joindre un Table Schema (JSON ou schéma d'exemple) : les envois suivants sont validés",
            tag,
            writes=True,
            body=SchemaAttach,
            response=SchemaStatus,
            errors=errors,
        ),
        Operation(
            "DELETE",
            "/datasets/{slug}/schema",
            detach_schema,
            "Retirer le schéma (les rapports conservés restent)",
            tag,
            writes=True,
            response=SchemaStatus,
            errors=(401, 403, 404),
        ),
        Operation(
            "GET",
            "/datasets/{slug}/validation",
            show_validation,
            "Dernier rapport de validation conservé du jeu de données",
            tag,
            errors=(404,),
        ),
    ]
