"""What an editor does with a finding: drop the column, hash it, generalise it, or
confirm with a reason that it may be published.

The first three rewrite the layer into a new table (`niaouli.db.layers.rewrite_layer`),
so every interface — OGC API items, tiles, exports, previews — serves the changed data
(their caches are keyed by table name). Each writes its audit row in the caller's
transaction. Kept versions of the dataset (`catalogue.versions`) are not rewritten: a
version restored into a visible dataset is scanned again (`guard.hold`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset, Layer, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.layers import ColumnSpec, new_table_name, rewrite_layer
from niaouli.errors import CatalogueError, ForbiddenError, NotFoundError
from niaouli.i18n import _
from niaouli.privacy import guard as privacy_guard
from niaouli.privacy import names
from niaouli.privacy.scan import scan_layer
from niaouli.privacy.text import words

ACTIONS = ("drop", "hash", "generalise")
MIN_REASON = 10
# What "generalise" means for each kind (others can only be dropped or hashed).
GENERALISABLE = {"birth_date": "year", "address": "commune"}


def _check(viewer: Viewer, dataset: Dataset) -> None:
    if not allowed(viewer, Action.DATASET_EDIT, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))


def _layer(dataset: Dataset, collection_id: str) -> Layer:
    for layer in dataset.layers:
        if layer.collection_id == collection_id:
            return layer
    raise NotFoundError(_("couche introuvable : « %(layer)s »") % {"layer": collection_id})


def _column(layer: Layer, name: str) -> ColumnSpec:
    for a in layer.attribute_schema or ():
        if a["name"] == name:
            return ColumnSpec(a["name"], a["column"], a["type"])
    raise NotFoundError(_("colonne introuvable : « %(column)s »") % {"column": name})


def hasher(salt: str) -> Callable[[Any], str]:
    """A salted SHA-256, cut to 16 hex digits: equal values stay equal (counts and joins
    within the dataset still work), the values cannot be found again without the salt."""

    def digest(value: Any) -> str:
        text = value.isoformat() if isinstance(value, date | datetime) else str(value)
        return hashlib.sha256(f"{salt}\x00{text}".encode()).hexdigest()[:16]

    return digest


def year_of(value: Any) -> int | None:
    if isinstance(value, date | datetime):
        return value.year
    match = re.search(r"\b(1[89]\d{2}|20\d{2})\b", str(value))
    return int(match.group(1)) if match else None


def commune_of(value: Any) -> str | None:
    """The commune an address names (New Caledonia's 33), else None."""
    folded = " " + " ".join(words(str(value))) + " "
    known = names.communes()
    for key in sorted(known, key=len, reverse=True):
        variants = {
            key,
            key.replace("l ile des pins", "ile des pins"),
            key.replace("le mont dore", "mont dore"),
        }
        if any(f" {v} " in folded for v in variants):
            return known[key]
    return None


def anonymise(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    dataset: Dataset,
    layer_id: str,
    column: str,
    action: str,
    kind: str = "",
) -> list[ColumnSpec]:
    """Drop, hash or generalise one column of one layer (a new table, the same rows)."""
    _check(viewer, dataset)
    if action not in ACTIONS:
        raise CatalogueError(_("action inconnue : « %(action)s »") % {"action": action})
    layer = _layer(dataset, layer_id)
    spec = _column(layer, column)
    change: tuple[ColumnSpec | None, Callable[[Any], Any] | None]
    if action == "drop":
        change = (None, None)
    elif action == "hash":
        review = privacy_guard.review_of(session, dataset)
        assert review is not None
        change = (ColumnSpec(spec.name, spec.column, "string"), hasher(review.salt))
    else:
        kind = kind or _finding_kind(session, dataset, layer_id, column)
        how = GENERALISABLE.get(kind)
        if how is None:
            raise CatalogueError(
                _(
                    "« %(column)s » ne se généralise pas (dates de naissance : l'année ; "
                    "adresses : la commune) : supprimez ou hachez la colonne"
                )
                % {"column": column}
            )
        if how == "year":
            change = (ColumnSpec(spec.name, spec.column, "integer"), year_of)
        else:
            change = (ColumnSpec(spec.name, spec.column, "string"), commune_of)
    columns = [ColumnSpec(a["name"], a["column"], a["type"]) for a in layer.attribute_schema]
    target = new_table_name()
    new_columns = rewrite_layer(
        session.connection(),
        layer.table_name,
        target,
        columns,
        layer.geometry_type,
        {spec.column: change},
    )
    layer.table_name = target
    layer.attribute_schema = [c.as_dict() for c in new_columns]
    if action == "drop":
        notes = dict(layer.column_descriptions or {})
        notes.pop(column, None)
        layer.column_descriptions = notes
    layer.updated_at = utcnow()
    dataset.updated_at = utcnow()
    audit.record(
        session,
        actor,
        f"dataset.privacy_{action}",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        layer=layer_id,
        column=column,
    )
    session.flush()
    return new_columns


def _finding_kind(session: Session, dataset: Dataset, layer_id: str, column: str) -> str:
    """What the scan finds in that column now (generalising depends on it)."""
    for f in scan_layer(session.connection(), _layer(dataset, layer_id)):
        if f.column == column:
            return f.kind
    return ""


def confirm(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    dataset: Dataset,
    layer_id: str,
    column: str,
    reason: str,
) -> int:
    """Confirm that a column found may be published, with a reason (audit log); returns
    how many findings of that column it covers."""
    _check(viewer, dataset)
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise CatalogueError(
            _("donnez un motif d'au moins %(n)s caractères pour confirmer") % {"n": MIN_REASON}
        )
    found = privacy_guard.status(session, dataset)
    targets = [
        f for f in found.open + found.confirmed if f.layer == layer_id and f.column == column
    ]
    if not targets:
        raise NotFoundError(
            _("aucune donnée personnelle trouvée dans « %(layer)s » / « %(column)s »")
            % {"layer": layer_id, "column": column}
        )
    review = found.review
    keys = privacy_guard.confirmed_keys(review)
    added = [
        {
            "layer": f.layer,
            "column": f.column,
            "kind": f.kind,
            "reason": reason[:1000],
            "user_id": viewer.user_id,
            "at": utcnow().isoformat(),
        }
        for f in targets
        if f.key not in keys
    ]
    review.confirmations = [*review.confirmations, *added]  # a new list: JSON change seen
    audit.record(
        session,
        actor,
        "dataset.privacy_confirm",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        layer=layer_id,
        column=column,
        kinds=sorted(f.kind for f in targets),
        reason=reason[:1000],
    )
    session.flush()
    return len(targets)
