"""Licences in plain words: what a visitor may do with a dataset, and on what condition.

A dataset's `licence` is free text (typed by a producer, or harvested). It is matched
against a short table of the licences seen in French open data; anything else is shown
as "licence non précisée", never guessed. The explanations are French msgids, shown
in the reader's language by `Licence.in_words()` (licence names are not translated).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from niaouli.i18n import N_, _, current_language


@dataclass(frozen=True)
class Licence:
    name: str
    may: str  # what you may do, one French sentence (the msgid of its translation)
    must: str  # the obligation
    url: str | None  # the official text
    known: bool = True

    def in_words(self) -> Licence:
        """This licence with its plain-words explanation in the reader's language.

        The names of real licences stay as they are (they are names); only "licence
        non précisée" is a phrase. Creative Commons deeds are linked in the reader's
        language.
        """
        url = self.url
        if url and current_language() != "fr" and url.endswith("/deed.fr"):
            url = url[: -len("fr")] + current_language()
        return replace(
            self,
            name=self.name if self.known else _(self.name),
            may=_(self.may),
            must=_(self.must) if self.must else "",
            url=url,
        )


ETALAB_2 = Licence(
    "Licence Ouverte 2.0 (Etalab)",
    N_(
        "Vous pouvez copier, modifier, publier et exploiter ces données, "
        "y compris à des fins commerciales."
    ),
    N_("Obligation : citer la source (le producteur) et la date de dernière mise à jour."),
    "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
)
ETALAB_1 = Licence(
    "Licence Ouverte 1.0 (Etalab)",
    N_(
        "Vous pouvez copier, modifier, publier et exploiter ces données, "
        "y compris à des fins commerciales."
    ),
    N_(
        "Obligation : citer la source (le producteur) et la date de dernière mise à jour. "
        "Cette version est remplacée par la Licence Ouverte 2.0."
    ),
    "https://www.etalab.gouv.fr/wp-content/uploads/2014/05/Licence_Ouverte.pdf",
)
ODBL = Licence(
    "Open Database License (ODbL 1.0)",
    N_(
        "Vous pouvez copier, modifier et exploiter cette base de données, "
        "y compris à des fins commerciales."
    ),
    N_(
        "Obligations : citer la source, et partager sous la même licence ODbL toute base "
        "de données dérivée que vous rendez publique (partage à l'identique)."
    ),
    "https://opendatacommons.org/licenses/odbl/1-0/",
)
CC_BY = Licence(
    "Creative Commons Attribution 4.0 (CC BY 4.0)",
    N_("Vous pouvez copier, modifier et diffuser ces données, y compris à des fins commerciales."),
    N_("Obligation : citer l'auteur, indiquer la licence et signaler vos modifications."),
    "https://creativecommons.org/licenses/by/4.0/deed.fr",
)
CC_BY_SA = Licence(
    "Creative Commons Attribution – Partage dans les mêmes conditions (CC BY-SA 4.0)",
    N_("Vous pouvez copier, modifier et diffuser ces données, y compris à des fins commerciales."),
    N_(
        "Obligations : citer l'auteur, et diffuser vos versions modifiées sous la même "
        "licence (partage à l'identique)."
    ),
    "https://creativecommons.org/licenses/by-sa/4.0/deed.fr",
)
CC_BY_NC_ND = Licence(
    "Creative Commons Attribution – Pas d'utilisation commerciale – Pas de modification "
    "(CC BY-NC-ND 4.0)",
    N_("Vous pouvez copier et rediffuser ces données telles quelles, sans usage commercial."),
    N_(
        "Obligations : citer l'auteur ; pas d'usage commercial ; pas de diffusion de "
        "versions modifiées. Ce n'est pas une licence ouverte."
    ),
    "https://creativecommons.org/licenses/by-nc-nd/4.0/deed.fr",
)
CC0 = Licence(
    "Creative Commons Zéro (CC0 1.0, domaine public)",
    N_("Vous pouvez tout faire avec ces données, y compris à des fins commerciales."),
    N_("Aucune obligation (citer la source reste une bonne pratique)."),
    "https://creativecommons.org/publicdomain/zero/1.0/deed.fr",
)
UNKNOWN = Licence(
    N_("Licence non précisée"),
    N_("Licence non précisée : contactez le producteur avant réutilisation."),
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
