"""Search everything in one place, with facets: what the portal's search pages ask.

Text matching is the full-text index (`fulltext`); the access rule is
`access.visible_mask` (the SQL rule `visible_datasets` over columns), so a dataset the
viewer may not see is neither listed nor counted, and no facet value (an organisation, a
theme, a format) comes from it alone. Facets follow the usual rule: filters combine with
AND across facets and OR within one, and each facet's counts apply the filters of the
*other* facets. Datasets are searched as columns (`columns`, numpy: one snapshot per
catalogue state and worker, shared by every viewer): masks, `bincount`s and one sort,
a few milliseconds for 100,000 datasets on both backends, where nine GROUP BYs per
search would take hundreds. The other kinds (hundreds of objects) are Items faceted
in Python; only the datasets that can reach the page become Items.

Places: when the query names a place of the gazetteer (`gazetteer`: the communes),
datasets whose extent meets it are found even if their text never names it, combined
with the query's other words (« population Nouméa »); `lieu=non` turns this off.

Quality: each dataset's stored score (`quality_store`) gives the `qualite` facet (its band,
`quality.band`) and the `qualite` sort (best first).

Kinds: datasets (their layers' names and attributes are part of their text), code
projects, reuses (approved ones only), organisations, events. Dataset-only facets
(theme, format, access level, spatial) and the map box leave the other kinds out.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import shapely
from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.orm import Session, selectinload

from niaouli.catalogue import gazetteer, quality
from niaouli.catalogue.access import Viewer, visible_datasets, visible_mask
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    Organisation,
    Reuse,
    code_project_datasets,
    dataset_reuses,
)
from niaouli.catalogue.search import columns, fulltext
from niaouli.stats.table import usage_daily

# URL value -> document kind, in the order the type facet shows them.
TYPES = {
    "jeux-de-donnees": "dataset",
    "code": "code",
    "reutilisations": "reuse",
    "organisations": "organisation",
    "evenements": "event",
}
TYPE_OF_KIND = {kind: key for key, kind in TYPES.items()}
SORTS = ("pertinence", "recent", "populaire", "qualite")
FACETS = (
    "type",
    "organisation",
    "theme",
    "format",
    "licence",
    "acces",
    "spatial",
    "donnees",
    "qualite",
)
# The `donnees` facet: what a dataset's data are (a dataset may hold several kinds).
DATA_KINDS = ("vecteur", "raster", "tableau")
MAX_VALUES_PER_FACET = 20
MAX_VALUE_LENGTH = 200
MAX_BOUND_IDS = 5000


@dataclass(frozen=True)
class Filters:
    """A search, as its URL says it (see `from_params` / `params`)."""

    q: str = ""
    selected: Mapping[str, frozenset[str]] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None
    sort: str = ""
    page: int = 1
    places: bool = True  # understand place names of the gazetteer (`lieu=non`: no)

    @classmethod
    def from_params(cls, params: Any, page: int = 1) -> Filters:
        """From query parameters (`getlist`); odd values are dropped, never an error."""
        selected = {}
        for name in FACETS:
            values = {
                v.strip()[:MAX_VALUE_LENGTH]
                for v in params.getlist(name)[:MAX_VALUES_PER_FACET]
                if v.strip()
            }
            if name == "type":
                values &= set(TYPES)
            elif name == "spatial":
                values &= {"oui", "non"}
            elif name == "donnees":
                values &= set(DATA_KINDS)
            elif name == "qualite":
                values &= {band for band, _floor in quality.BANDS}
            if values:
                selected[name] = frozenset(values)
        sort = params.get("tri", "")
        return cls(
            q=" ".join(params.get("q", "").split())[: fulltext.MAX_QUERY_LENGTH],
            selected=selected,
            bbox=parse_bbox(params.get("bbox", "")),
            sort=sort if sort in SORTS else "",
            page=page,
            places=params.get("lieu", "") != "non",
        )

    def values(self, name: str) -> frozenset[str]:
        return self.selected.get(name, frozenset())

    def effective_sort(self) -> str:
        return self.sort or ("pertinence" if self.q else "recent")

    def toggled(self, name: str, value: str) -> Filters:
        """The same search with `value` of facet `name` switched, back on page 1."""
        values = set(self.values(name)) ^ {value}
        selected = {k: v for k, v in self.selected.items() if k != name}
        if values:
            selected[name] = frozenset(values)
        return replace(self, selected=selected, page=1)

    def params(self) -> list[tuple[str, str]]:
        """Canonical query parameters: fixed order, sorted values, defaults left out."""
        out = [("q", self.q)] if self.q else []
        for name in FACETS:
            out += [(name, v) for v in sorted(self.values(name))]
        if self.bbox is not None:
            out.append(("bbox", format_bbox(self.bbox)))
        if not self.places:
            out.append(("lieu", "non"))
        if self.sort:
            out.append(("tri", self.sort))
        if self.page > 1:
            out.append(("page", str(self.page)))
        return out


def parse_bbox(raw: str) -> tuple[float, float, float, float] | None:
    """`minx,miny,maxx,maxy` in degrees (WGS 84), or None when it is not a valid box."""
    parts = raw.split(",")
    if len(parts) != 4 or len(raw) > 200:
        return None
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        return None
    return (round(west, 5), round(south, 5), round(east, 5), round(north, 5))


def format_bbox(bbox: tuple[float, float, float, float]) -> str:
    return ",".join(f"{v:g}" for v in bbox)


@dataclass(slots=True)
class Item:
    """One candidate result, with what facets and sorting need."""

    kind: str
    id: int
    title: str
    type: str = ""  # the type facet's value, from `kind`
    organisation: str | None = None  # slug
    themes: frozenset[str] = frozenset()
    formats: frozenset[str] = frozenset()
    data_kinds: frozenset[str] = frozenset()  # "vecteur", "raster", "tableau"
    licence: str | None = None
    access: str | None = None
    spatial: str | None = None  # "oui" / "non"
    quality: int | None = None  # the stored score, percent (`quality_store`)
    quality_band: str | None = None  # its facet value: "haute", "moyenne", "basse"
    newest: float = 0.0  # timestamp
    popularity: int = 0
    bounds: tuple[float, float, float, float] | None = None  # of the spatial coverage
    recent_key: tuple = ()  # sort keys, computed once (items are cached)
    popular_key: tuple = ()

    def __post_init__(self) -> None:
        self.type = TYPE_OF_KIND[self.kind]
        self.recent_key = (-self.newest, self.title.casefold(), self.kind, self.id)
        self.popular_key = (-self.popularity, *self.recent_key)
        self.quality_band = quality.band(self.quality)

    def within(self, box: tuple[float, float, float, float]) -> bool:
        """The spatial coverage's envelope intersects `box` (coverages are boxes)."""
        b = self.bounds
        return (
            b is not None
            and b[0] <= box[2]
            and b[2] >= box[0]
            and b[1] <= box[3]
            and b[3] >= box[1]
        )


