"""The plan's indicators (`/indicateurs`, issue 22 §3): its measures of success, counted
from the data the platform holds, the same for every visitor.

Everything is counted as an anonymous visitor sees the catalogue: public datasets only
(`visible_datasets(ANONYMOUS)`), approved reuses, campaigns past their draft on public
datasets, usage rows of no dataset or of a public one (`report.visible_usage`). No
personal data is read beyond distinct contributor ids, which only get counted.

`monthly` gives one row per month, from the first month anything happened (at most
`MAX_MONTHS` back) to the current one: what is available at the end of the month
(cumulative: datasets, code projects, reuses, applications) and what happened during
it (downloads, API and OGC calls, events, participants, cartoparty contributors).
Availability counts what is in the catalogue now by its publication date: a dataset
deleted since is absent from the past months too. `summary` gives today's totals and
the partner administrations' figures. The page, the CSV and the JSON all read these two.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import ANONYMOUS, visible_datasets
from niaouli.catalogue.campaigns import credit
from niaouli.catalogue.campaigns.campaign_tables import Campaign, CampaignState, Contribution
from niaouli.catalogue.models import (
    CodeProject,
    Dataset,
    Event,
    EventKind,
    ModerationStatus,
    OrganisationKind,
    Reuse,
    ReuseKind,
)
from niaouli.catalogue.partners import listing, obligations
from niaouli.catalogue.partners.obligations import Obligation
from niaouli.catalogue.partners.partner_tables import PartnerStatus
from niaouli.i18n import N_
from niaouli.stats import classify
from niaouli.stats.report import visible_usage
from niaouli.stats.table import usage_daily as usage

MAX_MONTHS = 120
# The monthly table's columns: key (the CSV's and JSON's, French whatever the language)
# -> label (a French msgid, translated where shown). "mois" comes first.
COLUMNS: dict[str, str] = {
    "jeux_de_donnees": N_("Jeux de données disponibles"),
    "projets_de_code": N_("Projets de code disponibles"),
    "reutilisations": N_("Réutilisations"),
    "applications": N_("Applications construites"),
    "telechargements": N_("Téléchargements"),
    "appels_api": N_("Appels à l'API"),
    "appels_ogc": N_("Appels OGC"),
    "evenements": N_("Événements"),
    "participants": N_("Participants aux événements"),
    "participants_cartoparties": N_("Participants aux cartoparties"),
    "contributeurs_cartoparties": N_("Contributeurs des cartoparties"),
}
CUMULATIVE = ("jeux_de_donnees", "projets_de_code", "reutilisations", "applications")
USAGE = {
    "telechargements": (classify.DOWNLOAD, classify.EXPORT),
    "appels_api": (classify.API,),
    "appels_ogc": classify.OGC_INTERFACES,
}
HAPPENED = (*USAGE, "evenements", "participants", "participants_cartoparties")
SUMMARY: dict[str, str] = {
    "jeux_de_donnees": N_("Jeux de données publics"),
    "projets_de_code": N_("Projets de code"),
    "reutilisations": N_("Réutilisations"),
    "applications": N_("Applications construites"),
    "telechargements": N_("Téléchargements (depuis le début)"),
    "appels_api": N_("Appels à l'API (depuis le début)"),
    "appels_ogc": N_("Appels OGC (depuis le début)"),
    "evenements": N_("Événements"),
    "participants": N_("Participants aux événements"),
    "cartoparties": N_("Cartoparties (campagnes)"),
    "participants_cartoparties": N_("Participants aux cartoparties"),
    "contributeurs_cartoparties": N_("Contributeurs des cartoparties"),
    "contributions_cartoparties": N_("Contributions des cartoparties"),
    "administrations_partenaires": N_("Administrations partenaires (convention signée)"),
    "administrations_en_cours": N_("Administrations invitées ou en discussion"),
    "administrations_soumises": N_("Administrations soumises à l'obligation"),
    "administrations_obligation_respectee": N_("Administrations qui respectent l'obligation"),
    "communes_soumises_population": N_("Communes de 3 500 habitants ou plus (table de population)"),
    "communes_obligation_respectee": N_("Communes qui respectent l'obligation"),
}


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, value: date | datetime) -> Month:
        return cls(value.year, value.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)


def _months(first: Month, last: Month) -> list[Month]:
    months = [first]
    while months[-1] != last:
        months.append(months[-1].next())
    return months[-MAX_MONTHS:]


def _dates(session: Session, query) -> list[date | datetime]:  # noqa: ANN001 - a Select
    return [value for value in session.scalars(query) if value is not None]


def monthly(session: Session, today: date) -> list[dict[str, Any]]:
    """One row per month (module docstring): {"mois": "2026-12", <COLUMNS keys>: int}."""
    public = visible_datasets(ANONYMOUS)
    approved = Reuse.status == ModerationStatus.APPROVED
    available = {
        "jeux_de_donnees": _dates(
            session,
            select(func.coalesce(Dataset.published_at, Dataset.created_at)).where(public),
        ),
        "projets_de_code": _dates(session, select(CodeProject.created_at)),
        "reutilisations": _dates(session, select(Reuse.created_at).where(approved)),
        "applications": _dates(
            session,
            select(Reuse.created_at).where(approved, Reuse.kind == ReuseKind.APPLICATION),
        ),
    }
    during: dict[str, dict[Month, int]] = {key: defaultdict(int) for key in COLUMNS}
    group_of = {i: key for key, interfaces in USAGE.items() for i in interfaces}
    for day, interface, visits in session.execute(
        select(usage.c.day, usage.c.interface, func.sum(usage.c.unique_visits))
        .where(visible_usage(ANONYMOUS), usage.c.interface.in_(list(group_of)))
        .group_by(usage.c.day, usage.c.interface)
    ):
        during[group_of[interface]][Month.of(day)] += int(visits or 0)
    for starts, kind, participants in session.execute(
        select(Event.starts_at, Event.kind, Event.participants)
    ):
        month = Month.of(starts)
        during["evenements"][month] += 1
        during["participants"][month] += participants or 0
        if kind == EventKind.CARTOPARTY:
            during["participants_cartoparties"][month] += participants or 0
    contributors: dict[Month, set[int]] = defaultdict(set)
    for contributor, created in session.execute(
        select(Contribution.contributor_id, Contribution.created_at).where(
            Contribution.campaign_id.in_(_public_campaign_ids())
        )
    ):
        contributors[Month.of(created)].add(contributor)
    for month, people in contributors.items():
        during["contributeurs_cartoparties"][month] = len(people)

    known = [Month.of(d) for dates in available.values() for d in dates]
    known += [m for values in during.values() for m in values]
    current = Month.of(today)
    first = min([m for m in known if m <= current] or [current])
    rows = []
    sorted_dates = {key: sorted(Month.of(d) for d in dates) for key, dates in available.items()}
    for month in _months(first, current):
        row: dict[str, Any] = {"mois": month.text}
        for key in COLUMNS:
            if key in CUMULATIVE:
                row[key] = sum(1 for m in sorted_dates[key] if m <= month)
            else:
                row[key] = during[key].get(month, 0)
        rows.append(row)
    return rows


def _public_campaign_ids():  # noqa: ANN202 - a Select of ids
    return (
        select(Campaign.id)
        .join(Dataset, Dataset.id == Campaign.dataset_id)
        .where(Campaign.state != CampaignState.DRAFT, visible_datasets(ANONYMOUS))
    )


def summary(session: Session, series: list[dict[str, Any]]) -> dict[str, int]:
    """Today's totals ({SUMMARY key: int}), the partners' figures included: what is
    available now, and the sums of the monthly series for what happened."""
    last = series[-1] if series else {}
    campaigns = credit.statistics(session, ANONYMOUS)
    partners = listing.rows(session, partners_only=False)
    subject = [r for r in partners if r.assessment.subject]
    communes = [r for r in subject if r.organisation.kind == OrganisationKind.COMMUNE]
    statuses = [r.partnership.status for r in partners if r.partnership is not None]
    figures = {
        **{key: int(last.get(key, 0)) for key in CUMULATIVE},
        # what happened, up to this month (events announced for later are not counted)
        **{key: sum(int(row[key]) for row in series) for key in HAPPENED},
        "cartoparties": campaigns["campagnes"],
        "contributeurs_cartoparties": campaigns["contributeurs"],
        "contributions_cartoparties": campaigns["contributions"],
        "administrations_partenaires": statuses.count(PartnerStatus.SIGNED),
        "administrations_en_cours": sum(
            1 for s in statuses if s in (PartnerStatus.INVITED, PartnerStatus.DISCUSSION)
        ),
        "administrations_soumises": len(subject),
        "administrations_obligation_respectee": sum(
            1 for r in subject if r.assessment.obligation == Obligation.MET
        ),
        "communes_soumises_population": obligations.communes_over_threshold(),
        "communes_obligation_respectee": sum(
            1 for r in communes if r.assessment.obligation == Obligation.MET
        ),
    }
    return {key: figures[key] for key in SUMMARY}
