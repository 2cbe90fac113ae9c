"""Licences as remotes write them, normalised to one name per licence.

Remotes name the same licence in many ways: the Etalab IRI with or without its trailing
slash or `www.`, over http or https, a relative IRI that a JSON-LD context turned into
`licence-ouverte-open-licence`, CKAN's `lov2`/`fr-lo`/`odc-odbl`, SPDX ids, a title. The
catalogue keeps one name per licence (the names of
`niaouli.catalogue.vocabularies.LICENCES`, the ones the portal's form, its licence facet
and DCAT know), so that a facet never splits
one licence in two. A licence nobody recognises is kept as written and reported.
"""

from __future__ import annotations

from niaouli.catalogue import vocabularies as catalogue_voc
from niaouli.i18n import N_

UNKNOWN_LICENCE = N_("licence inconnue « %(licence)s » : gardée telle quelle")
TEMPLATES = (UNKNOWN_LICENCE,)

ETALAB_2 = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
ETALAB_1 = "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf"
ODBL = "https://opendatacommons.org/licenses/odbl/1-0/"
CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_SA_4 = "https://creativecommons.org/licenses/by-sa/4.0/"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
# Other spellings of the licences of the table, by the IRI they stand for.
ALIASES = {
    ETALAB_2: (
        "licence-ouverte-open-licence",
        "https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf",
        "https://spdx.org/licenses/etalab-2.0",
        "https://spdx.org/licenses/etalab-2.0.html",
        "etalab-2.0",
        "lov2",
        "licence ouverte / open licence version 2.0",
        "open licence 2.0",
    ),
    ETALAB_1: ("fr-lo", "licence ouverte / open licence", "licence ouverte v1.0"),
    ODBL: (
        "https://opendatacommons.org/licenses/odbl/",
        "https://opendatacommons.org/licenses/odbl/1.0/",
        "https://spdx.org/licenses/odbl-1.0",
        "odc-odbl",
        "odbl-1.0",
        "open database license (odbl)",
    ),
    CC_BY_4: (
        "https://creativecommons.org/licenses/by/4.0/legalcode",
        "https://creativecommons.org/licenses/by/4.0/deed.fr",
        "cc-by-4.0",
        "cc-by",
    ),
    CC_BY_SA_4: ("https://creativecommons.org/licenses/by-sa/4.0/legalcode", "cc-by-sa-4.0"),
    CC0: ("https://creativecommons.org/publicdomain/zero/1.0/legalcode", "cc0-1.0", "cc-zero"),
}


def _key(value: str) -> str:
    """What two spellings of one licence have in common: no scheme, `www.`, query,
    fragment or trailing slash; lower case, single spaces."""
    text = " ".join(value.strip().lower().split())
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    text = text.removeprefix("www.")
    for mark in ("#", "?"):
        text = text.split(mark, 1)[0]
    return text.rstrip("/")


def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    by_iri = {x.iri: x.name for x in catalogue_voc.LICENCES}
    for item in catalogue_voc.LICENCES:
        for spelling in (item.iri, item.name, item.label, *item.aliases):
            names.setdefault(_key(spelling), item.name)
    for iri, spellings in ALIASES.items():
        for spelling in spellings:
            names.setdefault(_key(spelling), by_iri[iri])
    return names


NAMES = _names()


def licence_name(value: object) -> tuple[str | None, str | None]:
    """(the catalogue's name for a licence as a remote wrote it, a note or None).

    A known licence gets its one name; an unknown one is kept as written (cut to 200
    characters) with a note for the record's report; nothing gives (None, None).
    """
    text = str(value or "").strip()
    if not text:
        return None, None
    known = NAMES.get(_key(text))
    if known:
        return known, None
    return text[:200], UNKNOWN_LICENCE % {"licence": text[:200]}


def choose_licence(*candidates: object) -> tuple[str | None, str | None]:
    """The first candidate the table knows (an IRI, then a title...), else the first
    one given, kept as written with its note: what `licence_name` says of it."""
    given = [c for c in candidates if str(c or "").strip()]
    for candidate in given:
        name, note = licence_name(candidate)
        if note is None:
            return name, None
    return licence_name(given[0]) if given else (None, None)
