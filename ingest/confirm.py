"""Changes that may be mistakes: asked before they are made (`confirm=False`).

The web API and the upload page ingest with `confirm=False`: the same file appended
again (same SHA-256), or a replace that changes the columns or loses more than half of
the rows, raises `UnconfirmedChangeError` and the transaction writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from niaouli.catalogue.models import Dataset
from niaouli.i18n import _
from niaouli.ingest.errors import UnconfirmedChangeError

if TYPE_CHECKING:
    from niaouli.ingest.load import LoadedLayer

REPLACE_LOSS = 0.5  # a replace keeping fewer rows than this share asks first


def check_not_sent_before(dataset: Dataset, checksum: str) -> None:
    """Appending a file whose rows are already in the layers would duplicate them."""
    for resource in dataset.resources:
        if resource.role == "source" and resource.checksum == checksum:
            raise UnconfirmedChangeError(
                "DuplicateFile",
                _(
                    "ce fichier a déjà été envoyé (« %(name)s », même empreinte SHA-256) : "
                    "l'ajouter encore doublerait ses lignes"
                )
                % {"name": resource.filename or resource.title},
                previous=resource.filename or resource.title,
                checksum=checksum,
            )


def layer_summary(name: str, columns: list[dict[str, str]] | None, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "columns": [c["name"] for c in columns or []],
        "feature_count": count,
    }


def check_replace(dataset: Dataset, loaded: list[LoadedLayer]) -> None:
    """A replace that changes the columns or loses most rows: say what changes, ask first."""
    before = [layer_summary(x.name, x.attribute_schema, x.feature_count) for x in dataset.layers]
    after = [layer_summary(x.report.name, x.columns, x.report.feature_count) for x in loaded]
    old_columns = {c for layer in before for c in layer["columns"]}
    new_columns = {c for layer in after for c in layer["columns"]}
    old_count = sum(layer["feature_count"] for layer in before)
    new_count = sum(layer["feature_count"] for layer in after)
    reasons = []
    if old_columns != new_columns or len(before) != len(after):
        reasons.append(_("les colonnes changent"))
    if new_count < old_count * REPLACE_LOSS:
        reasons.append(
            _("%(after)s objet(s) au lieu de %(before)s")
            % {"after": new_count, "before": old_count}
        )
    if reasons:
        raise UnconfirmedChangeError(
            "ReplaceChanges",
            _("ce remplacement changerait beaucoup les données (%(reasons)s) : confirmez-le")
            % {"reasons": " ; ".join(reasons)},
            before=before,
            after=after,
            removed_columns=sorted(old_columns - new_columns),
            added_columns=sorted(new_columns - old_columns),
        )
