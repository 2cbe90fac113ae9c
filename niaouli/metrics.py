"""Prometheus metrics (`/metrics`): requests per interface, harvests, ingestions, job gauges.

What is counted, all with labels of a few fixed values (never a raw path, slug or user):

- `niaouli_http_requests_total{interface,method,status}` and
  `niaouli_http_request_duration_seconds{interface}`: `interface` is `portal`, `ogc`,
  `csw`, `api` or `ops` (these endpoints), from the path's first segment; `status` the
  class (`2xx`…`5xx`). Counted by `MetricsMiddleware`.
- `niaouli_harvest_runs_total{outcome}`: `success`, `partial`, `failed` (the job's stored
  status) or `error` (the run raised: busy source, crash); dry runs are not counted.
- `niaouli_ingestions_total{outcome}`: `success`, `rejected` (the file was refused: bad
  input, unconfirmed change) or `error`.
- with a read replica (`NIAOULI_DATABASE_READ_URL`): `niaouli_replica_up` (1, or 0 while
  its reads go to the primary; the lowest of the server's processes),
  `niaouli_replica_outages_total` and `niaouli_replica_fallbacks_total` (read-only
  requests the primary answered instead: `niaouli.db.replica`).
- gauges read at scrape time through callbacks the composition root registers
  (`register_gauge`), e.g. the job queue's depth and failed jobs.

**Several processes.** `niaouli serve` runs worker processes (plus its own, which runs the
scheduled harvests); a scrape reaches one of them. prometheus-client's multiprocess mode
makes every process write its counters to files in `PROMETHEUS_MULTIPROC_DIR`, and a
scrape adds them all up: `prepare_multiprocess` (called by `serve` before its workers
start) sets it to a fresh `$NIAOULI_DATA_DIR/metrics/serve-<pid>/`. prometheus-client
reads that variable when it is first imported, so this module imports it lazily, on first
use. Without it (tests, `niaouli harvest run`), each process counts for itself.

**Access.** `/metrics` answers clients on the loopback interface and, when
`NIAOULI_METRICS_TOKEN` is set, anyone sending `Authorization: Bearer <token>`; others get
403 (counts of requests and harvests are not public, and a scrape costs a little). A
request through a proxy (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`) needs the token.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.settings import get_settings

LOGGER = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "niaouli_"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

P = ParamSpec("P")
R = TypeVar("R")


# --- the metrics, made on first use -------------------------------------------------


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            PREFIX + "http_requests",
            "HTTP requests answered, per interface, method and status class",
            ["interface", "method", "status"],
        )
        self.latency = Histogram(
            PREFIX + "http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, per interface",
            ["interface"],
            buckets=BUCKETS,
        )
        self.harvests = Counter(
            PREFIX + "harvest_runs", "Harvest runs ended, by outcome", ["outcome"]
        )
        self.ingestions = Counter(
            PREFIX + "ingestions", "File ingestions ended, by outcome", ["outcome"]
        )
        self.replica_fallbacks = Counter(
            PREFIX + "replica_fallbacks",
            "Read-only requests answered by the primary because the read replica was down",
        )
        self.replica_outages = Counter(
            PREFIX + "replica_outages", "Times the read replica was found down (circuit opened)"
        )


@functools.cache
def _metrics() -> _Metrics:
    return _Metrics()


@functools.cache
def _replica_up() -> Any:  # noqa: ANN401 - prometheus_client's Gauge
    """Made on first use only: a platform without a read replica shows no such gauge."""
    from prometheus_client import Gauge

    # The lowest of the live processes: 0 as soon as one of them finds it down.
    return Gauge(
        PREFIX + "replica_up",
        "1 while the read replica answers, 0 while its reads go to the primary",
        multiprocess_mode="livemin",
    )


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess(data_dir: Path) -> Path:
    """Count across this process and the workers it starts (`niaouli serve`).

    Makes `<data_dir>/metrics/serve-<pid>/` afresh (one per server, so that two servers
    sharing a data directory count apart), removes those of servers no longer running,
    and sets `PROMETHEUS_MULTIPROC_DIR`, which the workers inherit.
    """
    root = data_dir / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("serve-*"):
        pid = old.name.removeprefix("serve-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"serve-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    os.environ[MULTIPROC_ENV] = str(folder)
    if "prometheus_client.values" in sys.modules:
        # Imported already (but no metric made yet): let it write to the folder.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    if _metrics.cache_info().currsize:
        LOGGER.warning("metrics made before %s was set: this process counts apart", MULTIPROC_ENV)
    return folder


def finish_multiprocess(folder: Path) -> None:
    """Remove the server's counters folder when it stops."""
    shutil.rmtree(folder, ignore_errors=True)


# --- what the platform counts ----------------------------------------------------------


def interface_of(path: str) -> str:
    """`portal`, `ogc`, `csw`, `api` or `ops`, from the path's first segment."""
    first = "/" + path.lstrip("/").split("/", 1)[0]
    if first in ("/ogc", "/csw", "/api"):
        return first[1:]
    if path in OPS_PATHS:
        return "ops"
    return "portal"


