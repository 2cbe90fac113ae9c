"""Keep `csw_records` in step with the catalogue, inside the writing transaction.

Registered with `niaouli.catalogue.changes.on_datasets_changed` (loaded through the
`niaouli.catalogue_hooks` entry point, so every process that writes the catalogue — CLI,
server workers, jobs — runs it): the rows of the changed datasets are rewritten on the
same connection, so records are all or nothing with the change and visible to pycsw as
soon as it commits. A dataset that stops being public, or is deleted, loses its row.
"""

from __future__ import annotations

from niaouli.services.csw.records import record_row
from niaouli.services.csw.table import csw_records
from niaouli.services.csw.view import load_views
from sqlalchemy import Connection, delete, insert

from niaouli.catalogue.changes import on_datasets_changed


def _write(conn: Connection, ids: set[int] | None) -> int:
    views = load_views(conn, ids)
    rows = [row for view in views if (row := record_row(view)) is not None]
    if rows:
        conn.execute(insert(csw_records), rows)
    return len(rows)


@on_datasets_changed
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
