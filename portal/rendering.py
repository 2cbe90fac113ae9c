"""Templates and the filters that turn catalogue values into French text.

Autoescaping is on for every template, and nothing is ever marked `|safe`: a title such
as `<img src=x onerror=...>` is shown as text (SECURITY-CASES S20, S21). URLs coming
from data are only rendered as links when their scheme is http, https or ftp (S22).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LINK_SCHEMES = {"http", "https", "ftp"}
MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
# ISO 19115 maintenance frequencies (and the short forms found in harvested records).
FREQUENCIES = {
    "continual": "en continu",
    "daily": "quotidienne",
    "weekly": "hebdomadaire",
    "fortnightly": "tous les quinze jours",
    "monthly": "mensuelle",
    "quarterly": "trimestrielle",
    "biannually": "semestrielle",
    "annually": "annuelle",
    "annual": "annuelle",
    "asneeded": "au besoin",
    "irregular": "irrégulière",
    "notplanned": "non prévue",
    "unknown": "inconnue",
}
GEOMETRY_TYPES = {
    "point": "points",
    "multipoint": "points",
    "linestring": "lignes",
    "multilinestring": "lignes",
    "polygon": "polygones",
    "multipolygon": "polygones",
    "geometry": "géométries mixtes",
}
ATTRIBUTE_TYPES = {
    "integer": "entier",
    "number": "nombre",
    "boolean": "booléen",
    "string": "texte",
    "date": "date",
    "datetime": "date et heure",
    "time": "heure",
    "binary": "binaire",
    "json": "JSON",
}
NARROW_NBSP = "\u202f"


def safe_url(value: object) -> str | None:
    """`value` when it is an absolute http(s)/ftp URL, else None (never a link)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if re.search(r"[\x00-\x20\x7f]", url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
        return None
    return url


def number_fr(value: int | float | None) -> str:
    """264596 -> "264 596" (French thousands separator)."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".replace(",", NARROW_NBSP).replace(".", ",")
    return f"{int(value):,}".replace(",", NARROW_NBSP)


def size_fr(size: int | None) -> str:
    """A file size in French units (octets, ko, Mo, Go)."""
    if size is None:
        return "taille inconnue"
    if size < 1000:
        return f"{size} octets"
    value = float(size)
    for unit in ("ko", "Mo", "Go", "To"):
        value /= 1000
        if value < 1000 or unit == "To":
            return f"{value:.1f}".replace(".", ",") + f"{NARROW_NBSP}{unit}"
    raise AssertionError("unreachable")


def date_fr(value: date | datetime | str | None) -> str:
    """25 novembre 2026."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def frequency_fr(code: str | None) -> str:
    if not code:
        return "non renseignée"
    return FREQUENCIES.get(re.sub(r"[^a-z]", "", code.lower()), code)


def geometry_fr(kind: str | None) -> str:
    if not kind:
        return "table sans géométrie"
    return GEOMETRY_TYPES.get(kind.lower(), kind)


def paragraphs(text: str | None) -> list[str]:
    """Plain-text paragraphs (blank-line separated); descriptions are never HTML here."""
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def query_string(params: dict[str, object]) -> str:
    """`?q=...&page=2` with empty values left out, for stable shareable URLs."""
    kept = {k: v for k, v in params.items() if v not in (None, "") and not (k == "page" and v == 1)}
    return "?" + urlencode(kept) if kept else ""


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        safe_url=safe_url,
        nombre=number_fr,
        taille=size_fr,
        date_fr=date_fr,
        frequence=frequency_fr,
        geometrie=geometry_fr,
        paragraphes=paragraphs,
        type_attribut=lambda t: ATTRIBUTE_TYPES.get(t, t),
    )
    env.globals["query_string"] = query_string
    return env
