"""Merging a campaign's approved contributions into its authoritative layer.

One merge is one transaction on the layer table and the catalogue rows: creates get new
fids, updates replace the geometry and the named attributes of `target_fid`, retirements
delete it; the contributions become `merged` (with `merged_fid`, `merged_at`,
`merge_id`); the layer's `feature_count`, extent and `updated_at` move (so the catalogue
change tracking bumps its version: tiles, collection lists, CSW records, DCAT and search
follow, as after a re-ingest); the `Merge` row ends `done`. Everything commits together
or nothing does.

Statements are keyed by fid (`niaouli.db.layers`: insert/update/delete by primary key,
the spatial index kept by the database) and the extent only grows by the written
geometries' bounds, so the cost follows the number of contributions, not the layer's
size (bench/cartoparty.py). A retirement never shrinks the extent: it stays a bound,
made exact again by the next re-ingest.

**Provenance** lives in the layer table, in five nullable columns added on the first
merge (`PROVENANCE`): the contributor's chosen display name, the campaign, the
submission, the date and the licence. Why columns and not a side table: they travel with
the feature through every interface (OGC API, tiles' attributes, exports, a QGIS edit
and re-upload keep them as ordinary attributes), which is what attribution under ODbL
needs; adding a nullable column rewrites no row on either backend. The full history
stays in the campaign tables (contribution, submission, reviews, merge).

**Two merges at once.** Merges of one layer are serialised: on PostgreSQL by a
session-level advisory lock on the layer (`pg_advisory_lock`, held by the merging
connection across its two transactions, released by the server if the process dies);
on SQLite by a lock of this process and SQLite's one writer (`BEGIN IMMEDIATE`). The
second merge then finds nothing left approved and ends `done` with nothing merged. A
reviewer's decision on a contribution being merged waits for the merge (its row is
locked, `FOR UPDATE`), then is refused: a merged contribution is final.

**Killed mid-merge.** The `Merge` row is committed `running` first (so that pages show
it), the layer is written in a second transaction. A killed process leaves that row
`running` and the layer as it was (the database rolls the open transaction back).
The next merge of the layer resolves it: on PostgreSQL, holding the layer's lock, every
`running` row of that layer is dead; on SQLite, a row whose process (`report.pid` on
this host) is gone, or is this process but no longer merging, is dead. It is marked
`failed` with "fusion interrompue", and the merge proceeds.

Runs as the job `campaign-merge` (`niaouli.jobs`: the PostgreSQL queue with the lock of
the layer, or a thread inline on SQLite); `run_merge` is the same work called directly.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from sqlalchemy import Connection, Engine, bindparam, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    ContributionAction,
    ContributionState,
    Merge,
    MergeState,
    ReviewEntry,
    Submission,
)
from niaouli.catalogue.campaigns.merge_job import MERGE_JOB
from niaouli.catalogue.models import Dataset, Layer, utcnow
from niaouli.db import layers as layer_sql
from niaouli.db.engine import get_engine, writing
from niaouli.db.layers import ColumnSpec, FeatureRow
from niaouli.errors import CatalogueError, ConflictError
from niaouli.i18n import _

LOGGER = logging.getLogger(__name__)
BATCH = 1000
PROVENANCE = (
    ColumnSpec("contribution_auteur", "contribution_auteur", "string"),
    ColumnSpec("contribution_campagne", "contribution_campagne", "string"),
    ColumnSpec("contribution_envoi", "contribution_envoi", "integer"),
    ColumnSpec("contribution_date", "contribution_date", "datetime"),
    ColumnSpec("contribution_licence", "contribution_licence", "string"),
)
LICENCES = {"lov2": "Licence Ouverte 2.0", "odbl": "ODbL 1.0"}
SCHEMA_TYPES = {
    "string": "string",
    "enum": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}
INTERRUPTED = "fusion interrompue (processus arrêté) : la couche est restée telle qu'avant"

Progress = Callable[[int, int], None]  # (contributions done, total)
_local_lock = threading.Lock()
_layer_locks: dict[str, threading.Lock] = {}
_live: set[int] = set()  # merges under way in this process (SQLite's stale rule)


class MergeError(CatalogueError):
    """The merge was refused or failed: nothing was written (the message says why)."""


@dataclass
class MergeOutcome:
    merge_id: int
    state: MergeState
    created: int = 0
    updated: int = 0
    retired: int = 0
    conflicts: list[int] = field(default_factory=list)  # contributions sent back to review
    error: str | None = None
    # Personal data found by the guard after the merge: the dataset is now a draft.
    held: list[dict[str, Any]] = field(default_factory=list)

    @property
    def merged(self) -> int:
        return self.created + self.updated + self.retired


def layer_key(campaign: Campaign) -> str:
    """What merges of one layer share (two campaigns on one layer share it too)."""
    return f"campaign-merge:{campaign.dataset_id}:{campaign.layer_name}"


def _pg_key(key: str) -> int:
    return zlib.crc32(key.encode()) - 2**31  # a stable signed 32-bit key


def target_layer(session: Session, campaign: Campaign) -> Layer | None:
    return session.scalar(
        select(Layer).where(
            Layer.dataset_id == campaign.dataset_id, Layer.name == campaign.layer_name
        )
    )


# --- entry points -----------------------------------------------------------------------


def start(settings: Any, campaign: Campaign, viewer: Viewer) -> Any:  # noqa: ANN401
    """Run the merge of `campaign` in the background (`niaouli.jobs`); the caller has
    checked `campaign.merge`. Returns `jobs.Submitted`."""
    from niaouli import jobs

    return jobs.submit(
        settings,
        MERGE_JOB,
        lock=layer_key(campaign),
        queueing_lock=f"campaign-merge:{campaign.id}",
        campaign_id=campaign.id,
        started_by_id=viewer.user_id,
    )


def record_start(session: Session, campaign: Campaign, viewer: Viewer, actor: Any = None) -> None:  # noqa: ANN401
    """The audit row of a merge asked for (the merge's own row and report follow)."""
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        "campaign.merge_start",
        subject=campaign.slug,
        organisation_id=campaign.organisation_id,
    )


