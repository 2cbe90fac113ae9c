"""Per-worker counters, flushed in batches to `usage_daily` by a background thread.

A request costs a lock and a dict increment; the database sees one short transaction
every few seconds per worker. Each worker adds its own increments with an upsert
(`hits = hits + excluded.hits`), so any number of workers add up. The dataset named by a
slug, OGC collection or CSW record is resolved to ids at flush time, in one query each.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import Counter
from datetime import date
from typing import NamedTuple

from sqlalchemy import Engine, null, select, text

from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import Dataset, Layer, Organisation
from niaouli.db.engine import writing
from niaouli.settings import get_settings
from niaouli.stats import classify
from niaouli.stats.table import CONFLICT_TARGET

log = logging.getLogger(__name__)
UPSERT = text(
    "INSERT INTO usage_daily (day, interface, dataset_id, organisation_id, hits, unique_visits)"
    " VALUES (:day, :interface, :dataset_id, :organisation_id, :hits, :unique_visits)"
    f" ON CONFLICT ({CONFLICT_TARGET}) DO UPDATE SET"
    " hits = usage_daily.hits + excluded.hits,"
    " unique_visits = usage_daily.unique_visits + excluded.unique_visits"
)


def _row_order(row: dict) -> tuple:
    return (
        row["day"],
        row["interface"],
        row["dataset_id"] or 0,
        row["organisation_id"] or 0,
    )


class Key(NamedTuple):
    day: date
    interface: str
    kind: str | None
    name: str | None


def flush_interval() -> float:
    """`NIAOULI_STATS_FLUSH_SECONDS` (at least 0.05)."""
    return get_settings().stats_flush_seconds


class Counters:
    def __init__(self, engine: Engine, interval: float | None = None) -> None:
        self.engine = engine
        self.interval = flush_interval() if interval is None else interval
        self._lock = threading.Lock()
        self._hits: Counter[Key] = Counter()
        self._visits: Counter[Key] = Counter()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, key: Key, new_visit: bool) -> None:
        with self._lock:
            self._hits[key] += 1
            if new_visit:
                self._visits[key] += 1
        if self._thread is None:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="stats-flush", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        """Write what is left (server shutdown, exit); never raises."""
        self._stop.set()
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutting down: log, do not crash the shutdown
            log.exception("usage statistics: last flush failed, these counts are lost")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - statistics must never take the site down
                log.exception("usage statistics flush failed; counts kept for the next one")

    def flush(self) -> int:
        """Write the pending increments; on failure they are put back. Rows written."""
        with self._lock:
            hits, visits = self._hits, self._visits
            self._hits, self._visits = Counter(), Counter()
        if not hits:
            return 0
        committed = False
        try:
            rows = self._rows(hits, visits)
            if rows:
                # The write lock first (SQLite: a busy database is waited for, never a
                # stale snapshot) and rows in one order for every worker (PostgreSQL: two
                # flushes lock the same rows in the same order, so they cannot deadlock).
                rows.sort(key=_row_order)
                with writing(self.engine).begin() as conn:
                    conn.execute(UPSERT, rows)
            committed = True
        except Exception:
            if not committed:  # counts already committed must never be added twice
                with self._lock:
                    self._hits.update(hits)
                    self._visits.update(visits)
            raise
        return len(rows)

    def _rows(self, hits: Counter[Key], visits: Counter[Key]) -> list[dict]:
        ids = self._resolve(hits)
        merged: dict[tuple, list[int]] = {}
        for key, count in hits.items():
            if key.kind is None:
                target: tuple[int | None, int | None] | None = (None, None)
            else:
                target = ids.get((key.kind, key.name))
            if target is None:
                continue  # names nothing (anymore): counted nowhere rather than misfiled
            row = merged.setdefault((key.day, key.interface, *target), [0, 0])
            row[0] += count
            row[1] += visits.get(key, 0)
        return [
            {
                "day": day,
                "interface": interface,
                "dataset_id": dataset_id,
                "organisation_id": organisation_id,
                "hits": h,
                "unique_visits": v,
            }
            for (day, interface, dataset_id, organisation_id), (h, v) in merged.items()
        ]

    def _resolve(self, hits: Counter[Key]) -> dict[tuple[str, str], tuple[int | None, int]]:
        """(kind, name) -> (dataset id, organisation id), one query per kind."""
        names: dict[str, set[str]] = {}
        for key in hits:
            if key.kind is not None and key.name is not None:
                names.setdefault(key.kind, set()).add(key.name)
        found: dict[tuple[str, str], tuple[int | None, int]] = {}
        if not names:
            return found
        queries = {
            classify.DATASET_SLUG: select(Dataset.slug, Dataset.id, Dataset.organisation_id).where(
                Dataset.slug.in_(names.get(classify.DATASET_SLUG, ()))
            ),
            classify.COLLECTION: select(Layer.collection_id, Dataset.id, Dataset.organisation_id)
            .join(Dataset, Dataset.id == Layer.dataset_id)
            .where(Layer.collection_id.in_(names.get(classify.COLLECTION, ()))),
            classify.CSW_RECORD: select(
                csw_records.c.identifier, Dataset.id, Dataset.organisation_id
            )
            .join(Dataset, Dataset.id == csw_records.c.dataset_id)
            .where(csw_records.c.identifier.in_(names.get(classify.CSW_RECORD, ()))),
            classify.ORGANISATION_SLUG: select(Organisation.slug, null(), Organisation.id).where(
                Organisation.slug.in_(names.get(classify.ORGANISATION_SLUG, ()))
            ),
        }
        with self.engine.connect() as conn:
            for kind in names:
                for name, dataset_id, organisation_id in conn.execute(queries[kind]):
                    found[(kind, name)] = (dataset_id, organisation_id)
        return found
