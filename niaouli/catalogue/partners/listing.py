"""The public list of partner administrations (`/partenaires`) and its figures.

Counted for everyone alike, as an anonymous visitor sees the catalogue: public datasets
only (`visible_datasets(ANONYMOUS)`), so a private dataset never shows in a partner's
numbers. For each partner: status and agreement, contacts, datasets and code projects
published, the last publication, the obligation (`obligations.assess`) and the quality.

**Quality hook.** The quality score is another module's (issue 22 asks for it "when it
exists"): it registers `set_quality_scorer(fn)`, where `fn(session, organisation_ids)`
returns {organisation id: score between 0 and 100}. Until one is registered, or for an
organisation it gives no score, `PartnerRow.quality` is None and the page shows "—".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import ANONYMOUS, visible_datasets
from niaouli.catalogue.models import CodeProject, Dataset, Organisation
from niaouli.catalogue.partners.obligations import Assessment, assess
from niaouli.catalogue.partners.partner_tables import Partnership

QualityScorer = Callable[[Session, list[int]], dict[int, float]]
_quality_scorer: QualityScorer | None = None


def set_quality_scorer(scorer: QualityScorer | None) -> None:
    """Registers the quality score's function (module docstring); None removes it."""
    global _quality_scorer  # noqa: PLW0603 - one hook, set at start-up
    _quality_scorer = scorer


def quality_scores(session: Session, organisation_ids: list[int]) -> dict[int, float]:
    """The registered scores, or none at all when no scorer is registered."""
    if _quality_scorer is None or not organisation_ids:
        return {}
    return _quality_scorer(session, organisation_ids)


@dataclass
class PartnerRow:
    organisation: Organisation
    partnership: Partnership | None
    datasets: int
    code_projects: int
    last_publication: datetime | None
    assessment: Assessment
    quality: float | None


def public_counts(session: Session) -> dict[int, tuple[int, datetime | None]]:
    """{organisation id: (public datasets, last publication)}."""
    rows = session.execute(
        select(Dataset.organisation_id, func.count(Dataset.id), func.max(Dataset.published_at))
        .where(visible_datasets(ANONYMOUS))
        .group_by(Dataset.organisation_id)
    )
    return {org: (int(count), last) for org, count, last in rows}


def code_counts(session: Session) -> dict[int, tuple[int, datetime | None]]:
    """{organisation id: (code projects, last added)}."""
    rows = session.execute(
        select(
            CodeProject.organisation_id,
            func.count(CodeProject.id),
            func.max(CodeProject.created_at),
        ).group_by(CodeProject.organisation_id)
    )
    return {org: (int(count), last) for org, count, last in rows}


def _latest(*values: datetime | None) -> datetime | None:
    known = [v.replace(tzinfo=None) if v.tzinfo else v for v in values if v is not None]
    return max(known) if known else None


def rows(session: Session, partners_only: bool = True) -> list[PartnerRow]:
    """Organisations with a partnership status (all of them with `partners_only=False`),
    by name, each with its figures."""
    query = select(Organisation, Partnership).outerjoin(
        Partnership, Partnership.organisation_id == Organisation.id
    )
    if partners_only:
        query = query.where(Partnership.status.is_not(None))
    found: Iterable[tuple[Organisation, Partnership | None]] = session.execute(
        query.order_by(Organisation.name, Organisation.id)
    ).all()
    pairs = list(found)
    datasets = public_counts(session)
    code = code_counts(session)
    scores = quality_scores(session, [org.id for org, _p in pairs])
    result = []
    for org, partnership in pairs:
        count, last_dataset = datasets.get(org.id, (0, None))
        projects, last_code = code.get(org.id, (0, None))
        result.append(
            PartnerRow(
                organisation=org,
                partnership=partnership,
                datasets=count,
                code_projects=projects,
                last_publication=_latest(last_dataset, last_code),
                assessment=assess(org, partnership, count),
                quality=scores.get(org.id),
            )
        )
    return result
