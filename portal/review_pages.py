"""The review of a campaign's contributions, for its organisation's editors.

`/campagnes/{slug}/revue` is the queue (a map of the page's contributions and a table,
filters by state, contributor and validation problem, paginated); `…/revue.geojson`
the same page for the map; `…/revue/{id}` one contribution (its attributes, problems,
history and, for a correction, the feature before, proposed and now, with the conflict
when the layer's feature changed since the volunteer saw it); POST `…/revue/decider`
approves, rejects or sends back the contributions ticked (or a whole submission) with a
comment; POST `…/revue/fusionner` starts the merge job (`campaigns.merge`), whose
progress and result `…/revue/fusions` shows. Everyone else gets a 404 (the campaign is
not visible) or a 403 (visible, but not theirs to review). The rules are the core's
(`niaouli.catalogue.campaigns.review`); this module only turns requests into calls.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from niaouli.catalogue.campaigns import credit, merge, review
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    Contribution,
    Merge,
    MergeState,
)
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, ForbiddenError
from niaouli.i18n import N_, _
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import not_found, page_number, viewer_for
from niaouli.portal.journal import local_time
from niaouli.portal.security import Refused
from niaouli.privacy.guard import held_note

MERGE_STATES = {
    MergeState.RUNNING: N_("en cours"),
    MergeState.DONE: N_("terminée"),
    MergeState.FAILED: N_("en échec"),
}
NOTICES = {
    "approve": N_("%(count)s contribution(s) approuvée(s)."),
    "reject": N_("%(count)s contribution(s) refusée(s)."),
    "send_back": N_("%(count)s contribution(s) renvoyée(s) à leur auteur avec votre commentaire."),
    "fusion": N_("Fusion lancée : son avancement s'affiche ci-dessous."),
}
DECISION_WORDS = {"approuver": "approve", "refuser": "reject", "renvoyer": "send_back"}


# How long the merges page waits for a requested merge's row before it stops refreshing
# and says the merge has not started (a queue with no worker running, a job that died).
MERGE_START_WAIT = 600.0


def _merge_starting(request: Request, newest_id: int) -> str | None:
    """After « Fusionner » (`apres`: the campaign's newest merge id then, `le`: when):
    "waiting" while the job has not written its row yet, "late" once MERGE_START_WAIT
    has passed without it, None otherwise (no request, or the merge row is there)."""
    after = _number(request.query_params.get("apres"))
    asked = _number(request.query_params.get("le"))
    if after is None or asked is None or newest_id > after:
        return None
    waited = datetime.now(UTC).timestamp() - asked
    return "waiting" if waited < MERGE_START_WAIT else "late"


def _number(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise not_found()
    return int(raw)


def _filters(request: Request) -> review.Filters:
    query = request.query_params
    state = query.get("etat") or None
    problem = query.get("probleme") or None
    return review.Filters(
        state=state,
        contributor_id=_number(query.get("contributeur")),
        problem=problem[:40] if problem else None,
        submission_id=_number(query.get("envoi")),
    )


def _query(filters: review.Filters, **extra: Any) -> str:  # noqa: ANN401
    params = {
        "etat": filters.state,
        "contributeur": filters.contributor_id,
        "probleme": filters.problem,
        "envoi": filters.submission_id,
        **extra,
    }
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _merge_view(row: Merge | None) -> dict[str, Any] | None:
    if row is None:
        return None
    report = row.report or {}
    return {
        "id": row.id,
        "state": _(MERGE_STATES[MergeState(row.state)]),
        "state_value": MergeState(row.state).value,
        "started": local_time(row.started_at),
        "started_iso": _iso(row.started_at),
        "finished": local_time(row.finished_at) if row.finished_at else None,
        "created": report.get("created", 0),
        "updated": report.get("updated", 0),
        "retired": report.get("retired", 0),
        "conflicts": len(report.get("conflicts") or []),
        "error": report.get("error"),
        # Personal data found after the merge: the dataset was kept as a draft.
        "held": held_note(report["privacy"]) if report.get("privacy") else None,
    }


def _problem_text(problem: dict[str, Any], language: str) -> str:
    message = problem.get("message") or {}
    if isinstance(message, dict):
        return str(message.get(language) or message.get("fr") or problem.get("code") or "")
    return str(message)


class ReviewPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal
        self.engine = accounts.portal.engine

    # --- lookups ------------------------------------------------------------------------

    def _campaign(self, session: Session, request: Request) -> Campaign:
        """The campaign for a reviewer: 404 if unknown, 403 if not theirs to review."""
        campaign = session.scalar(
            select(Campaign).where(Campaign.slug == request.path_params["slug"][:100])
        )
        if campaign is None:
            raise not_found()
        viewer = viewer_for(request)
        if not review.may_review(viewer, campaign):
            if not viewer.is_signed_in:
                raise Refused("other")
            raise Refused("edit", campaign.organisation.name, campaign.organisation.slug)
        return campaign

    # --- pages --------------------------------------------------------------------------

    def _queue_context(self, request: Request) -> dict[str, Any]:
        filters = _filters(request)
        language = "en" if request.query_params.get("lang") == "en" else "fr"
        with Session(self.engine) as session:
            campaign = self._campaign(session, request)
            viewer = viewer_for(request)
            try:
                page = review.queue(session, campaign, viewer, filters, page_number(request))
            except CatalogueError:
                raise not_found() from None
            rows = [
                {
                    "id": r.id,
                    "uid": r.uid,
                    "action": _(review.ACTION_LABELS[review.ContributionAction(r.action)]),
                    "state": _(review.STATE_LABELS[review.ContributionState(r.state)]),
                    "state_value": r.state,
                    "contributor": r.display_name,
                    "submission_id": r.submission_id,
                    "created": local_time(r.created_at),
                    "problems": [_problem_text(p, language) for p in r.problems],
                    "summary": ", ".join(f"{k} : {v}" for k, v in list(r.properties.items())[:3]),
                    "own": r.contributor_id == viewer.user_id,
                }
                for r in page.rows
            ]
            return {
                "campaign": campaign,
                "organisation": campaign.organisation,
                "rows": rows,
                "page": page,
                "filters": filters,
                "states": [
                    (s.value, _(label), page.counts.get(s.value, 0))
                    for s, label in review.STATE_LABELS.items()
                ],
                "problems": [
                    ("any", _("avec un problème")),
                    ("none", _("sans problème")),
                    ("duplicate", _("doublon probable")),
                    ("outside_area", _("hors de la zone")),
                ],
                "query": _query(filters),
                "map_url": f"/campagnes/{campaign.slug}/revue.geojson?"
                + _query(filters, page=page.page),
                "may_merge": allowed(viewer, Action.CAMPAIGN_MERGE, campaign),
                "last_merge": _merge_view(page.last_merge),
                "notice": self._notice(request),
            }

    def _notice(self, request: Request) -> str | None:
        done = request.query_params.get("fait", "")
        count = request.query_params.get("n", "0")
        if done in NOTICES:
            return _(NOTICES[done]) % {"count": count if count.isdigit() else "0"}
        return None

    async def queue(self, request: Request) -> Response:
        context = await run_in_threadpool(self._queue_context, request)
        return self.accounts.page(request, "review_queue.html", **context)

    def _geojson(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            campaign = self._campaign(session, request)
            try:
                page = review.queue(
                    session, campaign, viewer_for(request), _filters(request), page_number(request)
                )
            except CatalogueError:
                raise not_found() from None
        return {
            "type": "FeatureCollection",
            "features": [r.as_feature() for r in page.rows if r.geometry is not None],
        }

    async def geojson(self, request: Request) -> Response:
        body = await run_in_threadpool(self._geojson, request)
        return JSONResponse(
            body, media_type="application/geo+json", headers={"Cache-Control": "private, no-store"}
        )

    def _detail_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            campaign = self._campaign(session, request)
            contribution = session.get(Contribution, _number(request.path_params["cid"]))
            if contribution is None or contribution.campaign_id != campaign.id:
                raise not_found()
            comparison = review.compare(session, campaign, contribution)
            entries = review.history(session, contribution)
            viewer = viewer_for(request)
            return {
                "campaign": campaign,
                "organisation": campaign.organisation,
                "contribution": contribution,
                "display_name": contribution.submission.display_name
                if contribution.submission
                else "",
                "state": _(review.STATE_LABELS[review.ContributionState(contribution.state)]),
                "action": _(review.ACTION_LABELS[review.ContributionAction(contribution.action)]),
                "comparison": comparison,
                "fields": sorted(
                    set(comparison.after["properties"])
                    | set(((comparison.before or {}).get("properties")) or {})
                    | set(((comparison.now or {}).get("properties")) or {})
                ),
                "after_json": json.dumps(comparison.after, ensure_ascii=False),
                "history": [
                    {
                        "action": e.action,
                        "comment": e.comment,
                        "when": local_time(e.created_at),
                        "reviewer": e.reviewer_id,
                    }
                    for e in entries
                ],
                "problems": [_problem_text(p, "fr") for p in contribution.problems or []],
                "own": contribution.contributor_id == viewer.user_id,
                "final": contribution.state == review.ContributionState.MERGED,
            }

    async def detail(self, request: Request) -> Response:
        context = await run_in_threadpool(self._detail_context, request)
        return self.accounts.page(request, "review_contribution.html", **context)

    def _merges_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            campaign = self._campaign(session, request)
            rows = session.scalars(
                select(Merge)
                .where(Merge.campaign_id == campaign.id)
                .order_by(Merge.id.desc())
                .limit(50)
            ).all()
            merges = [_merge_view(r) for r in rows]
            starting = _merge_starting(request, rows[0].id if rows else 0)
            return {
                "campaign": campaign,
                "organisation": campaign.organisation,
                "merges": merges,
                "starting": starting,
                "running": starting == "waiting"
                or any(m["state_value"] == "running" for m in merges),
                "notice": self._notice(request),
            }

    async def merges(self, request: Request) -> Response:
        context = await run_in_threadpool(self._merges_context, request)
        if request.query_params.get("format") == "json":
            return JSONResponse(
                {
                    "merges": context["merges"],
                    "running": context["running"],
                    "starting": context["starting"],
                },
                headers={"Cache-Control": "private, no-store"},
            )
        return self.accounts.page(request, "review_merges.html", **context)

    # --- actions ------------------------------------------------------------------------

    async def decide(self, request: Request) -> Response:
        """POST …/revue/decider: `decision` (approuver, refuser, renvoyer), `commentaire`,
        the ticked `contribution`s or one `envoi`; back to the queue with a notice."""
        await run_in_threadpool(self._check, request)
        form = await self.accounts.form(request)
        decision = DECISION_WORDS.get(str(form.get("decision", "")))
        if decision is None:
            raise not_found()
        comment = str(form.get("commentaire", ""))[:4000]
        ids = [_number(str(v)) for v in form.getlist("contribution")]
        submission_id = _number(str(form.get("envoi") or "") or None)
        back = str(form.get("retour", ""))
        back = back if back.startswith(f"/campagnes/{request.path_params['slug']}/revue") else None

        def apply() -> int:
            with Session(writing(self.engine)) as session, session.begin():
                campaign = self._campaign(session, request)
                viewer = viewer_for(request)
                if submission_id is not None:
                    done = review.decide_submission(
                        session, viewer, campaign, submission_id, decision, comment
                    )
                else:
                    done = review.decide(
                        session, viewer, campaign, [i for i in ids if i], decision, comment
                    )
                return len(done)

        try:
            count = await run_in_threadpool(apply)
        except ForbiddenError as exc:
            return self._error(request, str(exc), 403)
        except CatalogueError as exc:
            return self._error(request, str(exc), 409 if exc.code == "Conflict" else 400)
        target = back or f"/campagnes/{request.path_params['slug']}/revue"
        separator = "&" if "?" in target else "?"
        return RedirectResponse(
            f"{target}{separator}{urlencode({'fait': decision, 'n': count})}", status_code=303
        )

    def _check(self, request: Request) -> None:
        with Session(self.engine) as session:
            self._campaign(session, request)

    def _error(self, request: Request, message: str, status: int) -> Response:
        return self.accounts.page(
            request,
            "error.html",
            status,
            title=_("Décision refusée"),
            message=message,
            actions=[(f"/campagnes/{request.path_params['slug']}/revue", _("Retour à la revue"))],
        )

    async def start_merge(self, request: Request) -> Response:
        """POST …/revue/fusionner: starts the merge job (campaign.merge)."""

        def check() -> None:
            with Session(self.engine) as session:
                campaign = self._campaign(session, request)
                if not allowed(viewer_for(request), Action.CAMPAIGN_MERGE, campaign):
                    raise Refused("edit", campaign.organisation.name, campaign.organisation.slug)

        await run_in_threadpool(check)
        await self.accounts.form(request)

        def launch() -> int:
            with Session(self.engine) as session:
                campaign = self._campaign(session, request)
                merge.check_mergeable(session, campaign)
                last = session.scalar(
                    select(Merge.id)
                    .where(Merge.campaign_id == campaign.id)
                    .order_by(Merge.id.desc())
                    .limit(1)
                )
                merge.start(self.portal.settings, campaign, viewer_for(request))
                return last or 0

        try:
            last = await run_in_threadpool(launch)
        except CatalogueError as exc:
            return self._error(request, str(exc), 409)
        slug = request.path_params["slug"]
        # The job writes its merge row when it starts (a thread, or a worker once one is
        # free): until a row newer than `apres` exists, the page says so and refreshes.
        query = urlencode(
            {"fait": "fusion", "n": 0, "apres": last, "le": int(datetime.now(UTC).timestamp())}
        )
        return RedirectResponse(f"/campagnes/{slug}/revue/fusions?{query}", status_code=303)

    def _results(self, request: Request) -> dict[str, Any] | None:
        with Session(self.engine) as session:
            return credit.merged_geojson(
                session, viewer_for(request), request.path_params["slug"][:100]
            )

    async def results(self, request: Request) -> Response:
        """`/campagnes/{slug}/resultats.geojson`: the merged features, for the credit map."""
        body = await run_in_threadpool(self._results, request)
        if body is None:
            raise not_found()
        return JSONResponse(body, media_type="application/geo+json")


def review_routes(accounts: AccountPages) -> list[Route]:
    """The review's routes, for `portal/app.py`."""
    pages = ReviewPages(accounts)
    base = "/campagnes/{slug}/revue"
    return [
        Route(base, pages.queue),
        Route(base + ".geojson", pages.geojson),
        Route(base + "/decider", pages.decide, methods=["POST"]),
        Route(base + "/fusionner", pages.start_merge, methods=["POST"]),
        Route(base + "/fusions", pages.merges),
        Route(base + "/{cid}", pages.detail),
        Route("/campagnes/{slug}/resultats.geojson", pages.results),
    ]