def count_request(interface: str, method: str, status: int, seconds: float) -> None:
    shown = method if method in METHODS else "other"
    _requests_of(interface, shown, min(max(status // 100, 1), 5)).inc()
    _latency_of(interface).observe(seconds)


# Each request's labelled children, found once (prometheus_client's `labels` takes a lock
# and builds its key on every call): a few interfaces, methods and status classes.
@functools.cache
def _requests_of(interface: str, method: str, status_class: int) -> Any:  # noqa: ANN401
    return _metrics().requests.labels(interface, method, f"{status_class}xx")


@functools.cache
def _latency_of(interface: str) -> Any:  # noqa: ANN401
    return _metrics().latency.labels(interface)


def count_harvest(outcome: str) -> None:
    _metrics().harvests.labels(outcome).inc()


def count_ingestion(outcome: str) -> None:
    _metrics().ingestions.labels(outcome).inc()


def count_replica_fallback() -> None:
    _metrics().replica_fallbacks.inc()


def replica_state(up: bool, outage: bool = False) -> None:
    """The read replica answers (`up`) or not; `outage`: it was just found down."""
    _replica_up().set(1 if up else 0)
    if outage:
        _metrics().replica_outages.inc()


def harvest_counted[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Decorates the function running one harvest: counts its report's `status` (dry runs
    aside), or `error` when it raises."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            report = fn(*args, **kwargs)
        except Exception:
            count_harvest("error")
            raise
        if not getattr(report, "dry_run", False):
            count_harvest(str(getattr(report, "status", "unknown")))
        return report

    return wrapper


def ingestion_counted(
    rejected: tuple[type[BaseException], ...],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorates the function ingesting one file: `success`, `rejected` when it raises one
    of `rejected` (the file was refused), else `error`."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = fn(*args, **kwargs)
            except rejected:
                count_ingestion("rejected")
                raise
            except Exception:
                count_ingestion("error")
                raise
            count_ingestion("success")
            return result

        return wrapper

    return decorate


# --- gauges read at scrape time --------------------------------------------------------

GaugeValue = float | int | Mapping[str, float | int]
_gauges: dict[str, tuple[str, Callable[[], GaugeValue], str]] = {}


def register_gauge(
    name: str, documentation: str, fn: Callable[[], GaugeValue], label: str = "queue"
) -> None:
    """A gauge `niaouli_<name>` whose value `fn()` gives at each scrape (a number, or a
    mapping from `label`'s values to numbers). E.g., at the composition root::

        metrics.register_gauge("job_queue_depth", "Jobs waiting", lambda: queue_depth(engine))
        metrics.register_gauge("jobs_failed", "Failed jobs", lambda: failed_jobs(engine))

    A callback that raises leaves its gauge out of that scrape (and is logged)."""
    _gauges[name] = (documentation, fn, label)


class _GaugeCollector:
    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for name, (documentation, fn, label) in list(_gauges.items()):
            try:
                value = fn()
            except Exception:  # noqa: BLE001 - a broken source must not break the scrape
                LOGGER.warning("metrics gauge %s could not be read", name, exc_info=True)
                continue
            if isinstance(value, Mapping):
                family = GaugeMetricFamily(PREFIX + name, documentation, labels=[label])
                for key, number in sorted(value.items()):
                    family.add_metric([str(key)], float(number))
            else:
                family = GaugeMetricFamily(PREFIX + name, documentation, value=float(value))
            yield family


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric (all the server's processes when shared)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry
    from prometheus_client import generate_latest as latest

    _metrics()  # the families appear (at zero) before anything was counted
    folder = multiprocess_dir()
    if folder is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(folder))
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(_GaugeCollector())
    return latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """The process's default registry as one collector of another registry."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


# --- ASGI: counting requests, answering /metrics ---------------------------------------


class MetricsMiddleware:
    """Counts each HTTP request by interface, method and status class, with its time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            count_request(
                interface_of(scope["path"]),
                scope["method"],
                status,
                time.perf_counter() - started,
            )


FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def _allowed(scope: Scope) -> bool:
    """A direct loopback connection, or the token's bearer.

    A request that came through a proxy (it names a forwarded client) is never taken for
    a loopback one: with `FORWARDED_ALLOW_IPS='*'` uvicorn believes the leftmost
    `X-Forwarded-For` address, which the client itself may write (`127.0.0.1`).
    """
    headers = scope.get("headers", ())
    forwarded = any(name in FORWARDING_HEADERS for name, _ in headers)
    client = scope.get("client")
    if client and not forwarded:
        try:
            if ipaddress.ip_address(client[0]).is_loopback:
                return True
        except ValueError:
            pass
    token = get_settings().metrics_token
    if not token:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            given = value.decode("latin-1")
            scheme, _, credentials = given.partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                credentials.strip().encode(), token.encode()
            )
    return False


async def metrics_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """`/metrics`: loopback clients, or the bearer of `NIAOULI_METRICS_TOKEN`."""
    if not _allowed(scope):
        response: Response = PlainTextResponse(
            "accès réservé : /metrics répond à la machine elle-même ou au porteur du jeton"
            " NIAOULI_METRICS_TOKEN",
            status_code=403,
        )
    else:
        body, media_type = await asyncio.to_thread(exposition)
        response = Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})
    await response(scope, receive, send)
