"""Keep `csw_records` in step with the catalogue, inside the writing transaction.

Registered with `niaouli.catalogue.changes.on_datasets_changed` by `install`, which the
composition root calls at start-up (`niaouli.startup.install`: the CLI, the web app and
the tests, so every process that writes the catalogue — CLI, server workers, jobs — runs
it): the rows of the changed datasets are rewritten on the
same connection, so records are all or nothing with the change and visible to pycsw as
soon as it commits. Every dataset has a row carrying its access level and organisation
(pycsw filters on them per request); a deleted dataset loses its row.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.orm import Session

from niaouli.catalogue import changes
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.services.csw.record_rows import record_row
from niaouli.services.csw.view import load_views


def _write(conn: Connection, ids: set[int] | None) -> int:
    views = load_views(conn, ids)
    rows = [record_row(view) for view in views]
    if rows:
        conn.execute(insert(csw_records), rows)
    return len(rows)


def install() -> None:
    """Keep `csw_records` current in every catalogue write (the composition root calls it
    at start-up: `niaouli.startup.install`)."""
    changes.on_datasets_changed(sync_records)
    changes.after_catalogue_flush(_follow_organisations)


def sync_records(conn: Connection, changed: set[int], deleted: set[int]) -> None:
    """Rewrite the rows of `changed` datasets and drop those of `deleted` ones."""
    ids = set(changed) | set(deleted)
    if not ids:
        return
    conn.execute(delete(csw_records).where(csw_records.c.dataset_id.in_(ids)))
    _write(conn, set(changed))


def rebuild(conn: Connection) -> int:
    """Rewrite every row (after the table is created, or by `niaouli records sync`)."""
    conn.execute(delete(csw_records))
    return _write(conn, None)


def _follow_organisations(session: Session) -> None:
    """An organisation's name, e-mail and website are in its records: follow changes."""
    changed = [
        o.id
        for o in session.dirty
        if isinstance(o, Organisation) and session.is_modified(o) and o.id is not None
    ]
    if not changed:
        return
    conn = session.connection()
    datasets = Dataset.__table__
    ids = set(
        conn.execute(select(datasets.c.id).where(datasets.c.organisation_id.in_(changed))).scalars()
    )
    if ids:
        sync_records(conn, ids, set())
