"""Reviewing a campaign's contributions: the queue, the decisions, their history.

The organisation's editors (`campaign.review`) see every staged contribution of the
campaign in a queue filtered by state, contributor and validation problem, paginated by
id so that 100,000 pending contributions answer as fast as 100 (one indexed count per
state, one page of rows). Per contribution or per submission they approve, reject or
send back with a comment (the states of ODK Central: received, has issues, edited,
approved, rejected); every decision is a `ReviewEntry` (who, what, when, why). Nobody
approves their own contribution, whatever their role. A merged contribution is final:
its row is locked while a decision is taken (`FOR UPDATE`), so a decision racing a
merge waits for it and is then refused.

A correction (update, retire) shows the feature as the volunteer saw it
(`base_feature`) and as it is now; when the layer's feature changed since
(`base_version` differs from `merge.current_version`, cartoa's one hash), the reviewer
sees a conflict with both versions and decides: approving then records the version
approved against, and the merge sends the contribution back if it moved again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import ColumnElement, String, and_, cast, func, not_, or_, select
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    ContributionAction,
    ContributionState,
    Merge,
    ReviewEntry,
    Submission,
)
from niaouli.catalogue.campaigns.merge import current_version
from niaouli.catalogue.models import utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _

PER_PAGE = 50
MAX_PER_PAGE = 200
DECISIONS = {
    "approve": ContributionState.APPROVED,
    "reject": ContributionState.REJECTED,
    "send_back": ContributionState.HAS_ISSUES,
}
STATE_LABELS = {
    ContributionState.RECEIVED: N_("reçue"),
    ContributionState.HAS_ISSUES: N_("à reprendre"),
    ContributionState.EDITED: N_("modifiée"),
    ContributionState.APPROVED: N_("approuvée"),
    ContributionState.REJECTED: N_("refusée"),
    ContributionState.MERGED: N_("fusionnée"),
}
ACTION_LABELS = {
    ContributionAction.CREATE: N_("ajout"),
    ContributionAction.UPDATE: N_("correction"),
    ContributionAction.RETIRE: N_("retrait"),
}
PROBLEM_FILTERS = ("any", "none", "warning", "duplicate", "outside_area", "geometry_invalid")
SELF_APPROVAL = N_("vous ne pouvez pas approuver votre propre contribution (%(uid)s)")


@dataclass(frozen=True)
class Filters:
    state: str | None = None  # a ContributionState value
    contributor_id: int | None = None
    problem: str | None = None  # one of PROBLEM_FILTERS, or a problem code
    submission_id: int | None = None


@dataclass
class QueueRow:
    id: int
    uid: str
    action: str
    state: str
    display_name: str
    contributor_id: int
    submission_id: int | None
    properties: dict[str, Any]
    problems: list[dict[str, Any]]
    geometry: dict[str, Any] | None
    created_at: datetime
    review_comment: str | None
    conflict: bool = False

    def as_feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": self.id,
            "geometry": self.geometry,
            "properties": {
                "uid": self.uid,
                "state": self.state,
                "action": self.action,
                "contributor": self.display_name,
            },
        }


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int  # matching the filters
    page: int
    per_page: int
    counts: dict[str, int]  # per state, whole campaign
    contributors: list[tuple[int, str]]  # for the filter
    approved_waiting: int = 0
    last_merge: Merge | None = None
    filters: Filters = field(default_factory=Filters)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def may_review(viewer: Viewer, campaign: Campaign) -> bool:
    return allowed(viewer, Action.CAMPAIGN_REVIEW, campaign)


def check_reviewer(viewer: Viewer, campaign: Campaign) -> None:
    if not may_review(viewer, campaign):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation relisent cette campagne"))


def _problem_condition(session: Session, problem: str) -> ColumnElement[bool]:
    """Contributions with (or without) validation problems, by code or severity."""
    text_of = cast(Contribution.problems, String)
    empty = or_(Contribution.problems.is_(None), text_of.in_(["[]", "null"]))
    if problem == "none":
        return empty
    if problem == "any":
        return not_(empty)
    if problem == "warning":
        return text_of.like('%"severity": "warning"%') | text_of.like('%"severity":"warning"%')
    code = problem.replace("%", "").replace("_", r"\_")
    return text_of.like(f'%"code": "{code}"%', escape="\\") | text_of.like(
        f'%"code":"{code}"%', escape="\\"
    )


def _filtered(session: Session, campaign: Campaign, filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Contribution.campaign_id == campaign.id]
    if filters.state:
        conditions.append(Contribution.state == ContributionState(filters.state))
    if filters.contributor_id:
        conditions.append(Contribution.contributor_id == filters.contributor_id)
    if filters.submission_id:
        conditions.append(Contribution.submission_id == filters.submission_id)
    if filters.problem:
        conditions.append(_problem_condition(session, filters.problem))
    return conditions


def queue(
    session: Session,
    campaign: Campaign,
    viewer: Viewer,
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> QueuePage:
    """One page of the review queue (oldest first), with the counts the page shows."""
    check_reviewer(viewer, campaign)
    filters = filters or Filters()
    try:
        conditions = _filtered(session, campaign, filters)
    except ValueError:
        raise CatalogueError(_("état inconnu : %(state)s") % {"state": filters.state}) from None
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    page = max(1, int(page))
    counts = {
        state.value: count
        for state, count in session.execute(
            select(Contribution.state, func.count())
            .where(Contribution.campaign_id == campaign.id)
            .group_by(Contribution.state)
        )
    }
    unfiltered = len(conditions) == 1
    total = (
        sum(counts.values())
        if unfiltered
        else session.scalar(select(func.count()).select_from(Contribution).where(*conditions))
    )
    rows = session.execute(
        select(
            Contribution,
            Submission.display_name,
            func.ST_AsGeoJSON(Contribution.geom),
        )
        .outerjoin(Submission, Submission.id == Contribution.submission_id)
        .where(*conditions)
        .order_by(Contribution.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    contributors = [
        (cid, name)
        for cid, name in session.execute(
            select(Submission.contributor_id, func.min(Submission.display_name))
            .where(Submission.campaign_id == campaign.id)
            .group_by(Submission.contributor_id)
            .order_by(func.min(Submission.display_name))
        )
    ]
    last_merge = session.scalar(
        select(Merge).where(Merge.campaign_id == campaign.id).order_by(Merge.id.desc()).limit(1)
    )
    return QueuePage(
        rows=[_row(c, name, geojson) for c, name, geojson in rows],
        total=total or 0,
        page=page,
        per_page=per_page,
        counts=counts,
        contributors=contributors,
        approved_waiting=counts.get(ContributionState.APPROVED.value, 0),
        last_merge=last_merge,
        filters=filters,
    )


def _row(contribution: Contribution, name: str | None, geojson: str | None) -> QueueRow:
    import json

    return QueueRow(
        id=contribution.id,
        uid=contribution.uid,
        action=ContributionAction(contribution.action).value,
        state=ContributionState(contribution.state).value,
        display_name=name or "",
        contributor_id=contribution.contributor_id,
        submission_id=contribution.submission_id,
        properties=dict(contribution.properties or {}),
        problems=list(contribution.problems or []),
        geometry=json.loads(geojson) if geojson else None,
        created_at=contribution.created_at,
        review_comment=contribution.review_comment,
    )


# --- decisions --------------------------------------------------------------------------


def decide(
    session: Session,
    viewer: Viewer,
    campaign: Campaign,
    contribution_ids: list[int],
    decision: str,
    comment: str | None = None,
    *,
    actor: audit.Actor | None = None,
) -> list[Contribution]:
    """Approve, reject or send back (`decision`) the contributions named; all or none.

    Refused: a viewer who may not review; approving one's own contribution; sending
    back without a comment; a merged contribution (final)."""
    check_reviewer(viewer, campaign)
    if decision not in DECISIONS:
        raise CatalogueError(_("décision inconnue : %(d)s") % {"d": decision[:40]})
    comment = (comment or "").strip()[:4000] or None
    if decision == "send_back" and not comment:
        raise CatalogueError(_("dites au contributeur ce qu'il faut reprendre (commentaire)"))
    if not contribution_ids:
        raise CatalogueError(_("aucune contribution choisie"))
    rows = session.scalars(
        select(Contribution)
        .where(Contribution.campaign_id == campaign.id, Contribution.id.in_(contribution_ids))
        .order_by(Contribution.id)
        .with_for_update()
    ).all()
    if len(rows) != len(set(contribution_ids)):
        raise NotFoundError(_("contribution introuvable dans cette campagne"))
    target = DECISIONS[decision]
    now = utcnow()
    for contribution in rows:
        if contribution.state == ContributionState.MERGED:
            raise ConflictError(
                _("la contribution %(uid)s est déjà fusionnée dans la couche")
                % {"uid": contribution.uid}
            )
        if target == ContributionState.APPROVED and contribution.contributor_id == viewer.user_id:
            raise ForbiddenError(_(SELF_APPROVAL) % {"uid": contribution.uid})
        before: dict[str, Any] = {"state": ContributionState(contribution.state).value}
        if target == ContributionState.APPROVED and contribution.target_fid is not None:
            version = current_version(session, campaign, contribution.target_fid)
            if version is None:
                raise ConflictError(
                    _("l'objet %(fid)s visé par %(uid)s n'existe plus dans la couche")
                    % {"fid": contribution.target_fid, "uid": contribution.uid}
                )
            before["feature_version"] = version  # what the merge checks again
        contribution.state = target
        contribution.reviewed_by_id = viewer.user_id
        contribution.reviewed_at = now
        contribution.review_comment = comment
        contribution.version = (contribution.version or 1) + 1
        session.add(
            ReviewEntry(
                contribution_id=contribution.id,
                reviewer_id=viewer.user_id,
                action=decision,
                comment=comment,
                before=before,
            )
        )
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        f"campaign.{decision}",
        subject=campaign.slug,
        organisation_id=campaign.organisation_id,
        contributions=[c.id for c in rows][:100],
        count=len(rows),
    )
    session.flush()
    return list(rows)


def decide_submission(
    session: Session,
    viewer: Viewer,
    campaign: Campaign,
    submission_id: int,
    decision: str,
    comment: str | None = None,
    *,
    actor: audit.Actor | None = None,
) -> list[Contribution]:
    """`decide` for every contribution of one submission not merged yet."""
    ids = session.scalars(
        select(Contribution.id).where(
            Contribution.campaign_id == campaign.id,
            Contribution.submission_id == submission_id,
            Contribution.state != ContributionState.MERGED,
        )
    ).all()
    if not ids:
        raise NotFoundError(_("envoi introuvable, ou déjà entièrement fusionné"))
    return decide(session, viewer, campaign, list(ids), decision, comment, actor=actor)


def history(session: Session, contribution: Contribution) -> list[ReviewEntry]:
    return list(
        session.scalars(
            select(ReviewEntry)
            .where(ReviewEntry.contribution_id == contribution.id)
            .order_by(ReviewEntry.id)
        )
    )


@dataclass
class Comparison:
    """A correction as the reviewer sees it: before (as the volunteer saw it), after (the
    proposal), now (the layer's feature today) and whether they conflict."""

    before: dict[str, Any] | None
    after: dict[str, Any]
    now: dict[str, Any] | None
    conflict: bool
    missing: bool


def compare(session: Session, campaign: Campaign, contribution: Contribution) -> Comparison:
    after = {
        "type": "Feature",
        "geometry": mapping(to_shape(contribution.geom)) if contribution.geom is not None else None,
        "properties": dict(contribution.properties or {}),
    }
    if contribution.target_fid is None:
        return Comparison(None, after, None, False, False)
    from niaouli.catalogue.campaigns.contributions import geojson_version
    from niaouli.catalogue.campaigns.validation import target_feature

    now = target_feature(session, campaign, contribution.target_fid)
    missing = now is None
    conflict = missing or (
        contribution.base_version is not None and geojson_version(now) != contribution.base_version
    )
    return Comparison(contribution.base_feature, after, now, conflict, missing)


def mine(session: Session, campaign: Campaign, viewer: Viewer) -> list[Contribution]:
    """A volunteer's own contributions with their state and comment (their page)."""
    if viewer.user_id is None:
        return []
    return list(
        session.scalars(
            select(Contribution)
            .where(
                and_(
                    Contribution.campaign_id == campaign.id,
                    Contribution.contributor_id == viewer.user_id,
                )
            )
            .order_by(Contribution.id.desc())
        )
    )
