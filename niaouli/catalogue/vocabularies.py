"""The controlled lists of dataset metadata: licences, update frequencies, data themes.

One table per list, shared by the portal's form, the writing API, the dataset page, the
DCAT export and the CSW/ISO record, so that they all say the same thing. The lists follow
the EU vocabularies DCAT-AP expects (the Publications Office's "data-theme" and
"frequency" authority tables); licences are the platform's open licences, each with its
one name (a facet never splits one licence in two) and the spellings it is known by.

Labels are French msgids (`N_`): pages show them in the reader's language with `_()`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from niaouli.i18n import N_


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces: how spellings are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip().lower()


# --- data themes (EU "data-theme" table, French labels of the table) ---------------------

THEMES: dict[str, str] = {
    "AGRI": N_("Agriculture, pêche, sylviculture et alimentation"),
    "ECON": N_("Économie et finances"),
    "EDUC": N_("Éducation, culture et sport"),
    "ENER": N_("Énergie"),
    "ENVI": N_("Environnement"),
    "GOVE": N_("Gouvernement et secteur public"),
    "HEAL": N_("Santé"),
    "INTR": N_("Questions internationales"),
    "JUST": N_("Justice, système juridique et sécurité publique"),
    "REGI": N_("Régions et villes"),
    "SOCI": N_("Population et société"),
    "TECH": N_("Science et technologie"),
    "TRAN": N_("Transports"),
}
THEME_IRI = "http://publications.europa.eu/resource/authority/data-theme/"
# Normalised label -> code, made once: a search page names ~170 themes, and normalising
# the 13 labels for each cost ~10 ms a page.
_THEME_OF_LABEL: dict[str, str] = {}
for _code, _label in THEMES.items():
    _THEME_OF_LABEL.setdefault(normalise(_label), _code)


def theme_code(value: str) -> str | None:
    """The EU data theme a value names (its code, IRI or French label), else None."""
    text = value.strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    if text.upper() in THEMES:
        return text.upper()
    return _THEME_OF_LABEL.get(normalise(text))


# --- update frequencies -------------------------------------------------------------------


@dataclass(frozen=True)
class Frequency:
    key: str  # as stored in `datasets.update_frequency` (the harvesters write these too)
    eu: str  # EU "frequency" authority table code (DCAT-AP dct:accrualPeriodicity)
    iso: str  # ISO 19115 MD_MaintenanceFrequencyCode (the CSW record)
    label: str  # French msgid, completes « Mise à jour : ... »


FREQUENCIES: tuple[Frequency, ...] = (
    Frequency("continual", "CONT", "continual", N_("en continu")),
    Frequency("daily", "DAILY", "daily", N_("quotidienne")),
    Frequency("weekly", "WEEKLY", "weekly", N_("hebdomadaire")),
    Frequency("fortnightly", "BIWEEKLY", "fortnightly", N_("tous les quinze jours")),
    Frequency("monthly", "MONTHLY", "monthly", N_("mensuelle")),
    Frequency("quarterly", "QUARTERLY", "quarterly", N_("trimestrielle")),
    Frequency("biannual", "ANNUAL_2", "biannually", N_("semestrielle")),
    Frequency("annual", "ANNUAL", "annually", N_("annuelle")),
    Frequency("irregular", "IRREG", "irregular", N_("irrégulière")),
    Frequency("notplanned", "NEVER", "notPlanned", N_("non prévue")),
    Frequency("unknown", "UNKNOWN", "unknown", N_("inconnue")),
)
# Keys older rows and harvests may hold, read as the frequency they mean (not offered).
LEGACY_FREQUENCIES: dict[str, Frequency] = {
    "biannually": FREQUENCIES[6],
    "annually": FREQUENCIES[7],
    "punctual": Frequency("punctual", "IRREG", "asNeeded", N_("au besoin")),
    "asneeded": Frequency("punctual", "IRREG", "asNeeded", N_("au besoin")),
}
FREQUENCY_IRI = "http://publications.europa.eu/resource/authority/frequency/"


def frequency(value: str | None) -> Frequency | None:
    """The frequency a stored key, an EU code or an EU IRI names, else None."""
    text = (value or "").strip()
    if not text:
        return None
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    for item in FREQUENCIES:
        if text.upper() == item.eu:
            return item
    key = re.sub(r"[^a-z]", "", text.lower())
    for item in FREQUENCIES:
        if key == item.key:
            return item
    return LEGACY_FREQUENCIES.get(key)


# --- licences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Licence:
    name: str  # the one name the catalogue stores and the facet shows
    iri: str  # the official text (DCAT dct:license)
    label: str  # the full name (DCAT label)
    aliases: tuple[str, ...] = ()
    offered: bool = True  # in the platform's list (form, API); else only recognised


LICENCES: tuple[Licence, ...] = (
    Licence(
        "Licence Ouverte 2.0",
        "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        "Licence Ouverte / Open Licence version 2.0",
        (
            "Licence Ouverte",  # without a version: Etalab's current one
            "Licence Ouverte v2.0",
            "Licence Ouverte 2.0 (Etalab)",
            "Licence Ouverte / Open Licence 2.0",
            "Open Licence 2.0",
            "etalab-2.0",
            "lov2",
            "LO 2.0",
        ),
    ),
    Licence(
        "Open Database License (ODbL) 1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        "Open Database License (ODbL) 1.0",
        ("ODbL", "ODbL 1.0", "odbl-1.0", "odc-odbl", "Open Database License (ODbL)"),
    ),
    Licence(
        "CC BY 4.0",
        "https://creativecommons.org/licenses/by/4.0/",
        "CC BY 4.0",
        ("CC-BY 4.0", "CC-BY", "CC BY", "cc-by-4.0"),
    ),
    Licence(
        "CC BY-SA 4.0",
        "https://creativecommons.org/licenses/by-sa/4.0/",
        "CC BY-SA 4.0",
        ("CC-BY-SA 4.0", "CC-BY-SA", "CC BY-SA", "cc-by-sa-4.0"),
    ),
    Licence(
        "CC0 1.0",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "CC0 1.0",
        ("CC0", "cc0-1.0", "cc-zero"),
    ),
    Licence(
        "Licence Ouverte 1.0",
        "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf",
        "Licence Ouverte / Open Licence",
        ("Licence Ouverte v1.0", "Licence Ouverte / Open Licence 1.0", "fr-lo"),
        offered=False,  # replaced by 2.0: recognised (harvests), not offered
    ),
)
OFFERED_LICENCES: tuple[str, ...] = tuple(x.name for x in LICENCES if x.offered)
DEFAULT_LICENCE = OFFERED_LICENCES[0]


def _by_spelling() -> dict[str, Licence]:
    table: dict[str, Licence] = {}
    for item in LICENCES:
        for spelling in (item.name, item.label, *item.aliases):
            table.setdefault(normalise(spelling), item)
    return table


_SPELLINGS = _by_spelling()


def licence(name: str | None) -> Licence | None:
    """The licence a name or one of its spellings stands for, else None."""
    return _SPELLINGS.get(_normalised_licence(name or ""))


@lru_cache(maxsize=1024)
def _normalised_licence(name: str) -> str:
    """Cached: the quality score asks for every dataset a harvest writes, mostly the same
    few licence texts (≈ 100 characters, decomposed one by one)."""
    return normalise(name)
