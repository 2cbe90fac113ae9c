"""Cross-origin reads of the API: a web page of another site may `fetch` the catalogue.

`/ogc` and `/catalog.jsonld` already answer `Access-Control-Allow-Origin: *`; `/api` did
not, so a developer's page could not read it (issue 15 §4). Reads only, never with
credentials:

- `GET`/`HEAD` answers (errors included) carry `Access-Control-Allow-Origin: *` and no
  `Access-Control-Allow-Credentials`, so a browser never hands a page an answer made
  with its visitor's cookie; besides, the accounts middleware treats a session cookie
  sent from another origin as absent (`is_cross_origin`), so such a request is
  anonymous.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) is granted for `GET` and
  `HEAD` with the `Authorization` header (a page using its own token) and `Accept`;
  anything else — a write, or `X-CSRF-Token` — is refused (403), so a foreign page
  can neither write nor add the session's CSRF header (services/api/auth.py).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.i18n import DEFAULT, _, speaking

READ_METHODS = {"GET", "HEAD"}
ALLOWED_HEADERS = {"authorization", "accept", "accept-language"}
MAX_AGE = "86400"


class ApiCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if method == "OPTIONS":
            await _preflight(headers, scope.get("query_string", b""), send)
            return
        if method not in READ_METHODS:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                kept += [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", b"Retry-After, WWW-Authenticate"),
                ]
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _preflight(headers: dict[str, str], query: bytes, send: Send) -> None:
    asked = headers.get("access-control-request-method", "").upper()
    wanted = {
        h.strip().lower()
        for h in headers.get("access-control-request-headers", "").split(",")
        if h.strip()
    }
    if asked in READ_METHODS and wanted <= ALLOWED_HEADERS:
        await _answer(
            send,
            204,
            [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", b"GET, HEAD"),
                (b"access-control-allow-headers", b"Authorization, Accept, Accept-Language"),
                (b"access-control-max-age", MAX_AGE.encode()),
                (b"allow", b"GET, HEAD, OPTIONS"),
            ],
        )
        return
    language = "en" if b"lang=en" in query.lower() else DEFAULT
    with speaking(language):
        description = _(
            "depuis un autre site, l'API ne permet que la lecture (GET), sans cookie ; "
            "pour écrire, utilisez un jeton depuis un serveur"
        )
    body = json.dumps(
        {"code": "CrossOriginRefused", "description": description},
        ensure_ascii=False,
    ).encode("utf-8")
    await _answer(
        send,
        403 if asked else 204,
        [(b"content-type", b"application/json; charset=utf-8")] if asked else [],
        body if asked else b"",
    )


async def _answer(send: Send, status: int, headers: list, body: bytes = b"") -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    headers.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
