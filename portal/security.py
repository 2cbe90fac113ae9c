"""Security headers for every portal response (SECURITY-CASES S19, S21).

Pages get a strict Content-Security-Policy: scripts and styles only from our own static
files (no inline script, no CDN), so an escaping bug elsewhere still cannot run code.
Downloaded files get `default-src 'none'; sandbox`, `nosniff` and `attachment`, so an
HTML or SVG "data file" is never rendered by the browser on our origin.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILE_CSP = "default-src 'none'; sandbox"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def page_csp(*origins: str) -> str:
    """PAGE_CSP that also lets images and fetches come from `origins` (map background tiles)."""
    extra = "".join(f" {origin}" for origin in origins)
    return PAGE_CSP.replace(
        "img-src 'self' data: blob:", f"img-src 'self' data: blob:{extra}"
    ).replace("connect-src 'self'", f"connect-src 'self'{extra}")


def file_headers() -> dict[str, str]:
    """Headers of a downloaded file (set by the download handlers themselves)."""
    return {"Content-Security-Policy": FILE_CSP, **COMMON}


class SecurityHeaders:
    """ASGI middleware: adds the page headers unless the handler set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                for name, value in COMMON.items():
                    if name.lower() not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
