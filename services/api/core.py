"""The API's plumbing: operations (route + schemas + statuses), calls, JSON bodies.

Each operation is declared once, with its pydantic models; the Starlette routes and the
OpenAPI document are both built from that list, so they cannot disagree. Handlers are
plain functions run in the thread pool (they do blocking database work).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from niaouli.accounts import audit
from niaouli.accounts.csrf import Csrf
from niaouli.accounts.resolve import Identity
from niaouli.catalogue.access import Viewer
from niaouli.i18n import DEFAULT, LANGUAGES, _, speaking
from niaouli.services.api import auth
from niaouli.services.api.errors import ApiError, from_validation
from niaouli.settings import Settings

MAX_JSON_BYTES = 1 << 20


@dataclass(frozen=True)
class Context:
    settings: Settings
    engine: Engine
    csrf: Csrf
    max_upload: int


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    context: Context
    viewer: Viewer
    identity: Identity | None = None
    body: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return self.request.path_params

    def actor(self) -> audit.Actor:
        identity = self.identity
        via = "api-" + (identity.via or "anonymous") if identity else "api"
        client = self.request.client.host if self.request.client else None
        return audit.Actor(identity.user_id if identity else None, via, client)


Handler = Callable[[Call], Any]


@dataclass
class Operation:
    method: str
    path: str  # under /api, Starlette syntax ({slug})
    handler: Handler | Callable[[Call], Awaitable[Any]]
    summary: str
    tag: str
    writes: bool = False
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # A 202 the operation may answer instead (a job queued; its body's model).
    accepted: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    query: list[dict[str, Any]] = field(default_factory=list)
    upload: bool = False  # multipart/form-data with a `file` part (handler is async)
    raw_body: bool = False  # body read by the (async) handler itself: multipart or JSON

    @property
    def operation_id(self) -> str:
        return getattr(self.handler, "__name__", "operation").strip("_")


async def read_json(request: Request) -> Any:  # noqa: ANN401 - any JSON value
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        raise ApiError(413, "PayloadTooLarge", "corps JSON trop gros (1 Mio au plus)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise ApiError(413, "PayloadTooLarge", "corps JSON trop gros (1 Mio au plus)")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "InvalidJson", "corps de requête illisible : JSON attendu") from None
    where = _nul_in(data)
    if where is not None:
        raise ApiError(422, "InvalidValue", nul_refused(where or _("corps")))
    return data


def nul_refused(where: str) -> str:
    shown = where.replace("\x00", "")[:100]
    return _("caractère nul (U+0000) refusé dans « %(where)s »") % {"where": shown}


def _nul_in(data: Any) -> str | None:  # noqa: ANN401 - any JSON value
    """Where a JSON value holds U+0000 (PostgreSQL text cannot store it), else None.

    Iterative: the JSON parser accepts nesting as deep as Python's recursion limit.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
        elif isinstance(value, dict | list):
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                here = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return here
                stack.append((here, item))
    return None


def _check_query(request: Request) -> None:
    """No U+0000 in the path or query (a 500 in PostgreSQL before): 404 and 400."""
    if any("\x00" in str(value) for value in request.path_params.values()):
        raise ApiError(404, "NotFound", _("adresse inconnue dans l'API"))
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise ApiError(400, "InvalidParameter", nul_refused(name))


def parse(model: type[BaseModel], data: Any) -> BaseModel:  # noqa: ANN401
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def endpoint(operation: Operation, context: Context) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        # Descriptions are French unless the caller asks otherwise with `?lang=en` (the
        # portal's upload page does: it shows them to a reader of its English pages).
        asked = request.query_params.get("lang", "").lower()
        with speaking(asked if asked in LANGUAGES else DEFAULT):
            return await _run(request)

    async def _run(request: Request) -> Response:
        _check_query(request)
        call = Call(request, context, auth.viewer_of(request))
        if operation.writes:
            call.identity, call.viewer = auth.writer(request, context.csrf)
        if operation.body is not None:
            call.body = parse(operation.body, await read_json(request))
        if operation.upload or operation.raw_body:  # async handlers that read the body
            result = await operation.handler(call)  # type: ignore[misc]
        else:
            result = await run_in_threadpool(operation.handler, call)
        if isinstance(result, Response):
            return result
        status = operation.status
        if isinstance(result, tuple):
            status, result = result
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return JSONResponse(result, status_code=status, headers={"Cache-Control": "no-store"})

    run.__name__ = operation.operation_id
    return run
