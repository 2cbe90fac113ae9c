"""Search everything in one place, with facets: what the portal's search pages ask.

Text matching is the full-text index (`fulltext`); the access rule is
`access.visible_datasets` in SQL, so a dataset the viewer may not see is neither listed
nor counted, and no facet value (an organisation, a theme, a format) comes from it alone.
Facets follow the usual rule: filters combine with AND across facets and OR within
one, and each facet's counts apply the filters of the *other* facets. The candidates
(one small row per object the viewer may see and the query matches) are faceted in
Python: the same code for both backends, a few milliseconds for 10,000 datasets.

Kinds: datasets (their layers' names and attributes are part of their text), code
projects, reuses (approved ones only), organisations, events. Dataset-only facets
(theme, format, access level, spatial) and the map box leave the other kinds out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session, selectinload

from niaouli.catalogue import fulltext
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    Layer,
    Organisation,
    Resource,
    Reuse,
    code_project_datasets,
    dataset_reuses,
)
from niaouli.catalogue.records import bbox_condition

# URL value -> document kind, in the order the type facet shows them.
TYPES = {
    "jeux-de-donnees": "dataset",
    "code": "code",
    "reutilisations": "reuse",
    "organisations": "organisation",
    "evenements": "event",
}
TYPE_OF_KIND = {kind: key for key, kind in TYPES.items()}
SORTS = ("pertinence", "recent", "populaire")
FACETS = ("type", "organisation", "theme", "format", "licence", "acces", "spatial")
MAX_VALUES_PER_FACET = 20
MAX_VALUE_LENGTH = 200
MAX_BOUND_IDS = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    """A search, as its URL says it (see `from_params` / `params`)."""

    q: str = ""
    selected: Mapping[str, frozenset[str]] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None
    sort: str = ""
    page: int = 1

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
            if values:
                selected[name] = frozenset(values)
        sort = params.get("tri", "")
        return cls(
            q=" ".join(params.get("q", "").split())[: fulltext.MAX_QUERY_LENGTH],
            selected=selected,
            bbox=parse_bbox(params.get("bbox", "")),
            sort=sort if sort in SORTS else "",
            page=page,
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


@dataclass
class Item:
    """One candidate result, with what facets and sorting need."""

    kind: str
    id: int
    title: str
    organisation: str | None = None  # slug
    themes: frozenset[str] = frozenset()
    formats: frozenset[str] = frozenset()
    licence: str | None = None
    access: str | None = None
    spatial: str | None = None  # "oui" / "non"
    newest: datetime = EPOCH
    popularity: int = 0
    rank: float = 0.0


def _one(value: str | None) -> frozenset[str]:
    return frozenset((value,)) if value else frozenset()


FACET_VALUES: dict[str, Callable[[Item], frozenset[str]]] = {
    "type": lambda i: frozenset((TYPE_OF_KIND[i.kind],)),
    "organisation": lambda i: _one(i.organisation),
    "theme": lambda i: i.themes,
    "format": lambda i: i.formats,
    "licence": lambda i: _one(i.licence),
    "acces": lambda i: _one(i.access),
    "spatial": lambda i: _one(i.spatial),
}


@dataclass
class Result:
    items: list[Item]  # this page's, sorted
    total: int
    facets: dict[str, list[tuple[str, int]]]  # facet -> [(value, count)], most first
    organisations: dict[str, str]  # slug -> name, for labels
    objects: dict[tuple[str, int], Any]  # this page's loaded objects


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
    ranks = None if query.empty else fulltext.match(session.connection(), query)
    items: list[Item] = []
    if "dataset" in kinds:
        items += _datasets(session, viewer, filters, ranks)
    if filters.bbox is None:  # only datasets have a spatial coverage
        others = [k for k in kinds if k != "dataset"]
        items += _others(session, viewer, others, ranks)
    if ranks is not None:
        items = [i for i in items if (i.kind, i.id) in ranks]
        for item in items:
            item.rank = ranks[(item.kind, item.id)]

    def passes(item: Item, skip: str | None = None) -> bool:
        for name, values in filters.selected.items():
            if name != skip and not (FACET_VALUES[name](item) & values):
                return False
        return True

    facets: dict[str, list[tuple[str, int]]] = {}
    for name in FACETS:
        if name == "acces" and not show_access:
            continue
        counts: Counter[str] = Counter()
        for item in items:
            if passes(item, skip=name):
                counts.update(FACET_VALUES[name](item))
        facets[name] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
    found = [item for item in items if passes(item)]
    found.sort(key=_sort_key(filters.effective_sort()))
    start = (filters.page - 1) * page_size
    page = found[start : start + page_size]
    orgs = dict(session.execute(select(Organisation.slug, Organisation.name)).all())
    return Result(page, len(found), facets, orgs, _load(session, page))


def _sort_key(sort: str) -> Callable[[Item], tuple]:
    def title(item: Item) -> tuple:
        return (item.title.casefold(), item.kind, item.id)

    if sort == "pertinence":
        return lambda i: (-i.rank, -i.newest.timestamp(), *title(i))
    if sort == "populaire":
        return lambda i: (-i.popularity, -i.newest.timestamp(), *title(i))
    return lambda i: (-i.newest.timestamp(), *title(i))


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _in_match(column: Any, ranks: dict | None, kind: str) -> ColumnElement[bool] | None:
    """`column IN (matching ids)`, so that only matching rows are read; for very many
    matches (bound parameters are limited) the rows are read and filtered in Python."""
    if ranks is None:
        return None
    ids = sorted(oid for k, oid in ranks if k == kind)
    return column.in_(ids) if len(ids) <= MAX_BOUND_IDS else None


def _datasets(session: Session, viewer: Viewer, filters: Filters, ranks: dict | None) -> list[Item]:
    conditions = [visible_datasets(viewer)]
    restrict = _in_match(Dataset.id, ranks, "dataset")
    if restrict is not None:
        conditions.append(restrict)
    if filters.bbox is not None:
        conditions.append(bbox_condition(session.get_bind().dialect.name, filters.bbox))
    where = and_(*conditions)
    ids = select(Dataset.id).where(where)
    formats: dict[int, set[str]] = {}
    for dataset_id, fmt in session.execute(
        select(Resource.dataset_id, Resource.format)
        .where(Resource.dataset_id.in_(ids), Resource.format.is_not(None))
        .distinct()
    ):
        if fmt.strip():
            formats.setdefault(dataset_id, set()).add(fmt.strip().upper()[:MAX_VALUE_LENGTH])
    # "Most used": there is no download or view counter yet, so popularity is how many
    # reuses and code projects use a dataset, then its layers and resources (a later
    # statistics module can replace this number without touching the rest).
    popularity: Counter[int] = Counter()
    for column in (Layer.__table__.c.dataset_id, Resource.__table__.c.dataset_id):
        popularity.update(
            dict(
                session.execute(
                    select(column, func.count()).where(column.in_(ids)).group_by(column)
                ).all()
            )
        )
    for link in (dataset_reuses, code_project_datasets):
        column = link.c.dataset_id
        for dataset_id, n in session.execute(
            select(column, func.count()).where(column.in_(ids)).group_by(column)
        ):
            popularity[dataset_id] += 100 * n
    rows = session.execute(
        select(
            Dataset.id,
            Dataset.title,
            Organisation.slug,
            Dataset.licence,
            Dataset.access_level,
            Dataset.is_spatial,
            Dataset.themes,
            func.coalesce(Dataset.published_at, Dataset.created_at),
        )
        .join(Organisation, Organisation.id == Dataset.organisation_id)
        .where(where)
    )
    return [
        Item(
            kind="dataset",
            id=row[0],
            title=row[1],
            organisation=row[2],
            licence=(row[3] or "").strip() or None,
            access=str(row[4].value if hasattr(row[4], "value") else row[4]),
            spatial="oui" if row[5] else "non",
            themes=frozenset(
                str(t).strip()[:MAX_VALUE_LENGTH]
                for t in row[6] or ()
                if isinstance(t, str) and t.strip()
            ),
            formats=frozenset(formats.get(row[0], ())),
            newest=_aware(_datetime(row[7])),
            popularity=popularity[row[0]],
        )
        for row in rows
    ]


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite returns coalesce() of dates as text
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def _others(session: Session, viewer: Viewer, kinds: list[str], ranks: dict | None) -> list[Item]:
    items: list[Item] = []
    org_slugs = dict(session.execute(select(Organisation.id, Organisation.slug)).all())

    def where(query: Select, model: Any, kind: str) -> Select:
        restrict = _in_match(model.id, ranks, kind)
        return query if restrict is None else query.where(restrict)

    if "code" in kinds:
        linked = _link_counts(session, code_project_datasets.c.code_project_id, viewer)
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
                    newest=_aware(created),
                    popularity=linked[oid],
                )
            )
    if "reuse" in kinds:
        linked = _link_counts(session, dataset_reuses.c.reuse_id, viewer)
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
                    newest=_aware(created),
                    popularity=linked[oid],
                )
            )
    if "event" in kinds:
        query = where(
            select(Event.id, Event.title, Event.organisation_id, Event.starts_at), Event, "event"
        )
        for oid, title, org, starts in session.execute(query):
            items.append(
                Item("event", oid, title, organisation=org_slugs.get(org), newest=_aware(starts))
            )
    if "organisation" in kinds:
        visible = dict(
            session.execute(
                select(Dataset.organisation_id, func.count())
                .where(visible_datasets(viewer))
                .group_by(Dataset.organisation_id)
            ).all()
        )
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
                    newest=_aware(created),
                    popularity=visible.get(oid, 0),
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