def run_merge(
    engine: Engine,
    campaign_id: int,
    *,
    started_by_id: int | None = None,
    queue_job_id: int | None = None,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> MergeOutcome:
    """Merge every approved contribution of campaign `campaign_id`, all or nothing."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise MergeError(_("campagne introuvable"))
        key = layer_key(campaign)
    if engine.dialect.name == "postgresql":
        return _run_postgres(engine, campaign_id, key, started_by_id, queue_job_id, batch, progress)
    return _run_sqlite(engine, campaign_id, key, started_by_id, queue_job_id, batch, progress)


def _run_postgres(
    engine: Engine,
    campaign_id: int,
    key: str,
    started_by_id: int | None,
    queue_job_id: int | None,
    batch: int,
    progress: Progress | None,
) -> MergeOutcome:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _pg_key(key)})
        conn.commit()
        try:
            with Session(bind=conn) as session:
                _resolve_stale(session, campaign_id, key, postgres=True)
                merge_id = _open(session, campaign_id, started_by_id, queue_job_id)
            return _merge_or_fail(conn, campaign_id, merge_id, batch, progress)
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _pg_key(key)})
            conn.commit()


def _run_sqlite(
    engine: Engine,
    campaign_id: int,
    key: str,
    started_by_id: int | None,
    queue_job_id: int | None,
    batch: int,
    progress: Progress | None,
) -> MergeOutcome:
    with _local_lock:
        lock = _layer_locks.setdefault(key, threading.Lock())
    with lock, writing(engine).connect() as conn:
        with Session(bind=conn) as session:
            _resolve_stale(session, campaign_id, key, postgres=False)
            merge_id = _open(session, campaign_id, started_by_id, queue_job_id)
        _live.add(merge_id)
        try:
            return _merge_or_fail(conn, campaign_id, merge_id, batch, progress)
        finally:
            _live.discard(merge_id)


def _open(
    session: Session, campaign_id: int, started_by_id: int | None, queue_job_id: int | None
) -> int:
    """The `running` Merge row, committed (pages show it while the layer is written)."""
    merge = Merge(
        campaign_id=campaign_id,
        state=MergeState.RUNNING,
        started_by_id=started_by_id,
        queue_job_id=queue_job_id,
        report={"pid": os.getpid(), "host": socket.gethostname()},
    )
    session.add(merge)
    session.commit()
    return merge.id


def _merge_or_fail(
    conn: Connection, campaign_id: int, merge_id: int, batch: int, progress: Progress | None
) -> MergeOutcome:
    try:
        with Session(bind=conn) as session:
            with session.no_autoflush:  # one flush at the end: the catalogue hooks run once
                outcome = _merge(session, campaign_id, merge_id, batch, progress)
            session.commit()
    except Exception as exc:  # noqa: BLE001 - any failure: nothing written, row failed
        conn.rollback()
        message = str(exc) if isinstance(exc, CatalogueError) else _database_message(exc)
        LOGGER.warning("merge %s of campaign %s failed: %s", merge_id, campaign_id, message)
        with Session(bind=conn) as session:
            merge = session.get(Merge, merge_id)
            merge.state = MergeState.FAILED
            merge.finished_at = utcnow()
            merge.report = {**(merge.report or {}), "error": message}
            session.commit()
        if not isinstance(exc, CatalogueError | DBAPIError):
            LOGGER.exception("merge %s", merge_id)  # a bug or the database: the details
        return MergeOutcome(merge_id, MergeState.FAILED, error=message)
    return outcome


def _database_message(exc: Exception) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return _("la couche a refusé la fusion : %(detail)s") % {
        "detail": (detail[0] if detail else type(exc).__name__)[:300]
    }


def _resolve_stale(session: Session, campaign_id: int, key: str, *, postgres: bool) -> int:
    """Mark failed the merges of this layer left `running` by a dead process."""
    campaign = session.get(Campaign, campaign_id)
    same_layer = select(Campaign.id).where(
        Campaign.dataset_id == campaign.dataset_id, Campaign.layer_name == campaign.layer_name
    )
    rows = session.scalars(
        select(Merge).where(Merge.state == MergeState.RUNNING, Merge.campaign_id.in_(same_layer))
    ).all()
    host = socket.gethostname()
    resolved = 0
    for row in rows:
        report = row.report or {}
        if not postgres and not _dead(report, host):
            continue
        row.state = MergeState.FAILED
        row.finished_at = utcnow()
        row.report = {**report, "error": INTERRUPTED}
        resolved += 1
    session.commit()
    return resolved


def _dead(report: dict[str, Any], host: str) -> bool:
    """SQLite: whether the process that wrote a `running` row is gone."""
    pid = report.get("pid")
    if report.get("host") != host or not isinstance(pid, int):
        return False  # another machine cannot share an embedded database file
    if pid == os.getpid():
        return True  # this process: its live merges are skipped by the caller's lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def resolve_interrupted(engine: Engine, campaign_id: int) -> int:
    """The job's `interrupted` hook: resolve what a killed worker left `running`."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return 0
        key = layer_key(campaign)
    if engine.dialect.name != "postgresql":
        with Session(writing(engine)) as session:
            return _resolve_stale(session, campaign_id, key, postgres=False)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _pg_key(key)})
        conn.commit()
        try:
            with Session(bind=conn) as session:
                return _resolve_stale(session, campaign_id, key, postgres=True)
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _pg_key(key)})
            conn.commit()


