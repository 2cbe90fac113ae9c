"""The portal's languages: French by default, English on request (gettext through Babel).

Message ids are the French text itself, so a French page needs no catalogue and a
missing English translation shows French, never an empty string. The English catalogue
is kept as several `.po` files under `locales/en/LC_MESSAGES/` (one per part of the
portal, so people can work on them side by side); they are read and merged when the
portal starts — no compiled `.mo` files to forget.

The language of a request is chosen, in that order, by `?lang=en|fr` (which also sets
a cookie, so the choice sticks), then by that cookie, then French. The browser's
`Accept-Language` is deliberately not followed: Niaouli is a French-language portal
and most browsers here say "en-US" whatever their owner reads.

`_()` works anywhere during a request (handlers, form checks, templates): the language
lives in a context variable set by `LanguageMiddleware`. Module-level constants mark
their text with `N_()` and translate it where it is shown.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT = "fr"
LANGUAGES = {"fr": "Français", "en": "English"}
COOKIE = "niaouli_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

_current: ContextVar[str] = ContextVar("niaouli_language", default=DEFAULT)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Marks `message` for extraction without translating it (translated where shown)."""
    return message


@cache
def translations(language: str) -> NullTranslations:
    """The merged catalogue of `language` (French is the source: no catalogue)."""
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    if language == DEFAULT or not folder.is_dir():
        return NullTranslations()
    merged = None
    for po_file in sorted(folder.glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        if merged is None:
            merged = catalog
        else:
            for message in catalog:
                if message.id and message.string:
                    merged[message.id] = message
    if merged is None:
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def current_language() -> str:
    return _current.get()


def set_language(language: str) -> None:
    """Sets the language of the running request (tests and background work use it too)."""
    _current.set(language if language in LANGUAGES else DEFAULT)


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


def language_of(scope: Scope) -> tuple[str, bool]:
    """(language, whether it was asked for explicitly by `?lang=`) for an HTTP request."""
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


class LanguageMiddleware:
    """ASGI middleware: picks the request's language, remembers an explicit choice.

    Every page then says which language it is in (`Content-Language`) and that it
    depends on the cookie (`Vary: Cookie`), so a shared cache never serves English
    to someone who reads French.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language, explicit = language_of(scope)
        scope.setdefault("state", {})["language"] = language
        token = _current.set(language)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                content_type = headers.get("content-type", "")
                if content_type.startswith("text/html"):
                    headers["Content-Language"] = language
                    headers.add_vary_header("Cookie")
                if explicit:
                    headers.append(
                        "Set-Cookie",
                        f"{COOKIE}={language}; Max-Age={COOKIE_MAX_AGE}; Path=/; SameSite=Lax",
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            _current.reset(token)
