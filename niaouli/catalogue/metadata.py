"""Checking and normalising the metadata an editor writes (portal form and API alike).

Licence, update frequency and themes come from the controlled lists of
`niaouli.catalogue.vocabularies` and are stored under their one name; the contact is an
e-mail address; the temporal coverage ends on or after it starts. A value already on
the dataset (harvested, or from before the lists) is kept when it comes back unchanged,
so that saving a form never refuses, or loses, what the editor did not touch.
Errors are French sentences (`CatalogueError`), shown by the form and the API alike.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from niaouli.catalogue import vocabularies as voc
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.service import CatalogueError
from niaouli.i18n import _

# One address, no display name: a local part, then a domain with at least one dot.
EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
OPTIONAL_TEXTS = ("producer", "contact_name")


def check(fields: dict[str, Any], dataset: Dataset | None = None) -> dict[str, Any]:
    """`fields` normalised (a new dict); a `CatalogueError` for the first bad value."""
    fields = dict(fields)
    if "licence" in fields:
        fields["licence"] = _licence(fields["licence"], dataset)
    if "themes" in fields:
        fields["themes"] = _themes(fields["themes"] or [], dataset)
    if "update_frequency" in fields:
        fields["update_frequency"] = _frequency(fields["update_frequency"], dataset)
    for name in OPTIONAL_TEXTS:
        if name in fields:
            fields[name] = " ".join(str(fields[name] or "").split()) or None
    if "contact_email" in fields:
        fields["contact_email"] = _email(fields["contact_email"])
    if "lineage" in fields:
        fields["lineage"] = str(fields["lineage"] or "").strip()
    for name in ("temporal_start", "temporal_end"):
        if name in fields:
            fields[name] = _date(fields[name])
    start = fields.get("temporal_start", dataset.temporal_start if dataset else None)
    end = fields.get("temporal_end", dataset.temporal_end if dataset else None)
    if start and end and end < start:
        raise CatalogueError(
            _("la période couverte finit le %(end)s, avant son début le %(start)s")
            % {"end": end.isoformat(), "start": start.isoformat()}
        )
    return fields


def _licence(value: Any, dataset: Dataset | None) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        return voc.DEFAULT_LICENCE
    known = voc.licence(text)
    if known and known.offered:
        return known.name
    if dataset is not None and text == dataset.licence:
        return text  # kept as it was (harvested, or from before the list)
    raise CatalogueError(
        _("licence inconnue « %(licence)s » : choisissez parmi %(choices)s")
        % {"licence": text[:200], "choices": ", ".join(voc.OFFERED_LICENCES)}
    )


def _themes(values: Any, dataset: Dataset | None) -> list[str]:
    if isinstance(values, str):
        values = [values]
    present = {str(t) for t in (dataset.themes or [])} if dataset is not None else set()
    themes: list[str] = []
    for value in values:
        text = " ".join(str(value).split())
        if not text:
            continue
        code = voc.theme_code(text)
        if code:
            text = voc.THEMES[code]
        elif text not in present:
            raise CatalogueError(
                _("thème inconnu « %(theme)s » : choisissez parmi les thèmes européens (%(codes)s)")
                % {"theme": text[:100], "codes": ", ".join(voc.THEMES)}
            )
        if text not in themes:
            themes.append(text)
    return themes


def _frequency(value: Any, dataset: Dataset | None) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if dataset is not None and text == dataset.update_frequency:
        return text  # kept as it was
    known = voc.frequency(text)
    if known is None or known not in voc.FREQUENCIES:
        raise CatalogueError(
            _("fréquence de mise à jour inconnue « %(value)s » : choisissez parmi %(codes)s")
            % {"value": text[:50], "codes": ", ".join(f.eu for f in voc.FREQUENCIES)}
        )
    return known.key


def _email(value: Any) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if len(text) > 300 or not EMAIL.match(text):
        raise CatalogueError(
            _("« %(value)s » n'est pas une adresse électronique (exemple : sig@province-sud.nc)")
            % {"value": text[:100]}
        )
    return text


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CatalogueError(
            _("date illisible « %(value)s » : écrivez-la AAAA-MM-JJ") % {"value": str(value)[:30]}
        ) from None