# --- the merge itself (one transaction) ---------------------------------------------------


@dataclass
class _Target:
    layer: Layer
    columns: list[ColumnSpec]  # every column of the layer
    by_name: dict[str, ColumnSpec]  # the campaign's fields -> their columns
    multi: bool
    geometry_kind: str | None


def _merge(
    session: Session, campaign_id: int, merge_id: int, batch: int, progress: Progress | None
) -> MergeOutcome:
    conn = session.connection()
    campaign = session.get(Campaign, campaign_id)
    dataset = session.scalar(
        select(Dataset).where(Dataset.id == campaign.dataset_id).with_for_update()
    )
    merge = session.get(Merge, merge_id)
    outcome = MergeOutcome(merge_id, MergeState.DONE)
    rows = session.execute(
        select(
            Contribution.id,
            Contribution.uid,
            Contribution.action,
            Contribution.target_fid,
            Contribution.properties,
            Contribution.version,
            Contribution.submission_id,
            Contribution.contributor_id,
            func.ST_AsBinary(Contribution.geom),
        )
        .where(
            Contribution.campaign_id == campaign_id,
            Contribution.state == ContributionState.APPROVED,
        )
        .order_by(Contribution.id)
        .with_for_update()
    ).all()
    if not rows:
        _finish(session, merge, outcome, dataset, None)
        return outcome
    target = _target(session, conn, campaign, dataset)
    table = target.layer.table_name
    has_geometry = target.layer.geometry_type is not None
    names = _display_names(session, {r.submission_id for r in rows if r.submission_id})
    approved_versions = _approved_versions(session, [r.id for r in rows if r.target_fid])
    next_fid = layer_sql.layer_store(conn).max_fid(conn, table) + 1
    now = utcnow()
    licence = LICENCES.get(campaign.licence, campaign.licence)
    extent: tuple[float, float, float, float] | None = None
    retired: set[int] = set()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        creates: list[FeatureRow] = []
        updates: list[FeatureRow] = []
        retires: list[int] = []
        done: dict[int, int] = {}  # contribution id -> the feature's fid
        for row in chunk:
            provenance = {
                "contribution_auteur": names.get(row.submission_id, ""),
                "contribution_campagne": campaign.slug,
                "contribution_envoi": row.submission_id,
                "contribution_date": now,
                "contribution_licence": licence,
            }
            action = ContributionAction(row.action)
            if action != ContributionAction.CREATE:
                now_version = (
                    None
                    if row.target_fid in retired
                    else current_version(session, campaign, row.target_fid)
                )
                approved = approved_versions.get(row.id)
                if now_version is None or (approved is not None and approved != now_version):
                    _send_back(session, row, merge_id, missing=now_version is None)
                    outcome.conflicts.append(row.id)
                    continue
            if action == ContributionAction.RETIRE:
                retires.append(row.target_fid)
                retired.add(row.target_fid)
                fid = row.target_fid
                outcome.retired += 1
            else:
                wkb = _geometry(row, target) if has_geometry else None
                values = {**_values(row, target), **provenance}
                if action == ContributionAction.CREATE:
                    fid = next_fid
                    next_fid += 1
                    if has_geometry and wkb is None:
                        raise MergeError(
                            _("contribution %(uid)s : géométrie manquante") % {"uid": row.uid}
                        )
                    creates.append(FeatureRow(fid, wkb, values))
                    outcome.created += 1
                else:
                    fid = row.target_fid
                    updates.append(FeatureRow(fid, wkb, values))
                    outcome.updated += 1
                if wkb is not None:
                    extent = _grow(extent, shapely.from_wkb(wkb).bounds)
            done[row.id] = fid
        layer_sql.insert_features(conn, table, target.columns, has_geometry, creates)
        layer_sql.update_features(conn, table, target.columns, has_geometry, updates)
        layer_sql.delete_features(conn, table, retires)
        _mark_merged(session, done, merge_id, now)
        if progress is not None:
            progress(start + len(chunk), len(rows))
    layer = target.layer
    layer.feature_count = (layer.feature_count or 0) + outcome.created - outcome.retired
    outcome.held = _guard(session, dataset, layer) if outcome.created + outcome.updated else []
    _finish(session, merge, outcome, dataset, extent, layer)
    return outcome


