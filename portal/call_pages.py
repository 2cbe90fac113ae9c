"""A call for projects' pages (issue 22 §1), under `/evenements/{slug}/appel`.

    GET       /evenements/{slug}/appel                    the call: rules, criteria, dates,
                                                           datasets, laureates, my applications
    GET POST  /evenements/{slug}/appel/regler             its settings (organisers)
    GET POST  /evenements/{slug}/appel/candidater         apply (signed in, while open)
    GET POST  /evenements/{slug}/appel/candidatures/{id}  an application; its team edits it
    POST      …/candidatures/{id}/pieces                  attach a PDF (checked: pdfguard)
    GET       …/candidatures/{id}/pieces/{piece}          download one (same rule as the page)
    POST      …/candidatures/{id}/pieces/{piece}/retirer  remove one (the team, until deadline)
    POST      …/candidatures/{id}/noter                   score it (organisers, after deadline)
    POST      …/candidatures/{id}/realisation             the reuse or code project it became
    GET       /evenements/{slug}/appel/jury               every application, with its marks
    POST      /evenements/{slug}/appel/laureats           publish the laureates

Who sees and changes what is the core's (`community.calls`): an application someone may
not see is a 404, whoever asks. Every page about applications is `private, no-store`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from niaouli import localtime, pdfguard, storage
from niaouli.accounts.csrf import FIELD
from niaouli.catalogue.community import calls, common, events
from niaouli.catalogue.community.call_tables import Application, Call
from niaouli.catalogue.models import Dataset, EventKind
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.i18n import _
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import identity_for, viewer_for
from niaouli.portal.security import Refused

MAX_FORM_BYTES = 64_000  # a summary of 5,000 accented characters, URL-encoded
PRIVATE = {"Cache-Control": "private, no-store"}


def _message(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _lines(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def _local(value: Any) -> str:  # noqa: ANN401 - a datetime or None
    shown = localtime.local(value)
    return shown.strftime("%Y-%m-%d %H:%M") if shown else ""


class CallPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal
        self.engine = accounts.portal.engine

    # --- helpers ----------------------------------------------------------------------

    async def _form(self, request: Request, files: int = 0) -> FormData:
        """The posted form after the size and CSRF checks; `files` file parts at most."""
        length = request.headers.get("content-length", "")
        limit = MAX_FORM_BYTES + (pdfguard.MAX_PDF_BYTES + 16_000 if files else 0)
        if not length.isdigit() or int(length) > limit:
            raise HTTPException(status_code=413 if length.isdigit() else 411)
        form = await request.form(max_files=files, max_fields=40)
        if not self.accounts.csrf.is_valid(request, form.get(FIELD)):
            raise Refused("csrf")
        if any("\x00" in f"{k}{v}" for k, v in form.multi_items() if isinstance(v, str)):
            raise HTTPException(status_code=400)
        return form

    def _sign_in_first(self, request: Request) -> Response | None:
        if identity_for(request).via != "session":
            return RedirectResponse(f"/connexion?suivant={quote(request.url.path)}", 303)
        return None

    def _base(self, call: Call) -> str:
        return f"/evenements/{call.event.slug}/appel"

    def _labels(self, call: Call) -> dict[str, Any]:
        current = calls.phase(call)
        return {
            "phase": str(current),
            "phase_label": _(calls.PHASES[current]),
            "dates": {
                "opens": localtime.local(call.opens_at),
                "deadline": localtime.local(call.deadline_at),
                "jury": localtime.local(call.jury_at),
                "results": localtime.local(call.results_at),
            },
            "base": self._base(call),
        }

    def _application(self, session: Session, request: Request) -> tuple[Call, Application]:
        call = calls.get_call(session, request.path_params["slug"])
        found = calls.get_application(session, viewer_for(request), call, request.path_params["id"])
        return call, found

    # --- the call ---------------------------------------------------------------------

    def call_page(self, request: Request) -> Response:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            event = events.get_event(session, request.path_params["slug"])
            call = calls.find_call(session, event)
            organiser = calls.is_organiser(viewer, call) if call else False
            if call is None:
                may_set = event.kind == EventKind.CALL_FOR_PROJECTS and allowed(
                    viewer, Action.CALL_REVIEW, event
                )
                if not may_set:  # the organisers set it first; nobody else sees it yet
                    raise NotFoundError(_("appel à projets introuvable"))
                return RedirectResponse(f"/evenements/{event.slug}/appel/regler", 303)
            mine = [a for a in calls.visible_applications(session, viewer, call)
                    if calls.in_team(viewer, a)]  # fmt: skip
            laureates = calls.laureates(session, call)
            response = self.portal.render(
                request,
                "call.html",
                call=call,
                event=event,
                datasets=common.visible_links(session, viewer, call.datasets),
                laureates=[
                    {"application": a, "members": sorted(m.display_name for m in a.members)}
                    for a in laureates
                ],
                mine=mine,
                organiser=organiser,
                signed_in=identity_for(request).is_signed_in,
                **self._labels(call),
            )
            if mine or organiser:
                response.headers.update(PRIVATE)
            return response

    async def settings_form(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        viewer = viewer_for(request)
        slug = request.path_params["slug"]

        def current() -> tuple[dict[str, str], str]:
            with Session(self.engine) as session:
                event = events.get_event(session, slug)
                if not allowed(viewer, Action.CALL_REVIEW, event):
                    raise Refused("edit", *(
                        (event.organisation.name, event.organisation.slug)
                        if event.organisation else (None, None)
                    ))  # fmt: skip
                call = calls.find_call(session, event)
                if call is None:
                    return dict.fromkeys(SETTINGS, ""), event.title
                return {
                    "rules": call.rules,
                    "criteria": "\n".join(call.criteria),
                    "opens": _local(call.opens_at),
                    "deadline": _local(call.deadline_at),
                    "jury": _local(call.jury_at),
                    "results": _local(call.results_at),
                    "datasets": "\n".join(
                        d.slug for d in common.visible_links(session, viewer, call.datasets)
                    ),
                }, event.title

        values, title = await run_in_threadpool(current)
        context = {"slug": slug, "title": title}
        if request.method == "GET":
            return self.accounts.page(request, "call_settings.html", values=values, **context)
        form = await self._form(request)
        values = {k: str(form.get(k, ""))[:20_000] for k in SETTINGS}
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                calls.configure_call(
                    session,
                    viewer,
                    events.get_event(session, slug),
                    rules=values["rules"],
                    criteria=values["criteria"].splitlines(),
                    opens=values["opens"],
                    deadline=values["deadline"],
                    jury=values["jury"],
                    results=values["results"],
                    dataset_slugs=_lines(values["datasets"]),
                    actor=actor,
                )

        try:
            await run_in_threadpool(save)
        except (CatalogueError, ValueError) as exc:
            if isinstance(exc, ForbiddenError):
                raise
            return self.accounts.page(
                request, "call_settings.html", 400, error=_message(exc), values=values, **context
            )
        return RedirectResponse(f"/evenements/{slug}/appel", status_code=303)

    # --- applying ---------------------------------------------------------------------

    def _choices(self, session: Session, request: Request, call: Call) -> list[Dataset]:
        return common.visible_links(session, viewer_for(request), call.datasets)

    async def apply_form(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        viewer = viewer_for(request)
        slug = request.path_params["slug"]

        def context() -> dict[str, Any]:
            with Session(self.engine) as session:
                call = calls.get_call(session, slug)
                return {
                    "call": call,
                    "event": call.event,
                    "choices": [(d.slug, d.title) for d in self._choices(session, request, call)],
                    **self._labels(call),
                }

        ctx = await run_in_threadpool(context)
        if request.method == "GET":
            values = dict.fromkeys(APPLICATION, "")
            return self.accounts.page(request, "call_apply.html", values=values, chosen=[], **ctx)
        form = await self._form(request)
        values = {k: str(form.get(k, ""))[:10_000] for k in APPLICATION}
        chosen = [str(v)[:100] for v in form.getlist("picked")][:20]
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def save() -> int:
            with Session(writing(self.engine)) as session, session.begin():
                made = calls.apply(
                    session,
                    viewer,
                    calls.get_call(session, slug),
                    project_name=values["project_name"],
                    summary=values["summary"],
                    dataset_slugs=chosen + _lines(values["datasets"]),
                    member_emails=_lines(values["members"]),
                    actor=actor,
                )
                return made.id

        try:
            made = await run_in_threadpool(save)
        except CatalogueError as exc:
            if isinstance(exc, ForbiddenError):
                raise
            return self.accounts.page(
                request, "call_apply.html", 400, error=_message(exc), values=values,
                chosen=chosen, **ctx,
            )  # fmt: skip
        return RedirectResponse(f"/evenements/{slug}/appel/candidatures/{made}", 303)

    def _application_context(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            call, app = self._application(session, request)
            team = calls.in_team(viewer, app)
            organiser = calls.is_organiser(viewer, call)
            current = calls.phase(call)
            shipped = (app.reuse, app.code_project)  # loaded now: the page renders later
            mine = {s.criterion: s.score for s in app.scores if s.reviewer_id == viewer.user_id}
            return {
                "call": call,
                "event": call.event,
                "application": app,
                "shipped": shipped,
                "lead": app.lead.display_name,
                "members": [(m.display_name, m.email if team else "") for m in app.members],
                "datasets": common.visible_links(session, viewer, app.datasets),
                "attachments": list(app.attachments),
                "may_edit": team and viewer.may_write and current == calls.Phase.OPEN,
                "may_score": organiser
                and not team
                and viewer.may_write
                and current == calls.Phase.CLOSED,
                "organiser": organiser,
                "may_link": calls.is_public(app)
                and viewer.may_write
                and (team or allowed(viewer, Action.CALL_REVIEW, call.event)),
                "averages": calls.averages(app) if organiser else {},
                "total": calls.total(app) if organiser else None,
                "my_scores": mine,
                "score_max": calls.SCORE_MAX,
                "values": {
                    "project_name": app.project_name,
                    "summary": app.summary,
                    "datasets": "\n".join(
                        d.slug for d in common.visible_links(session, viewer, app.datasets)
                    ),
                    "members": "\n".join(m.email for m in app.members) if team else "",
                },
                "max_pdf": pdfguard.MAX_PDF_BYTES >> 20,
                "max_pages": calls.MAX_PAGES,
                **self._labels(call),
            }

    async def application_page(self, request: Request) -> Response:
        ctx = await run_in_threadpool(self._application_context, request)
        if request.method == "GET":
            response = self.accounts.page(request, "call_application.html", **ctx)
            response.headers.update(PRIVATE)
            return response
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        form = await self._form(request)
        values = {k: str(form.get(k, ""))[:10_000] for k in APPLICATION}
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                _call, app = self._application(session, request)
                calls.change_application(
                    session,
                    viewer,
                    app,
                    actor=actor,
                    project_name=values["project_name"],
                    summary=values["summary"],
                    datasets=_lines(values["datasets"]),
                    members=_lines(values["members"]),
                )

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            if isinstance(exc, ForbiddenError | NotFoundError):
                raise
            status = 409 if isinstance(exc, ConflictError) else 400
            ctx["values"] = values
            return self.accounts.page(
                request, "call_application.html", status, error=_message(exc), **ctx
            )
        return RedirectResponse(request.url.path, status_code=303)

    async def attach(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        form = await self._form(request, files=1)
        upload = form.get("piece")
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)
        back = request.url.path.rsplit("/", 1)[0]
        if not isinstance(upload, UploadFile):
            return await self._refused_attachment(request, _("choisissez un fichier PDF"))
        filename = (upload.filename or "piece.pdf")[:200]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "piece.pdf"
            with path.open("wb") as out:
                written = 0
                while chunk := await upload.read(1 << 16):
                    written += len(chunk)
                    if written > pdfguard.MAX_PDF_BYTES:
                        break
                    out.write(chunk)
            if written > pdfguard.MAX_PDF_BYTES:
                message = _("PDF trop lourd : %(max)s Mo au plus") % {
                    "max": pdfguard.MAX_PDF_BYTES >> 20
                }
                return await self._refused_attachment(request, message, 413)

            def keep() -> None:
                with Session(writing(self.engine)) as session, session.begin():
                    _call, app = self._application(session, request)
                    calls.add_attachment(
                        session, self.portal.settings, viewer, app, path, filename, actor=actor
                    )

            try:
                await run_in_threadpool(keep)
            except CatalogueError as exc:
                if isinstance(exc, ForbiddenError | NotFoundError):
                    raise
                status = 409 if isinstance(exc, ConflictError) else 400
                return await self._refused_attachment(request, _message(exc), status)
        return RedirectResponse(back, status_code=303)

    async def detach(self, request: Request) -> Response:
        """The team removes an attachment, until the deadline."""
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        await self._form(request)
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def remove() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                _call, app = self._application(session, request)
                piece = calls.get_attachment(app, request.path_params["piece"])
                calls.remove_attachment(session, viewer, app, piece, actor=actor)

        try:
            await run_in_threadpool(remove)
        except ConflictError as exc:
            return await self._refused_attachment(request, _message(exc), 409)
        back = request.url.path.rsplit("/", 3)[0]
        return RedirectResponse(back, status_code=303)

    async def _refused_attachment(
        self, request: Request, message: str, status: int = 400
    ) -> Response:
        ctx = await run_in_threadpool(self._application_context, request)
        return self.accounts.page(
            request, "call_application.html", status, attachment_error=message, **ctx
        )

    def attachment(self, request: Request) -> Response:
        with Session(self.engine) as session:
            _call, app = self._application(session, request)
            piece = calls.get_attachment(app, request.path_params["piece"])
            key, filename = piece.storage_key, piece.filename
        try:
            body = storage.read(self.portal.settings, key, filename)
        except FileNotFoundError:
            raise HTTPException(status_code=404) from None
        return StreamingResponse(
            body,
            media_type="application/pdf",
            headers={
                **PRIVATE,
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox; default-src 'none'",
            },
        )

    async def ship(self, request: Request) -> Response:
        """A laureate's project shipped: the reuse or code project it became."""
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        form = await self._form(request)
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)
        back = request.url.path.rsplit("/", 1)[0]

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                _call, app = self._application(session, request)
                calls.link_shipped(
                    session,
                    viewer,
                    app,
                    reuse_slug=str(form.get("reuse", ""))[:100],
                    code_slug=str(form.get("code", ""))[:100],
                    actor=actor,
                )

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            if isinstance(exc, ForbiddenError):
                raise
            ctx = await run_in_threadpool(self._application_context, request)
            return self.accounts.page(
                request, "call_application.html", 400, ship_error=_message(exc), **ctx
            )
        return RedirectResponse(back, status_code=303)

    # --- review -----------------------------------------------------------------------

    async def score(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        form = await self._form(request)
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)
        back = request.url.path.rsplit("/", 1)[0]

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                call, app = self._application(session, request)
                marks: dict[str, int] = {}
                for index, criterion in enumerate(call.criteria):
                    raw = str(form.get(f"note-{index}", "")).strip()
                    if raw:
                        if not (raw.isdigit() and len(raw) <= 3):
                            raise CatalogueError(
                                _("une note va de 0 à %(max)s") % {"max": calls.SCORE_MAX}
                            )
                        marks[criterion] = int(raw)
                calls.score(
                    session, viewer, app, marks, str(form.get("comment", ""))[:6000], actor=actor
                )

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            if isinstance(exc, ForbiddenError | NotFoundError):
                raise
            ctx = await run_in_threadpool(self._application_context, request)
            return self.accounts.page(
                request, "call_application.html", 400, score_error=_message(exc), **ctx
            )
        return RedirectResponse(back, status_code=303)

    def _jury_context(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            call = calls.get_call(session, request.path_params["slug"])
            if not calls.is_organiser(viewer, call):
                raise Refused("other")
            rows = calls.visible_applications(session, viewer, call)
            return {
                "call": call,
                "event": call.event,
                "rows": sorted(
                    (
                        {
                            "application": a,
                            "lead": a.lead.display_name,
                            "averages": calls.averages(a),
                            "total": calls.total(a),
                            "attachments": len(a.attachments),
                        }
                        for a in rows
                    ),
                    key=lambda r: (-(r["total"] or -1), r["application"].id),
                ),
                "may_publish": viewer.may_write and calls.phase(call) == calls.Phase.CLOSED,
                **self._labels(call),
            }

    async def jury(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        ctx = await run_in_threadpool(self._jury_context, request)
        return self.accounts.page(request, "call_jury.html", **ctx)

    async def publish(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        form = await self._form(request)
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)
        slug = request.path_params["slug"]
        chosen = [int(v) for v in form.getlist("laureat") if isinstance(v, str) and v.isdigit()][
            :200
        ]

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                call = calls.get_call(session, slug)
                calls.publish_laureates(session, viewer, call, chosen, actor=actor)

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            if isinstance(exc, ForbiddenError | NotFoundError):
                raise
            ctx = await run_in_threadpool(self._jury_context, request)
            return self.accounts.page(request, "call_jury.html", 400, error=_message(exc), **ctx)
        return RedirectResponse(f"/evenements/{slug}/appel", status_code=303)


SETTINGS = ("rules", "criteria", "opens", "deadline", "jury", "results", "datasets")
APPLICATION = ("project_name", "summary", "datasets", "members")


def call_routes(accounts: AccountPages) -> list[Route]:
    """The routes of calls for projects, for `portal/app.py`."""
    pages = CallPages(accounts)
    base = "/evenements/{slug}/appel"
    one = base + "/candidatures/{id}"
    return [
        Route(base, pages.call_page),
        Route(base + "/regler", pages.settings_form, methods=["GET", "POST"]),
        Route(base + "/candidater", pages.apply_form, methods=["GET", "POST"]),
        Route(base + "/jury", pages.jury),
        Route(base + "/laureats", pages.publish, methods=["POST"]),
        Route(one, pages.application_page, methods=["GET", "POST"]),
        Route(one + "/pieces", pages.attach, methods=["POST"]),
        Route(one + "/pieces/{piece}", pages.attachment),
        Route(one + "/pieces/{piece}/retirer", pages.detach, methods=["POST"]),
        Route(one + "/noter", pages.score, methods=["POST"]),
        Route(one + "/realisation", pages.ship, methods=["POST"]),
    ]
