"""A dataset's Table Schema for its editors (`/jeux-de-donnees/{slug}/schema`): attach
one (pasted JSON or a shipped example), remove it, and read the latest validation
reports by row and column; the latest report as JSON for anyone who sees the dataset
(`.../schema/rapport.json`). The rules are the core's (`niaouli.tableschema`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from niaouli.accounts.csrf import FIELD
from niaouli.catalogue.access import can_see
from niaouli.catalogue.models import Dataset
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, ForbiddenError
from niaouli.i18n import _
from niaouli.portal.common import viewer_for
from niaouli.portal.manage import ManagePages, _sentence
from niaouli.portal.security import Refused
from niaouli.tableschema import examples, reports
from niaouli.tableschema.schema_tables import ValidationRecord

MAX_FORM_BYTES = 1_000_000  # a pasted schema of 256 KiB, URL-encoded
SHOWN_REPORTS = 3


def schema_view(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The attached schema and the latest reports, for the pages."""
    link = reports.attached(session, dataset.id)
    kept = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.dataset_id == dataset.id)
        .order_by(ValidationRecord.id.desc())
        .limit(SHOWN_REPORTS)
    ).all()
    return {
        "attached": None
        if link is None
        else {"title": link.title, "source": link.source, "fields": link.descriptor["fields"]},
        "policy": dataset.organisation.schema_policy,
        "reports": [reports.record_view(r) for r in kept],
    }


class SchemaPages:
    def __init__(self, manage: ManagePages) -> None:
        self.manage = manage
        self.accounts = manage.accounts
        self.engine = manage.engine

    def _context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            dataset = self.manage._editable(session, request)
            return {
                "dataset": {"slug": dataset.slug, "title": dataset.title},
                "schema": schema_view(session, dataset),
                "examples": [
                    (name, d.get("title", name)) for name, d in examples.examples().items()
                ],
            }

    async def page(self, request: Request) -> Response:
        redirect = self.manage._session_only(request)
        if redirect is not None:
            return redirect
        if request.method == "GET":
            context = await run_in_threadpool(self._context, request)
            saved = {
                "attach": _("Schéma joint : les prochains fichiers envoyés seront validés."),
                "detach": _("Schéma retiré."),
            }.get(request.query_params.get("ok", ""))
            return self.accounts.page(request, "dataset_schema.html", saved=saved, **context)
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise HTTPException(status_code=413 if length.isdigit() else 411)
        form = await request.form(max_files=0, max_fields=10)
        if not self.accounts.csrf.is_valid(request, form.get(FIELD)):
            raise Refused("csrf")
        doing = str(form.get("do", ""))

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self.manage._editable(session, request)
                actor = self.manage._actor(request)
                viewer = viewer_for(request)
                if doing == "detach":
                    reports.detach(session, viewer, actor, dataset)
                elif doing == "example":
                    name = str(form.get("example", ""))
                    reports.attach(session, viewer, actor, dataset, example_name=name)
                else:
                    text = str(form.get("schema", ""))
                    reports.attach(session, viewer, actor, dataset, descriptor=text)

        try:
            await run_in_threadpool(save)
        except ForbiddenError:
            raise Refused("edit") from None
        except CatalogueError as exc:
            context = await run_in_threadpool(self._context, request)
            return self.accounts.page(
                request, "dataset_schema.html", 400, saved=None, error=_sentence(exc), **context
            )
        slug = request.path_params["slug"]
        done = "detach" if doing == "detach" else "attach"
        return RedirectResponse(f"/jeux-de-donnees/{quote(slug)}/schema?ok={done}", 303)

    async def report(self, request: Request) -> Response:
        """The latest kept report, for anyone who may see the dataset."""

        def latest() -> dict[str, Any] | None:
            with Session(self.engine) as session:
                slug = request.path_params["slug"]
                dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
                if dataset is None or not can_see(viewer_for(request), dataset):
                    return None
                record = reports.latest_report(session, dataset)
                return reports.record_view(record) if record else {}

        found = await run_in_threadpool(latest)
        if not found:
            raise HTTPException(status_code=404)
        return JSONResponse(found, headers={"Cache-Control": "no-store"})
