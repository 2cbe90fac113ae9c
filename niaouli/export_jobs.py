"""Layer exports as background jobs: prepared once, never twice at once, never in a request.

An export not yet in the storage is prepared by the `export` job (`table`, `format`):
queued on PostgreSQL with the lock and queueing lock `export:<name>` (procrastinate: two
builds of one export never run at once, and at most one waits), in a thread otherwise
(`niaouli.jobs.inline`), guarded here by a per-process registry of the builds under way.
With the queue but no live worker (none started yet, or all dead), a request does not
wait for one: the export is prepared in a thread of the process that asked, as on SQLite.

`prebuild` queues every export of the layers just published (the ingestion calls it
after its commit), so that the usual download finds its file ready. `state` says where
an export stands (ready, queued, running, failed) for the download's 202 answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from niaouli import jobs
from niaouli.catalogue.models import Layer
from niaouli.db.engine import get_engine
from niaouli.jobs import inline, registry, status
from niaouli.settings import Settings, get_settings

if TYPE_CHECKING:
    from niaouli import exports

# `niaouli.exports` (pyogrio, pyarrow, pandas: 0.5 s) is imported by the functions that
# prepare or look up an export, not by every process that registers the job.

LOGGER = logging.getLogger(__name__)
EXPORT = "export"
RETRY_FAILED_AFTER = 600.0  # seconds: a failed export is tried again by a later request

READY, QUEUED, RUNNING, FAILED = "ready", "queued", "running", "failed"


@dataclass(frozen=True)
class ExportState:
    state: str  # READY, QUEUED, RUNNING, FAILED, or "absent" (nothing asked yet)
    error: str | None = None


_lock = threading.Lock()
_serving = False  # inline builds started by a publication need a lasting process
_building: dict[str, threading.Thread] = {}  # inline builds under way in this process
_failures: dict[str, tuple[float, str]] = {}  # inline: name -> (when, why)


def lock_of(name: str) -> str:
    return f"export:{name}"


def layer_info(engine: Engine, table: str) -> exports.LayerInfo | None:
    """The published layer of `table`, or None when it was replaced or deleted since."""
    from niaouli import exports

    with Session(engine) as session:
        layer = session.scalar(select(Layer).where(Layer.table_name == table))
        return exports.LayerInfo.from_layer(layer) if layer is not None else None


def export_job(info: registry.JobInfo, table: str, format: str) -> str:  # noqa: A002
    """The `export` job: the stored export of `table` in `format` (built when missing)."""
    from niaouli import exports

    settings = info.settings or get_settings()
    engine = get_engine(settings)
    layer = layer_info(engine, table)
    fmt = exports.FORMATS.get(format)
    if layer is None or fmt is None:
        return "couche remplacée ou supprimée : rien à préparer"
    return exports.ensure_export(engine, settings, layer, fmt)


def _use_queue(engine: Engine, settings: Settings) -> bool:
    return settings.job_queue and status.workers_alive(engine, settings.jobs_stalled_after) > 0


def request(
    engine: Engine, settings: Settings, layer: exports.LayerInfo, fmt: exports.ExportFormat
) -> None:
    """Make sure the export is being prepared (idempotent: never two builds at once)."""
    from niaouli import exports

    name = exports.export_name(layer, fmt)
    if _use_queue(engine, settings):
        jobs.submit(
            settings,
            EXPORT,
            lock=lock_of(name),
            queueing_lock=lock_of(name),
            table=layer.table_name,
            format=fmt.key,
        )
        return
    _start_inline(settings, name, layer.table_name, fmt.key)


def _start_inline(settings: Settings, name: str, table: str, key: str) -> None:
    def build(info: registry.JobInfo, **kwargs: str) -> str:
        try:
            return export_job(info, **kwargs)
        except Exception as exc:
            with _lock:
                _failures[name] = (time.time(), str(exc)[:300] or type(exc).__name__)
            raise
        finally:
            with _lock:
                _building.pop(name, None)

    with _lock:
        under_way = _building.get(name)
        if under_way is not None and under_way.is_alive():
            return
        _failures.pop(name, None)
        job = registry.JobDef(EXPORT, build)
        # Registered before it starts, under the lock: a second request sees it.
        _building[name] = inline.start(job, settings, table=table, format=key)


def state(
    engine: Engine, settings: Settings, layer: exports.LayerInfo, fmt: exports.ExportFormat
) -> ExportState:
    """Where the export stands. A failure older than RETRY_FAILED_AFTER counts as absent
    (a later request tries again: the storage may have been down)."""
    from niaouli import exports

    name = exports.export_name(layer, fmt)
    if exports.cache(settings).stat(name) is not None:
        return ExportState(READY)
    with _lock:
        thread = _building.get(name)
        failure = _failures.get(name)
    if thread is not None and thread.is_alive():
        return ExportState(RUNNING)
    if failure is not None and time.time() - failure[0] < RETRY_FAILED_AFTER:
        return ExportState(FAILED, failure[1])
    if settings.job_queue:
        return _queued_state(engine, name)
    return ExportState("absent")


def _queued_state(engine: Engine, name: str) -> ExportState:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, extract(epoch FROM now() - coalesce("
                " (SELECT max(at) FROM procrastinate_events e WHERE e.job_id = j.id),"
                " now())) FROM procrastinate_jobs j WHERE lock = :lock ORDER BY id DESC LIMIT 1"
            ),
            {"lock": lock_of(name)},
        ).first()
    if row is None:
        return ExportState("absent")
    found, age = str(row[0]), float(row[1] or 0)
    if found == "todo":
        return ExportState(QUEUED)
    if found == "doing":
        return ExportState(RUNNING)
    if found == "failed" and age < RETRY_FAILED_AFTER:
        return ExportState(FAILED, "échec de la préparation (voir les journaux du worker)")
    return ExportState("absent")


def wait_ready(
    engine: Engine,
    settings: Settings,
    layer: exports.LayerInfo,
    fmt: exports.ExportFormat,
    seconds: float,
) -> ExportState:
    """Ask for the export and wait up to `seconds` for it (blocking: run in a thread)."""
    from niaouli import exports

    current = state(engine, settings, layer, fmt)
    if current.state in (READY, FAILED):
        return current
    request(engine, settings, layer, fmt)
    deadline = time.monotonic() + seconds
    name = exports.export_name(layer, fmt)
    backend = exports.cache(settings)
    while time.monotonic() < deadline:
        if backend.stat(name) is not None:
            return ExportState(READY)
        time.sleep(0.2)
    return state(engine, settings, layer, fmt)


def serve_inline() -> None:
    """Say this process lasts (the web app): a publication may start inline builds here.
    A command (`niaouli ingest`, the demo) would exit under them: it queues them for a
    live worker, or leaves them to the first download."""
    global _serving
    _serving = True


def in_server() -> bool:
    """Whether this process lasts (`niaouli serve`): work may be left to its threads."""
    return _serving


def prebuild(engine: Engine, settings: Settings, tables: Iterable[str]) -> int:
    """Queue every export of the layers of `tables` (just published); how many. Never
    raises: a publication is done whatever happens to its exports (they are then
    prepared at the first download)."""
    if not settings.exports_prebuild:
        return 0
    try:
        if not _serving and not _use_queue(engine, settings):
            return 0
    except Exception:  # noqa: BLE001 - see above
        LOGGER.exception("file de tâches")
        return 0
    from niaouli import exports

    count = 0
    try:
        for table in tables:
            layer = layer_info(engine, table)
            if layer is None:
                continue
            for fmt in exports.formats_for(layer):
                request(engine, settings, layer, fmt)
                count += 1
    except Exception:  # noqa: BLE001 - see above
        LOGGER.exception("préparation des exports de %s", list(tables))
    return count


def install() -> None:
    """Register the `export` job (the composition root calls it at start-up)."""
    registry.register(registry.JobDef(EXPORT, export_job, queue="exports"))