def _guard(session: Session, dataset: Dataset, layer: Layer) -> list[dict[str, Any]]:
    """The personal-data guard on the merged layer, in the merge's transaction
    (docs/privacy.md): like an upload into a visible dataset, a merge bringing personal
    data (a free-text comment naming people, phone numbers...) keeps the dataset as a
    draft with the findings, for an editor to handle. The credit column
    (`contribution_auteur`) holds the names volunteers chose to be credited with under
    the campaign's licence: its findings are confirmed with that reason instead."""
    from niaouli.privacy import guard

    session.flush()  # the layer's new columns are in its attribute schema
    credit = frozenset({(layer.collection_id, PROVENANCE[0].column)})
    return guard.as_dicts(guard.hold(session, dataset, consented=credit))


_MERGED_PG = text(
    "UPDATE campaign_contributions SET state = 'merged', merged_fid = v.fid, "
    "merged_at = :now, updated_at = :now, merge_id = :merge, version = version + 1 "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:fids AS bigint[])) AS v(cid, fid) "
    "WHERE id = v.cid"
)
_MERGED_ONE = text(
    "UPDATE campaign_contributions SET state = 'merged', merged_fid = :fid, "
    "merged_at = :now, updated_at = :now, merge_id = :merge, version = version + 1 "
    "WHERE id = :id"
)