# Facet -> the Item attribute holding its value (None: not applicable) or values.
SINGLE_VALUED = {
    "type": "type",
    "organisation": "organisation",
    "licence": "licence",
    "acces": "access",
    "spatial": "spatial",
    "qualite": "quality_band",
}
MULTI_VALUED = {"theme": "themes", "format": "formats", "donnees": "data_kinds"}


def _fails(item: Item, name: str, values: frozenset[str]) -> bool:
    if name in MULTI_VALUED:
        return values.isdisjoint(getattr(item, MULTI_VALUED[name]))
    return getattr(item, SINGLE_VALUED[name]) not in values


def _count(name: str, items: Iterable[Item]) -> Counter[str]:
    if name in MULTI_VALUED:
        return Counter(chain.from_iterable(map(attrgetter(MULTI_VALUED[name]), items)))
    counts = Counter(map(attrgetter(SINGLE_VALUED[name]), items))
    counts.pop(None, None)
    return counts


@dataclass
class Result:
    items: list[Item]  # this page's, sorted
    total: int
    facets: dict[str, list[tuple[str, int]]]  # facet -> [(value, count)], most first
    organisations: dict[str, str]  # slug -> name, for labels
    objects: dict[tuple[str, int], Any]  # this page's loaded objects
    place: gazetteer.Place | None = None  # named in the query (applied if filters.places)


