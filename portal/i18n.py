"""Which language a portal request is in: `?lang=`, then a cookie, then French.

The browser's `Accept-Language` is deliberately not followed: Niaouli is a French-
language portal and most browsers here say "en-US" whatever their owner reads. An
explicit `?lang=en|fr` sets a cookie, so the choice sticks from page to page. The
catalogues and `_()` themselves are in `niaouli/i18n.py`.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.i18n import COOKIE, language_of, speaking

COOKIE_MAX_AGE = 365 * 24 * 3600


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