def _mark_merged(session: Session, done: dict[int, int], merge_id: int, now: datetime) -> None:
    """The batch's contributions merged, each with its feature's fid: one statement on
    PostgreSQL (two arrays joined by `unnest`), one prepared statement run per row on
    SQLite (in-process: as fast)."""
    if not done:
        return
    stamp = bindparam("now", type_=Contribution.__table__.c.merged_at.type)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _MERGED_PG.bindparams(stamp),
            {"now": now, "merge": merge_id, "ids": list(done), "fids": list(done.values())},
        )
        return
    session.execute(
        _MERGED_ONE.bindparams(stamp),
        [{"id": cid, "fid": fid, "now": now, "merge": merge_id} for cid, fid in done.items()],
    )


def _finish(
    session: Session,
    merge: Merge,
    outcome: MergeOutcome,
    dataset: Dataset,
    extent: tuple[float, float, float, float] | None,
    layer: Layer | None = None,
) -> None:
    """The catalogue rows after the writes: layer, dataset, merge, audit (same flush)."""
    now = utcnow()
    if layer is not None and outcome.merged:
        grown = _grow(layer.extent, extent) if extent else layer.extent
        if grown is not None:
            layer.extent_west, layer.extent_south, layer.extent_east, layer.extent_north = grown
        # The revision names the layer's exports (niaouli.exports) and its change bumps
        # the catalogue version: tiles, collections, CSW records and DCAT follow.
        layer.ingest_report = {**(layer.ingest_report or {}), "merge_revision": merge.id}
        layer.updated_at = now
        coverage = _coverage(session, dataset)
        if extent is not None:
            coverage = _grow(coverage, extent)
        if coverage is not None:
            dataset.spatial_coverage = WKTElement(shapely.box(*coverage).wkt, srid=4326)
        dataset.updated_at = now
    merge.state = outcome.state
    merge.finished_at = now
    merge.report = {
        **{k: v for k, v in (merge.report or {}).items() if k not in ("pid", "host")},
        "created": outcome.created,
        "updated": outcome.updated,
        "retired": outcome.retired,
        "conflicts": outcome.conflicts,
        **({"privacy": outcome.held} if outcome.held else {}),
    }
    if outcome.merged:
        actor = (
            audit.Actor(merge.started_by_id, "app") if merge.started_by_id else audit.COMMAND_LINE
        )
        audit.record(
            session,
            actor,
            "campaign.merge",
            subject=dataset.slug,
            organisation_id=dataset.organisation_id,
            merge=merge.id,
            created=outcome.created,
            updated=outcome.updated,
            retired=outcome.retired,
        )
    session.flush()


def _coverage(session: Session, dataset: Dataset) -> tuple[float, float, float, float] | None:
    if dataset.spatial_coverage is None:
        return None
    wkb = session.scalar(
        select(func.ST_AsBinary(Dataset.spatial_coverage)).where(Dataset.id == dataset.id)
    )
    return shapely.from_wkb(bytes(wkb)).bounds if wkb is not None else None


def _grow(
    extent: tuple[float, float, float, float] | None, bounds: Sequence[float] | None
) -> tuple[float, float, float, float] | None:
    if bounds is None or any(b != b for b in bounds):  # NaN: an empty geometry
        return extent
    if extent is None:
        return tuple(bounds)  # type: ignore[return-value]
    return (
        min(extent[0], bounds[0]),
        min(extent[1], bounds[1]),
        max(extent[2], bounds[2]),
        max(extent[3], bounds[3]),
    )


def _display_names(session: Session, submission_ids: set[int]) -> dict[int, str]:
    if not submission_ids:
        return {}
    return dict(
        session.execute(
            select(Submission.id, Submission.display_name).where(Submission.id.in_(submission_ids))
        ).all()
    )


def _approved_versions(session: Session, contribution_ids: list[int]) -> dict[int, str]:
    """The feature version each correction was approved against (`review.approve`)."""
    found: dict[int, str] = {}
    for start in range(0, len(contribution_ids), 1000):
        chunk = contribution_ids[start : start + 1000]
        for cid, before in session.execute(
            select(ReviewEntry.contribution_id, ReviewEntry.before)
            .where(ReviewEntry.contribution_id.in_(chunk), ReviewEntry.action == "approve")
            .order_by(ReviewEntry.id)
        ):
            if isinstance(before, dict) and before.get("feature_version"):
                found[cid] = before["feature_version"]
    return found


