"""Every dataset's search facts as columns (numpy arrays), for the portal's search.

Why columns, not GROUP BY: with 100,000 datasets a facet count is a scan of the
filtered set, and the portal shows nine of them (each applying the *other* facets'
filters, so nine different sets) on every search. Measured on 100,000 datasets, one
GROUP BY over the visible datasets takes 300–700 ms on SQLite (wide rows) and tens of
milliseconds on PostGIS: nine per search cannot meet 100 / 50 ms. Held as arrays, a
facet is one `bincount` (a few hundred microseconds) and the whole search a few
milliseconds, on both backends alike.

One snapshot per catalogue state and worker, the same for every viewer: who may see
what is `access.visible_mask` over the `access` and `organisation_id` columns (the SQL
rule `visible_datasets`, vectorised), so memory does not grow with the number of
distinct viewers. It holds a few small arrays per dataset (about 150 bytes each with the
title: some 15 MB for 100,000 datasets), rebuilt after a change to the catalogue (the
key is `finder.STAMP`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, String, func, select, type_coerce

from niaouli.catalogue import gazetteer, quality
from niaouli.catalogue.models import (
    AccessLevel,
    Dataset,
    Layer,
    Organisation,
    RasterLayer,
    Resource,
    code_project_datasets,
    dataset_reuses,
)
from niaouli.catalogue.quality_tables import DatasetQuality

MAX_VALUE_LENGTH = 200
ACCESS = tuple(level.value for level in AccessLevel)
BANDS = tuple(name for name, _floor in quality.BANDS)
DATA_KINDS = ("vecteur", "raster", "tableau")


@dataclass(frozen=True, eq=False)
class Columns:
    """The datasets, ordered by id; `*_code` index into the matching value tuple (-1:
    none); multi-valued facets are boolean matrices (dataset x value)."""

    ids: np.ndarray  # int64, ascending
    titles: list[str]
    organisation_id: np.ndarray  # int64
    organisation_code: np.ndarray  # into organisations (slugs)
    organisations: tuple[str, ...]
    licence_code: np.ndarray
    licences: tuple[str, ...]
    access_code: np.ndarray  # into ACCESS
    access: np.ndarray  # the values themselves (`access.visible_mask`)
    spatial: np.ndarray  # bool
    score: np.ndarray  # int64, -1 without a stored score
    band_code: np.ndarray  # into BANDS
    newest: np.ndarray  # float64, seconds
    popularity: np.ndarray  # int64
    bounds: np.ndarray  # float64 (n, 4), NaN without a spatial coverage
    themes: np.ndarray  # bool (n, len(theme_values))
    theme_values: tuple[str, ...]
    formats: np.ndarray
    format_values: tuple[str, ...]
    data_kinds: np.ndarray  # bool (n, 3), DATA_KINDS
    recent_rank: np.ndarray  # int64: position in the "recent" order (newest, title, id)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def by_value(self) -> dict[str, np.ndarray]:
        """The multi-valued facets' matrices transposed (value x dataset, contiguous),
        made once per snapshot: counting a value over a mask is then `count_nonzero` of
        one row (0.2 ms for a facet of 100,000 datasets) where `count_nonzero(matrix[mask],
        axis=0)` copied the masked rows and summed them column-wise (4–5 ms, three facets a
        search)."""
        return {
            name: np.ascontiguousarray(matrix.T)
            for name, matrix in (
                ("theme", self.themes),
                ("format", self.formats),
                ("donnees", self.data_kinds),
            )
        }

    def positions(self, ids: Any) -> np.ndarray:
        """Positions of the given dataset ids (those absent are left out)."""
        wanted = np.fromiter(ids, dtype=np.int64)
        found = np.searchsorted(self.ids, wanted)
        found = found[found < len(self.ids)]
        return found[np.isin(self.ids[found], wanted)]


def _codes(values: list[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    distinct = tuple(sorted({v for v in values if v is not None}))
    index = {v: i for i, v in enumerate(distinct)}
    return np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values)), (
        distinct
    )


def _matrix(sets: list[set[str]]) -> tuple[np.ndarray, tuple[str, ...]]:
    distinct = tuple(sorted(set().union(*sets))) if sets else ()
    index = {v: i for i, v in enumerate(distinct)}
    matrix = np.zeros((len(sets), len(distinct)), dtype=bool)
    for row, values in enumerate(sets):
        for value in values:
            matrix[row, index[value]] = True
    return matrix, distinct


def themes_of(value: Any) -> set[str]:
    """Themes as stored: a JSON list (text on SQLite, already a list from psycopg)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return set()
    if not isinstance(value, list):
        return set()
    return {t.strip()[:MAX_VALUE_LENGTH] for t in value if isinstance(t, str) and t.strip()}


