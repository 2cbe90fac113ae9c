"""Niaouli's languages: French by default, English on request (gettext through Babel).

Message ids are the French text itself, so French needs no catalogue and a missing
English translation shows French, never an empty string. The English catalogue is kept
as several `.po` files under `niaouli/locales/en/LC_MESSAGES/` (one per part of the
platform, so people can work on them side by side); they are read and merged on first
use — no compiled `.mo` files to forget.

`_()` works anywhere during a request (handlers, form checks, domain errors shown on a
page): the language lives in a context variable that the portal's `LanguageMiddleware`
sets. Module-level constants mark their text with `N_()` and translate it where shown.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from niaouli.resources import package_dir

LOCALES_DIR = package_dir("niaouli") / "locales"
DEFAULT = "fr"
LANGUAGES = {"fr": "Français", "en": "English"}
# The cookie that remembers an explicit `?lang=` choice (portal, /ogc, error pages).
COOKIE = "niaouli_lang"

_current: ContextVar[str] = ContextVar("niaouli_language", default=DEFAULT)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Marks `message` for extraction without translating it (translated where shown)."""
    return message


def _has_text(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(message.string) and all(strings) and not message.fuzzy


def merged_catalog(language: str) -> Catalog:
    """Every `.po` file of `language` in one catalogue; a translated entry always wins
    over an empty one, whatever the file order (Babel's own merge keeps the first)."""
    merged = Catalog(locale=language)
    for po_file in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        for message in catalog:
            if not message.id:
                continue
            known = merged.get(message.id, context=message.context)
            if known is None or (not _has_text(known) and _has_text(message)):
                if known is not None:
                    merged.delete(message.id, context=message.context)
                merged[message.id] = message
    return merged


@cache
def translations(language: str) -> NullTranslations:
    """The merged catalogue of `language` (French is the source: no catalogue)."""
    if language == DEFAULT or not (LOCALES_DIR / language / "LC_MESSAGES").is_dir():
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged_catalog(language), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def current_language() -> str:
    return _current.get()


def set_language(language: str) -> None:
    """Sets the language of the running request (tests and background work use it too)."""
    _current.set(language if language in LANGUAGES else DEFAULT)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Runs a block (a request) in `language`, then restores the one before."""
    token = _current.set(language if language in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_current.get()).pgettext(context, message)


_ = gettext


def babel_locale() -> Locale:
    """The Babel locale for dates and numbers in the current language."""
    return Locale.parse(_current.get())


class StoredMessages:
    """Messages kept in French in the database, shown in the reader's language.

    Reports (ingestion notes, harvest job messages) are stored once, in French, and are
    made from `N_()` templates with `%(name)s` values. A stored text that matches one of
    the templates is shown translated with its values; anything else (a remote server's
    words) is shown as stored. Values named in `nested` may themselves be such messages.
    """

    def __init__(self, templates: Iterable[str], nested: Iterable[str] = ()) -> None:
        self.nested = frozenset(nested)
        self.patterns = [(template, _pattern(template)) for template in templates]

    def shown(self, text: str, depth: int = 0) -> str:
        if not text or current_language() == DEFAULT or depth > 3:
            return text
        for template, pattern in self.patterns:
            found = pattern.fullmatch(text)
            if found is not None:
                values = {
                    name: self.shown(value, depth + 1) if name in self.nested else value
                    for name, value in found.groupdict().items()
                }
                return _(template) % values if values else _(template)
        return text


def _pattern(template: str) -> re.Pattern[str]:
    """`%(name)s` placeholders become named groups; the rest must match literally."""
    pieces = re.split(r"%\((\w+)\)s", template)  # text, name, text, ..., text
    return re.compile(
        "".join(
            re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>.*?)"
            for index, piece in enumerate(pieces)
        ),
        re.S,
    )


def language_of(scope: Mapping[str, Any]) -> tuple[str, bool]:
    """(language, whether it was asked for explicitly by `?lang=`) for an HTTP request.

    `?lang=`, then the cookie, then French (see `niaouli.portal.i18n`): the portal, `/ogc`
    and the 503 pages all pick a request's language this way.
    """
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    asked = query.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked, True
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except CookieError:  # a malformed cookie header is just ignored
                continue
            if COOKIE in cookie and cookie[COOKIE].value in LANGUAGES:
                return cookie[COOKIE].value, False
    return DEFAULT, False