def current_version(session: Session, campaign: Campaign, fid: int) -> str | None:
    """The version of the layer's feature `fid` as it is now (None: no such feature),
    computed exactly as the volunteer's `base_version` was (cartoa's one hash)."""
    from niaouli.catalogue.campaigns.contributions import geojson_version
    from niaouli.catalogue.campaigns.validation import target_feature

    feature = target_feature(session, campaign, fid)
    return geojson_version(feature) if feature is not None else None


def _send_back(session: Session, row: Any, merge_id: int, *, missing: bool) -> None:  # noqa: ANN401
    """A correction whose feature changed (or vanished) since it was approved goes back to
    review, in the merge's transaction; the reviewer decides again."""
    comment = (
        _("l'objet visé n'existe plus dans la couche")
        if missing
        else _("l'objet visé a changé depuis l'approbation")
    )
    session.execute(
        update(Contribution)
        .where(Contribution.id == row.id)
        .values(state=ContributionState.RECEIVED, version=Contribution.version + 1)
    )
    session.add(
        ReviewEntry(
            contribution_id=row.id,
            reviewer_id=None,
            action="conflict",
            comment=comment,
            before={"merge_id": merge_id},
        )
    )


def _target(session: Session, conn: Connection, campaign: Campaign, dataset: Dataset) -> _Target:
    """The layer to write, created on a creating campaign's first merge, with the
    columns of the campaign's fields and of the provenance added where missing."""
    layer = target_layer(session, campaign)
    fields = [f for f in campaign.attribute_schema or [] if f.get("name")]
    if layer is None:
        if not campaign.creates_layer:
            raise MergeError(
                _("la couche « %(name)s » n'existe plus dans le jeu de données")
                % {"name": campaign.layer_name}
            )
        layer = _create_layer(session, conn, campaign, dataset, fields)
    columns = [ColumnSpec(c["name"], c["column"], c["type"]) for c in layer.attribute_schema or ()]
    known = {c.name for c in columns}
    taken = {c.column.lower() for c in columns} | {"fid", "geom"}
    missing: list[ColumnSpec] = []
    for spec in [*_field_specs(fields, taken), *PROVENANCE]:
        if spec.name not in known and spec.column.lower() not in taken | {
            m.column.lower() for m in missing
        }:
            missing.append(spec)
    if missing:
        layer_sql.add_columns(conn, layer.table_name, missing)
        columns += missing
        layer.attribute_schema = [c.as_dict() for c in columns]
    by_name = {c.name: c for c in columns}
    kind = (layer.geometry_type or "").lower()
    return _Target(layer, columns, by_name, kind.startswith("multi"), layer.geometry_type)


def _field_specs(fields: list[dict[str, Any]], taken: set[str]) -> list[ColumnSpec]:
    specs = []
    used = set(taken)
    for f in fields:
        base = re.sub(r"[\x00-\x1f\x7f\"]", "", str(f["name"])).strip()[:60] or "champ"
        column, counter = base, 1
        while column.lower() in used:
            counter += 1
            column = f"{base}_{counter}"
        used.add(column.lower())
        specs.append(ColumnSpec(f["name"], column, SCHEMA_TYPES.get(f.get("type"), "string")))
    return specs


def _create_layer(
    session: Session,
    conn: Connection,
    campaign: Campaign,
    dataset: Dataset,
    fields: list[dict[str, Any]],
) -> Layer:
    store = layer_sql.layer_store(conn)
    table = layer_sql.new_table_name()
    columns = [*_field_specs(fields, {"fid", "geom"}), *PROVENANCE]
    store.create(conn, table, columns, campaign.geometry_type)
    store.finish(conn, table, campaign.geometry_type is not None)
    collection = dataset.slug if not dataset.layers else f"{dataset.slug}-{campaign.layer_name}"
    base, counter = collection, 1
    while session.scalar(select(Layer.id).where(Layer.collection_id == collection)):
        counter += 1
        collection = f"{base}-{counter}"
    layer = Layer(
        name=campaign.layer_name,
        collection_id=collection,
        table_name=table,
        source_layer=None,
        geometry_type=campaign.geometry_type,
        native_crs="EPSG:4326",
        feature_count=0,
        attribute_schema=[c.as_dict() for c in columns],
        ingest_report={"campaign": campaign.slug},
    )
    dataset.layers.append(layer)
    dataset.is_spatial = dataset.is_spatial or campaign.geometry_type is not None
    session.flush()
    return layer


