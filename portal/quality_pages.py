"""The quality score on the portal: the dataset page's section and the organisation's
dashboard (`/organisations/{slug}/qualite`, for its editors: 404 for anyone else).

Both read the stored scores (`niaouli.catalogue.quality_store`); the criteria's labels
and advice are the rules module's msgids (`niaouli.catalogue.quality`), translated here.
The dashboard's button asks for the organisation's link checks as a background job
(`niaouli.ingest.linkcheck`), never inside the request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.catalogue import quality, quality_store, service
from niaouli.catalogue.access import visible_datasets
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.permissions import Action, allowed
from niaouli.i18n import N_, _
from niaouli.ingest import linkcheck
from niaouli.jobs import Submitted
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import not_found, viewer_for

STATUS_LABELS = {
    quality.OK: N_("rempli"),
    quality.FAIL: N_("à améliorer"),
    quality.PENDING: N_("pas encore évalué"),
    quality.NA: N_("sans objet"),
}
DETAILS = {
    "description": N_("%(length)s caractères sur %(minimum)s."),
    "reachable": N_("Liens injoignables : %(titles)s."),
    "documented": N_("Sans titre parlant ou sans format : %(titles)s."),
    "crs_declared": N_("Système supposé pour : %(layers)s."),
    "extent": N_("Hors du territoire : %(layers)s."),
    "geometries": N_("%(percent)s %% des géométries réparées à l'import."),
    "columns": N_("Colonnes à décrire : %(columns)s."),
    "features": N_("Couches vides : %(layers)s."),
    "on_time": N_("Dernière mise à jour il y a %(age)s jours (attendue tous les %(days)s jours)."),
}
JOB_STATES = {
    "lancee": N_("Vérification des liens lancée : les résultats arrivent dans quelques minutes."),
    "deja": N_("Une vérification des liens de l'organisation est déjà en attente."),
}


def _detail(key: str, status: str, detail: dict[str, Any]) -> str:
    if status != quality.FAIL or key not in DETAILS:
        return ""
    try:
        return _(DETAILS[key]) % detail
    except (KeyError, TypeError, ValueError):
        return ""


def criteria_view(stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The stored criteria as the pages show them, counted ones first."""
    if not stored:
        return []
    rows = []
    for entry in stored.get("criteria") or ():
        criterion = quality.BY_KEY.get(entry.get("key"))
        if criterion is None:
            continue
        status = entry.get("status", quality.NA)
        rows.append(
            {
                "key": criterion.key,
                "label": _(criterion.label),
                "status": status,
                "status_label": _(STATUS_LABELS.get(status, status)),
                "advice": _(criterion.advice) if status != quality.OK else "",
                "detail": _detail(criterion.key, status, entry.get("detail") or {}),
            }
        )
    order = {quality.FAIL: 0, quality.PENDING: 1, quality.OK: 2, quality.NA: 3}
    return sorted(rows, key=lambda r: order.get(r["status"], 4))


def for_dataset(session: Session, dataset: Dataset) -> dict[str, Any] | None:
    """The dataset page's quality section: score, counts and criteria."""
    stored = quality_store.scores(session.connection(), [dataset.id]).get(dataset.id)
    if stored is None:
        return None
    return {
        "score": stored["score"],
        "passed": stored["passed"],
        "counted": stored["counted"],
        "criteria": criteria_view(stored),
    }


GROUPS = {
    "metadata": N_("Fiche"),
    "resources": N_("Fichiers et liens"),
    "layers": N_("Couches"),
    "tables": N_("Tableaux"),
}


class QualityPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal

    def _context(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except service.NotFoundError:
                raise not_found() from None
            if not allowed(viewer, Action.DATASET_EDIT, org):
                raise not_found()
            conn = session.connection()
            datasets = session.execute(
                select(Dataset.id, Dataset.slug, Dataset.title)
                .where(Dataset.organisation_id == org.id, visible_datasets(viewer))
                .order_by(Dataset.title)
            ).all()
            stored = quality_store.scores(conn, [d.id for d in datasets])
            summary = quality_store.organisation_summary(conn, org.id)
            rows = []
            for oid, slug, title in datasets:
                found = stored.get(oid) or {}
                failing = [
                    _(quality.BY_KEY[e["key"]].label)
                    for e in found.get("criteria") or ()
                    if e.get("status") == quality.FAIL and e.get("key") in quality.BY_KEY
                ]
                rows.append(
                    {"slug": slug, "title": title, "score": found.get("score"), "failing": failing}
                )
            rows.sort(key=lambda r: (r["score"] if r["score"] is not None else 101, r["title"]))
            criteria = [
                {
                    "label": _(c.label),
                    "advice": _(c.advice),
                    "failing": summary["failing"].get(c.key, 0),
                }
                for c in quality.CRITERIA
            ]
            state = request.query_params.get("etat", "")
            return {
                "organisation": org,
                "average": summary["average"],
                "rows": rows,
                "criteria": sorted(criteria, key=lambda c: -c["failing"]),
                "message": _(JOB_STATES[state]) if state in JOB_STATES else "",
            }

    def rules(self, request: Request) -> Response:
        """`/qualite`: the criteria (their anchors are the DQV metrics of the DCAT feed)."""
        criteria = [
            {"key": c.key, "label": _(c.label), "advice": _(c.advice), "group": _(GROUPS[c.group])}
            for c in quality.CRITERIA
        ]
        return self.portal.render(request, "qualite.html", criteria=criteria)

    async def dashboard(self, request: Request) -> Response:
        context = await run_in_threadpool(self._context, request)
        return self.accounts.page(request, "organisation_qualite.html", **context)

    async def check_links(self, request: Request) -> Response:
        """POST …/qualite/liens: the organisation's link checks, queued (editors only)."""

        def check() -> int:
            with Session(self.portal.engine) as session:
                try:
                    org = service.get_organisation(session, request.path_params["slug"])
                except service.NotFoundError:
                    raise not_found() from None
                if not allowed(viewer_for(request), Action.DATASET_EDIT, org):
                    raise not_found()
                return org.id

        organisation_id = await run_in_threadpool(check)
        await self.accounts.form(request)  # CSRF (403 without a valid token)
        submitted = await run_in_threadpool(
            linkcheck.request, self.portal.settings, organisation_id
        )
        state = "deja" if submitted == Submitted.ALREADY_QUEUED else "lancee"
        path = request.url.path.rsplit("/", 1)[0]
        return RedirectResponse(f"{path}?etat={state}", status_code=303)