def search(
    session: Session,
    viewer: Viewer,
    filters: Filters,
    kinds: Iterable[str] = TYPES.values(),
    page_size: int = 20,
    show_access: bool = False,
) -> Result:
    """One page of what `viewer` may see matching `filters`, with facet counts."""
    query = fulltext.parse(filters.q)
    kinds = list(kinds)
    if not show_access:
        filters = replace(
            filters, selected={k: v for k, v in filters.selected.items() if k != "acces"}
        )
    named = None if query.empty else gazetteer.find_for(session, viewer, filters.q)
    place = named.place if named is not None and filters.places else None
    # The datasets' relevance only for the relevance order (or a place's, which mixes it).
    conn = session.connection()
    ranked = place is not None or filters.effective_sort() == "pertinence"
    matches = None if query.empty else fulltext.find(conn, query, rank_datasets=ranked)
    # With a place: a dataset matches the whole query, or the rest of it and the place.
    rest_matches = None
    if place is not None and not named.rest.empty:
        rest_matches = fulltext.find(conn, named.rest, rank_datasets=True)
    # The other kinds' matches with their relevance, as a dict (hundreds at most).
    ranks = None if matches is None else matches.others()
    rest_ranks = None if rest_matches is None else rest_matches.others()
    organisations = session.execute(
        select(Organisation.id, Organisation.slug, Organisation.name)
    ).all()
    cols = _columns(session) if {"dataset", "organisation"} & set(kinds) else None
    visible = visible_mask(viewer, cols.access, cols.organisation_id) if cols is not None else None
    datasets: _Found | None = None
    if "dataset" in kinds:
        datasets = _find_datasets(cols, visible, filters.bbox, place, matches, rest_matches)
    # The other kinds are few (hundreds): Items faceted in Python, as they always were.
    others: list[Item] = []
    if filters.bbox is None:  # only datasets have a spatial coverage
        slugs = {oid: slug for oid, slug, _name in organisations}
        per_org: dict[int, int] = {}
        if cols is not None:
            owners, counts = np.unique(cols.organisation_id[visible], return_counts=True)
            per_org = dict(zip(owners.tolist(), counts.tolist(), strict=True))
        others = _others(
            session,
            viewer,
            [k for k in kinds if k != "dataset"],
            ranks,
            slugs,
            per_org,
            linked=filters.effective_sort() == "populaire",
        )
    fits: dict[tuple[str, int], float] = {}
    if place is not None:
        fits = _place_fits(others, place, ranks, rest_ranks)
        ranks = {key: ranks.get(key) or (rest_ranks or {}).get(key, 0.0) for key in fits}
    if ranks is not None:
        others = [i for i in others if (i.kind, i.id) in ranks]

    # Which selected facets each item fails: it is a result when it fails none, and
    # counts in facet F when it fails none but F.
    found: list[Item] = []
    failing_one: dict[str, list[Item]] = {name: [] for name in filters.selected}
    selected = list(filters.selected.items())
    for item in others:
        failed = (
            [name for name, values in selected if _fails(item, name, values)] if selected else ()
        )
        if not failed:
            found.append(item)
        elif len(failed) == 1:
            failing_one[failed[0]].append(item)
    passing = {}
    if datasets is not None:
        passing = {name: _passes(cols, name, values) for name, values in selected}
    dataset_found = datasets.mask if datasets is not None else None
    for mask in passing.values():
        dataset_found = dataset_found & mask
    facets: dict[str, list[tuple[str, int]]] = {}
    for name in FACETS:
        if name == "acces" and not show_access:
            continue
        counts = _count(name, found)
        if failing_one.get(name):
            counts.update(_count(name, failing_one[name]))
        if datasets is not None:
            mask = datasets.mask
            for other, passes in passing.items():
                if other != name:
                    mask = mask & passes
            counts.update(_dataset_counts(cols, name, mask))
        facets[name] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))

    sort = filters.effective_sort()
    start = (filters.page - 1) * page_size
    visits = _visits(session) if sort == "populaire" else {}
    top: list[Item] = []
    total = len(found)
    if datasets is not None:
        positions = np.flatnonzero(dataset_found)
        total += len(positions)
        first = positions[
            _dataset_order(cols, positions, sort, datasets, visits, start + page_size)
        ]
        top = [_item(cols, p) for p in first.tolist()]
        for item, p in zip(top, first.tolist(), strict=True):
            key = ("dataset", item.id)
            if datasets.rank is not None:
                ranks[key] = float(datasets.rank[p])
            if datasets.fit is not None:
                fits[key] = float(datasets.fit[p])
    candidates = top + found
    if sort == "populaire":
        candidates.sort(
            key=lambda i: (-visits.get(i.id, 0) if i.kind == "dataset" else 0, *i.popular_key)
        )
    elif sort == "qualite":  # best first; unscored (not datasets) last
        candidates.sort(
            key=lambda i: (-(i.quality if i.quality is not None else -1), *i.recent_key)
        )
    else:
        candidates.sort(key=_sort_key(sort, ranks or {}, fits))
    page = candidates[start : start + page_size]
    orgs = {slug: name for _id, slug, name in organisations}
    loaded = _load(session, page)
    return Result(page, total, facets, orgs, loaded, named.place if named else None)


