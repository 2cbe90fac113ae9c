"""Organisation members, managed by the organisation's admins (and platform admins).

`/organisations/{slug}/membres`: the list with roles and e-mail addresses (shown here
only, to the people who manage them), a form to add someone or change their role, and
a button to remove them. Session and CSRF token required; anyone else gets a 403 (or the
sign-in page when not signed in). The organisation always keeps one admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from niaouli.portal.accounts import AccountPages, sentence
from niaouli.portal.common import identity_for, not_found, viewer_for
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.accounts import audit, users
from niaouli.accounts.models import Role, User
from niaouli.accounts.users import ROLE_LABELS, AccountError
from niaouli.catalogue import service
from niaouli.catalogue.access import can_manage_members
from niaouli.catalogue.models import Organisation
from niaouli.db.engine import writing
from niaouli.i18n import _


class MemberPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.engine = accounts.portal.engine

    def _organisation(self, session: Session, request: Request) -> Organisation:
        try:
            org = service.get_organisation(session, request.path_params["slug"])
        except service.NotFoundError:
            raise not_found() from None
        if not can_manage_members(viewer_for(request), org.id):
            raise HTTPException(status_code=403)
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
            return {"organisation": org, "members": members, "roles": roles}

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
        email, role = str(form.get("email", ""))[:320], str(form.get("role", "member"))

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                user = users.find_user(session, email)
                if user is None:
                    raise AccountError(
                        _("aucun compte pour cette adresse : la personne doit d'abord en créer un")
                    )
                users.set_membership(session, org, user, role)
                audit.record(
                    session,
                    self.accounts.actor(request, identity_for(request).user_id),
                    "member.set",
                    subject=user.email,
                    organisation_id=org.id,
                    role=role,
                )

        return await self._apply(request, change)

    async def remove(self, request: Request) -> Response:
        redirect = self._signed_in(request)
        if redirect is not None:
            return redirect
        await self.accounts.form(request)
        raw = request.path_params["user_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise not_found()

        def change() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                org = self._organisation(session, request)
                user = session.get(User, int(raw))
                if user is None:
                    raise not_found()
                users.remove_membership(session, org, user)
                audit.record(
                    session,
                    self.accounts.actor(request, identity_for(request).user_id),
                    "member.remove",
                    subject=user.email,
                    organisation_id=org.id,
                )

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
