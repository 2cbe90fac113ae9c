"""Code catalogue (`/code`), reuses (`/reutilisations`) and events (`/evenements`).

Lists with filters, detail pages, the reuse submission form (signed-in users, CSRF),
the moderation queue of platform admins (`/admin/reutilisations`), and the iCalendar
feeds. Links to datasets go through the request's viewer (`community.visible_links`):
a reuse or event never reveals a dataset the visitor may not see. English aliases
(`/reuses`, `/events`) redirect to the French addresses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import (
    Paging,
    Portal,
    base_url,
    identity_for,
    not_found,
    page_number,
    viewer_for,
)
from niaouli.portal.ical import MEDIA_TYPE, calendar_bytes
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.catalogue import community
from niaouli.catalogue.community import (
    CODE_STATUSES,
    EVENT_KINDS,
    MODERATION,
    REUSE_KINDS,
    CodeFilters,
    NotFoundError,
)
from niaouli.catalogue.models import CodeStatus, EventKind, Reuse, ReuseKind
from niaouli.catalogue.service import CatalogueError

WHEN = {"a-venir": "À venir", "passes": "Passés"}
ALIASES = {"/reuses": "/reutilisations", "/events": "/evenements", "/events.ics": "/evenements.ics"}


def _param(request: Request, name: str, allowed: set[str] | None = None) -> str:
    """A filter value from the query string: short, and one of `allowed` when given."""
    value = request.query_params.get(name, "").strip()[:100]
    if allowed is not None and value not in allowed:
        return ""
    return value


def _message(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class CommunityPages:
    def __init__(self, portal: Portal, accounts: AccountPages) -> None:
        self.portal = portal
        self.accounts = accounts
        self.engine = portal.engine

    def _may_add(self, session: Session, request: Request) -> bool:
        """Whether to offer the editors' forms (the forms check again on submission)."""
        viewer = viewer_for(request)
        if identity_for(request).via != "session" or not viewer.may_write:
            return False
        return bool(community.editable_organisations(session, viewer))

    def _labels(self) -> dict[str, Any]:
        return {
            "code_statuses": {str(k): v for k, v in CODE_STATUSES.items()},
            "reuse_kinds": {str(k): v for k, v in REUSE_KINDS.items()},
            "event_kinds": {str(k): v for k, v in EVENT_KINDS.items()},
        }

    # --- code ------------------------------------------------------------------------

    def code_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        filters = CodeFilters(
            organisation=_param(request, "organisation"),
            language=_param(request, "langage"),
            licence=_param(request, "licence"),
            status=_param(request, "statut", {str(s) for s in CodeStatus}),
        )
        with Session(self.engine) as session:
            projects = community.code_projects(session)
            kept = community.filter_code_projects(projects, filters)
            paging = Paging(page_number(request), len(kept))
            shown = kept[paging.offset : paging.offset + paging.size]
            visible = community.visible_ids(
                session, viewer, {d.id for p in shown for d in p.datasets}
            )
            return self.portal.render(
                request,
                "code.html",
                may_add=self._may_add(session, request),
                projects=[
                    {"project": p, "datasets": [d for d in p.datasets if d.id in visible]}
                    for p in shown
                ],
                facets=community.code_facets(projects),
                filters=filters,
                paging=paging,
                **self._labels(),
            )

    def code_project(self, request: Request) -> Response:
        with Session(self.engine) as session:
            try:
                project = community.get_code_project(session, request.path_params["slug"])
            except NotFoundError:
                raise not_found() from None
            return self.portal.render(
                request,
                "code_project.html",
                project=project,
                datasets=community.visible_links(session, viewer_for(request), project.datasets),
                archive=community.archive_url(project),
                publiccode=community.publiccode_facts(project.publiccode),
                features=community.publiccode_features(project.publiccode),
                releases=[r for r in (project.releases or []) if isinstance(r, dict)],
                **self._labels(),
            )

    # --- reuses ----------------------------------------------------------------------

    def reuse_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        kind = _param(request, "type", {str(k) for k in ReuseKind})
        dataset_slug = _param(request, "jeu")
        with Session(self.engine) as session:
            reuses, target = community.public_reuses(session, viewer, kind, dataset_slug)
            paging = Paging(page_number(request), len(reuses))
            shown = reuses[paging.offset : paging.offset + paging.size]
            visible = community.visible_ids(
                session, viewer, {d.id for r in shown for d in r.datasets}
            )
            return self.portal.render(
                request,
                "reuses.html",
                reuses=[
                    {"reuse": r, "datasets": [d for d in r.datasets if d.id in visible]}
                    for r in shown
                ],
                kind=kind,
                dataset_slug=dataset_slug if target else "",
                dataset=target or None,
                unknown_dataset=target is False,
                paging=paging,
                **self._labels(),
            )

    def reuse_page(self, request: Request) -> Response:
        viewer = viewer_for(request)
        with Session(self.engine) as session:
            try:
                reuse = community.get_reuse(session, request.path_params["slug"], viewer)
            except NotFoundError:
                raise not_found() from None
            response = self.portal.render(
                request,
                "reuse.html",
                reuse=reuse,
                datasets=community.visible_links(session, viewer, reuse.datasets),
                submitter=reuse.submitted_by.display_name if reuse.submitted_by else reuse.author,
                moderation=MODERATION[reuse.status],
                submitted=request.query_params.get("proposee") == "1",
                **self._labels(),
            )
            if reuse.status != "approved":
                response.headers["Cache-Control"] = "private, no-store"
            return response

    def _sign_in_first(self, request: Request) -> Response | None:
        if identity_for(request).via != "session":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/connexion?suivant={quote(target)}", status_code=303)
        return None

    async def reuse_new(self, request: Request) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        if request.method == "GET":
            prefill = _param(request, "jeu")
            return self.accounts.page(
                request,
                "reuse_form.html",
                values={"title": "", "kind": "", "url": "", "description": "", "datasets": prefill},
                **self._labels(),
            )
        form = await self.accounts.form(request)
        values = {
            "title": str(form.get("title", ""))[:1000],
            "kind": str(form.get("kind", ""))[:40],
            "url": str(form.get("url", ""))[:2000],
            "description": str(form.get("description", ""))[:10_000],
            "datasets": str(form.get("datasets", ""))[:3000],
        }
        viewer = viewer_for(request)

        def submit() -> str:
            with Session(self.engine) as session, session.begin():
                reuse = community.submit_reuse(
                    session,
                    viewer,
                    values["title"],
                    values["kind"],
                    values["url"],
                    values["description"],
                    values["datasets"].replace(",", " ").split(),
                )
                return reuse.slug

        try:
            slug = await run_in_threadpool(submit)
        except CatalogueError as exc:
            return self.accounts.page(
                request,
                "reuse_form.html",
                400,
                error=_message(exc),
                values=values,
                **self._labels(),
            )
        return RedirectResponse(f"/reutilisations/{slug}?proposee=1", status_code=303)

    def _admin_only(self, request: Request) -> Response | None:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        viewer = viewer_for(request)
        if not (viewer.is_platform_admin and viewer.may_write):
            raise HTTPException(status_code=403)
        return None

    async def moderation(self, request: Request) -> Response:
        redirect = self._admin_only(request)
        if redirect is not None:
            return redirect

        def pending() -> list[dict[str, Any]]:
            with Session(self.engine) as session:
                return [
                    {
                        "reuse": r,
                        "datasets": list(r.datasets),
                        "submitter": r.submitted_by.display_name if r.submitted_by else r.author,
                    }
                    for r in community.pending_reuses(session)
                ]

        items = await run_in_threadpool(pending)
        return self.accounts.page(request, "moderation.html", items=items, **self._labels())

    async def moderate(self, request: Request) -> Response:
        redirect = self._admin_only(request)
        if redirect is not None:
            return redirect
        await self.accounts.form(request)
        raw, decision = request.path_params["reuse_id"], request.path_params["decision"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or decision not in (
            "approuver",
            "rejeter",
        ):
            raise not_found()
        moderator = identity_for(request).user_id

        def apply() -> None:
            with Session(self.engine) as session, session.begin():
                reuse = session.scalar(select(Reuse).where(Reuse.id == int(raw)))
                if reuse is None:
                    raise not_found()
                community.moderate(session, reuse, moderator, decision == "approuver")

        await run_in_threadpool(apply)
        return RedirectResponse("/admin/reutilisations", status_code=303)

    # --- events ----------------------------------------------------------------------

    def event_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        when = _param(request, "quand", set(WHEN))
        kind = _param(request, "type", {str(k) for k in EventKind})
        with Session(self.engine) as session:
            items = community.events(session, when, kind)
            paging = Paging(page_number(request), len(items))
            shown = items[paging.offset : paging.offset + paging.size]
            visible = community.visible_ids(
                session, viewer, {d.id for e in shown for d in e.datasets}
            )
            return self.portal.render(
                request,
                "events.html",
                may_add=self._may_add(session, request),
                events=[
                    {
                        "event": e,
                        "starts": community.local(e.starts_at),
                        "ends": community.local(e.ends_at),
                        "past": community.is_past(e),
                        "datasets": [d for d in e.datasets if d.id in visible],
                    }
                    for e in shown
                ],
                when=when,
                kind=kind,
                whens=WHEN,
                paging=paging,
                **self._labels(),
            )

    def event_page(self, request: Request) -> Response:
        with Session(self.engine) as session:
            try:
                event = community.get_event(session, request.path_params["slug"])
            except NotFoundError:
                raise not_found() from None
            return self.portal.render(
                request,
                "event.html",
                event=event,
                starts=community.local(event.starts_at),
                ends=community.local(event.ends_at),
                past=community.is_past(event),
                datasets=community.visible_links(session, viewer_for(request), event.datasets),
                **self._labels(),
            )

    def _calendar(
        self, request: Request, session: Session, events: list[Any], name: str, filename: str
    ) -> Response:
        viewer = viewer_for(request)
        pairs = [(e, community.visible_links(session, viewer, e.datasets)) for e in events]
        body = calendar_bytes(pairs, base_url(request), request.url.hostname or "niaouli", name)
        headers = {"Content-Disposition": f'inline; filename="{filename}"'}
        if identity_for(request).is_signed_in:
            headers["Cache-Control"] = "private, no-store"
        return Response(body, media_type=MEDIA_TYPE, headers=headers)

    def events_ics(self, request: Request) -> Response:
        with Session(self.engine) as session:
            items = community.events(session)
            return self._calendar(request, session, items, "Niaouli — événements", "evenements.ics")

    def event_ics(self, request: Request) -> Response:
        with Session(self.engine) as session:
            try:
                event = community.get_event(session, request.path_params["slug"])
            except NotFoundError:
                raise not_found() from None
            return self._calendar(request, session, [event], event.title, f"{event.slug}.ics")

    # --- editors' forms: code projects and events of their organisations ---------------

    def _editor_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            orgs = community.editable_organisations(session, viewer_for(request))
            if not orgs:
                raise HTTPException(status_code=403)
            return {"organisations": [(o.slug, o.name) for o in orgs], **self._labels()}

    async def _editor_form(
        self,
        request: Request,
        template: str,
        fields: tuple[str, ...],
        create: Any,  # noqa: ANN401 - (session, viewer, values) -> object with a slug
        target: str,
    ) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        context = await run_in_threadpool(self._editor_context, request)
        if request.method == "GET":
            values = dict.fromkeys(fields, "")
            values["datasets"] = _param(request, "jeu")
            return self.accounts.page(request, template, values=values, **context)
        form = await self.accounts.form(request)
        values = {name: str(form.get(name, ""))[:5000] for name in fields}
        viewer = viewer_for(request)

        def save() -> str:
            with Session(self.engine) as session, session.begin():
                return create(session, viewer, values).slug

        try:
            slug = await run_in_threadpool(save)
        except CatalogueError as exc:
            return self.accounts.page(
                request, template, 400, error=_message(exc), values=values, **context
            )
        return RedirectResponse(f"{target}/{slug}", status_code=303)

    async def code_new(self, request: Request) -> Response:
        def create(session: Session, viewer: Any, v: dict[str, str]) -> Any:  # noqa: ANN401
            return community.add_code_project(
                session,
                viewer,
                v["organisation"],
                v["name"],
                repository_url=v["repository_url"],
                licence=v["licence"],
                languages=v["languages"].split(","),
                status=v["status"],
                description=v["description"],
                default_branch=v["default_branch"],
                dataset_slugs=v["datasets"].replace(",", " ").split(),
            )

        fields = ("organisation", "name", "repository_url", "licence", "languages", "status")
        fields += ("description", "default_branch", "datasets")
        return await self._editor_form(request, "code_form.html", fields, create, "/code")

    async def event_new(self, request: Request) -> Response:
        def create(session: Session, viewer: Any, v: dict[str, str]) -> Any:  # noqa: ANN401
            return community.add_event(
                session,
                viewer,
                v["organisation"],
                v["title"],
                v["kind"],
                v["starts"],
                ends=v["ends"],
                location=v["location"],
                url=v["url"],
                description=v["description"],
                results=v["results"],
                dataset_slugs=v["datasets"].replace(",", " ").split(),
            )

        fields = ("organisation", "title", "kind", "starts", "ends", "location", "url")
        fields += ("description", "results", "datasets")
        return await self._editor_form(request, "event_form.html", fields, create, "/evenements")

    # --- English aliases ---------------------------------------------------------------

    def alias(self, request: Request) -> RedirectResponse:
        path = request.url.path
        for english, french in ALIASES.items():
            if path == english or path.startswith(english + "/"):
                path = french + path[len(english) :]
                break
        query = request.url.query
        return RedirectResponse(path + (f"?{query}" if query else ""), status_code=308)
