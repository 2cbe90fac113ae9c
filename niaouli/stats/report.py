"""Reading the counters back for one viewer: never a dataset they may not see.

Every query keeps the rows that concern no dataset (home page, /ogc landing, CSW
searches...) and those of datasets `visible_datasets(viewer)` allows, so a non-public
dataset's hits are absent from totals, organisation tables, top lists and charts alike.
The figures shown are de-duplicated visits (`unique_visits`); raw hits come with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    ModerationStatus,
    Organisation,
    Reuse,
)
from niaouli.i18n import N_
from niaouli.stats import classify
from niaouli.stats.table import usage_daily as usage

# What the page shows, each a sum of interfaces: key -> (label, interfaces). The keys are
# the JSON's; the labels are French msgids, translated where shown (`_(label)`).
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vues": (N_("Pages vues"), (classify.PAGE,)),
    "telechargements": (N_("Téléchargements"), (classify.DOWNLOAD, classify.EXPORT)),
    "api": (N_("Appels à l'API"), (classify.API,)),
    "ogc": (N_("Appels OGC (entités, tuiles, fiches)"), classify.OGC_INTERFACES),
    "csw": (N_("Appels CSW"), (classify.CSW,)),
    "flux": (N_("Flux (DCAT, Atom, plan du site)"), (classify.FEED,)),
    "robots": (N_("Robots d'indexation (à part)"), (classify.ROBOTS,)),
}
PER_DATASET = ("vues", "telechargements", "api", "ogc", "csw")
GROUP_OF = {interface: key for key, (_l, interfaces) in GROUPS.items() for interface in interfaces}


@dataclass
class Figure:
    hits: int = 0
    visits: int = 0

    def add(self, hits: int, visits: int) -> None:
        self.hits += int(hits)
        self.visits += int(visits)


@dataclass
class Figures:
    """Counts per group (`GROUPS` keys)."""

    by_group: dict[str, Figure] = field(default_factory=lambda: {k: Figure() for k in GROUPS})

    def add(self, interface: str, hits: int, visits: int) -> None:
        group = GROUP_OF.get(interface)
        if group is not None:
            self.by_group[group].add(hits, visits)

    def __getitem__(self, group: str) -> Figure:
        return self.by_group[group]

    def as_json(self) -> dict[str, dict[str, int]]:
        return {k: {"visites": f.visits, "requetes": f.hits} for k, f in self.by_group.items()}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    step: int  # days per chart point (1 or 7)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def visible_usage(viewer: Viewer) -> ColumnElement[bool]:
    """Rows concerning no dataset, or a dataset the viewer may see."""
    visible_ids = select(Dataset.id).where(visible_datasets(viewer))
    return or_(usage.c.dataset_id.is_(None), usage.c.dataset_id.in_(visible_ids))


def _where(
    viewer: Viewer, period: Period, organisation_id: int | None, dataset_id: int | None
) -> ColumnElement[bool]:
    conditions = [visible_usage(viewer), usage.c.day.between(period.start, period.end)]
    if organisation_id is not None:
        conditions.append(usage.c.organisation_id == organisation_id)
    if dataset_id is not None:
        conditions.append(usage.c.dataset_id == dataset_id)
    return and_(*conditions)


def totals(
    session: Session,
    viewer: Viewer,
    period: Period,
    organisation_id: int | None = None,
    dataset_id: int | None = None,
) -> Figures:
    rows = session.execute(
        select(usage.c.interface, func.sum(usage.c.hits), func.sum(usage.c.unique_visits))
        .where(_where(viewer, period, organisation_id, dataset_id))
        .group_by(usage.c.interface)
    )
    figures = Figures()
    for interface, hits, visits in rows:
        figures.add(interface, hits or 0, visits or 0)
    return figures


def per_organisation(
    session: Session, viewer: Viewer, period: Period
) -> list[tuple[Organisation, Figures]]:
    """Every organisation with its (visible) counts, busiest first."""
    rows = session.execute(
        select(
            usage.c.organisation_id,
            usage.c.interface,
            func.sum(usage.c.hits),
            func.sum(usage.c.unique_visits),
        )
        .where(_where(viewer, period, None, None), usage.c.organisation_id.is_not(None))
        .group_by(usage.c.organisation_id, usage.c.interface)
    )
    by_org: dict[int, Figures] = {}
    for org_id, interface, hits, visits in rows:
        by_org.setdefault(org_id, Figures()).add(interface, hits or 0, visits or 0)
    organisations = session.scalars(select(Organisation).order_by(Organisation.name)).all()
    result = [(org, by_org.get(org.id, Figures())) for org in organisations]
    result.sort(key=lambda item: -sum(item[1][g].visits for g in PER_DATASET))
    return result


def top_datasets(
    session: Session,
    viewer: Viewer,
    period: Period,
    organisation_id: int | None = None,
    limit: int = 20,
) -> list[tuple[Dataset, Figures]]:
    """The most used datasets the viewer may see (by visits on every interface)."""
    where = and_(_where(viewer, period, organisation_id, None), usage.c.dataset_id.is_not(None))
    busiest = (
        select(usage.c.dataset_id)
        .where(where, usage.c.interface != classify.ROBOTS)
        .group_by(usage.c.dataset_id)
        .order_by(func.sum(usage.c.unique_visits).desc(), usage.c.dataset_id)
        .limit(limit)
    )
    ids = list(session.scalars(busiest))
    if not ids:
        return []
    figures: dict[int, Figures] = {i: Figures() for i in ids}
    rows = session.execute(
        select(
            usage.c.dataset_id,
            usage.c.interface,
            func.sum(usage.c.hits),
            func.sum(usage.c.unique_visits),
        )
        .where(where, usage.c.dataset_id.in_(ids))
        .group_by(usage.c.dataset_id, usage.c.interface)
    )
    for dataset_id, interface, hits, visits in rows:
        figures[dataset_id].add(interface, hits or 0, visits or 0)
    datasets = {d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(ids)))}
    return [(datasets[i], figures[i]) for i in ids if i in datasets]


def series(
    session: Session,
    viewer: Viewer,
    period: Period,
    organisation_id: int | None = None,
    dataset_id: int | None = None,
) -> list[tuple[date, Figures]]:
    """One point per day or week (`period.step`) from start to end, empty ones included."""
    points: list[tuple[date, Figures]] = []
    day = period.start
    while day <= period.end:
        points.append((day, Figures()))
        day += timedelta(days=period.step)
    rows = session.execute(
        select(
            usage.c.day,
            usage.c.interface,
            func.sum(usage.c.hits),
            func.sum(usage.c.unique_visits),
        )
        .where(_where(viewer, period, organisation_id, dataset_id))
        .group_by(usage.c.day, usage.c.interface)
    )
    for day, interface, hits, visits in rows:
        index = (day - period.start).days // period.step
        if 0 <= index < len(points):
            points[index][1].add(interface, hits or 0, visits or 0)
    return points


def catalogue_figures(
    session: Session, viewer: Viewer, organisation_id: int | None = None
) -> dict[str, int]:
    """What is available: datasets the viewer may see, code, approved reuses, events."""

    def count(query) -> int:  # noqa: ANN001 - a Select
        return int(session.scalar(query) or 0)

    def of_org(query, column):  # noqa: ANN001, ANN202
        return query if organisation_id is None else query.where(column == organisation_id)

    return {
        "jeux_de_donnees": count(
            of_org(
                select(func.count(Dataset.id)).where(visible_datasets(viewer)),
                Dataset.organisation_id,
            )
        ),
        "projets_de_code": count(
            of_org(select(func.count(CodeProject.id)), CodeProject.organisation_id)
        ),
        "reutilisations": count(
            of_org(
                select(func.count(Reuse.id)).where(Reuse.status == ModerationStatus.APPROVED),
                Reuse.organisation_id,
            )
        ),
        "evenements": count(of_org(select(func.count(Event.id)), Event.organisation_id)),
        "participants": count(
            of_org(select(func.coalesce(func.sum(Event.participants), 0)), Event.organisation_id)
        ),
    }
