"""Keeping `dataset_quality` in step: facts read on the writing connection, rules applied.

Registered with `changes.on_datasets_changed` before the CSW records sync (whose ISO
records carry the score), so a change to a dataset, its layers or its resources rewrites
its score inside the same transaction. What changes a score without touching those rows
— a link check's result, the days passing for "on time" — goes through `recheck`, which
recomputes, and for the datasets whose score moved runs every hook (`changes.touch`).
The rules themselves are in `niaouli.catalogue.quality`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, inspect, select
from sqlalchemy.orm import Session

from niaouli.catalogue import changes, quality
from niaouli.catalogue.access import ANONYMOUS, visible_datasets
from niaouli.catalogue.columns import TECHNICAL
from niaouli.catalogue.models import Dataset, Layer, RasterLayer, Resource
from niaouli.catalogue.quality_tables import DatasetQuality, LinkCheck
from niaouli.tableschema.schema_tables import ValidationRecord

QUALITY = DatasetQuality.__table__
CHECKS = LinkCheck.__table__


def _as_datetime(value: Any) -> datetime | None:  # noqa: ANN401 - a stored instant
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _latest(*values: Any) -> datetime | None:  # noqa: ANN401
    found = [v for v in (_as_datetime(x) for x in values) if v is not None]
    found = [v if v.tzinfo else v.replace(tzinfo=UTC) for v in found]
    return max(found) if found else None


def _crs_guessed(report: dict[str, Any]) -> bool:
    return any(quality.CRS_GUESSED_NOTE in str(note) for note in report.get("notes") or ())


def _aware(value: Any) -> datetime | None:  # noqa: ANN401 - a stored instant
    found = _as_datetime(value)
    return found.replace(tzinfo=UTC) if found is not None and found.tzinfo is None else found


def _schema_report(row: Any, kept: dict[tuple[int, str], list[Any]]) -> dict[str, Any] | None:  # noqa: ANN401
    """The Table Schema report of the layer's current data, as `tableschema.reports.
    latest_report` reads it: the newest kept for its collection no earlier than the
    layer row (each ingestion writes new layer rows); None when not validated."""
    since = _aware(row["created_at"])
    for record in kept.get((row["dataset_id"], row["collection_id"]), ()):
        if since is None or (_aware(record.created_at) or since) >= since:
            return {
                "schema": record.schema_title,
                "valid": bool(record.valid),
                "errors": int(record.error_count or 0),
            }
    return None


_REPORTS_SEEN: set[str] = set()  # databases known to have the reports' table


def _has_reports(conn: Connection) -> bool:
    """Whether the Table Schema reports' table exists: a schema upgrade scores datasets
    (0029_quality) before the migration that creates it (0030_table_schemas) has run."""
    key = conn.engine.url.render_as_string()
    if key not in _REPORTS_SEEN:
        if not inspect(conn).has_table(ValidationRecord.__tablename__):
            return False
        _REPORTS_SEEN.add(key)
    return True


def _layer_facts(row: Any, schema: dict[str, Any] | None) -> quality.LayerFacts:  # noqa: ANN401
    report = dict(row["ingest_report"] or {})
    described = dict(row["column_descriptions"] or {})
    columns = tuple(
        (
            str(a.get("name")),
            str(a.get("type") or ""),
            str((described.get(a.get("name")) or {}).get("description") or ""),
        )
        for a in row["attribute_schema"] or ()
        if a.get("name") not in TECHNICAL and not (described.get(a.get("name")) or {}).get("hidden")
    )
    extent = None
    if row["extent_west"] is not None:
        extent = (row["extent_west"], row["extent_south"], row["extent_east"], row["extent_north"])
    return quality.LayerFacts(
        name=row["name"],
        has_geometry=bool(row["geometry_type"]),
        native_crs=row["native_crs"],
        crs_guessed=_crs_guessed(report),
        extent=extent,
        feature_count=int(row["feature_count"] or 0),
        repaired=int(report.get("repaired") or 0),
        columns=columns,
        schema_report=schema if isinstance(schema, dict) else None,
    )


def facts(conn: Connection, ids: Iterable[int] | None) -> list[quality.DatasetFacts]:
    """What the rules read, for the datasets `ids` (all when None), with Core queries."""
    d = Dataset.__table__
    query = select(
        d.c.id,
        d.c.licence,
        d.c.description,
        d.c.temporal_start,
        d.c.temporal_end,
        d.c.spatial_coverage.is_not(None).label("has_coverage"),
        d.c.update_frequency,
        d.c.updated_at,
        d.c.published_at,
    )
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        query = query.where(d.c.id.in_(wanted))
    datasets = {row.id: row for row in conn.execute(query)}
    if not datasets:
        return []
    lay, ras, res = Layer.__table__, RasterLayer.__table__, Resource.__table__
    layers: dict[int, list[quality.LayerFacts]] = {}
    updated: dict[int, list[Any]] = {}
    layer_columns = [
        "dataset_id",
        "name",
        "geometry_type",
        "native_crs",
        "feature_count",
        "extent_west",
        "extent_south",
        "extent_east",
        "extent_north",
        "attribute_schema",
        "ingest_report",
        "column_descriptions",
        "updated_at",
        "collection_id",
        "created_at",
    ]
    vr = ValidationRecord.__table__
    kept: dict[tuple[int, str], list[Any]] = {}
    for record in (
        []
        if not _has_reports(conn)
        else conn.execute(
            select(vr.c.dataset_id, vr.c.layer, vr.c.valid, vr.c.error_count, vr.c.schema_title)
            .add_columns(vr.c.created_at)
            .where(vr.c.dataset_id.in_(datasets))
            .order_by(vr.c.id.desc())
        )
    ):
        kept.setdefault((record.dataset_id, record.layer), []).append(record)
    for row in conn.execute(
        select(*(lay.c[n] for n in layer_columns))
        .where(lay.c.dataset_id.in_(datasets))
        .order_by(lay.c.id)
    ).mappings():
        layers.setdefault(row["dataset_id"], []).append(
            _layer_facts(row, _schema_report(row, kept))
        )
        updated.setdefault(row["dataset_id"], []).append(row["updated_at"])
    rasters: dict[int, list[Any]] = {}
    for row in conn.execute(
        select(
            ras.c.dataset_id,
            ras.c.extent_west,
            ras.c.extent_south,
            ras.c.extent_east,
            ras.c.extent_north,
            ras.c.updated_at,
        ).where(ras.c.dataset_id.in_(datasets))
    ):
        box = None if row[1] is None else (row[1], row[2], row[3], row[4])
        rasters.setdefault(row[0], []).append(box)
        updated.setdefault(row[0], []).append(row[5])
    checks = {
        row.resource_id: (row.url, row.reachable)
        for row in conn.execute(
            select(CHECKS.c.resource_id, CHECKS.c.url, CHECKS.c.reachable).where(
                CHECKS.c.dataset_id.in_(datasets)
            )
        )
    }
    resources: dict[int, list[quality.ResourceFacts]] = {}
    for row in conn.execute(
        select(
            res.c.id,
            res.c.dataset_id,
            res.c.kind,
            res.c.title,
            res.c.filename,
            res.c.url,
            res.c.format,
            res.c.media_type,
            res.c.updated_at,
        )
        .where(res.c.dataset_id.in_(datasets))
        .order_by(res.c.id)
    ):
        # A check of another address (the link was changed since) says nothing.
        url, reachable = checks.get(row.id, (None, None))
        if url != row.url:
            reachable = None
        resources.setdefault(row.dataset_id, []).append(
            quality.ResourceFacts(
                id=row.id,
                kind=str(getattr(row.kind, "value", row.kind)),
                title=row.title or "",
                filename=row.filename,
                url=row.url,
                format=row.format,
                media_type=row.media_type,
                reachable=reachable,
            )
        )
        updated.setdefault(row.dataset_id, []).append(row.updated_at)
    return [
        quality.DatasetFacts(
            id=oid,
            licence=row.licence,
            description=row.description or "",
            temporal_start=row.temporal_start,
            temporal_end=row.temporal_end,
            has_spatial_coverage=bool(row.has_coverage),
            update_frequency=row.update_frequency,
            last_update=_latest(row.updated_at, row.published_at, *updated.get(oid, ())),
            layers=tuple(layers.get(oid, ())),
            rasters=tuple(rasters.get(oid, ())),
            resources=tuple(resources.get(oid, ())),
        )
        for oid, row in datasets.items()
    ]


def _row(found: quality.DatasetFacts, now: datetime) -> dict[str, Any]:
    score = quality.evaluate(found, now)
    return {
        "dataset_id": found.id,
        "score": score.score,
        "passed": score.passed,
        "counted": score.counted,
        "criteria": score.as_rows(),
        "computed_at": now,
    }


def refresh(conn: Connection, ids: Iterable[int] | None) -> int:
    """Rewrite the scores of the datasets `ids` (all when None) from their current rows."""
    now = datetime.now(UTC)
    rows = [_row(found, now) for found in facts(conn, ids)]
    wanted = None if ids is None else {r["dataset_id"] for r in rows} | set(ids)
    if wanted is None:
        conn.execute(delete(QUALITY))
    elif wanted:
        conn.execute(delete(QUALITY).where(QUALITY.c.dataset_id.in_(sorted(wanted))))
    if rows:
        conn.execute(insert(QUALITY), rows)
    return len(rows)


def install() -> None:
    """Keep the scores current in every catalogue write (the composition root calls it at
    start-up, before the CSW records sync, which reads them)."""
    changes.on_datasets_changed(_refresh_changed)


def _refresh_changed(conn: Connection, changed: set[int], _deleted: set[int]) -> None:
    refresh(conn, changed)


VOLATILE = frozenset({"age"})  # details that move every day without changing anything


def _verdict(score: int | None, criteria: Iterable[dict[str, Any]]) -> tuple:
    """What a recheck compares: the score and each criterion's status and details, but
    the volatile ones (an age in days)."""
    return (
        score,
        tuple(
            (
                c.get("key"),
                c.get("status"),
                tuple(
                    sorted(
                        (k, str(v)) for k, v in (c.get("detail") or {}).items() if k not in VOLATILE
                    )
                ),
            )
            for c in criteria or ()
        ),
    )


def recheck(session: Session, ids: Iterable[int] | None = None) -> list[int]:
    """Recompute scores; those whose verdict moved are rewritten with every derived view
    (the CSW records, the search's cache key) through `changes.touch`. Returns their ids."""
    conn = session.connection()
    now = datetime.now(UTC)
    stored = {
        row.dataset_id: _verdict(row.score, row.criteria)
        for row in conn.execute(select(QUALITY.c.dataset_id, QUALITY.c.score, QUALITY.c.criteria))
    }
    moved = []
    for found in facts(conn, ids):
        row = _row(found, now)
        if stored.get(found.id) != _verdict(row["score"], row["criteria"]):
            moved.append(found.id)
    changes.touch(session, moved, first=_refresh_changed)
    return moved


def scores(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """Stored scores by dataset id: {score, passed, counted, criteria, computed_at}."""
    query = select(QUALITY)
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = query.where(QUALITY.c.dataset_id.in_(wanted))
    return {row["dataset_id"]: dict(row) for row in conn.execute(query).mappings()}


def organisation_summary(conn: Connection, organisation_id: int) -> dict[str, Any]:
    """An organisation's average score and how many of its datasets miss each criterion."""
    d = Dataset.__table__
    rows = conn.execute(
        select(QUALITY.c.score, QUALITY.c.criteria)
        .join(d, d.c.id == QUALITY.c.dataset_id)
        .where(d.c.organisation_id == organisation_id)
    ).all()
    failing: dict[str, int] = dict.fromkeys(quality.BY_KEY, 0)
    for _score, criteria in rows:
        for entry in criteria or ():
            if entry.get("status") == quality.FAIL and entry.get("key") in failing:
                failing[entry["key"]] += 1
    values = [r[0] for r in rows if r[0] is not None]
    return {
        "average": round(sum(values) / len(values)) if values else None,
        "datasets": len(rows),
        "failing": failing,
    }


def public_averages(session: Session, organisation_ids: list[int]) -> dict[int, float]:
    """{organisation id: average score of its public datasets}: the partners' list
    (`catalogue.partners.listing.set_quality_scorer`, registered at start-up), which
    counts as an anonymous visitor sees the catalogue."""
    d = Dataset.__table__
    rows = session.execute(
        select(d.c.organisation_id, func.avg(QUALITY.c.score))
        .join(QUALITY, QUALITY.c.dataset_id == d.c.id)
        .where(
            d.c.organisation_id.in_(sorted(set(organisation_ids))),
            QUALITY.c.score.is_not(None),
            visible_datasets(ANONYMOUS),
        )
        .group_by(d.c.organisation_id)
    )
    return {int(oid): float(value) for oid, value in rows if value is not None}
