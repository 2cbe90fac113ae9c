"""What operations ask of the jobs: queue depth, failures, reachability, live workers.

Plain functions on the catalogue engine, for `/readyz` and the metrics. On PostgreSQL
they read procrastinate's tables (the queue is shared by every process); on the
embedded SQLite database jobs run in threads of each process, so the answers are this
process's own (`inline.py`).
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError


def _embedded(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def queue_depth(engine: Engine) -> int:
    """Jobs waiting for a worker (PostgreSQL); jobs under way in this process (SQLite)."""
    if _embedded(engine):
        from niaouli.jobs import inline

        return inline.running()
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"))


def failed_jobs(engine: Engine) -> int:
    """Jobs that ended failed: kept in the queue (PostgreSQL), since start (SQLite)."""
    if _embedded(engine):
        from niaouli.jobs import inline

        return inline.failed()
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"))


def workers_alive(engine: Engine, within: float = 60.0) -> int:
    """Workers whose last heartbeat is less than `within` seconds old (0 on SQLite)."""
    if _embedded(engine):
        return 0
    with engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(*) FROM procrastinate_workers"
                " WHERE last_heartbeat > now() - make_interval(secs => :within)"
            ),
            {"within": within},
        )


def jobs_reachable(engine: Engine) -> str | None:
    """None when jobs can be queued; else a short reason (French) for `/readyz`."""
    if _embedded(engine):
        return None  # jobs run in this process's threads: nothing to reach
    try:
        with engine.connect() as conn:
            present = conn.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))
            if not present:
                return "file de tâches absente (niaouli db upgrade)"
            conn.execute(text("SELECT 1 FROM procrastinate_jobs LIMIT 1"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"file de tâches injoignable : {detail[0] if detail else type(exc).__name__}"[:200]
    return None
