"""What editors say about a layer's columns: label, description, unit, hidden.

Stored on the layer (`Layer.column_descriptions`, keyed by the column's name as the OGC
API and the tiles name it) and read by the map's pop-ups, the dataset page and the OGC
API's queryables and schema. Only columns the layer has are kept; empty entries are
dropped, so an undescribed layer stores `{}`. A re-upload keeps the descriptions of the
columns that are still there (`carried_over`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset, Layer
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.publication import ForbiddenError
from niaouli.errors import NiaouliError
from niaouli.i18n import N_, _

LIMITS = {"label": 120, "description": 1000, "unit": 30}
"""Longest text kept for each field (longer text is refused, not cut)."""
TECHNICAL = frozenset({"fid"})
"""Never shown in pop-ups and tables, whatever the editors say: the OGC feature id."""


class ColumnError(NiaouliError, ValueError):
    """A description that cannot be stored (too long), with a sentence for the form."""

    code = "InvalidValue"


def _clean(value: Any) -> str:
    return " ".join(str(value or "").split())


def normalise(entry: Mapping[str, Any], column: str) -> dict[str, Any]:
    """One column's description with blank fields dropped; ColumnError when too long."""
    kept: dict[str, Any] = {}
    for field, limit in LIMITS.items():
        value = _clean(entry.get(field))
        if len(value) > limit:
            raise ColumnError(
                _("colonne « %(column)s » : %(field)s trop long (%(limit)s caractères au plus)")
                % {"column": column, "field": _(FIELD_NAMES[field]), "limit": limit}
            )
        if value:
            kept[field] = value
    if entry.get("hidden"):
        kept["hidden"] = True
    return kept


FIELD_NAMES = {"label": N_("libellé"), "description": N_("description"), "unit": N_("unité")}


def column_names(layer: Layer) -> list[str]:
    return [a["name"] for a in layer.attribute_schema or ()]


def described(layer: Layer) -> dict[str, dict[str, Any]]:
    """The layer's descriptions for its current columns only."""
    stored = layer.column_descriptions or {}
    return {name: dict(stored[name]) for name in column_names(layer) if stored.get(name)}


def hidden_names(layer: Layer) -> set[str]:
    """Columns no page or pop-up shows: the technical ones and those the editors hid."""
    return set(TECHNICAL) | {n for n, d in described(layer).items() if d.get("hidden")}


def attributes(layer: Layer) -> list[dict[str, Any]]:
    """The layer's attributes (name, column, type) with every description field, blank
    when not described."""
    notes = described(layer)
    blank = {"label": "", "description": "", "unit": "", "hidden": False}
    return [{**a, **blank, **notes.get(a["name"], {})} for a in layer.attribute_schema or ()]


def set_descriptions(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    dataset: Dataset,
    layer: Layer,
    entries: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Replace a layer's column descriptions (editors of its organisation only), audited."""
    if not allowed(viewer, Action.DATASET_EDIT, dataset) or layer.dataset_id != dataset.id:
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))
    stored: dict[str, dict[str, Any]] = {}
    for name in column_names(layer):
        entry = normalise(entries.get(name) or {}, name)
        if entry:
            stored[name] = entry
    layer.column_descriptions = stored
    audit.record(
        session,
        actor,
        "layer.columns",
        subject=f"{dataset.slug}/{layer.name}",
        organisation_id=dataset.organisation_id,
        columns=sorted(stored),
    )
    session.flush()
    return stored


def carried_over(old: Iterable[Layer], name: str, columns: Iterable[str]) -> dict[str, Any]:
    """On a re-upload: the previous layer of that name's descriptions of columns kept."""
    for layer in old:
        if layer.name == name:
            stored = layer.column_descriptions or {}
            return {c: stored[c] for c in columns if stored.get(c)}
    return {}
