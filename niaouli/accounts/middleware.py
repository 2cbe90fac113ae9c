"""ASGI middleware: resolve the request's identity once, for every interface.

It puts the `Identity` and its `Viewer` in `scope["state"]` (`request.state.identity`,
`request.state.viewer` in Starlette), where the portal, /ogc and the API read them.
Requests without credentials (the common case) cost no database access. Invalid API
credentials get a 401 with a `WWW-Authenticate` challenge, on every interface.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from anyio import to_thread
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.accounts import resolve
from niaouli.accounts.resolve import CHALLENGE, NOBODY, SESSION_COOKIE, Identity, Unauthorized
from niaouli.settings import get_settings


def identity_of(scope: Scope) -> Identity:
    """The identity the middleware resolved (anonymous if it did not run)."""
    return scope.get("state", {}).get("identity", NOBODY)


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001, S112 - a garbled cookie header is no cookie
                continue
            if name in jar:
                return jar[name].value
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in headers if k == name), None)


def is_cross_origin(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a browser says this request comes from a page of another origin.

    Browsers send `Origin` on every CORS request (a `fetch` from another site) and on
    every POST, never on a plain navigation (a link followed from elsewhere), so a
    navigation keeps its session. The platform's own origin is its Host, or the host
    of `NIAOULI_PUBLIC_URL` (or X-Forwarded-Host) behind a proxy. `null` (sandboxed
    frames, files) is foreign.
    """
    origin = _header(headers, b"origin")
    if origin is None:
        return False
    # X-Forwarded-Host cannot come from a foreign page: the preflight never allows it.
    own = {_host(_header(headers, name) or "") for name in (b"host", b"x-forwarded-host")}
    public = get_settings().public_url
    if public:
        own.add(_host(urlsplit(public).netloc))
    return _host(urlsplit(origin.strip()).netloc) not in own - {""}


def _host(netloc: str) -> str:
    """host[:port] in lower case, without a default port (browsers omit it in Origin)."""
    netloc = netloc.strip().lower()
    for default in (":80", ":443"):
        netloc = netloc.removesuffix(default)
    return netloc


class AccountsMiddleware:
    def __init__(self, app: ASGIApp, engine: Engine, secret_key: str) -> None:
        self.app = app
        self.engine = engine
        self.secret_key = secret_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        authorization = next(
            (v.decode("latin-1") for k, v in headers if k == b"authorization"), None
        )
        session_cookie = _cookie(headers, SESSION_COOKIE)
        if session_cookie and is_cross_origin(headers):
            # A page of another site that makes the browser send its visitor's cookie
            # (`credentials: "include"`, or a sibling site the Lax cookie reaches) gets
            # what an anonymous visitor gets: CORS answers are public reads, never the
            # session's (issue 15 §4). A token in `Authorization` is the page's own.
            session_cookie = None
        identity = NOBODY
        if authorization or session_cookie:
            try:
                identity = await to_thread.run_sync(
                    resolve.resolve, self.engine, self.secret_key, authorization, session_cookie
                )
            except Unauthorized:
                await _unauthorized(send)
                return
        state = scope.setdefault("state", {})
        state["identity"] = identity
        state["viewer"] = identity.viewer
        if not identity.is_signed_in:
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            # What a signed-in viewer gets may include restricted data: no shared cache
            # may keep it, whatever the handler said (e.g. `public, max-age` on tiles).
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                current = headers.get("cache-control", "").lower()
                if "private" not in current and "no-store" not in current:
                    headers["Cache-Control"] = "private, no-cache"
            await send(message)

        await self.app(scope, receive, send_private)


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {
            "code": "InvalidCredentials",
            "description": "Jeton d'accès invalide, révoqué ou mal formé.",
        },
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", CHALLENGE.encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
