"""Request ids on every log line, and the server's log configuration (text or JSON).

`RequestIdMiddleware` (outermost in `niaouli/web.py`) gives each HTTP request an id: the
`X-Request-ID` it came with when that is well formed (a proxy such as nginx's
`$request_id`, or a client tracing its calls), else a new one. It answers with it in
`X-Request-ID` and holds it in a context variable for the request's duration, so
`RequestIdFilter` puts it on every log record made meanwhile (uvicorn's access line
included, threads started through Starlette/anyio included: they copy the context).

A malformed or oversized incoming id is replaced, never echoed: it would otherwise reach
the logs and the response headers as the client wrote it (log injection).

`log_config(format)` is the `logging.config.dictConfig` that `niaouli serve` hands
uvicorn (applied in each worker process): `text` is uvicorn's own (the default, for a
terminal), `json` one JSON object per line on stdout with `request_id` (production,
`NIAOULI_LOG_FORMAT=json`), through python-json-logger.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import re
import uuid
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
NO_REQUEST = "-"
# Letters, digits and a few separators, at most 128: UUIDs, nginx's 32 hex digits,
# W3C trace ids and the usual "service-1234.5" forms pass; spaces, quotes, CR/LF do not.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "niaouli_request_id", default=NO_REQUEST
)


def accepted(value: str | None) -> str | None:
    """`value` when it may serve as a request id as is, else None."""
    if value and WELL_FORMED.fullmatch(value):
        return value
    return None


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Take or make the request's id, expose it to logging, return it in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = accepted(value.decode("latin-1"))
                break
        rid = given or new_id()
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (`-` outside a request) to each record; for uvicorn's access
    lines also `client`, `method`, `path` and `status` as fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _version, status = args
            record.client, record.method = client, method
            record.path, record.status = path, status
        return True


class JsonFormatter(_JsonFormatter):
    """python-json-logger's, without uvicorn's `color_message` (terminal escapes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "color_message"])
        super().__init__(*args, **kwargs)


LOG_FORMATS = ("text", "json")
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_config(log_format: str = "text") -> dict[str, Any]:
    """The logging configuration of the server's processes (`dictConfig` form)."""
    from uvicorn.config import LOGGING_CONFIG

    if log_format != "json":
        config = copy.deepcopy(LOGGING_CONFIG)
        for handler in config["handlers"].values():
            handler.setdefault("filters", []).append("request_id")
        config.setdefault("filters", {})["request_id"] = {"()": RequestIdFilter}
        # The platform's own lines (a replica found down, database trouble answered 503)
        # on the server's stderr: without this, pygeoapi's `basicConfig` at ERROR, made
        # when its API objects are built, keeps everything below an error out of the log.
        config["formatters"]["niaouli"] = {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(name)s: %(message)s",
        }
        config["handlers"]["niaouli"] = {
            "formatter": "niaouli",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "filters": ["request_id"],
        }
        config["loggers"]["niaouli"] = {
            "handlers": ["niaouli"],
            "level": "INFO",
            "propagate": False,
        }
        return config
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["request_id"],
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                "()": JsonFormatter,
                "fmt": JSON_FIELDS,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"default": handler},
        "loggers": {
            "": {"handlers": ["default"], "level": "INFO"},
            # uvicorn's loggers write through the root's handler (one JSON stream).
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"level": "INFO", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
            # httpx notes every request it sends at INFO (each /csw answer, each probe).
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
