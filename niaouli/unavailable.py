"""Passing database trouble answered 503 with `Retry-After`, never 500 (SECURITY-CASES R3).

One ASGI middleware around the whole site (`niaouli.web`). When a request fails (an
exception, or a 500 that some layer made of a caught database error) and the database
was in passing trouble during it (`niaouli.db.trouble`: a connection cut, PostgreSQL
restarting, SQLite busy past its timeout...), the answer becomes a 503 with
`Retry-After`. A GET or HEAD that wrote nothing is first answered once more, on a fresh
connection (the pool drops dead connections when it sees one): the client usually never
notices a cut. Anything else passes through untouched; a response already under way
(streamed) cannot be changed and is not.
"""

from __future__ import annotations

import json
import logging
from html import escape

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.db import trouble
from niaouli.i18n import DEFAULT, _, language_of, speaking

LOGGER = logging.getLogger(__name__)
SAFE_METHODS = ("GET", "HEAD")
MESSAGE = (
    "Service momentanément indisponible : la base de données ne répond pas ou est "
    "occupée. Réessayez dans quelques secondes."
)


class Replay:
    """The request's body messages, given again to a second attempt (a retried GET, or a
    read answered again by the primary after its replica failed: a CSW POST)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._seen: list[Message] = []

    async def first(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen.append(message)
        return message

    def again(self) -> Receive:
        pending = list(self._seen)

        async def receive() -> Message:
            if pending:
                return pending.pop(0)
            return await self._receive()

        return receive


class DatabaseTroubleMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replay = Replay(receive)
        may_replay = scope["method"] in SAFE_METHODS
        original = dict(scope)  # routing writes into the scope: a replay starts afresh
        for number in (1, 2):
            gate = _Gate(send)
            error: Exception | None = None
            if number == 2:
                scope = {**original, "state": dict(original.get("state") or {})}
            with trouble.watching() as attempt:
                try:
                    await self.app(scope, replay.first if number == 1 else replay.again(), gate)
                except Exception as exc:  # noqa: BLE001 - re-raised below unless trouble
                    error = exc
            failed = bool(gate.held) or error is not None
            if gate.sent or not failed or not (attempt.trouble or trouble.is_transient(error)):
                await gate.release()
                if error is not None:
                    raise error
                return
            if number == 1 and may_replay and not attempt.wrote:
                LOGGER.info("%s %s: database trouble, answered again", scope["method"], path(scope))
                continue
            LOGGER.warning(
                "%s %s: database unavailable (%s), 503",
                scope["method"],
                path(scope),
                _describe(error),
            )
            await unavailable(scope, send)
            return


class _Gate:
    """`send`, except that a 500 is kept back (with its body) until `release`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.held: list[Message] = []
        self.sent = False  # something went out: the answer can no longer change

    async def __call__(self, message: Message) -> None:
        if self.held or (message["type"] == "http.response.start" and message["status"] == 500):
            self.held.append(message)
            return
        self.sent = True
        await self._send(message)

    async def release(self) -> None:
        for message in self.held:
            await self._send(message)
        self.held = []


def path(scope: Scope) -> str:
    return scope.get("root_path", "") + scope.get("path", "")


def _describe(error: Exception | None) -> str:
    if error is None:
        return "caught below"
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


async def unavailable(scope: Scope, send: Send) -> None:
    """The 503: JSON for /api and /ogc, an OWS exception report for /csw, else HTML."""
    where = path(scope)
    language, explicit = language_of(scope)
    if not explicit and where.startswith(("/api", "/ogc", "/csw")):
        language = DEFAULT  # the services follow ?lang= only, never the portal's cookie
    with speaking(language):
        text = _(MESSAGE)
    if where.startswith(("/api", "/ogc")):
        body = json.dumps(
            {"code": "ServiceUnavailable", "type": "ServiceUnavailable", "description": text},
            ensure_ascii=False,
        ).encode()
        media_type = "application/json"
    elif where.startswith("/csw"):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0">\n'
            '  <ows:Exception exceptionCode="NoApplicableCode">\n'
            f"    <ows:ExceptionText>{escape(text)}</ows:ExceptionText>\n"
            "  </ows:Exception>\n</ows:ExceptionReport>\n"
        ).encode()
        media_type = "application/xml"
    else:
        body = (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f"<title>503</title></head><body><main><h1>503</h1><p>{escape(text)}</p>"
            "</main></body></html>\n"
        ).encode()
        media_type = "text/html; charset=utf-8"
    headers = [
        (b"content-type", media_type.encode()),
        (b"retry-after", str(trouble.RETRY_AFTER_SECONDS).encode()),
        (b"cache-control", b"no-store"),
        (b"content-language", language.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    ]
    if scope["method"] == "HEAD":
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
