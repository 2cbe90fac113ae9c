"""One rule for every link the platform stores (SECURITY-CASES S22).

An organisation's website, a resource's URL, a reuse's, code project's or event's
address, a harvest source, the links a harvest maps from a remote record, the OpenID
Connect issuer: every entry point (API, portal forms, command line, harvest mapping,
settings) checks its URLs here, so that `javascript:`, `data:`, `vbscript:` and the like
are refused before they are stored, whatever their case or the spaces and control
characters in front of them. What reads links back (pages, feeds, records) keeps its own
check, through `shown_link`, for rows written before this rule.

A link is accepted when it is an absolute http or https URL with a host, and without
whitespace or control characters anywhere (a browser drops some of them and may read
another scheme than the one checked). Surrounding spaces are removed first, as a form
user types them.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from niaouli.errors import NiaouliError
from niaouli.i18n import N_, _

WEB_SCHEMES = frozenset({"http", "https"})
# Also shown as links (never stored by any entry point, harmless in a browser).
SHOWN_SCHEMES = WEB_SCHEMES | {"ftp"}
INVALID = N_("adresse invalide : donnez une adresse web complète en http(s)://")
TOO_LONG = N_("adresse trop longue (%(max)s caractères au plus)")
# Categories a URL never needs: controls, invisible formatting (zero-width, bidi
# overrides), separators (spaces of every width, line and paragraph separators).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
# The same test for an ASCII URL, without a look-up per character (a harvest checks
# thousands of links): the only ASCII characters in those categories are the controls
# (Cc) and the space (Zs).
_REFUSED_ASCII = re.compile(r"[\x00-\x20\x7f]")


class LinkError(NiaouliError, ValueError):
    """A URL that may not be stored; the message is in the reader's language."""

    code = "InvalidValue"


def web_link(value: object, schemes: frozenset[str] = WEB_SCHEMES) -> str | None:
    """`value` stripped when it is an absolute URL of one of `schemes` with a host."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or _refused_character(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes or not parts.hostname or "\\" in url:
        return None
    return url


def _refused_character(url: str) -> bool:
    if url.isascii():
        return _REFUSED_ASCII.search(url) is not None
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in url)


def shown_link(value: object) -> str | None:
    """`value` when it may be rendered as a link (href, RDF IRI, record URL), else None."""
    return web_link(value, SHOWN_SCHEMES)


def check_link(value: str | None, max_length: int) -> str:
    """The URL to store (stripped), or `LinkError` with the sentence to show."""
    url = (value or "").strip()
    if len(url) > max_length:
        raise LinkError(_(TOO_LONG) % {"max": max_length})
    checked = web_link(url)
    if checked is None:
        raise LinkError(_(INVALID))
    return checked


def optional_link(value: str | None, max_length: int) -> str | None:
    """`check_link` for a field that may stay empty (None, "" or spaces: no link)."""
    if value is None or not value.strip():
        return None
    return check_link(value, max_length)
