"""Catalogue change tracking: one version counter, bumped in the writing transaction.

Every flush that adds, changes or deletes a dataset, layer or resource bumps
`catalogue_state.version` in the same transaction, and runs the registered hooks (e.g.
the CSW records sync) on the same connection, so that derived views are all-or-nothing
with the change. Server workers read the version (cheap: one row) on every request to
know when to rebuild their collection lists: that is how a dataset ingested, withdrawn
or restricted while the server runs is seen from the next request on, in every worker,
without restart. The version moves with hidden changes too: never make an HTTP
validator of it (`validators`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session

from niaouli.catalogue.models import Dataset, Layer, Resource

DatasetHook = Callable[[Connection, set[int], set[int]], None]
HOOK_ENTRY_POINTS = "niaouli.catalogue_hooks"
_hooks: list[DatasetHook] = []
_plugins_loaded = False


def on_datasets_changed(hook: DatasetHook) -> DatasetHook:
    """Register `hook(connection, changed_ids, deleted_ids)`, run inside the transaction."""
    _hooks.append(hook)
    return hook


def load_hook_plugins() -> None:
    """Import the modules that register hooks from other packages (entry points).

    Derived views such as the CSW records live in the services, which the catalogue must
    not import; they declare a `niaouli.catalogue_hooks` entry point instead, loaded here
    once, at the first flush, in whatever process writes the catalogue.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=HOOK_ENTRY_POINTS):
        entry.load()


def current_version(conn: Connection) -> int:
    return int(conn.execute(text("SELECT version FROM catalogue_state WHERE id = 1")).scalar() or 0)


def read_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return current_version(conn)


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context, _instances) -> None:  # noqa: ANN001
    # Plugins may add their own after_flush listeners: load them here, before any
    # after_flush dispatch is under way (adding a listener during it is an error).
    load_hook_plugins()
    touched: list = session.info.setdefault("niaouli_touched", [])
    deleted: set[int] = session.info.setdefault("niaouli_deleted", set())
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, Dataset):
            touched.append(obj)
        elif isinstance(obj, Layer | Resource):
            touched.append(obj.dataset if obj.dataset is not None else obj.dataset_id)
    for obj in session.deleted:
        if isinstance(obj, Dataset):
            deleted.add(obj.id)
        elif isinstance(obj, Layer | Resource):
            touched.append(obj.dataset_id)


@event.listens_for(Session, "after_flush")
def _bump(session: Session, _context) -> None:  # noqa: ANN001
    touched = session.info.pop("niaouli_touched", [])
    deleted: set[int] = session.info.pop("niaouli_deleted", set())
    changed = {o.id if isinstance(o, Dataset) else o for o in touched} - {None} - deleted
    if not changed and not deleted:
        return
    conn = session.connection()
    conn.execute(text("UPDATE catalogue_state SET version = version + 1 WHERE id = 1"))
    for hook in _hooks:
        hook(conn, changed, deleted)