@dataclass
class _Found:
    """The datasets a search finds before facet filters, with their relevance."""

    mask: np.ndarray  # bool, over the columns
    rank: np.ndarray | None = None  # text relevance (0 where none)
    fit: np.ndarray | None = None  # how much about the place named (0 where none)


def _find_datasets(
    cols: columns.Columns,
    visible: np.ndarray,
    bbox: tuple[float, float, float, float] | None,
    place: gazetteer.Place | None,
    found: fulltext.Found | None,
    rest_found: fulltext.Found | None,
) -> _Found:
    """Visible, in the map box, matching the words (or the place): `_place_fits`'s rule
    (`rank` None: not asked, the order is not relevance)."""
    mask = visible.copy()
    if bbox is not None:
        b = cols.bounds
        with np.errstate(invalid="ignore"):
            mask &= (b[:, 0] <= bbox[2]) & (b[:, 2] >= bbox[0])
            mask &= (b[:, 1] <= bbox[3]) & (b[:, 3] >= bbox[1])
    if found is None:
        return _Found(mask)
    rank, matched = _rank_column(cols, *found.of_kind("dataset"))
    if place is None:
        return _Found(mask & matched, rank)
    rest, in_rest = (
        (None, None) if rest_found is None else _rank_column(cols, *rest_found.of_kind("dataset"))
    )
    fit = np.where(matched, 1.0, np.nan)
    others = ~matched if in_rest is None else (~matched & in_rest)
    has_bounds = ~np.isnan(cols.bounds[:, 0])
    if rest_found is not None:  # no extent: may hold the place's rows (fit 0, last)
        fit[others & ~has_bounds] = 0.0
    west, south, east, north = place.geometry.bounds
    b = cols.bounds
    with np.errstate(invalid="ignore"):
        near = others & has_bounds & (b[:, 0] <= east) & (b[:, 2] >= west)
        near &= (b[:, 1] <= north) & (b[:, 3] >= south)
    where = np.flatnonzero(near & mask)
    if len(where):
        boxes = shapely.box(b[where, 0], b[where, 1], b[where, 2], b[where, 3])
        meets = shapely.intersects(place.geometry, boxes)
        where = where[meets]
        extent = np.maximum((b[where, 2] - b[where, 0]) * (b[where, 3] - b[where, 1]), 0.0)
        fit[where] = np.where(extent <= place.area, 1.0, place.area / np.maximum(extent, 1e-300))
    found = ~np.isnan(fit)
    # `ranks.get(key) or rest_ranks.get(key, 0.0)`, as for the other kinds.
    final = np.where(matched & (rank != 0), rank, 0.0 if rest is None else rest)
    return _Found(mask & found, np.where(found, final, 0.0), np.nan_to_num(fit, nan=0.0))


