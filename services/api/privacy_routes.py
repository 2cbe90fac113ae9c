"""The personal-data guard through the API: a dataset's findings, the anonymising
actions and the confirmation with a reason (docs/privacy.md). The rules are the core's
(`niaouli.privacy`); a publication refused for personal data is a 409 `PersonalData`
whose body lists the findings (`errors.from_core`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from niaouli.db.engine import writing
from niaouli.privacy import actions, guard
from niaouli.services.api.catalogue import editable_dataset
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.schemas import Input


class Finding(BaseModel):
    layer: str
    column: str
    kind: str
    kind_label: str
    share: float = Field(description="Part des valeurs échantillonnées qui correspondent")
    sampled: int
    why: str = Field(description="header, values ou header+values")
    detail: str = ""


class PrivacyStatus(BaseModel):
    open: list[Finding] = Field(description="Constats qui bloquent la publication")
    confirmed: list[Finding] = Field(description="Constats confirmés par un éditeur")
    held: bool = Field(description="Gardé en brouillon par le contrôle")
    method: str = Field(description="Recherche des noms dans le texte libre")


class Anonymise(Input):
    layer: str = Field(description="Identifiant de la couche (collection)")
    column: str
    action: Literal["drop", "hash", "generalise"]


class Confirm(Input):
    layer: str
    column: str
    reason: str = Field(min_length=actions.MIN_REASON, max_length=1000)


def _status(session: Session, call: Call) -> dict[str, Any]:
    dataset = editable_dataset(session, call, lock=True)
    found = guard.status(session, dataset)
    return {
        "open": guard.as_dicts(found.open),
        "confirmed": guard.as_dicts(found.confirmed),
        "held": found.review.held,
        "method": found.review.method,
    }


def show_privacy(call: Call) -> dict[str, Any]:
    with Session(call.context.engine) as session:
        return guard.peek(session, editable_dataset(session, call))


def anonymise_column(call: Call) -> dict[str, Any]:
    body: Anonymise = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        actions.anonymise(
            session, call.viewer, call.actor(), dataset, body.layer, body.column, body.action
        )
        return _status(session, call)


def confirm_column(call: Call) -> dict[str, Any]:
    body: Confirm = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        dataset = editable_dataset(session, call, lock=True)
        actions.confirm(
            session, call.viewer, call.actor(), dataset, body.layer, body.column, body.reason
        )
        return _status(session, call)


def operations() -> list[Operation]:
    tag = "Données personnelles"
    errors = (400, 401, 403, 404, 422)
    return [
        Operation(
            "GET",
            "/datasets/{slug}/privacy",
            show_privacy,
            "Données personnelles trouvées dans les couches (éditeurs)",
            tag,
            response=PrivacyStatus,
            errors=(401, 403, 404),
        ),
        Operation(
            "POST",
            "/datasets/{slug}/privacy/anonymise",
            anonymise_column,
            "Supprimer, hacher ou généraliser une colonne (données servies partout)",
            tag,
            writes=True,
            body=Anonymise,
            response=PrivacyStatus,
            errors=errors,
        ),
        Operation(
            "POST",
            "/datasets/{slug}/privacy/confirm",
            confirm_column,
            "Confirmer avec un motif qu'une colonne peut être publiée (journal d'audit)",
            tag,
            writes=True,
            body=Confirm,
            response=PrivacyStatus,
            errors=errors,
        ),
    ]
