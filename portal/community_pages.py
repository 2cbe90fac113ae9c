"""Code catalogue (`/code`), reuses (`/reutilisations`) and events (`/evenements`).

Lists with filters, detail pages, the reuse submission form (signed-in users, CSRF),
the editors' forms that add and change code projects and events (`.../ajouter`,
`.../{slug}/modifier`: the core's rule of who may and its audit rows), the moderation
queue of platform admins (`/admin/reutilisations`), and the iCalendar feeds. Links to
datasets go through the request's viewer (`common.visible_links`): a reuse or event
never reveals a dataset the visitor may not see. English aliases (`/reuses`, `/events`)
redirect to the French addresses. A page asking for an item that does not exist gets the
core's NotFoundError, which the portal's one handler answers with its 404 page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import localtime
from niaouli.accounts.audit import Actor
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import credit
from niaouli.catalogue.campaigns.campaigns import list_campaigns
from niaouli.catalogue.community import calls, common, events, projects, reuses
from niaouli.catalogue.community.events import EVENT_KINDS
from niaouli.catalogue.community.projects import CODE_STATUSES, CodeFilters
from niaouli.catalogue.community.reuses import MODERATION, REUSE_KINDS
from niaouli.catalogue.models import CodeStatus, EventKind, Reuse, ReuseKind
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, NotFoundError
from niaouli.i18n import N_, _
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
from niaouli.portal.security import Refused

WHEN = {"a-venir": N_("À venir"), "passes": N_("Passés")}
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


def _slugs(text: str) -> list[str]:
    """Dataset identifiers typed one a line (or separated by commas or spaces)."""
    return text.replace(",", " ").split()


def _local_time(value: Any) -> str:  # noqa: ANN401 - a datetime or None
    """A stored time as the forms take it: `AAAA-MM-JJ HH:MM`, Nouméa time."""
    shown = localtime.local(value)
    return shown.strftime("%Y-%m-%d %H:%M") if shown else ""


@dataclass(frozen=True)
class EditorKind:
    """What the editors' form of code projects, or of events, needs to know.

    `add` and `change` take the posted form's values (text); `values_of` gives an item's
    values as the form shows them (its datasets apart: only those the editor may see).
    """

    template: str
    target: str  # the list's address; items are at target/slug
    action: Action  # who may add and change one (`permissions.allowed`)
    fields: tuple[str, ...]
    get: Callable[[Session, str], Any]
    add: Callable[[Session, Viewer, dict[str, str], Actor], Any]
    change: Callable[[Session, Viewer, Any, dict[str, str], Actor], Any]
    values_of: Callable[[Any], dict[str, str]]
    title_of: Callable[[Any], str]


def _add_code(session: Session, viewer: Viewer, v: dict[str, str], actor: Actor) -> Any:  # noqa: ANN401
    return projects.add_code_project(
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
        dataset_slugs=_slugs(v["datasets"]),
        actor=actor,
    )


def _change_code(
    session: Session,
    viewer: Viewer,
    project: Any,  # noqa: ANN401
    v: dict[str, str],
    actor: Actor,
) -> None:
    changes: dict[str, Any] = {name: v[name] for name in projects.CODE_FIELDS}
    changes["languages"] = v["languages"].split(",")
    changes["datasets"] = _slugs(v["datasets"])
    projects.change_code_project(session, viewer, project, actor=actor, **changes)


def _code_values(project: Any) -> dict[str, str]:  # noqa: ANN401
    return {
        "organisation": project.organisation.slug,
        "name": project.name,
        "repository_url": project.repository_url or "",
        "licence": project.licence or "",
        "languages": ", ".join(project.languages or []),
        "status": str(project.status),
        "description": project.description or "",
        "default_branch": project.default_branch or "",
    }


def _add_event(session: Session, viewer: Viewer, v: dict[str, str], actor: Actor) -> Any:  # noqa: ANN401
    return events.add_event(
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
        dataset_slugs=_slugs(v["datasets"]),
        actor=actor,
    )


def _change_event(
    session: Session,
    viewer: Viewer,
    event: Any,  # noqa: ANN401
    v: dict[str, str],
    actor: Actor,
) -> None:
    changes: dict[str, Any] = {name: v[name] for name in events.EVENT_FIELDS}
    changes["datasets"] = _slugs(v["datasets"])
    events.change_event(session, viewer, event, actor=actor, **changes)


def _event_values(event: Any) -> dict[str, str]:  # noqa: ANN401
    return {
        "organisation": event.organisation.slug if event.organisation else "",
        "title": event.title,
        "kind": str(event.kind),
        "starts": _local_time(event.starts_at),
        "ends": _local_time(event.ends_at),
        "location": event.location or "",
        "url": event.url or "",
        "description": event.description or "",
        "results": event.results or "",
    }


CODE = EditorKind(
    template="code_form.html",
    target="/code",
    action=Action.CODE_EDIT,
    fields=("organisation", *projects.CODE_FIELDS),
    get=projects.get_code_project,
    add=_add_code,
    change=_change_code,
    values_of=_code_values,
    title_of=lambda project: project.name,
)
EVENT = EditorKind(
    template="event_form.html",
    target="/evenements",
    action=Action.EVENT_EDIT,
    fields=("organisation", *events.EVENT_FIELDS),
    get=events.get_event,
    add=_add_event,
    change=_change_event,
    values_of=_event_values,
    title_of=lambda event: event.title,
)


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
        return bool(common.editable_organisations(session, viewer))

    def _may_change(self, request: Request, kind: EditorKind, item: Any) -> bool:  # noqa: ANN401
        """Whether to offer the edit form of `item` (the form checks again)."""
        return identity_for(request).via == "session" and allowed(
            viewer_for(request), kind.action, item
        )

    def _labels(self) -> dict[str, Any]:
        return {
            "code_statuses": {str(k): _(v) for k, v in CODE_STATUSES.items()},
            "reuse_kinds": {str(k): _(v) for k, v in REUSE_KINDS.items()},
            "event_kinds": {str(k): _(v) for k, v in EVENT_KINDS.items()},
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
            every = projects.code_projects(session)
            kept = projects.filter_code_projects(every, filters)
            paging = Paging(page_number(request), len(kept))
            shown = kept[paging.offset : paging.offset + paging.size]
            visible = common.visible_ids_of(session, viewer, shown)
            return self.portal.render(
                request,
                "code.html",
                may_add=self._may_add(session, request),
                projects=[
                    {"project": p, "datasets": [d for d in p.datasets if d.id in visible]}
                    for p in shown
                ],
                facets=projects.code_facets(every),
                filters=filters,
                paging=paging,
                **self._labels(),
            )

    def code_project(self, request: Request) -> Response:
        with Session(self.engine) as session:
            project = projects.get_code_project(session, request.path_params["slug"])
            return self.portal.render(
                request,
                "code_project.html",
                project=project,
                datasets=common.visible_links(session, viewer_for(request), project.datasets),
                archive=projects.archive_url(project),
                publiccode=projects.publiccode_facts(project.publiccode),
                features=projects.publiccode_features(project.publiccode),
                releases=[r for r in (project.releases or []) if isinstance(r, dict)],
                laureate_of=calls.call_of_shipped(session, code_id=project.id),
                can_edit=self._may_change(request, CODE, project),
                **self._labels(),
            )

    # --- reuses ----------------------------------------------------------------------

    def reuse_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        kind = _param(request, "type", {str(k) for k in ReuseKind})
        dataset_slug = _param(request, "jeu")
        with Session(self.engine) as session:
            found, target = reuses.public_reuses(session, viewer, kind, dataset_slug)
            paging = Paging(page_number(request), len(found))
            shown = found[paging.offset : paging.offset + paging.size]
            visible = common.visible_ids_of(session, viewer, shown)
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
            reuse = reuses.get_reuse(session, request.path_params["slug"], viewer)
            response = self.portal.render(
                request,
                "reuse.html",
                reuse=reuse,
                datasets=common.visible_links(session, viewer, reuse.datasets),
                submitter=reuse.submitted_by.display_name if reuse.submitted_by else reuse.author,
                moderation=_(MODERATION[reuse.status]),
                laureate_of=calls.call_of_shipped(session, reuse_id=reuse.id),
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
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def submit() -> str:
            with Session(writing(self.engine)) as session, session.begin():
                reuse = reuses.submit_reuse(
                    session,
                    viewer,
                    values["title"],
                    values["kind"],
                    values["url"],
                    values["description"],
                    _slugs(values["datasets"]),
                    actor=actor,
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
        if not allowed(viewer_for(request), Action.REUSE_MODERATE):
            raise Refused("platform")
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
                    for r in reuses.pending_reuses(session)
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
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def apply() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                reuse = session.scalar(select(Reuse).where(Reuse.id == int(raw)))
                if reuse is None:
                    raise not_found()
                reuses.moderate_reuse(session, viewer, reuse, decision == "approuver", actor)

        await run_in_threadpool(apply)
        return RedirectResponse("/admin/reutilisations", status_code=303)

    # --- events ----------------------------------------------------------------------

    def event_list(self, request: Request) -> Response:
        viewer = viewer_for(request)
        when = _param(request, "quand", set(WHEN))
        kind = _param(request, "type", {str(k) for k in EventKind})
        with Session(self.engine) as session:
            items = events.list_events(session, when, kind)
            paging = Paging(page_number(request), len(items))
            shown = items[paging.offset : paging.offset + paging.size]
            visible = common.visible_ids_of(session, viewer, shown)
            return self.portal.render(
                request,
                "events.html",
                may_add=self._may_add(session, request),
                events=[
                    {
                        "event": e,
                        "starts": localtime.local(e.starts_at),
                        "ends": localtime.local(e.ends_at),
                        "past": events.is_past(e),
                        "datasets": [d for d in e.datasets if d.id in visible],
                    }
                    for e in shown
                ],
                when=when,
                kind=kind,
                whens={value: _(label) for value, label in WHEN.items()},
                paging=paging,
                **self._labels(),
            )

    def event_page(self, request: Request) -> Response:
        with Session(self.engine) as session:
            event = events.get_event(session, request.path_params["slug"])
            return self.portal.render(
                request,
                "event.html",
                event=event,
                starts=localtime.local(event.starts_at),
                ends=localtime.local(event.ends_at),
                past=events.is_past(event),
                datasets=common.visible_links(session, viewer_for(request), event.datasets),
                campaign_results=credit.for_event(session, viewer_for(request), event.id),
                can_edit=self._may_change(request, EVENT, event),
                campaigns=list_campaigns(session, viewer_for(request), event_id=event.id),
                has_call=calls.find_call(session, event) is not None,
                **self._labels(),
            )

    def _calendar(
        self, request: Request, session: Session, items: list[Any], name: str, filename: str
    ) -> Response:
        viewer = viewer_for(request)
        pairs = [(e, common.visible_links(session, viewer, e.datasets)) for e in items]
        body = calendar_bytes(pairs, base_url(request), request.url.hostname or "niaouli", name)
        headers = {"Content-Disposition": f'inline; filename="{filename}"'}
        if identity_for(request).is_signed_in:
            headers["Cache-Control"] = "private, no-store"
        return Response(body, media_type=MEDIA_TYPE, headers=headers)

    def events_ics(self, request: Request) -> Response:
        with Session(self.engine) as session:
            items = events.list_events(session)
            name = _("Niaouli — événements")
            return self._calendar(request, session, items, name, "evenements.ics")

    def event_ics(self, request: Request) -> Response:
        with Session(self.engine) as session:
            event = events.get_event(session, request.path_params["slug"])
            return self._calendar(request, session, [event], event.title, f"{event.slug}.ics")

    # --- editors' forms: code projects and events of their organisations ---------------
    # One handler adds (`/code/ajouter`) and changes (`/code/{slug}/modifier`) either kind,
    # with one template each; `EditorKind` says what differs. Who may change what is the
    # core's rule (`kind.action`); the core writes the audit row, as for the API.

    def _editable(self, session: Session, viewer: Viewer, kind: EditorKind, slug: str) -> Any:  # noqa: ANN401
        """The item to change: 404 when there is none, 403 for a viewer who may not.
        (An HTTP 404 here, not the core's NotFoundError: the form shows what the core
        refuses as invalid input, and a missing item is not that.)"""
        try:
            item = kind.get(session, slug)
        except NotFoundError:
            raise not_found() from None
        if not allowed(viewer, kind.action, item):
            org = item.organisation
            raise Refused("edit", org.name if org else None, org.slug if org else None)
        return item

    def _form_context(self, viewer: Viewer, kind: EditorKind, slug: str | None) -> dict[str, Any]:
        with Session(self.engine) as session:
            if slug is None:
                orgs = common.editable_organisations(session, viewer, kind.action)
                if not orgs:
                    raise Refused("publish")
                return {
                    "editing": None,
                    "action": f"{kind.target}/ajouter",
                    "organisations": [(o.slug, o.name) for o in orgs],
                    "values": dict.fromkeys(kind.fields, ""),
                }
            item = self._editable(session, viewer, kind, slug)
            values = kind.values_of(item)
            linked = common.visible_links(session, viewer, item.datasets)
            values["datasets"] = "\n".join(d.slug for d in linked)
            return {
                "editing": {
                    "slug": item.slug,
                    "title": kind.title_of(item),
                    "organisation": item.organisation.name if item.organisation else "",
                },
                "action": f"{kind.target}/{item.slug}/modifier",
                "values": values,
            }

    async def _editor_form(self, request: Request, kind: EditorKind) -> Response:
        redirect = self._sign_in_first(request)
        if redirect is not None:
            return redirect
        viewer = viewer_for(request)
        slug = request.path_params.get("slug")
        context = await run_in_threadpool(self._form_context, viewer, kind, slug)
        if request.method == "GET":
            if slug is None:
                context["values"]["datasets"] = _param(request, "jeu")
            return self.accounts.page(request, kind.template, **context, **self._labels())
        form = await self.accounts.form(request)
        # Cut well past every limit: an over-long text is refused with a message, not cut.
        values = {name: str(form.get(name, ""))[:10_000] for name in kind.fields}
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def save() -> str:
            with Session(writing(self.engine)) as session, session.begin():
                if slug is None:
                    item = kind.add(session, viewer, values, actor)
                else:
                    item = self._editable(session, viewer, kind, slug)
                    kind.change(session, viewer, item, values, actor)
                return item.slug

        try:
            saved = await run_in_threadpool(save)
        except CatalogueError as exc:
            context["values"] = values
            return self.accounts.page(
                request, kind.template, 400, error=_message(exc), **context, **self._labels()
            )
        return RedirectResponse(f"{kind.target}/{saved}", status_code=303)

    async def code_new(self, request: Request) -> Response:
        return await self._editor_form(request, CODE)

    async def code_edit(self, request: Request) -> Response:
        return await self._editor_form(request, CODE)

    async def event_new(self, request: Request) -> Response:
        return await self._editor_form(request, EVENT)

    async def event_edit(self, request: Request) -> Response:
        return await self._editor_form(request, EVENT)

    # --- English aliases ---------------------------------------------------------------

    def alias(self, request: Request) -> RedirectResponse:
        path = request.url.path
        for english, french in ALIASES.items():
            if path == english or path.startswith(english + "/"):
                path = french + path[len(english) :]
                break
        query = request.url.query
        return RedirectResponse(path + (f"?{query}" if query else ""), status_code=308)
