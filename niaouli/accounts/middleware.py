"""ASGI middleware: resolve the request's identity once, for every interface.

It puts the `Identity` and its `Viewer` in `scope["state"]` (`request.state.identity`,
`request.state.viewer` in Starlette), where the portal, /ogc and the API read them.
Requests without credentials (the common case) cost no database access. Invalid API
credentials get a 401 with a `WWW-Authenticate` challenge, on every interface.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie

from anyio import to_thread
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.accounts import resolve
from niaouli.accounts.resolve import CHALLENGE, NOBODY, SESSION_COOKIE, Identity, Unauthorized


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
