"""Catalogue change tracking: one version counter, bumped in the writing transaction.

Every flush that adds, changes or deletes a dataset, layer or resource bumps
`catalogue_state.version` in the same transaction, and runs the registered hooks (the
search text, the full-text index, the CSW records sync) on the same connection, so
that derived views are all-or-nothing with the change. Server workers read the version
(cheap: one row) on every request to know when to rebuild their collection lists: that
is how a dataset ingested, withdrawn or restricted while the server runs is seen from
the next request on, in every worker, without restart. The version moves with hidden
changes too: never make an HTTP validator of it (`validators`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.orm import Session

from niaouli.catalogue.models import Dataset, Layer, RasterLayer, Resource
from niaouli.db.engine import is_catalogue_bind

DatasetHook = Callable[[Connection, set[int], set[int]], None]
FlushHook = Callable[[Session], None]
_hooks: list[DatasetHook] = []
_flush_hooks: list[FlushHook] = []


def on_datasets_changed(hook: DatasetHook) -> DatasetHook:
    """Register `hook(connection, changed_ids, deleted_ids)`, run inside the transaction.

    Registered at start-up by the `install` functions the composition root calls
    (`niaouli.startup`), in that order; registering twice is a no-op.
    """
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def after_catalogue_flush(hook: FlushHook) -> FlushHook:
    """Register `hook(session)`, run after every flush of a catalogue session, after the
    dataset hooks (for what `on_datasets_changed` does not see, e.g. organisations)."""
    if hook not in _flush_hooks:
        _flush_hooks.append(hook)
    return hook


def install() -> None:
    """Attach the change tracking to the catalogue's sessions (idempotent).

    Two listeners on SQLAlchemy's `Session` events that act only for sessions bound to an
    engine of `niaouli.db.engine.make_engine` (`is_catalogue_bind`): another database
    used in the same process is left alone. Called by the composition root at start-up
    (`niaouli.startup.install`), never by importing a module.
    """
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def installed() -> bool:
    return event.contains(Session, "after_flush", _after_flush)


def current_version(conn: Connection) -> int:
    return int(conn.execute(text("SELECT version FROM catalogue_state WHERE id = 1")).scalar() or 0)


def read_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return current_version(conn)


def touch(session: Session, dataset_ids: Iterable[int], first: DatasetHook | None = None) -> None:
    """Run the dataset hooks now for datasets whose derived views depend on something
    outside the tracked rows (a link check's result, the days passing: the quality
    score), in the session's transaction, and bump the version as a change would.

    `first`: start with that hook and run those registered after it only (the quality
    score's hook then the CSW records), leaving the earlier ones alone: the search text's
    rewrite of `datasets` would move the datasets' `updated_at`, though nothing changed.
    """
    ids = set(dataset_ids)
    if not ids:
        return
    session.flush()
    conn = session.connection()
    conn.execute(text("UPDATE catalogue_state SET version = version + 1 WHERE id = 1"))
    start = _hooks.index(first) if first in _hooks else 0
    for hook in _hooks[start:]:
        hook(conn, ids, set())


def _collect(session: Session, _context, _instances) -> None:  # noqa: ANN001
    if not is_catalogue_bind(session.bind):
        return
    touched: list = session.info.setdefault("niaouli_touched", [])
    deleted: set[int] = session.info.setdefault("niaouli_deleted", set())
    created: list = session.info.setdefault("niaouli_created", [])
    for obj in session.new:
        if isinstance(obj, Dataset):
            created.append(obj)
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, Dataset):
            touched.append(obj)
        elif isinstance(obj, Layer | RasterLayer | Resource):
            touched.append(obj.dataset if obj.dataset is not None else obj.dataset_id)
    for obj in session.deleted:
        if isinstance(obj, Dataset):
            deleted.add(obj.id)
        elif isinstance(obj, Layer | RasterLayer | Resource):
            touched.append(obj.dataset_id)


def _after_flush(session: Session, _context) -> None:  # noqa: ANN001
    if not is_catalogue_bind(session.bind):
        return
    _bump(session)
    for hook in _flush_hooks:
        hook(session)


def _bump(session: Session) -> None:
    touched = session.info.pop("niaouli_touched", [])
    deleted: set[int] = session.info.pop("niaouli_deleted", set())
    created = {o.id for o in session.info.pop("niaouli_created", [])} - {None} - deleted
    changed = {o.id if isinstance(o, Dataset) else o for o in touched} - {None} - deleted
    if not changed and not deleted:
        return
    held = session.info.get(BATCH_KEY)
    if held is not None:  # `batched`: the hooks run once, at `notify_batch`
        held[0].update(changed)
        held[1].update(deleted)
        held[2].update(created)
        return
    _notify(session.connection(), changed, deleted, created)


# The datasets inserted by the writes whose hooks are running (`created`).
_created: ContextVar[frozenset[int]] = ContextVar("niaouli_created", default=frozenset())


def created() -> frozenset[int]:
    """Among the datasets a running hook was handed, those the notified writes inserted.

    Why: a dataset row written whole at its insertion (its search text computed by
    `service.create_dataset`) need not be rewritten by a hook whose result is the same.
    Empty outside the hooks, and for `touch`."""
    return _created.get()


def _notify(
    conn: Connection, changed: set[int], deleted: set[int], inserted: set[int] | None = None
) -> None:
    conn.execute(text("UPDATE catalogue_state SET version = version + 1 WHERE id = 1"))
    token = _created.set(frozenset(inserted or ()) & frozenset(changed))
    try:
        for hook in _hooks:
            hook(conn, changed, deleted)
    finally:
        _created.reset(token)


BATCH_KEY = "niaouli_batch"


@contextlib.contextmanager
def batched(session: Session) -> Iterator[None]:
    """Hold the dataset hooks of `session`'s flushes: they run once per batch, at
    `notify_batch`, for every dataset the batch touched.

    Why: a harvest writes thousands of datasets; rewriting each one's CSW record, search
    text and full-text document on every flush cost more than the writes themselves.
    The caller must call `notify_batch` before each commit (what it does not notify is
    dropped at the end of the context). The hooks still run in the writing transaction.
    """
    session.info[BATCH_KEY] = (set(), set(), set())
    try:
        yield
    finally:
        session.info.pop(BATCH_KEY, None)


def notify_batch(session: Session) -> None:
    """Run the held hooks once for what the batch changed (inside its transaction).

    Savepoints rolled back inside the batch may have touched datasets that no longer
    exist, or kept ones whose deletion was undone: the datasets are sorted out by
    whether they exist now."""
    held = session.info.get(BATCH_KEY)
    if held is None:
        return
    session.flush()
    ids = held[0] | held[1]
    inserted = set(held[2])
    for kept in held:
        kept.clear()
    if not ids:
        return
    conn = session.connection()
    table = Dataset.__table__
    existing = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())
    _notify(conn, existing, ids - existing, inserted)


def drop_batch(session: Session) -> None:
    """Forget what the batch held (its transaction was rolled back)."""
    held = session.info.get(BATCH_KEY)
    if held is not None:
        for kept in held:
            kept.clear()
