"""The publication guard: a dataset whose layers hold personal data does not become
visible outside its organisation until each finding is handled — the column dropped,
hashed or generalised (`actions`), or confirmed by an editor with a reason (written to
the audit log).

Called by the core where a dataset becomes visible: `publication.publish`,
`editing.update_dataset` (a change of access level), the ingestion's swap (an upload
that creates or replaces a public dataset: held as a draft), the harvest's data copy
and a harvested record whose own text names a person (the same), and a cartoparty merge
into a visible layer (the same, its credit column confirmed as consented). A dataset's
title, description, keywords and lineage are scanned with its layers
(`scan.scan_metadata`). `guard(...)` raises; `hold(...)` turns a dataset back into a draft and says
why; `scan_dataset(...)` only looks. Interfaces show the error's message, in the
request's language, and the portal lists the findings on the management page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import AccessLevel, Dataset, utcnow
from niaouli.errors import ConflictError
from niaouli.i18n import N_, _
from niaouli.privacy import names
from niaouli.privacy.review_tables import PrivacyReview
from niaouli.privacy.scan import METADATA, Finding, scan_layer, scan_metadata

# Levels that show a dataset beyond its organisation's editors.
GUARDED = frozenset({AccessLevel.PUBLIC, AccessLevel.REGISTERED})
KIND_LABELS = {
    "name": N_("nom de personne"),
    "email": N_("adresse e-mail"),
    "phone": N_("numéro de téléphone"),
    "birth_date": N_("date de naissance"),
    "address": N_("adresse postale"),
    "nir": N_("numéro de sécurité sociale (NIR, CAFAT)"),
    "iban": N_("IBAN"),
    "plate": N_("plaque d'immatriculation"),
    "free_text": N_("texte libre nommant des personnes ou leurs coordonnées"),
}


class PersonalDataError(ConflictError):
    """Publication refused: the dataset's layers hold personal data not yet handled."""

    code = "PersonalData"

    def __init__(self, message: str, findings: list[Finding]) -> None:
        super().__init__(message)
        self.findings = findings

    @property
    def details(self) -> dict[str, Any]:
        """What the API adds to its 409 answer: the findings (never the values)."""
        return {"findings": as_dicts(self.findings)}


def kind_label(kind: str) -> str:
    return _(KIND_LABELS.get(kind, kind))


def describe(findings: list[Finding]) -> str:
    """« couche « x », colonne « nom » : nom de personne ; ... » (the request's language)."""
    parts = [
        _("métadonnées, champ « %(column)s » : %(kind)s")
        % {"column": f.column, "kind": kind_label(f.kind)}
        if f.layer == METADATA
        else _("couche « %(layer)s », colonne « %(column)s » : %(kind)s")
        % {"layer": f.layer, "column": f.column, "kind": kind_label(f.kind)}
        for f in findings
    ]
    return " ; ".join(parts)


def refusal(findings: list[Finding]) -> PersonalDataError:
    message = _(
        "publication refusée : données personnelles probables — %(found)s. Supprimez, "
        "hachez ou généralisez ces colonnes, ou confirmez avec un motif qu'elles peuvent "
        "être publiées."
    ) % {"found": describe(findings)}
    return PersonalDataError(message, findings)


def review_of(session: Session, dataset: Dataset, create: bool = True) -> PrivacyReview | None:
    review = session.scalar(select(PrivacyReview).where(PrivacyReview.dataset_id == dataset.id))
    if review is None and create:
        review = PrivacyReview(dataset_id=dataset.id, findings=[], confirmations=[])
        session.add(review)
        session.flush()
    return review


def scan_dataset(session: Session, dataset: Dataset) -> list[Finding]:
    """Every layer of the dataset scanned (bounded per layer: `scan.SAMPLE_ROWS`), and
    its own text fields (`scan.scan_metadata`: title, description, keywords, lineage)."""
    conn = session.connection()
    found: list[Finding] = []
    for layer in sorted(dataset.layers, key=lambda x: x.collection_id):
        found += scan_layer(conn, layer)
    return found + scan_metadata(dataset)


