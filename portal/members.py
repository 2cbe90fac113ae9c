"""Organisation members, managed by the organisation's admins (and platform admins).

`/organisations/{slug}/membres`: the list with roles and e-mail addresses (shown here
only, to the people who manage them), a form to add someone or change their role, and
a button to remove them, and the pending membership requests to accept (choosing the
role) or refuse. Session and CSRF token required; anyone else gets a 403 that says why
(or the sign-in page when not signed in). The organisation always keeps one admin.

`/organisations/{slug}/rejoindre`: a signed-in user asks to join (or to become editor);
the admins are mailed when the platform sends e-mail, and the user is told the decision
on their account page and by e-mail.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import mail
from niaouli.accounts import memberships, requests, users
from niaouli.accounts.account_tables import Role, User
from niaouli.accounts.users import ROLE_LABELS, AccountError
from niaouli.catalogue import editing, service
from niaouli.catalogue.models import Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.roles import EDITING_ROLES
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError
from niaouli.i18n import _
from niaouli.portal import emails
from niaouli.portal.accounts import AccountPages, sentence
from niaouli.portal.common import identity_for, not_found, viewer_for
from niaouli.portal.security import Refused


class MemberPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.engine = accounts.portal.engine

    def _organisation(self, session: Session, request: Request) -> Organisation:
        try:
            org = service.get_organisation(session, request.path_params["slug"])
        except service.NotFoundError:
            raise not_found() from None
        if not allowed(viewer_for(request), Action.MEMBERS_MANAGE, org):
            raise Refused("members", org.name, org.slug)
        return org

    def _context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            org = self._organisation(session, request)
            members = [
                {
                    "user_id": m.user_id,
                    "name": m.user.display_name,
                    "email": m.user.email,
                    "role": Role(m.role).value,
                    "role_label": _(ROLE_LABELS[Role(m.role)]),
                }
                for m in users.list_members(session, org)
            ]
            roles = {role: _(label) for role, label in ROLE_LABELS.items()}
            waiting = [
                {
                    "id": r.id,
                    "name": r.user.display_name,
                    "email": r.user.email,
                    "role": r.role,
                    "role_label": _(ROLE_LABELS[Role(r.role)]),
                    "message": r.message,
                    "created_at": r.created_at,
                }
                for r in requests.pending(session, org)
            ]
            return {"organisation": org, "members": members, "roles": roles, "requests": waiting}

    def _signed_in(self, request: Request) -> Response | None:
        if identity_for(request).via != "session":
            return RedirectResponse(
                f"/connexion?suivant={quote(request.url.path)}", status_code=303
            )
        return None

    async def page(self, request: Request) -> Response:
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        context = await run_in_threadpool(self._context, request)
        return self.accounts.page(request, "membres.html", **context)

    async def add(self, request: Request) -> Response:
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        form = await self.accounts.form(request)
        email, role = str(form.get("email", ""))[:320], str(form.get("role", Role.MEMBER))
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                user = users.find_user(session, email)
                if user is None:
                    raise AccountError(
                        _("aucun compte pour cette adresse : la personne doit d'abord en créer un")
                    )
                memberships.set_member(session, viewer_for(request), actor, org, user, role)

        return await self._apply(request, change)

    async def remove(self, request: Request) -> Response:
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        await self.accounts.form(request)
        raw = request.path_params["user_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise not_found()
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                user = session.get(User, int(raw))
                if user is None:
                    raise not_found()
                memberships.remove_member(session, viewer_for(request), actor, org, user)

        return await self._apply(request, change)

    async def schema_policy(self, request: Request) -> Response:
        """The organisation's choice for a file failing its dataset's Table Schema
        (`niaouli.tableschema`): its admins, as every change of the organisation."""
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        form = await self.accounts.form(request)
        policy = str(form.get("schema_policy", ""))
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                try:
                    editing.update_organisation(
                        session, viewer_for(request), actor, org, schema_policy=policy
                    )
                except CatalogueError as exc:
                    raise AccountError(str(exc)) from None

        return await self._apply(request, change)

    async def _apply(self, request: Request, change: Any) -> Response:  # noqa: ANN401
        try:
            await run_in_threadpool(change)
        except AccountError as exc:
            context = await run_in_threadpool(self._context, request)
            return self.accounts.page(
                request,
                "membres.html",
                400,
                error=sentence(exc),
                **context,
            )
        slug = request.path_params["slug"]
        return RedirectResponse(f"/organisations/{slug}/membres", status_code=303)

    # --- membership requests ------------------------------------------------------------

    def _join_context(self, request: Request) -> dict[str, Any]:
        user_id = identity_for(request).user_id
        with Session(self.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except service.NotFoundError:
                raise not_found() from None
            user = session.get(User, user_id)
            assert user is not None
            held = requests.current_role(session, org, user)
            waiting = requests.pending_of(session, org, user)
            return {
                "organisation": org,
                "held": _(ROLE_LABELS[held]) if held else None,
                "is_editor": held in EDITING_ROLES,
                "waiting": {"role": _(ROLE_LABELS[Role(waiting.role)]), "at": waiting.created_at}
                if waiting
                else None,
                "askable": [
                    (r.value, _(ROLE_LABELS[r]))
                    for r in requests.ASKABLE
                    if held is None or requests.STRENGTH[r] > requests.STRENGTH[held]
                ],
            }

    async def join(self, request: Request) -> Response:
        """GET/POST /organisations/{slug}/rejoindre: ask to join, or to become editor."""
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        if request.method == "GET":
            context = await run_in_threadpool(self._join_context, request)
            sent = request.query_params.get("demande") == "envoyee"
            return self.accounts.page(request, "rejoindre.html", sent=sent, **context)
        form = await self.accounts.form(request)
        role = str(form.get("role", Role.MEMBER))[:20]
        message = str(form.get("message", ""))[: requests.MAX_MESSAGE * 2]
        smtp = self.accounts.portal.settings.smtp
        site = self.accounts.site_url(request)
        outbox: list[tuple[str, str, str]] = []

        def ask() -> None:
            user_id = identity_for(request).user_id
            with Session(writing(self.engine)) as session, session.begin():
                try:
                    org = service.get_organisation(session, request.path_params["slug"])
                except service.NotFoundError:
                    raise not_found() from None
                user = session.get(User, user_id)
                assert user is not None
                actor = self.accounts.actor(request, user.id)
                asked = memberships.ask_to_join(session, actor, org, user, role, message)
                if smtp is not None:
                    label = _(ROLE_LABELS[Role(asked.role)])
                    for admin in requests.admins_of(session, org):
                        outbox.append(
                            (
                                admin.email,
                                *emails.membership_request(
                                    user.display_name,
                                    org.name,
                                    label,
                                    f"{site}/organisations/{org.slug}/membres",
                                ),
                            )
                        )
            for item in outbox:
                mail.send(smtp, *item)

        try:
            await run_in_threadpool(ask)
        except AccountError as exc:
            context = await run_in_threadpool(self._join_context, request)
            return self.accounts.page(
                request, "rejoindre.html", 400, error=sentence(exc), sent=False, **context
            )
        slug = request.path_params["slug"]
        return RedirectResponse(f"/organisations/{slug}/rejoindre?demande=envoyee", status_code=303)

    async def decide(self, request: Request) -> Response:
        """POST …/membres/demandes/{request_id}/{accepter|refuser}: admins only."""
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        decision = request.path_params["decision"]
        raw = request.path_params["request_id"]
        if decision not in ("accepter", "refuser") or not (
            raw.isascii() and raw.isdigit() and len(raw) <= 18
        ):
            raise not_found()
        form = await self.accounts.form(request)
        accept = decision == "accepter"
        role = str(form.get("role", Role.MEMBER))[:20]
        smtp = self.accounts.portal.settings.smtp
        site = self.accounts.site_url(request)
        outbox: list[tuple[str, str, str]] = []
        actor = self.accounts.actor(request, identity_for(request).user_id)

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                decided = memberships.decide_request(
                    session, viewer_for(request), actor, org, int(raw), accept, role
                )
                label = _(ROLE_LABELS[Role(decided.role)])
                outbox.append(
                    (
                        decided.user.email,
                        *emails.membership_decision(
                            decided.user.display_name, org.name, accept, label, site
                        ),
                    )
                )
            for item in outbox:
                mail.send(smtp, *item)

        return await self._apply(request, change)
