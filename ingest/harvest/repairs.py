"""What the mapping of a remote record repaired, or could not map, said in its report.

Remotes write the same things in many ways (a bounding box with decimal commas or its
corners swapped, a blank title, a frequency as an ISO code or CKAN's words). The mapping
keeps what can be read, and says what it repaired in the record's report line
(`RemoteRecord.notes`, French notes from the templates below, translated on display).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from niaouli.catalogue import vocabularies as voc  # (not dcat's: rdflib, for a mapping process)
from niaouli.i18n import N_

MERGED_MAPSERVER = N_(
    "couche publiée aussi en MapServer (%(path)s) : fusionnée, données lues sur FeatureServer"
)
TITLE_FROM_ALTERNATE = N_("titre vide : titre alternatif repris")
TITLE_FROM_DESCRIPTION = N_("titre vide : début de la description repris")
TITLE_FROM_IDENTIFIER = N_("titre vide : identifiant repris comme titre")
TITLE_CUT = N_("titre de %(length)s caractères coupé à %(limit)s")
BBOX_COMMAS = N_("emprise réparée : virgules décimales lues comme des points")
BBOX_SWAPPED = N_("emprise réparée : coins inversés remis dans l'ordre")
BBOX_UNREADABLE = N_("emprise illisible « %(value)s » : pas de couverture spatiale")
FREQUENCY_UNKNOWN = N_("fréquence de mise à jour inconnue « %(value)s » : non reprise")
THEME_UNKNOWN = N_("thème inconnu « %(value)s » : gardé tel quel")
IDENTIFIER_DERIVED = N_("fiche sans identifiant : identifiant %(identifier)s tiré de son contenu")
TEMPLATES = (
    MERGED_MAPSERVER,
    TITLE_FROM_ALTERNATE,
    TITLE_FROM_DESCRIPTION,
    TITLE_FROM_IDENTIFIER,
    TITLE_CUT,
    BBOX_COMMAS,
    BBOX_SWAPPED,
    BBOX_UNREADABLE,
    FREQUENCY_UNKNOWN,
    THEME_UNKNOWN,
    IDENTIFIER_DERIVED,
)

TITLE_MAX = 500
# Every spelling of an update frequency seen on remotes -> the catalogue's key (the keys
# of `vocabularies.FREQUENCIES` that `services/csw/iso.py` writes back as ISO codes).
# Compared lower case, letters only: ISO MD_MaintenanceFrequencyCode values, EU
# frequency codes (ANNUAL_2 -> "annual2"), CKAN / DCAT-AP words, French labels.
FREQUENCY_SPELLINGS = {
    "continual": "continual",
    "cont": "continual",
    "continuous": "continual",
    "encontinu": "continual",
    "continu": "continual",
    "daily": "daily",
    "quotidienne": "daily",
    "quotidien": "daily",
    "weekly": "weekly",
    "hebdomadaire": "weekly",
    "fortnightly": "fortnightly",
    "biweekly": "fortnightly",
    "bimensuelle": "fortnightly",
    "touslesquinzejours": "fortnightly",
    "tousles15jours": "fortnightly",
    "annual2": "biannual",  # EU ANNUAL_2: twice a year
    "monthly": "monthly",
    "mensuelle": "monthly",
    "mensuel": "monthly",
    "quarterly": "quarterly",
    "trimestrielle": "quarterly",
    "trimestriel": "quarterly",
    "biannual": "biannual",
    "biannually": "biannual",
    "semiannual": "biannual",
    "annual": "annual",
    "annually": "annual",
    "yearly": "annual",
    "annuelle": "annual",
    "annuel": "annual",
    "semestrielle": "biannual",
    "semestriel": "biannual",
    "irregular": "irregular",
    "irreg": "irregular",
    "irreguliere": "irregular",
    "irregulier": "irregular",
    "asneeded": "punctual",
    "punctual": "punctual",
    "ponctuelle": "punctual",
    "ponctuel": "punctual",
    "notplanned": "notplanned",
    "never": "notplanned",
    "jamais": "notplanned",
    "unknown": "unknown",
    "inconnue": "unknown",
    # DCAT-US (data.json) accrualPeriodicity: ISO 8601 repeating durations.
    "rpt1s": "continual",
    "rp1d": "daily",
    "rp1w": "weekly",
    "rp2w": "fortnightly",
    "rp1m": "monthly",
    "rp3m": "quarterly",
    "rp6m": "biannual",
    "rp1y": "annual",
}


def frequency_key(value: Any) -> tuple[str | None, str | None]:
    """(catalogue frequency key, note) for a remote's frequency: code, IRI or words."""
    text = str(value or "").strip()
    if not text:
        return None, None
    tail = re.split(r"[/#]", text.rstrip("/#"))[-1] if "://" in text else text
    key = re.sub(r"[^a-z0-9]", "", voc.normalise(tail))
    found = FREQUENCY_SPELLINGS.get(key)
    if found is None:
        return None, FREQUENCY_UNKNOWN % {"value": text[:100]}
    return found, None


def bbox_notes(repairs: list[str], written: str = "") -> list[str]:
    """The notes for what `niaouli.metadata_parse.repair_bbox` repaired."""
    notes = []
    if "commas" in repairs:
        notes.append(BBOX_COMMAS)
    if "swapped" in repairs:
        notes.append(BBOX_SWAPPED)
    if "unreadable" in repairs:
        notes.append(BBOX_UNREADABLE % {"value": " ".join(written.split())[:100]})
    return notes


def title_of(
    title: str | None, identifier: str, *, alternate: str | None = None, description: str = ""
) -> tuple[str, list[str]]:
    """The record's title and the notes saying how a blank or too long one was mended.

    A blank title takes the alternate title, else the first line of the description (up
    to 200 characters, on a word), else the identifier; a title the catalogue cannot
    hold (500 characters) is cut on a word, with an ellipsis.
    """
    text = " ".join((title or "").split())
    notes: list[str] = []
    if not text:
        alternate_text = " ".join((alternate or "").split())
        first_line = next(
            (" ".join(line.split()) for line in description.splitlines() if line.strip()), ""
        )
        if alternate_text:
            text, note = alternate_text, TITLE_FROM_ALTERNATE
        elif first_line:
            text, note = _cut(first_line, 200), TITLE_FROM_DESCRIPTION
        else:
            text, note = identifier, TITLE_FROM_IDENTIFIER
        notes.append(note)
    if len(text) > TITLE_MAX:
        notes.append(TITLE_CUT % {"length": len(text), "limit": TITLE_MAX})
        text = _cut(text, TITLE_MAX)
    return text, notes


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head[limit // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-") + "…"


def derived_identifier(content: bytes) -> str:
    """A stable identifier for a record that has none, from what it says.

    The positional "record n° 12" changed with the remote's order (a new record listed
    first renumbered every later one: deleted and created again). The content's hash
    does not; a record whose content changes is a new record, which is all one can know
    of a record without identifier.
    """
    return "sans-identifiant-" + hashlib.sha256(content).hexdigest()[:16]


def theme_label(theme: str) -> str:
    """An EU data theme written as its code or IRI ("ENVI") -> its French label."""
    text = theme.strip()
    code = text.rstrip("/").rsplit("/", 1)[-1].upper() if "/" in text else text.upper()
    if ("/data-theme/" in text or "/" not in text) and code in voc.THEMES:
        return voc.THEMES[code]
    return text