def confirmed_keys(review: PrivacyReview | None) -> set[tuple[str, str, str]]:
    return {(c["layer"], c["column"], c["kind"]) for c in (review.confirmations if review else [])}


@dataclass
class Status:
    """A dataset's findings now: those still open and those confirmed."""

    open: list[Finding]
    confirmed: list[Finding]
    review: PrivacyReview


def peek(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The findings now, open and confirmed, as plain data — nothing written (pages and
    the API's GET)."""
    findings = scan_dataset(session, dataset)
    review = review_of(session, dataset, create=False)
    keys = confirmed_keys(review)
    return {
        "open": as_dicts([f for f in findings if f.key not in keys]),
        "confirmed": as_dicts([f for f in findings if f.key in keys]),
        "held": bool(review and review.held),
        "method": names.method(),
    }


def status(session: Session, dataset: Dataset) -> Status:
    """Scan the dataset now and store the findings (the management page shows them)."""
    findings = scan_dataset(session, dataset)
    review = review_of(session, dataset)
    assert review is not None
    review.findings = [f.as_dict() for f in findings]
    review.method = names.method()
    review.scanned_at = utcnow()
    keys = confirmed_keys(review)
    session.flush()
    return Status(
        open=[f for f in findings if f.key not in keys],
        confirmed=[f for f in findings if f.key in keys],
        review=review,
    )


def guard(session: Session, dataset: Dataset, level: AccessLevel | str | None = None) -> None:
    """Refuse (PersonalDataError) to make `dataset` visible at `level` (its current level
    by default) while its layers hold personal data that no editor handled. The one
    check every path to publication calls; merges of contributions call it too."""
    level = AccessLevel(level or dataset.access_level)
    if level not in GUARDED:
        return
    found = status(session, dataset)
    if found.open:
        raise refusal(found.open)
    found.review.held = False


def is_held(session: Session, dataset: Dataset) -> bool:
    """Kept as a draft by the guard (a harvest must not publish it again by itself)."""
    review = review_of(session, dataset, create=False)
    return review is not None and review.held


CONSENTED_REASON = N_(
    "nom choisi par le contributeur pour être crédité sous la licence de la campagne"
)


def hold(
    session: Session,
    dataset: Dataset,
    consented: frozenset[tuple[str, str]] = frozenset(),
) -> list[Finding]:
    """For the paths that cannot refuse (an upload, a harvest, a merge of contributions):
    a visible dataset with open findings is turned back into a draft; the findings are
    returned (empty: nothing held) and kept with `held` set. `consented` (layer, column)
    pairs are published by their people's choice (a cartoparty's credit column): their
    findings are confirmed here, with that reason, instead of holding the dataset."""
    if dataset.access_level not in GUARDED:
        return []
    found = status(session, dataset)
    agreed = [f for f in found.open if (f.layer, f.column) in consented]
    if agreed:
        found.review.confirmations = [
            *found.review.confirmations,
            *[
                {
                    "layer": f.layer,
                    "column": f.column,
                    "kind": f.kind,
                    "reason": CONSENTED_REASON,
                    "user_id": None,
                    "at": utcnow().isoformat(),
                }
                for f in agreed
            ],
        ]
        found.open = [f for f in found.open if f not in agreed]
    if not found.open:
        return []
    dataset.access_level = AccessLevel.DRAFT
    found.review.held = True
    session.flush()
    return found.open


def findings_from(rows: list[dict[str, Any]]) -> list[Finding]:
    """Findings stored or reported as dicts, back as `Finding`s."""
    names_ = Finding.__dataclass_fields__
    return [Finding(**{k: v for k, v in row.items() if k in names_}) for row in rows]


def held_note(findings: list[Finding] | list[dict[str, Any]]) -> str:
    """The note an upload or a harvest reports for a dataset it held back as a draft."""
    findings = [f if isinstance(f, Finding) else findings_from([f])[0] for f in findings]
    return _(
        "jeu de données gardé en brouillon : données personnelles probables — %(found)s "
        "(page de gestion du jeu de données : supprimer, hacher, généraliser ou confirmer)"
    ) % {"found": describe(findings)}


def as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [{**f.as_dict(), "kind_label": kind_label(f.kind)} for f in findings]