def timestamp(value: Any) -> float:
    """Seconds since 1970 of a stored instant (SQLite gives text, naive means UTC)."""
    from datetime import UTC, datetime

    if value is None:
        return 0.0
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def read(conn: Connection) -> Columns:
    """Every dataset, whoever may see it (the viewer's mask is applied per search)."""
    popularity: Counter[int] = Counter()
    formats: dict[int, set[str]] = {}
    for dataset_id, fmt in conn.execute(select(Resource.dataset_id, Resource.format)):
        popularity[dataset_id] += 1
        if fmt and fmt.strip():
            formats.setdefault(dataset_id, set()).add(fmt.strip().upper()[:MAX_VALUE_LENGTH])
    # "Most used" after visits: reuses and code projects using a dataset, then its layers
    # and resources.
    for column, weight in (
        (Layer.__table__.c.dataset_id, 1),
        (dataset_reuses.c.dataset_id, 100),
        (code_project_datasets.c.dataset_id, 100),
    ):
        for dataset_id, n in conn.execute(select(column, func.count()).group_by(column)):
            popularity[dataset_id] += weight * n
    kinds: dict[int, set[str]] = {}
    for dataset_id, geometry in conn.execute(select(Layer.dataset_id, Layer.geometry_type)):
        kinds.setdefault(dataset_id, set()).add("vecteur" if geometry else "tableau")
    for (dataset_id,) in conn.execute(select(RasterLayer.dataset_id)):
        kinds.setdefault(dataset_id, set()).add("raster")
    scores = DatasetQuality.__table__
    rows = conn.execute(
        select(
            Dataset.id,
            Dataset.title,
            Dataset.organisation_id,
            Organisation.slug,
            Dataset.licence,
            type_coerce(Dataset.access_level, String),
            Dataset.is_spatial,
            type_coerce(Dataset.themes, String),
            type_coerce(func.coalesce(Dataset.published_at, Dataset.created_at), String),
            scores.c.score,
            *gazetteer.extent_columns(conn.dialect.name),
        )
        .join(Organisation, Organisation.id == Dataset.organisation_id)
        .outerjoin(scores, scores.c.dataset_id == Dataset.id)
        .order_by(Dataset.id)
    ).all()
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    titles = [r[1] for r in rows]
    organisation_code, organisations = _codes([r[3] for r in rows])
    licence_code, licences = _codes([(r[4] or "").strip() or None for r in rows])
    access_index = {v: i for i, v in enumerate(ACCESS)}
    access_code = np.fromiter((access_index[r[5]] for r in rows), dtype=np.int64, count=n)
    score = np.fromiter((-1 if r[9] is None else r[9] for r in rows), dtype=np.int64, count=n)
    band_index = {b: i for i, b in enumerate(BANDS)}
    themes, theme_values = _matrix([themes_of(r[7]) for r in rows])
    fmt_matrix, format_values = _matrix([formats.get(r[0], set()) for r in rows])
    kind_matrix = np.zeros((n, len(DATA_KINDS)), dtype=bool)
    for row, r in enumerate(rows):
        for kind in kinds.get(r[0], ()):
            kind_matrix[row, DATA_KINDS.index(kind)] = True
    bounds = np.array(
        [r[10:14] if r[10] is not None else (np.nan,) * 4 for r in rows], dtype=np.float64
    ).reshape(n, 4)
    newest = np.fromiter((timestamp(r[8]) for r in rows), dtype=np.float64, count=n)
    # The "recent" order of `finder.Item.recent_key`, computed once with the same key.
    order = sorted(range(n), key=lambda i: (-newest[i], titles[i].casefold(), int(ids[i])))
    recent_rank = np.empty(n, dtype=np.int64)
    recent_rank[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)
    return Columns(
        ids=ids,
        titles=titles,
        organisation_id=np.fromiter((r[2] for r in rows), dtype=np.int64, count=n),
        organisation_code=organisation_code,
        organisations=organisations,
        licence_code=licence_code,
        licences=licences,
        access_code=access_code,
        access=np.asarray(ACCESS)[access_code] if n else np.asarray([], dtype=str),
        spatial=np.fromiter((bool(r[6]) for r in rows), dtype=bool, count=n),
        score=score,
        band_code=np.fromiter(
            (band_index[quality.band(s)] if s >= 0 else -1 for s in score.tolist()),
            dtype=np.int64,
            count=n,
        ),
        newest=newest,
        popularity=np.fromiter((popularity[r[0]] for r in rows), dtype=np.int64, count=n),
        bounds=bounds,
        themes=themes,
        theme_values=theme_values,
        formats=fmt_matrix,
        format_values=format_values,
        data_kinds=kind_matrix,
        recent_rank=recent_rank,
    )
