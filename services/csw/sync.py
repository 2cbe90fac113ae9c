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

from niaouli import metadata_parse
from niaouli.catalogue import changes
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import AccessLevel, Dataset, Organisation
from niaouli.services.csw.record_rows import record_row, row_of
from niaouli.services.csw.view import load_views


def _write(conn: Connection, ids: set[int] | None) -> int:
    rows: list[dict] = []
    if ids and metadata_parse.has_kept():
        rows, ids = _kept_rows(conn, ids)
    views = load_views(conn, ids) if ids is None or ids else []
    rows += [record_row(view) for view in views]
    rows.sort(key=lambda row: row["dataset_id"])  # as `load_views` orders them
    if rows:
        conn.execute(insert(csw_records), rows)  # multi-row on SQLite (db.engine)
    return len(rows)


def _kept_rows(conn: Connection, ids: set[int]) -> tuple[list[dict], set[int]]:
    """The rows of the datasets `ids` served with a producer's XML that a harvest parsed a
    moment ago (`metadata_parse.keep_parsed`), and the ids left to load as views.

    Such a row is the parse plus the dataset's access level and organisation: loading its
    view (organisation, layers, resources, stored quality score) would be read for
    nothing, as a producer's record is served as written."""
    d = Dataset.__table__
    found = conn.execute(
        select(d.c.id, d.c.original_metadata, d.c.access_level, d.c.organisation_id).where(
            d.c.id.in_(ids), d.c.original_metadata.is_not(None)
        )
    )
    rows, left = [], set(ids)
    for dataset_id, xml, access, organisation_id in found:
        record = metadata_parse.take_parsed(xml) if xml else None
        if record is None:
            continue
        access = AccessLevel(access).value
        rows.append(row_of(record, dataset_id, access, organisation_id))
        left.discard(dataset_id)
    return rows, left


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
