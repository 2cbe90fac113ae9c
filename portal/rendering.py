"""Templates and the filters that turn catalogue values into the reader's language.

Autoescaping is on for every template, and nothing from data is ever marked `|safe`
(`strong()` escapes what it wraps; translated sentences are escaped by Jinja's i18n): a title such
as `<img src=x onerror=...>` is shown as text (SECURITY-CASES S20, S21). URLs coming
from data are only rendered as links when their scheme is http, https or ftp (S22).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from niaouli import links
from niaouli.catalogue import permissions, vocabularies
from niaouli.i18n import (
    LANGUAGES,
    N_,
    _,
    babel_locale,
    current_language,
    gettext,
    ngettext,
    pgettext,
)
from niaouli.resources import package_dir

TEMPLATES = package_dir("niaouli.portal") / "templates"
GEOMETRY_TYPES = {
    "point": N_("points"),
    "multipoint": N_("points"),
    "linestring": N_("lignes"),
    "multilinestring": N_("lignes"),
    "polygon": N_("polygones"),
    "multipolygon": N_("polygones"),
    "geometry": N_("géométries mixtes"),
}
ATTRIBUTE_TYPES = {
    "integer": N_("entier"),
    "number": N_("nombre"),
    "boolean": N_("booléen"),
    "string": N_("texte"),
    "date": N_("date"),
    "datetime": N_("date et heure"),
    "time": N_("heure"),
    "binary": N_("binaire"),
    "json": "JSON",
}
NARROW_NBSP = "\u202f"


def safe_url(value: object) -> str | None:
    """`value` when it is an absolute http(s)/ftp URL, else None (never a link).

    The platform's one link rule (`niaouli.links`), also for rows stored before it."""
    return links.shown_link(value)


def number_fr(value: int | float | None) -> str:
    """264596 -> "264 596" in French, "264,596" in English."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return format_decimal(value, format="#,##0.00", locale=babel_locale())
    return format_decimal(int(value), locale=babel_locale())


def size_fr(size: int | None) -> str:
    """A file size in the reader's units (octets, ko, Mo... or bytes, kB, MB...)."""
    if size is None:
        return _("taille inconnue")
    if size < 1000:
        return ngettext("%(num)d octet", "%(num)d octets", size) % {"num": size}
    value = float(size)
    for unit in (N_("ko"), N_("Mo"), N_("Go"), N_("To")):
        value /= 1000
        if value < 1000 or unit == "To":
            shown = format_decimal(value, format="0.0", locale=babel_locale())
            return f"{shown}{NARROW_NBSP}{_(unit)}"
    raise AssertionError("unreachable")


def date_fr(value: date | datetime | str | None) -> str:
    """25 novembre 2026 (or November 25, 2026 in English)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return format_date(value, format="long", locale=babel_locale())


def frequency_fr(code: str | None) -> str:
    """The update frequency in words (the catalogue's list: the form's, DCAT's, CSW's)."""
    if not code:
        return _("non renseignée")
    found = vocabularies.frequency(code)
    return _(found.label) if found else code


def theme_words(theme: object) -> str:
    """An EU data theme in the reader's language; any other theme as written."""
    text = str(theme)
    code = vocabularies.theme_code(text)
    return _(vocabularies.THEMES[code]) if code else text


def geometry_fr(kind: str | None) -> str:
    if not kind:
        return _("table sans géométrie")
    label = GEOMETRY_TYPES.get(kind.lower())
    return _(label) if label else kind


def attribute_type(kind: str) -> str:
    label = ATTRIBUTE_TYPES.get(kind)
    return _(label) if label else kind


def paragraphs(text: str | None) -> list[str]:
    """Plain-text paragraphs (blank-line separated); descriptions are never HTML here."""
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def strong(value: object) -> Markup:
    """`<strong>value</strong>`, escaped: emphasis inside a translated sentence."""
    return Markup("<strong>{}</strong>").format(value)


def language_links(path: str, query: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The language switcher's links: this same page, every parameter kept (repeated
    filters included, in their order), in each language."""
    here = current_language()
    # "//evil.example" or "/\\evil.example" (a 404 page shows any path) would make a link
    # to another site: the switcher always links to a path on this one.
    path = "/" + path.lstrip("/\\")
    kept = [(k, v) for k, v in query if k != "lang"]
    return [
        {
            "code": code,
            "name": name,
            "href": path + "?" + urlencode([*kept, ("lang", code)]),
            "current": "true" if code == here else "",
        }
        for code, name in LANGUAGES.items()
    ]


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
        theme=theme_words,
        geometrie=geometry_fr,
        paragraphes=paragraphs,
        type_attribut=attribute_type,
    )
    env.globals["query_string"] = query_string
    env.globals["language_links"] = language_links
    env.globals["strong"] = strong
    # `allowed(account.viewer, "dataset.edit", dataset)`: the one rule of who may do what.
    env.globals["allowed"] = permissions.allowed
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=gettext, ngettext=ngettext, pgettext=pgettext, newstyle=True
    )
    return env
