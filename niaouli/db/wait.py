"""Wait for the database to accept connections (`niaouli db wait`, the entrypoint).

In a compose stack the application starts alongside PostgreSQL, which needs a few
seconds (more on a first start: `initdb`) before it accepts connections; on bare metal a
server may come up with its host. The entrypoint waits here, with a deadline, instead of
letting `niaouli db upgrade` fail at once and the container loop on restarts; past the
deadline it gives up with the last error, so that "database unreachable" is what the
operator reads, not a traceback.

Each PostgreSQL attempt is bounded by libpq's `connect_timeout`, so an address that
drops packets (a firewall, a host that is down) cannot hold it past the deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import Engine, text


class DatabaseWaitError(RuntimeError):
    """The database did not accept a connection before the deadline."""

    def __init__(self, target: str, seconds: float, last_error: str) -> None:
        self.target = target
        self.seconds = seconds
        self.last_error = last_error
        super().__init__(
            f"la base de données {target} n'a pas répondu en {seconds:g} s"
            f" (dernière erreur : {last_error})"
        )


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _probe(engine: Engine, remaining: float) -> None:
    """One connection attempt and `SELECT 1`, bounded by `remaining` seconds."""
    if engine.dialect.name == "postgresql":
        # The dialect's own connect arguments (same URL, driver and options as the
        # engine), with a connect timeout: the pool's connect has none.
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        cparams["connect_timeout"] = max(1, min(10, math.ceil(remaining)))
        connection = engine.dialect.connect(*cargs, **cparams)
        try:
            connection.execute("SELECT 1")
        finally:
            connection.close()
        return
    with engine.connect() as conn:  # SQLite: a file, there at once or not at all
        conn.execute(text("SELECT 1"))


def wait_for_database(
    engine: Engine,
    timeout: float,
    *,
    on_retry: Callable[[str], None] | None = None,
    interval: float = 1.0,
) -> float:
    """Return once `engine`'s database answers `SELECT 1`; the seconds it took.

    Raises `DatabaseWaitError` (with the last error) after `timeout` seconds.
    `on_retry` is told each failed attempt's error (the command prints it once).
    """
    target = engine.url.render_as_string(hide_password=True)
    start = time.monotonic()
    deadline = start + max(0.0, timeout)
    retried = engine.dialect.name == "postgresql"
    while True:
        remaining = deadline - time.monotonic()
        try:
            _probe(engine, max(remaining, 1.0))
            return time.monotonic() - start
        except Exception as exc:  # noqa: BLE001 - any failure to connect is retried
            error = _first_line(exc)
        # SQLite is a file: a failure (missing SpatiaLite, unwritable folder) will not pass.
        if not retried or time.monotonic() + interval > deadline:
            raise DatabaseWaitError(target, timeout, error)
        if on_retry is not None:
            on_retry(error)
        time.sleep(interval)