def _values(row: Any, target: _Target) -> dict[str, Any]:  # noqa: ANN401
    """The contribution's properties as the layer's columns take them."""
    values: dict[str, Any] = {}
    for name, value in (row.properties or {}).items():
        spec = target.by_name.get(name)
        if spec is None or spec in PROVENANCE:
            continue  # not a field of the layer: validation has reported it
        try:
            values[spec.column] = _coerce(value, spec.type)
        except (TypeError, ValueError):
            raise MergeError(
                _("contribution %(uid)s : valeur refusée pour « %(field)s » : %(value)s")
                % {"uid": row.uid, "field": name, "value": str(value)[:80]}
            ) from None
    return values


def _coerce(value: Any, kind: str) -> Any:  # noqa: ANN401
    if value is None or value == "" and kind != "string":
        return None
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        if isinstance(value, str):
            if value.lower() in ("true", "1", "oui", "yes"):
                return True
            if value.lower() in ("false", "0", "non", "no"):
                return False
            raise ValueError(value)
        return bool(value)
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if kind == "datetime":
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if kind == "time":
        return value if isinstance(value, time) else time.fromisoformat(str(value))
    if kind == "json":
        return value
    if kind == "binary":
        return bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _geometry(row: Any, target: _Target) -> bytes | None:  # noqa: ANN401
    """The contribution's geometry as WKB the layer takes (a single geometry in a multi
    layer becomes a one-part multi); a wrong kind is refused with the contribution's id."""
    raw = row[-1]
    if raw is None:
        return None
    geometry = shapely.from_wkb(bytes(raw))
    expected = (target.geometry_kind or "").lower()
    if target.multi and not geometry.geom_type.lower().startswith("multi"):
        multi = {"Point": shapely.MultiPoint, "LineString": shapely.MultiLineString}
        maker = multi.get(geometry.geom_type, shapely.MultiPolygon)
        geometry = maker([geometry])
    if expected not in ("", "geometry") and geometry.geom_type.lower() != expected:
        raise MergeError(
            _("contribution %(uid)s : géométrie %(got)s, la couche attend %(expected)s")
            % {"uid": row.uid, "got": geometry.geom_type, "expected": target.geometry_kind}
        )
    return shapely.to_wkb(geometry)


# --- the job ------------------------------------------------------------------------------


def merge_job(info: Any, campaign_id: int, started_by_id: int | None = None) -> str:  # noqa: ANN401
    """The `campaign-merge` job: one merge; its summary line."""
    from niaouli.settings import get_settings

    settings = info.settings or get_settings()
    engine = get_engine(settings)
    outcome = run_merge(engine, campaign_id, started_by_id=started_by_id, queue_job_id=info.id)
    if outcome.merged:
        after_merge(engine, settings, campaign_id)
    return f"{outcome.state.value}: {outcome.merged}"


def after_merge(engine: Engine, settings: Any, campaign_id: int) -> None:  # noqa: ANN401
    """Once committed: the layer's cached exports (named by the merge, so never served
    stale) are removed; a failure here only leaves files for the next prune."""
    from niaouli import exports

    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        layer = target_layer(session, campaign) if campaign is not None else None
        table = layer.table_name if layer is not None else None
    if table is None:
        return
    try:
        exports.drop_exports(settings, table)
    except Exception:  # noqa: BLE001 - storage trouble must not fail a committed merge
        LOGGER.exception("exports of %s after a merge", table)


def resolve_interrupted_merge(
    info: Any, campaign_id: int = 0, started_by_id: int | None = None
) -> None:  # noqa: ANN401
    from niaouli.settings import get_settings

    del started_by_id
    found = resolve_interrupted(get_engine(info.settings or get_settings()), campaign_id)
    LOGGER.warning("merge job %s interrupted: %d merge(s) marked failed", info.id, found)


def check_mergeable(session: Session, campaign: Campaign) -> None:
    """Refuse at once what the job would refuse: nothing approved, no layer."""
    pending = session.scalar(
        select(func.count())
        .select_from(Contribution)
        .where(
            Contribution.campaign_id == campaign.id,
            Contribution.state == ContributionState.APPROVED,
        )
    )
    if not pending:
        raise ConflictError(_("aucune contribution approuvée à fusionner"))
    if target_layer(session, campaign) is None and not campaign.creates_layer:
        raise MergeError(
            _("la couche « %(name)s » n'existe plus dans le jeu de données")
            % {"name": campaign.layer_name}
        )