def _rank_column(
    cols: columns.Columns, wanted: np.ndarray, values: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray]:
    """The text relevance of each dataset (0 where none; None when `values` is: not
    asked yet) and which ones matched, from the matches' ids and relevances."""
    rank = None if values is None else np.zeros(len(cols), dtype=np.float64)
    matched = np.zeros(len(cols), dtype=bool)
    if len(wanted):
        at = np.searchsorted(cols.ids, wanted)
        inside = at < len(cols)
        at, wanted = at[inside], wanted[inside]
        exact = cols.ids[at] == wanted
        matched[at[exact]] = True
        if rank is not None:
            rank[at[exact]] = values[inside][exact]
    return rank, matched


def _passes(cols: columns.Columns, name: str, values: frozenset[str]) -> np.ndarray:
    """Datasets passing facet `name`'s filter (any of `values`), as `_fails` says."""
    n = len(cols)
    if name == "type":
        return np.full(n, "jeux-de-donnees" in values)
    if name == "spatial":
        mask = np.zeros(n, dtype=bool)
        if "oui" in values:
            mask |= cols.spatial
        if "non" in values:
            mask |= ~cols.spatial
        return mask
    if name in ("theme", "format", "donnees"):
        matrix, known = _multi(cols, name)
        wanted = [i for i, v in enumerate(known) if v in values]
        return matrix[:, wanted].any(axis=1) if wanted else np.zeros(n, dtype=bool)
    codes, known = _single(cols, name)
    wanted = [i for i, v in enumerate(known) if v in values]
    return np.isin(codes, wanted)


