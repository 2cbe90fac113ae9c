"""The personal-data guard's page for a dataset's editors: what was found, column by
column, and the four ways out — drop, hash, generalise, or confirm with a reason. The
same findings are shown on the management page (`dataset_edit.html`); the rules are the
core's (`niaouli.privacy`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, ForbiddenError
from niaouli.i18n import _
from niaouli.portal.common import viewer_for
from niaouli.portal.manage import ManagePages, _sentence
from niaouli.portal.security import Refused
from niaouli.privacy import actions, guard
from niaouli.privacy.review_tables import PrivacyReview

DOINGS = ("drop", "hash", "generalise", "confirm")


def findings_view(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The findings of a dataset now (a bounded scan, nothing written), for the pages."""
    found = guard.scan_dataset(session, dataset)
    review: PrivacyReview | None = guard.review_of(session, dataset, create=False)
    keys = guard.confirmed_keys(review)
    reasons = {
        (c["layer"], c["column"], c["kind"]): c["reason"]
        for c in (review.confirmations if review else [])
    }

    def row(f: guard.Finding) -> dict[str, Any]:
        return {
            **f.as_dict(),
            "kind_label": guard.kind_label(f.kind),
            "generalise": f.kind in actions.GENERALISABLE,
            "reason": reasons.get(f.key, ""),
        }

    return {
        "open": [row(f) for f in found if f.key not in keys],
        "confirmed": [row(f) for f in found if f.key in keys],
        "held": bool(review and review.held),
    }


class PrivacyPages:
    def __init__(self, manage: ManagePages) -> None:
        self.manage = manage
        self.accounts = manage.accounts
        self.engine = manage.engine

    def _context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            dataset = self.manage._editable(session, request)
            return {
                "dataset": {
                    "slug": dataset.slug,
                    "title": dataset.title,
                    "access_level": dataset.access_level.value,
                },
                "privacy": findings_view(session, dataset),
            }

    async def page(self, request: Request) -> Response:
        redirect = self.manage._session_only(request)
        if redirect is not None:
            return redirect
        if request.method == "GET":
            context = await run_in_threadpool(self._context, request)
            refused = request.query_params.get("refus") == "1"
            return self.accounts.page(
                request,
                "dataset_privacy.html",
                409 if refused and context["privacy"]["open"] else 200,
                saved=done_message(request.query_params.get("ok")),
                refused=refused,
                **context,
            )
        form = await self.accounts.form(request)
        doing = str(form.get("do", ""))
        layer, column = str(form.get("layer", "")), str(form.get("column", ""))
        viewer: Viewer = viewer_for(request)
        if doing not in DOINGS:
            doing = "invalid"

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self.manage._editable(session, request)
                actor = self.manage._actor(request)
                if doing == "confirm":
                    reason = str(form.get("reason", ""))
                    actions.confirm(session, viewer, actor, dataset, layer, column, reason)
                else:
                    actions.anonymise(session, viewer, actor, dataset, layer, column, doing)

        try:
            await run_in_threadpool(save)
        except ForbiddenError:
            raise Refused("edit") from None
        except CatalogueError as exc:
            context = await run_in_threadpool(self._context, request)
            return self.accounts.page(
                request,
                "dataset_privacy.html",
                400,
                saved=None,
                refused=False,
                error=_sentence(exc),
                **context,
            )
        slug = request.path_params["slug"]
        return RedirectResponse(
            f"/jeux-de-donnees/{quote(slug)}/donnees-personnelles?ok={doing}", 303
        )


def done_message(doing: str | None) -> str | None:
    return {
        "drop": _("Colonne supprimée : les données servies ont changé partout."),
        "hash": _("Colonne hachée : les données servies ont changé partout."),
        "generalise": _("Colonne généralisée : les données servies ont changé partout."),
        "confirm": _("Confirmation enregistrée au journal d'audit."),
    }.get(doing or "")
