"""Liveness and readiness: `/healthz` (the process answers) and `/readyz` (its dependencies).

`/healthz` touches nothing: a process that answers it is alive (an orchestrator restarts
one that does not). `/readyz` runs every registered readiness check — the database, pycsw,
the job queue, the file storage — each with a short timeout, and answers 200 when all
pass, 503 naming those that did not (a load balancer stops sending traffic meanwhile).

A check is one line at the composition root (`niaouli/web.py`)::

    health.register_check("jobs", functools.partial(jobs_reachable, engine))

It is a callable without arguments, plain or `async`: it passes when it returns without
raising and does not return `False`. A check registered with `critical=False` (the read
replica: the primary answers its reads meanwhile) is reported but does not fail
readiness: the answer stays 200 and lists it under `degraded`. The answer names each check
and its status, and for a failure only a short reason (`timeout`, `false` or the
exception's class): never the exception's text, which may hold a host name or a URL;
that goes to the server's log.

A check that hangs is not started again while its previous run is still going (it keeps
failing as `timeout`), so a dead dependency cannot pile up threads; and concurrent
`/readyz` calls within `CACHE_SECONDS` share one run, so polling it costs little.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

LOGGER = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 2.0  # seconds one check may take
CACHE_SECONDS = 1.0  # a result shared by the /readyz calls that follow it closely
Check = Callable[[], Any] | Callable[[], Awaitable[Any]]
NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class _Entry:
    name: str
    fn: Check
    timeout: float
    critical: bool = True
    running: asyncio.Future[Any] | None = None


@dataclass
class Registry:
    """Named readiness checks, run together by `/readyz`."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    _last: tuple[float, dict[str, dict[str, Any]]] | None = None
    _pending: asyncio.Future[dict[str, dict[str, Any]]] | None = None

    def register(
        self, name: str, fn: Check, timeout: float = DEFAULT_TIMEOUT, critical: bool = True
    ) -> None:
        """Add (or replace) the check `name`; a failing non-`critical` one is reported
        without failing readiness."""
        self.entries[name] = _Entry(name, fn, timeout, critical)
        self._last = None

    def unregister(self, name: str) -> None:
        self.entries.pop(name, None)
        self._last = None

    async def run(self) -> dict[str, dict[str, Any]]:
        """Each check's result: `{"status": "ok"|"fail", "ms": …, "error": …}`."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < CACHE_SECONDS:
            return self._last[1]
        if _running_here(self._pending):
            return await asyncio.shield(self._pending)
        self._pending = asyncio.ensure_future(self._run_all())
        results = await asyncio.shield(self._pending)
        self._last = (time.monotonic(), results)
        return results

    async def _run_all(self) -> dict[str, dict[str, Any]]:
        entries = list(self.entries.values())
        results = await asyncio.gather(*(_run_one(e) for e in entries))
        return {e.name: r for e, r in zip(entries, results, strict=True)}


def _running_here(future: asyncio.Future[Any] | None) -> bool:
    """A run still going on this event loop (an app served by another loop — tests'
    clients — starts its own)."""
    return (
        future is not None and not future.done() and future.get_loop() is asyncio.get_running_loop()
    )


def _start(entry: _Entry) -> asyncio.Future[Any]:
    if inspect.iscoroutinefunction(entry.fn):
        return asyncio.ensure_future(entry.fn())
    return asyncio.ensure_future(asyncio.to_thread(entry.fn))


async def _run_one(entry: _Entry) -> dict[str, Any]:
    result = await _result(entry)
    if not entry.critical:
        result["critical"] = False
    return result


async def _result(entry: _Entry) -> dict[str, Any]:
    started = time.monotonic()
    if not _running_here(entry.running):
        entry.running = _start(entry)
    try:
        value = await asyncio.wait_for(asyncio.shield(entry.running), entry.timeout)
    except TimeoutError:
        LOGGER.warning("readiness check %s: no answer within %.1f s", entry.name, entry.timeout)
        return {"status": "fail", "error": "timeout"}
    except Exception as exc:  # noqa: BLE001 - any failure of a check is "not ready"
        LOGGER.warning("readiness check %s failed: %s", entry.name, exc)
        return {"status": "fail", "error": type(exc).__name__}
    if value is False:
        return {"status": "fail", "error": "false"}
    return {"status": "ok", "ms": round((time.monotonic() - started) * 1000, 1)}


REGISTRY = Registry()


def register_check(
    name: str, fn: Check, timeout: float = DEFAULT_TIMEOUT, critical: bool = True
) -> None:
    """Add the readiness check `name` to the process's registry (replacing one so named)."""
    REGISTRY.register(name, fn, timeout, critical)


class NotReadyError(Exception):
    """A dependency said why it is not ready; the reason goes to the log, not the body."""


def from_reason(reason_of: Callable[[], str | None]) -> Callable[[], bool]:
    """A check from a function answering None (fine) or a short reason (not ready), as
    `niaouli.storage.storage_reachable` and the job queue's check do."""

    def check() -> bool:
        reason = reason_of()
        if reason is not None:
            raise NotReadyError(reason)
        return True

    return check


def database_reachable(engine: Engine) -> bool:
    """A fresh round trip to the database (`SELECT 1`)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


async def healthz(scope: Scope, receive: Receive, send: Send) -> None:
    """The process answers: nothing else is looked at."""
    await JSONResponse({"status": "ok"}, headers=NO_STORE)(scope, receive, send)


class Readyz:
    """ASGI endpoint: 200 when every critical check passes, else 503 naming the failed
    ones; failing non-critical checks are named under `degraded`."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checks = await self.registry.run()
        down = [name for name, result in checks.items() if result["status"] != "ok"]
        failing = sorted(name for name in down if checks[name].get("critical", True))
        degraded = sorted(name for name in down if name not in failing)
        body: dict[str, Any] = {"status": "fail" if failing else "ok", "checks": checks}
        if failing:
            body["failing"] = failing
        if degraded:
            body["degraded"] = degraded
        response = JSONResponse(body, status_code=503 if failing else 200, headers=NO_STORE)
        await response(scope, receive, send)
