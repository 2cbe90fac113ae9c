"""Licences in plain words: what a visitor may do with a dataset, and on what condition.

A dataset's `licence` is free text (typed by a producer, or harvested). It is matched
against a short table of the licences seen in French open data; anything else is shown
as "licence non précisée", never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Licence:
    name: str
    may: str  # what you may do, one French sentence
    must: str  # the obligation
    url: str | None  # the official text
    known: bool = True


ETALAB_2 = Licence(
    "Licence Ouverte 2.0 (Etalab)",
    "Vous pouvez copier, modifier, publier et exploiter ces données, "
    "y compris à des fins commerciales.",
    "Obligation : citer la source (le producteur) et la date de dernière mise à jour.",
    "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
)
ETALAB_1 = Licence(
    "Licence Ouverte 1.0 (Etalab)",
    "Vous pouvez copier, modifier, publier et exploiter ces données, "
    "y compris à des fins commerciales.",
    "Obligation : citer la source (le producteur) et la date de dernière mise à jour. "
    "Cette version est remplacée par la Licence Ouverte 2.0.",
    "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf",
)
ODBL = Licence(
    "Open Database License (ODbL 1.0)",
    "Vous pouvez copier, modifier et exploiter cette base de données, "
    "y compris à des fins commerciales.",
    "Obligations : citer la source, et partager sous la même licence ODbL toute base "
    "de données dérivée que vous rendez publique (partage à l'identique).",
    "https://opendatacommons.org/licenses/odbl/1-0/",
)
CC_BY = Licence(
    "Creative Commons Attribution 4.0 (CC BY 4.0)",
    "Vous pouvez copier, modifier et diffuser ces données, y compris à des fins commerciales.",
    "Obligation : citer l'auteur, indiquer la licence et signaler vos modifications.",
    "https://creativecommons.org/licenses/by/4.0/deed.fr",
)
CC_BY_SA = Licence(
    "Creative Commons Attribution – Partage dans les mêmes conditions (CC BY-SA 4.0)",
    "Vous pouvez copier, modifier et diffuser ces données, y compris à des fins commerciales.",
    "Obligations : citer l'auteur, et diffuser vos versions modifiées sous la même "
    "licence (partage à l'identique).",
    "https://creativecommons.org/licenses/by-sa/4.0/deed.fr",
)
CC_BY_NC_ND = Licence(
    "Creative Commons Attribution – Pas d'utilisation commerciale – Pas de modification "
    "(CC BY-NC-ND 4.0)",
    "Vous pouvez copier et rediffuser ces données telles quelles, sans usage commercial.",
    "Obligations : citer l'auteur ; pas d'usage commercial ; pas de diffusion de "
    "versions modifiées. Ce n'est pas une licence ouverte.",
    "https://creativecommons.org/licenses/by-nc-nd/4.0/deed.fr",
)
CC0 = Licence(
    "Creative Commons Zéro (CC0 1.0, domaine public)",
    "Vous pouvez tout faire avec ces données, y compris à des fins commerciales.",
    "Aucune obligation (citer la source reste une bonne pratique).",
    "https://creativecommons.org/publicdomain/zero/1.0/deed.fr",
)
UNKNOWN = Licence(
    "Licence non précisée",
    "Licence non précisée : contactez le producteur avant réutilisation.",
    "",
    None,
    known=False,
)

# (pattern on the normalised text, licence): first match wins, most specific first.
PATTERNS: tuple[tuple[str, Licence], ...] = (
    (r"\bcc0\b|cc zero|creative commons zero|domaine public|public domain", CC0),
    (r"by.?nc.?nd|nc.?nd", CC_BY_NC_ND),
    (r"by.?sa\b|sharealike|share alike|partage dans les memes", CC_BY_SA),
    (r"\bodbl\b|open database licen", ODBL),
    (r"licence ouverte.*1\.0|open licen[cs]e.*1\.0|\blo 1\.0", ETALAB_1),
    (r"licence ouverte|open licen[cs]e|etalab|\blo 2\.0\b", ETALAB_2),
    (r"\bcc.?by\b|creative commons attribution|creativecommons\.org/licenses/by/", CC_BY),
)


def _normalise(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[\s_]+", " ", plain.lower()).strip()


def describe(licence: str | None) -> Licence:
    """The plain-words description of a dataset's licence text (UNKNOWN when unmatched)."""
    text = _normalise(licence or "")
    if not text:
        return UNKNOWN
    for pattern, known in PATTERNS:
        if re.search(pattern, text):
            return known
    return UNKNOWN
