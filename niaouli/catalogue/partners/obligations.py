"""Publication obligations: which administrations the law requires to open their data,
and whether they do.

The rule (loi pour une République numérique, art. 6, as the programme applies it): an
administration with 50 agents or more must publish its data; a commune only if it also
has 3,500 inhabitants or more. Inhabitants come from the demo data's population table
(`geodata/nc_communes_population.csv`, the commune's INSEE code), agents from the
figure platform admins enter. Associations and research bodies are not concerned. An
obligation is met when the organisation publishes at least one public dataset.
"""

from __future__ import annotations

import csv
import enum
from dataclasses import dataclass
from functools import cache

from niaouli.catalogue.models import Organisation, OrganisationKind
from niaouli.catalogue.partners.partner_tables import Partnership
from niaouli.i18n import N_
from niaouli.resources import package_dir

POPULATION_TABLE = "nc_communes_population.csv"
MIN_INHABITANTS = 3_500
MIN_AGENTS = 50
NOT_CONCERNED = (OrganisationKind.ASSOCIATION, OrganisationKind.RESEARCH)


class Obligation(enum.StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NOT_SUBJECT = "not_subject"
    UNKNOWN = "unknown"  # a figure is missing to decide


LABELS = {
    Obligation.MET: N_("obligation respectée"),
    Obligation.NOT_MET: N_("obligation non respectée"),
    Obligation.NOT_SUBJECT: N_("non soumise"),
    Obligation.UNKNOWN: N_("à préciser"),
}


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    population: int


@cache
def communes() -> dict[str, Commune]:
    """The population table, by INSEE code (read once from the package data)."""
    path = package_dir("niaouli.geodata") / POPULATION_TABLE
    with path.open(encoding="utf-8", newline="") as handle:
        return {
            row["code_commune"]: Commune(
                row["code_commune"], row["nom_commune"], int(row["population"])
            )
            for row in csv.DictReader(handle)
        }


@dataclass(frozen=True)
class Assessment:
    obligation: Obligation
    subject: bool | None  # None: undecided (a figure is missing)
    inhabitants: int | None

    @property
    def label(self) -> str:
        return LABELS[self.obligation]


def assess(
    organisation: Organisation, partnership: Partnership | None, public_datasets: int
) -> Assessment:
    """Whether the law applies to `organisation`, and whether it is met."""
    agents = partnership.agents if partnership else None
    code = partnership.commune_code if partnership else None
    commune = communes().get(code) if code else None
    inhabitants = commune.population if commune else None
    is_commune = organisation.kind == OrganisationKind.COMMUNE
    small_commune = is_commune and inhabitants is not None and inhabitants < MIN_INHABITANTS
    few_agents = agents is not None and agents < MIN_AGENTS
    subject: bool | None
    if organisation.kind in NOT_CONCERNED or small_commune or few_agents:
        subject = False
    elif agents is None or (is_commune and commune is None):
        subject = None  # a figure is missing to decide
    else:
        subject = True
    if subject is None:
        obligation = Obligation.UNKNOWN
    elif not subject:
        obligation = Obligation.NOT_SUBJECT
    else:
        obligation = Obligation.MET if public_datasets > 0 else Obligation.NOT_MET
    return Assessment(obligation, subject, inhabitants)


def communes_over_threshold() -> int:
    """How many communes of the population table have 3,500 inhabitants or more."""
    return sum(1 for c in communes().values() if c.population >= MIN_INHABITANTS)
