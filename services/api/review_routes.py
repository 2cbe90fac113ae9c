"""Reviewing and merging a campaign's contributions through the API.

The same operations as the portal's review pages, for scripts: the queue (filters and
pages as there), a decision on contributions or a whole submission, starting the merge
job and reading the merges. The rules are the core's (`campaigns.review`,
`campaigns.merge`, `permissions`): a viewer who may not review gets 403, a merged
contribution 409, self-approval 403; the core's refusals become the API's JSON errors in
its one handler.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue.campaigns import merge, review
from niaouli.catalogue.campaigns.campaign_tables import Campaign, Merge, MergeState
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import ForbiddenError
from niaouli.services.api.core import Call, Operation
from niaouli.services.api.errors import invalid, not_found


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "send_back"]
    contributions: list[int] = Field(default_factory=list, max_length=5000)
    submission: int | None = None
    comment: str | None = Field(default=None, max_length=4000)


def _campaign(session: Session, call: Call) -> Campaign:
    """404 for an unknown campaign, 403 for one the viewer may not review."""
    campaign = session.scalar(select(Campaign).where(Campaign.slug == call.params["slug"][:100]))
    if campaign is None:
        raise not_found("campagne")
    review.check_reviewer(call.viewer, campaign)
    return campaign


def _int(raw: str | None, name: str) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise invalid(f"« {name} » attend un nombre entier")
    return int(raw)


def review_queue(call: Call) -> dict[str, Any]:
    query = call.request.query_params
    filters = review.Filters(
        state=query.get("state") or None,
        contributor_id=_int(query.get("contributor"), "contributor"),
        problem=(query.get("problem") or None),
        submission_id=_int(query.get("submission"), "submission"),
    )
    with Session(call.context.engine) as session:
        campaign = _campaign(session, call)
        page = review.queue(
            session,
            campaign,
            call.viewer,
            filters,
            _int(query.get("page"), "page") or 1,
            _int(query.get("limit"), "limit") or review.PER_PAGE,
        )
    return {
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
        "counts": page.counts,
        "contributions": [
            {
                "id": r.id,
                "uid": r.uid,
                "action": r.action,
                "state": r.state,
                "contributor": r.display_name,
                "submission": r.submission_id,
                "properties": r.properties,
                "problems": r.problems,
                "geometry": r.geometry,
                "comment": r.review_comment,
            }
            for r in page.rows
        ],
    }


def review_decide(call: Call) -> dict[str, Any]:
    body: Decision = call.body
    with Session(writing(call.context.engine)) as session, session.begin():
        campaign = _campaign(session, call)
        if body.submission is not None:
            done = review.decide_submission(
                session,
                call.viewer,
                campaign,
                body.submission,
                body.decision,
                body.comment,
                actor=call.actor(),
            )
        else:
            done = review.decide(
                session,
                call.viewer,
                campaign,
                body.contributions,
                body.decision,
                body.comment,
                actor=call.actor(),
            )
        return {"decided": [{"id": c.id, "uid": c.uid, "state": c.state.value} for c in done]}


def start_merge(call: Call) -> tuple[int, dict[str, Any]]:
    """202: the merge job is queued (or started inline); `merges` tells how it ended."""
    with Session(writing(call.context.engine)) as session, session.begin():
        campaign = _campaign(session, call)
        if not allowed(call.viewer, Action.CAMPAIGN_MERGE, campaign):
            raise ForbiddenError("seuls les éditeurs de l'organisation fusionnent")
        merge.check_mergeable(session, campaign)
        merge.record_start(session, campaign, call.viewer, call.actor())
        submitted = merge.start(call.context.settings, campaign, call.viewer)
    return 202, {"job": str(submitted), "merges": f"/api/campaigns/{call.params['slug']}/merges"}


def list_merges(call: Call) -> list[dict[str, Any]]:
    with Session(call.context.engine) as session:
        campaign = _campaign(session, call)
        rows = session.scalars(
            select(Merge)
            .where(Merge.campaign_id == campaign.id)
            .order_by(Merge.id.desc())
            .limit(50)
        ).all()
        return [
            {
                "id": r.id,
                "state": MergeState(r.state).value,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "report": {k: v for k, v in (r.report or {}).items() if k not in ("pid", "host")},
            }
            for r in rows
        ]


def operations() -> list[Operation]:
    tag = "Cartoparties"
    return [
        Operation(
            "GET",
            "/campaigns/{slug}/review",
            review_queue,
            "File de relecture d'une campagne (éditeurs de l'organisation)",
            tag,
            errors=(401, 403, 404, 422),
            query=[
                {"name": n, "in": "query", "schema": {"type": t}}
                for n, t in (
                    ("state", "string"),
                    ("contributor", "integer"),
                    ("problem", "string"),
                    ("submission", "integer"),
                    ("page", "integer"),
                    ("limit", "integer"),
                )
            ],
        ),
        Operation(
            "POST",
            "/campaigns/{slug}/review",
            review_decide,
            "Approuver, refuser ou renvoyer des contributions (ou tout un envoi)",
            tag,
            writes=True,
            body=Decision,
            errors=(400, 401, 403, 404, 409, 422),
        ),
        Operation(
            "POST",
            "/campaigns/{slug}/merge",
            start_merge,
            "Fusionner les contributions approuvées dans la couche (tâche de fond)",
            tag,
            writes=True,
            status=202,
            errors=(401, 403, 404, 409),
        ),
        Operation(
            "GET",
            "/campaigns/{slug}/merges",
            list_merges,
            "Fusions d'une campagne et leur rapport",
            tag,
            errors=(401, 403, 404),
        ),
    ]
