"""Header words: what a column's name says it holds, in French and English, whatever
its accents, case and separators (`Date_de_Naissance`, `dateNaissance`, `DOB`).

A header alone is a hint, not a verdict: the scan weighs it with the values (a column
`nom` of commune names is not personal data, a column `plaque` of memorial plaques is
not a licence plate). `strong` hints need little from the values, `weak` ones need the
values to agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from niaouli.privacy.text import words

STOP = {
    "de",
    "du",
    "des",
    "la",
    "le",
    "les",
    "l",
    "d",
    "of",
    "the",
    "n",
    "no",
    "num",
    "numero",
    "number",
    "nr",
    "1",
    "2",
}


@dataclass(frozen=True)
class Hint:
    kind: str  # name | email | phone | birth_date | address | nir | iban | plate | organisation
    strong: bool


def _has(ws: list[str], *phrases: str) -> bool:
    """One of `phrases` is in the header, with or without its small words."""
    joined = " " + " ".join(ws) + " "
    return any(f" {p} " in joined for p in phrases)


_NAME_STRONG = (
    "prenom",
    "prenoms",
    "firstname",
    "first name",
    "given name",
    "surname",
    "last name",
    "lastname",
    "nom de famille",
    "patronyme",
    "nom de naissance",
    "nom d usage",
    "full name",
    "fullname",
    "nom complet",
    "nom prenom",
    "prenom nom",
    "nom et prenom",
    "family name",
)
_PERSON_ROLES = (
    "contact",
    "responsable",
    "titulaire",
    "proprietaire",
    "demandeur",
    "declarant",
    "beneficiaire",
    "patient",
    "eleve",
    "victime",
    "conducteur",
    "habitant",
    "locataire",
    "owner",
    "person",
    "personne",
    "individu",
    "agent",
    "usager",
    "adherent",
    "nom personne",
)
_NAME_QUALIFIERS = {"nom", "name", "noms", "names", "complet", "usage", "nomprenom"}
_EMAIL = ("email", "e mail", "mail", "courriel", "mel", "adresse electronique", "emails")
_PHONE = (
    "telephone",
    "tel",
    "tél",
    "phone",
    "mobile",
    "portable",
    "gsm",
    "cellulaire",
    "fax",
    "telephones",
    "phone number",
    "numtel",
    "tel1",
    "tel2",
    "joindre",
    "joindre au",
    "appel",
    "appeler",
    "joignable",
    "gsm",
)
_BIRTH = (
    "naissance",
    "birth",
    "dob",
    "ddn",
    "birthdate",
    "birthday",
    "ne le",
    "nee le",
    "date naiss",
    "naiss",
    "datenaissance",
)
_ADDRESS = (
    "adresse",
    "address",
    "domicile",
    "lieu de residence",
    "residence principale",
    "adresse postale",
    "street address",
    "addr",
)
_NIR = (
    "nir",
    "securite sociale",
    "secu",
    "ss",
    "cafat",
    "social security",
    "ssn",
    "insee personne",
    "numero cafat",
    "matricule cafat",
    "nss",
)
_IBAN = ("iban", "rib", "compte bancaire", "bank account", "bic iban")
_PLATE = (
    "immatriculation",
    "immat",
    "plaque",
    "license plate",
    "licence plate",
    "plate",
    "plaque immatriculation",
)
_ORGANISATION = (
    "service",
    "administration",
    "organisme",
    "organisation",
    "organization",
    "direction",
    "etablissement",
    "structure",
    "entreprise",
    "societe",
    "raison sociale",
    "institution",
    "agency",
    "agence",
    "departement",
    "office",
)


def hint(header: str) -> Hint | None:
    """What the header `header` says, or None when it says nothing about people."""
    every = words(header)
    ws = [w for w in every if w not in STOP] or every
    if not ws:
        return None
    ws = every + ["|"] + ws  # phrases match the header as written or without small words
    if _has(ws, *_EMAIL):
        return Hint("email", True)
    if _has(ws, *_NIR) and not _has(ws, "code insee", "insee commune"):
        return Hint("nir", True)
    if _has(ws, *_IBAN):
        return Hint("iban", True)
    if _has(ws, *_PHONE):
        return Hint("phone", True)
    if _has(ws, *_BIRTH) and not _has(ws, "lieu"):
        return Hint("birth_date", True)
    if _has(ws, *_PLATE):
        return Hint("plate", False)
    if _has(ws, *_ADDRESS):
        return Hint("address", True)
    if _has(ws, *_NAME_STRONG):
        return Hint("name", True)
    if _has(ws, *_ORGANISATION):
        return Hint("organisation", False)
    core = set(ws[ws.index("|") + 1 :])
    if core <= _NAME_QUALIFIERS or _has(ws, *_PERSON_ROLES):
        return Hint("name", False)
    return None