def _single(cols: columns.Columns, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    return {
        "organisation": (cols.organisation_code, cols.organisations),
        "licence": (cols.licence_code, cols.licences),
        "acces": (cols.access_code, columns.ACCESS),
        "qualite": (cols.band_code, columns.BANDS),
    }[name]


def _multi(cols: columns.Columns, name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    return {
        "theme": (cols.themes, cols.theme_values),
        "format": (cols.formats, cols.format_values),
        "donnees": (cols.data_kinds, columns.DATA_KINDS),
    }[name]


def _dataset_counts(cols: columns.Columns, name: str, mask: np.ndarray) -> dict[str, int]:
    """Facet `name`'s counts over the datasets of `mask` (values with none left out)."""
    if name == "type":
        n = int(np.count_nonzero(mask))
        return {"jeux-de-donnees": n} if n else {}
    if name == "spatial":
        yes = int(np.count_nonzero(cols.spatial & mask))
        no = int(np.count_nonzero(mask)) - yes
        return {k: v for k, v in (("oui", yes), ("non", no)) if v}
    if name in ("theme", "format", "donnees"):
        _matrix, known = _multi(cols, name)
        counts = [np.count_nonzero(row & mask) for row in cols.by_value[name]]
    else:
        codes, known = _single(cols, name)
        selected = codes[mask]
        counts = np.bincount(selected[selected >= 0], minlength=len(known))
    return {value: int(n) for value, n in zip(known, counts, strict=False) if n}


def _dataset_order(
    cols: columns.Columns,
    positions: np.ndarray,
    sort: str,
    found: _Found,
    visits: dict[int, int],
    limit: int,
) -> np.ndarray:
    """The first `limit` of `positions` in the order of `sort`, as indices into it: the
    same keys as the Items' (`search`). Keys as `numpy.lexsort` takes them, the primary
    last; one that is all zeros (no relevance asked, no place) is left out, which orders
    nothing differently."""
    keys = [cols.recent_rank[positions]]
    if sort == "populaire":
        seen = np.zeros(len(positions), dtype=np.int64)
        if visits:
            ids = cols.ids[positions]
            at = np.isin(ids, np.fromiter(visits, dtype=np.int64))
            seen[at] = [visits[int(i)] for i in ids[at]]
        keys += [-cols.popularity[positions], -seen]
    elif sort == "qualite":
        keys.append(-cols.score[positions])
    elif sort == "pertinence":
        keys += [-k[positions] for k in (found.rank, found.fit) if k is not None]
    return _first(keys, limit)


def _first(keys: list[np.ndarray], limit: int) -> np.ndarray:
    """`numpy.lexsort(keys)[:limit]` without sorting everything: a page wants 20 of up to
    100,000 (a full sort: ~10 ms). Only the rows whose primary key is at most the
    `limit`-th smallest can be among the first `limit`; they are sorted (ties of that
    key included, so the order is the full sort's). `recent_rank` is a permutation: with
    it as the last tie-breaker the order is total."""
    n = len(keys[0])
    if limit >= n:
        return np.lexsort(keys)[:limit]
    primary = keys[-1]
    kept = np.flatnonzero(primary <= np.partition(primary, limit)[limit])
    return kept[np.lexsort([k[kept] for k in keys])][:limit]


def _item(cols: columns.Columns, p: int) -> Item:
    """One dataset of the columns as an Item (for the page, and to sort it with others)."""
    b = cols.bounds[p]
    return Item(
        kind="dataset",
        id=int(cols.ids[p]),
        title=cols.titles[p],
        organisation=cols.organisations[cols.organisation_code[p]],
        licence=cols.licences[cols.licence_code[p]] if cols.licence_code[p] >= 0 else None,
        access=str(cols.access[p]),
        spatial="oui" if cols.spatial[p] else "non",
        themes=frozenset(v for v, on in zip(cols.theme_values, cols.themes[p], strict=True) if on),
        formats=frozenset(
            v for v, on in zip(cols.format_values, cols.formats[p], strict=True) if on
        ),
        data_kinds=frozenset(
            v for v, on in zip(columns.DATA_KINDS, cols.data_kinds[p], strict=True) if on
        ),
        newest=float(cols.newest[p]),
        popularity=int(cols.popularity[p]),
        bounds=None if np.isnan(b[0]) else tuple(float(v) for v in b),
        quality=int(cols.score[p]) if cols.score[p] >= 0 else None,
    )


def _place_fits(
    items: list[Item],
    place: gazetteer.Place,
    ranks: dict[tuple[str, int], float],
    rest_ranks: dict[tuple[str, int], float] | None,
) -> dict[tuple[str, int], float]:
    """What a query naming `place` finds, with how much each result is about it.

    Found: whatever matches the whole query (its text names the place: fit 1); datasets
    matching the other words whose extent meets the place (fit 1 inside it, less for a
    territory); with other words, datasets matching them that have no extent at all (a
    table of every commune may well hold the place's rows: fit 0, ranked last).
    """
    fits: dict[tuple[str, int], float] = {}
    for i in items:
        key = (i.kind, i.id)
        if key in ranks:
            fits[key] = 1.0
        elif i.kind != "dataset" or (rest_ranks is not None and key not in rest_ranks):
            continue
        elif i.bounds is None:
            if rest_ranks is not None:
                fits[key] = 0.0
        elif place.meets(i.bounds):
            fits[key] = place.fit(i.bounds)
    return fits


def _sort_key(
    sort: str, ranks: dict[tuple[str, int], float], fits: dict[tuple[str, int], float]
) -> Callable[[Item], tuple]:
    """Relevance: with a place, what is about it (inside it, or naming it) comes first."""
    if sort == "pertinence":
        return lambda i: (
            -fits.get((i.kind, i.id), 0.0),
            -ranks.get((i.kind, i.id), 0.0),
            *i.recent_key,
        )
    return attrgetter("recent_key")


# "Most used" first counts visits (niaouli.stats: unique visits per dataset and day, on
# every interface), over the last 90 days, read at most once a minute per worker.
VISIT_DAYS = 90
VISIT_SECONDS = 60.0
_VISITS: dict[str, tuple[float, dict[int, int]]] = {}


def _visits(session: Session) -> dict[int, int]:
    key = session.get_bind().url.render_as_string()
    with _CACHE_LOCK:
        cached = _VISITS.get(key)
    if cached is not None and time.monotonic() - cached[0] < VISIT_SECONDS:
        return cached[1]
    since = date.today() - timedelta(days=VISIT_DAYS)
    rows = session.execute(
        select(usage_daily.c.dataset_id, func.sum(usage_daily.c.unique_visits))
        .where(usage_daily.c.dataset_id.is_not(None), usage_daily.c.day >= since)
        .group_by(usage_daily.c.dataset_id)
    )
    visits = {int(oid): int(n) for oid, n in rows}
    with _CACHE_LOCK:
        _VISITS[key] = (time.monotonic(), visits)
    return visits


def _in_match(column: Any, ranks: dict | None, kind: str) -> ColumnElement[bool] | None:
    """`column IN (matching ids)`, so that only matching rows are read; for very many
    matches (bound parameters are limited) the rows are read and filtered in Python."""
    if ranks is None:
        return None
    ids = np.sort(_of_kind(ranks, kind)[0]).tolist()
    return column.in_(ids) if len(ids) <= MAX_BOUND_IDS else None


def _of_kind(ranks: Mapping[tuple[str, int], float], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, relevances) of one kind's matches: `fulltext.Matches` has them made once."""
    if isinstance(ranks, fulltext.Matches):
        return ranks.of_kind(kind)
    pairs = [(oid, rank) for (found, oid), rank in ranks.items() if found == kind]
    return (
        np.array([oid for oid, _rank in pairs], dtype=np.int64),
        np.array([rank for _oid, rank in pairs], dtype=np.float64),
    )


# The columns of every dataset (`columns`), per worker process: reading and shaping
# 100,000 rows costs far more than searching them. The key holds the catalogue version
# (bumped by every dataset, layer or resource change, in its transaction: see `changes`)
# the number of reuse and code project links (which "most used" counts) and the last
# organisation change, so that any change is seen by the next search, in every worker.
# One set of columns serves every viewer (`access.visible_mask`): memory stays flat.
_CACHE: OrderedDict[str, tuple[tuple, columns.Columns]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_ENTRIES = 2  # databases (the tests use several in one process)
STAMP = text(
    "SELECT (SELECT version FROM catalogue_state WHERE id = 1),"
    " (SELECT count(*) FROM reuse_datasets), (SELECT count(*) FROM code_project_datasets),"
    " (SELECT max(updated_at) FROM organisations)"  # a renamed slug
)


def _columns(session: Session) -> columns.Columns:
    """Every dataset's columns, current (never to be changed: they are shared)."""
    stamp = tuple(session.execute(STAMP).one())
    url = session.get_bind().url.render_as_string()
    with _CACHE_LOCK:
        cached = _CACHE.get(url)
        if cached is not None and cached[0] == stamp:
            _CACHE.move_to_end(url)
            return cached[1]
    found = columns.read(session.connection())
    with _CACHE_LOCK:
        _CACHE[url] = (stamp, found)
        _CACHE.move_to_end(url)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return found


def _others(
    session: Session,
    viewer: Viewer,
    kinds: list[str],
    ranks: dict | None,
    org_slugs: dict[int, str],
    per_org: dict[int, int],
    linked: bool = True,
) -> list[Item]:
    """The code projects, reuses, events and organisations found (`per_org`: how many
    datasets the viewer may see per organisation, their popularity, which the page
    shows). The code projects' and reuses' popularity (datasets linked) only orders
    them "most used": counted when `linked` (two GROUP BYs over the visible datasets,
    ~6 ms at 100,000), 0 otherwise."""
    items: list[Item] = []

    def link_counts(owner: Any) -> Counter[int]:
        return _link_counts(session, owner, viewer) if linked else Counter()

    def where(query: Select, model: Any, kind: str) -> Select:
        restrict = _in_match(model.id, ranks, kind)
        return query if restrict is None else query.where(restrict)

    if "code" in kinds:
        counts = link_counts(code_project_datasets.c.code_project_id)
        query = where(
            select(
                CodeProject.id,
                CodeProject.name,
                CodeProject.organisation_id,
                CodeProject.licence,
                CodeProject.created_at,
            ),
            CodeProject,
            "code",
        )
        for oid, name, org, licence, created in session.execute(query):
            items.append(
                Item(
                    "code",
                    oid,
                    name,
                    organisation=org_slugs.get(org),
                    licence=(licence or "").strip() or None,
                    newest=columns.timestamp(created),
                    popularity=counts[oid],
                )
            )
    if "reuse" in kinds:
        counts = link_counts(dataset_reuses.c.reuse_id)
        query = where(
            select(Reuse.id, Reuse.title, Reuse.organisation_id, Reuse.created_at), Reuse, "reuse"
        )
        if hasattr(Reuse, "status"):  # moderation: only approved reuses are public
            query = query.where(Reuse.status == "approved")
        for oid, title, org, created in session.execute(query):
            items.append(
                Item(
                    "reuse",
                    oid,
                    title,
                    organisation=org_slugs.get(org),
                    newest=columns.timestamp(created),
                    popularity=counts[oid],
                )
            )
    if "event" in kinds:
        query = where(
            select(Event.id, Event.title, Event.organisation_id, Event.starts_at), Event, "event"
        )
        for oid, title, org, starts in session.execute(query):
            items.append(
                Item(
                    "event",
                    oid,
                    title,
                    organisation=org_slugs.get(org),
                    newest=columns.timestamp(starts),
                )
            )
    if "organisation" in kinds:
        query = where(
            select(Organisation.id, Organisation.name, Organisation.created_at),
            Organisation,
            "organisation",
        )
        for oid, name, created in session.execute(query):
            items.append(
                Item(
                    "organisation",
                    oid,
                    name,
                    newest=columns.timestamp(created),
                    popularity=per_org.get(oid, 0),
                )
            )
    return items


def _link_counts(session: Session, owner: Any, viewer: Viewer) -> Counter[int]:
    """How many datasets `viewer` may see each code project / reuse links to."""
    link = owner.table
    rows = session.execute(
        select(owner, func.count())
        .join(Dataset, Dataset.id == link.c.dataset_id)
        .where(visible_datasets(viewer))
        .group_by(owner)
    )
    return Counter(dict(rows.all()))


def _load(session: Session, page: list[Item]) -> dict[tuple[str, int], Any]:
    """The page's objects, loaded in one query per kind."""
    loaded: dict[tuple[str, int], Any] = {}
    models = {
        "dataset": (Dataset, (selectinload(Dataset.organisation), selectinload(Dataset.layers))),
        "code": (CodeProject, (selectinload(CodeProject.organisation),)),
        "reuse": (Reuse, ()),
        "organisation": (Organisation, ()),
        "event": (Event, ()),
    }
    for kind, (model, options) in models.items():
        ids = [i.id for i in page if i.kind == kind]
        if ids:
            for obj in session.scalars(select(model).where(model.id.in_(ids)).options(*options)):
                loaded[(kind, obj.id)] = obj
    return loaded
