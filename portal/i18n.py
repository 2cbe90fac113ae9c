"""Which language a portal request is in: `?lang=`, then a cookie, then French.

The browser's `Accept-Language` is deliberately not followed: Niaouli is a French-
language portal and most browsers here say "en-US" whatever their owner reads. An
explicit `?lang=en|fr` sets a cookie, so the choice sticks from page to page. The
catalogues and `_()` themselves are in `niaouli/i18n.py`.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.i18n import DEFAULT, LANGUAGES, speaking

COOKIE = "niaouli_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


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

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                content_type = headers.get("content-type", "")
                if content_type.startswith(("text/html", "text/calendar")):
                    headers["Content-Language"] = language
                    headers.add_vary_header("Cookie")
                if explicit:
                    headers.append(
                        "Set-Cookie",
                        f"{COOKIE}={language}; Max-Age={COOKIE_MAX_AGE}; Path=/; SameSite=Lax",
                    )
            await send(message)

        with speaking(language):
            await self.app(scope, receive, send_with_language)
