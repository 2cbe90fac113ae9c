"""Is the read replica answering? A circuit breaker, so a dead replica costs no request.

`niaouli.db.readroute` sends anonymous read-only requests to the replica
(`NIAOULI_DATABASE_READ_URL`). When the replica stops answering (stopped, restarting,
network cut) those reads would fail; instead:

- a routed request that fails (an exception, or a 5xx some layer made of it) makes the
  router ask `confirm_down()`: one fresh connection to the replica with a short connect
  timeout. If it fails, the circuit **opens** — one warning line in the log for the whole
  outage, `niaouli_replica_outages_total` + 1, `niaouli_replica_up` 0 — and the request is
  answered again on the primary (`niaouli_replica_fallbacks_total`);
- while it is open every read goes to the primary; after `NIAOULI_DATABASE_READ_RETRY`
  seconds (5) one request tries the replica again (`usable()` → a probe); if it answers,
  the circuit **closes** (an info line, `niaouli_replica_up` 1) and reads go back to it;
- `/readyz` shows the replica's state (`check`) without failing readiness: the primary
  carries the load meanwhile.

The state is per process (each `niaouli serve` worker finds out for itself, within one
request). A failure that is not the replica's (a bug, the primary down) leaves the
circuit closed: the probe answers, the failure goes on to the usual handling.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from sqlalchemy.engine import make_url

from niaouli import metrics
from niaouli.db.engine import REPLICA_CONNECT_TIMEOUT
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)
APPLICATION = "niaouli-replica"  # the probe is one of the app's replica readers


class ReplicaUnreachableError(Exception):
    """The read replica does not answer (`/readyz` names it; the reason is in the log)."""


class Circuit:
    """Closed (reads go to the replica) or open until `retry_at` (reads go to the primary)."""

    def __init__(self, url: str, retry_seconds: float) -> None:
        self.url = url
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self.open = False
        self.retry_at = 0.0
        self._probing = False

    def probe(self) -> str | None:
        """None when the replica answers `SELECT 1` on a fresh connection, else why not."""
        url = make_url(self.url).set(drivername="postgresql")
        try:
            with psycopg.connect(
                url.render_as_string(hide_password=False),
                connect_timeout=REPLICA_CONNECT_TIMEOUT,
                application_name=APPLICATION,
                autocommit=True,
            ) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
            lines = str(exc).strip().splitlines()
            return lines[0][:200] if lines else type(exc).__name__
        return None

    def usable(self) -> bool:
        """Whether this request may read the replica: closed, or open with its retry due
        and this request the one that tries (the others read the primary meanwhile)."""
        with self._lock:
            if not self.open:
                return True
            if self._probing or time.monotonic() < self.retry_at:
                return False
            self._probing = True
        try:
            reason = self.probe()
        finally:
            with self._lock:
                self._probing = False
        if reason is None:
            self._close()
            return True
        with self._lock:
            self.retry_at = time.monotonic() + self.retry_seconds
        return False

    def confirm_down(self) -> bool:
        """After a routed request failed: whether the replica is down (then the circuit
        is open and the request should be answered by the primary)."""
        reason = self.probe()
        if reason is None:
            return False
        self._trip(reason)
        return True

    def check(self) -> bool:
        """`/readyz`: a fresh probe, which also updates the circuit either way."""
        reason = self.probe()
        if reason is not None:
            self._trip(reason)
            raise ReplicaUnreachableError(reason)
        if self.open:
            self._close()
        return True

    def _trip(self, reason: str) -> None:
        with self._lock:
            first = not self.open
            self.open = True
            self.retry_at = time.monotonic() + self.retry_seconds
        if first:  # one line per outage, however many requests find it down
            LOGGER.warning(
                "read replica unreachable (%s): its reads go to the primary, retried every %g s",
                reason,
                self.retry_seconds,
            )
            metrics.replica_state(up=False, outage=True)

    def _close(self) -> None:
        with self._lock:
            was_open = self.open
            self.open = False
        if was_open:
            LOGGER.info("read replica answers again: read-only requests go back to it")
        metrics.replica_state(up=True)


_circuits: dict[str, Circuit] = {}
_lock = threading.Lock()


def circuit(settings: Settings) -> Circuit:
    """This process's circuit for the settings' read replica (one per URL)."""
    with _lock:
        found = _circuits.get(settings.database_read_url)
        if found is None:
            found = _circuits[settings.database_read_url] = Circuit(
                settings.database_read_url, settings.database_read_retry
            )
            metrics.replica_state(up=True)
        return found
