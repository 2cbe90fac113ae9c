"""Account pages: sign in, sign up, sign out, forgotten password, my account and tokens.

Every form carries a CSRF token (`csrf.py`); every POST without a valid one is a 403
(« Ce formulaire a expiré… », `security.Refused("csrf")`). Sign-in failures are throttled
in the database (`niaouli.accounts.ratelimit`), so all workers share the count. Sign-in
and reset messages never tell whether an address has an account; with e-mail
(`niaouli.mail`) sign-up does not either (the mailbox gets a confirmation link or an
"already registered" note). Without e-mail, sign-up opens the account at once and must
say when the address is taken.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import mail
from niaouli.accounts import (
    audit,
    requests,
    resets,
    selfservice,
    sessions,
    tokens,
    users,
    verification,
)
from niaouli.accounts.account_tables import Role, TokenScope, User
from niaouli.accounts.csrf import FIELD, Csrf
from niaouli.accounts.oidc import oidc_settings
from niaouli.accounts.resolve import SESSION_COOKIE, session_signer, viewer_for_user
from niaouli.accounts.secrets import secret_key
from niaouli.accounts.selfservice import TOO_MANY
from niaouli.accounts.sessions import SESSION_LIFETIME
from niaouli.accounts.users import ROLE_LABELS, AccountError
from niaouli.catalogue.permissions import Action, allowed, publishes_somewhere
from niaouli.db.engine import writing
from niaouli.i18n import N_, _
from niaouli.portal import emails
from niaouli.portal.common import Portal, base_url, identity_for
from niaouli.portal.security import Refused
from niaouli.settings import get_settings

MAX_FORM_BYTES = 16_000
# Messages are marked here and translated when shown (`_(TOO_MANY)`).
BAD_LOGIN = N_("Adresse électronique ou mot de passe incorrect.")
RESET_SENT = N_(
    "Si un compte existe pour cette adresse, un lien de réinitialisation valable une "
    "heure a été créé. Sans serveur de messagerie, l'administrateur de la plateforme le "
    "trouve dans le journal du serveur et vous le transmet."
)
RESET_MAILED = N_(
    "Si un compte existe pour cette adresse, un lien de réinitialisation valable une "
    "heure vient de lui être envoyé par courriel. Pensez à regarder dans les indésirables."
)
NOT_SAME = N_("Les deux mots de passe ne sont pas identiques.")
SIGN_UP_MAILED = N_(
    "Un message vient d'être envoyé à %(email)s. Suivez le lien qu'il contient (valable "
    "48 heures) pour confirmer l'adresse et ouvrir votre compte. Pensez à regarder dans "
    "les indésirables."
)
EXISTS = N_("un compte existe déjà avec cette adresse électronique")
BAD_VERIFY_LINK = N_(
    "Ce lien de confirmation n'est pas valide ou a expiré (48 heures). Choisissez « Mot de "
    "passe oublié » : le lien reçu confirme aussi l'adresse."
)
NOT_VERIFIED = N_(
    "Confirmez d'abord votre adresse électronique : suivez le lien du message reçu à "
    "l'inscription. Sans ce message, choisissez « Mot de passe oublié » : le lien reçu "
    "confirme aussi l'adresse."
)


def sentence(error: Exception) -> str:
    """An AccountError's message ("le nom affiché est obligatoire") as a sentence."""
    message = str(error)
    return message[:1].upper() + message[1:] + "."


def safe_next(value: object) -> str:
    """A local path to go back to after signing in; anything else means /compte."""
    if not isinstance(value, str) or len(value) > 500:
        return "/compte"
    local = value.startswith("/") and not value.startswith(("//", "/\\"))
    return value if local and all(32 < ord(c) < 127 for c in value) else "/compte"


class AccountPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.key = secret_key(portal.settings)
        public_url = get_settings().public_url
        self.secure = public_url.startswith("https://")
        self.csrf = Csrf(self.key, self.secure)
        self.signer = session_signer(self.key)
        sso = oidc_settings()
        self.oidc_label = sso.label if sso is not None else None

    # --- helpers -----------------------------------------------------------------------

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        token, seed = self.csrf.prepare(request)
        response = self.portal.render(
            request,
            template,
            status,
            csrf_field=FIELD,
            csrf=token,
            # The default label is translated; one set by the operator is shown as is.
            oidc_label=_(self.oidc_label) if self.oidc_label else None,
            **context,
        )
        response.headers["Cache-Control"] = "private, no-store"
        return self.csrf.set_cookie(response, seed)

    async def form(self, request: Request) -> FormData:
        """The posted form, after the size and CSRF checks (403 without a valid token)."""
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise HTTPException(status_code=413 if length.isdigit() else 411)
        form = await request.form(max_files=0, max_fields=20)
        if not self.csrf.is_valid(request, form.get(FIELD)):
            raise Refused("csrf")
        if any("\x00" in f"{name}{value}" for name, value in form.multi_items()):
            # PostgreSQL text cannot hold U+0000: a sign-in with it was a 500.
            raise HTTPException(status_code=400)
        return form

    def signed_in(self, response: Response, secret: str) -> Response:
        response.set_cookie(
            SESSION_COOKIE,
            self.signer.sign(secret).decode("ascii"),
            max_age=int(SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )
        return response

    def actor(self, request: Request, user_id: int | None, via: str = "session") -> audit.Actor:
        return audit.Actor(user_id, via, request.client.host if request.client else None)

    def site_url(self, request: Request) -> str:
        return get_settings().public_url.rstrip("/") or base_url(request)

    # --- sign in -------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page(
                request, "connexion.html", next=safe_next(request.query_params.get("suivant"))
            )
        form = await self.form(request)
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))
        target = safe_next(form.get("next"))
        client = request.client.host if request.client else None

        def attempt() -> tuple[str, str | None]:
            with Session(writing(self.portal.engine)) as session, session.begin():
                done = selfservice.sign_in(session, self.key, email, password, client)
                return done.outcome, done.secret

        outcome, secret = await run_in_threadpool(attempt)
        if outcome == "blocked":
            return self.page(
                request, "connexion.html", 429, error=_(TOO_MANY), email=email, next=target
            )
        if outcome == "unverified":
            return self.page(
                request, "connexion.html", 403, error=_(NOT_VERIFIED), email=email, next=target
            )
        if outcome == "failed" or secret is None:
            return self.page(
                request, "connexion.html", 400, error=_(BAD_LOGIN), email=email, next=target
            )
        return self.signed_in(RedirectResponse(target, status_code=303), secret)

    # --- sign up -------------------------------------------------------------------------

    async def signup(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page(request, "inscription.html")
        form = await self.form(request)
        email = str(form.get("email", ""))[:320]
        name = str(form.get("name", ""))[:200]
        password = str(form.get("password", ""))
        if password != str(form.get("password_confirmation", "")):
            return self.page(
                request,
                "inscription.html",
                400,
                error=_(NOT_SAME),
                email=email,
                display_name=name,
            )

        smtp = self.portal.settings.smtp
        site = self.site_url(request)
        client = request.client.host if request.client else None

        outbox: list[tuple[str, str, str]] = []  # sent once the transaction committed

        def create() -> str | None:
            """The new session's secret (without e-mail), else None: a message was sent."""
            with Session(writing(self.portal.engine)) as session, session.begin():
                user, existing = selfservice.sign_up(
                    session, email, name, password, verified=not smtp, client=client
                )
                if smtp is None:
                    if user is None:  # without e-mail, nothing else can tell the person
                        raise AccountError(_(EXISTS))
                    return sessions.start(session, user)
                if user is not None:
                    link = verification.make_link(self.key, site, user)
                    outbox.append((user.email, *emails.verify_address(user.display_name, link)))
                else:
                    assert existing is not None
                    outbox.append((existing.email, *emails.already_registered(site)))
            for message in outbox:
                mail.send(smtp, *message)
            return None

        try:
            secret = await run_in_threadpool(create)
        except AccountError as exc:
            return self.page(
                request,
                "inscription.html",
                400,
                error=sentence(exc),
                email=email,
                display_name=name,
            )
        if secret is None:  # the same page whether or not the address had an account
            return self.page(
                request,
                "inscription.html",
                sent=_(SIGN_UP_MAILED) % {"email": users.normalise_email(email)},
            )
        return self.signed_in(RedirectResponse("/compte", status_code=303), secret)

    async def verify(self, request: Request) -> Response:
        """GET /verifier/{token}: the address link of a sign-up; opens a session once."""
        token = request.path_params["token"]
        client = request.client.host if request.client else None

        def check() -> tuple[bool, str | None]:
            with Session(writing(self.portal.engine)) as session, session.begin():
                return selfservice.verify_address(session, self.key, token, client)

        valid, secret = await run_in_threadpool(check)
        if not valid:
            error = _(BAD_VERIFY_LINK)
            return self.page(request, "connexion.html", 404, error=error, next="/compte")
        if secret is None:  # already used: sign in as usual
            return RedirectResponse("/connexion?adresse=confirmee", status_code=303)
        response = RedirectResponse("/compte?adresse=confirmee", status_code=303)
        return self.signed_in(response, secret)

    # --- sign out ------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        client = request.client.host if request.client else None

        def end() -> None:
            try:
                secret = self.signer.unsign(cookie).decode("ascii")
            except Exception:  # noqa: BLE001 - nothing to end
                return
            with Session(writing(self.portal.engine)) as session, session.begin():
                selfservice.sign_out(session, secret, client)

        if cookie:
            await run_in_threadpool(end)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    # --- forgotten password --------------------------------------------------------------

    async def forgotten(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page(request, "mot-de-passe-oublie.html")
        form = await self.form(request)
        email = str(form.get("email", ""))[:320]
        client = request.client.host if request.client else None
        site = self.site_url(request)
        smtp = self.portal.settings.smtp

        outbox: list[tuple[str, str, str]] = []

        def request_link() -> bool:
            with Session(writing(self.portal.engine)) as session, session.begin():
                allowed_now, user, link = selfservice.request_reset(
                    session, self.key, email, site, log_link=smtp is None, client=client
                )
                if not allowed_now:
                    return False
                if user is not None and link is not None:
                    outbox.append((user.email, *emails.reset_link(user.display_name, link)))
            for message in outbox:  # after the commit: the link works when it arrives
                mail.send(smtp, *message)
            return True

        if not await run_in_threadpool(request_link):
            return self.page(request, "mot-de-passe-oublie.html", 429, error=_(TOO_MANY))
        sent = _(RESET_MAILED) if smtp is not None else _(RESET_SENT)
        return self.page(request, "mot-de-passe-oublie.html", sent=sent)

    async def reset(self, request: Request) -> Response:
        secret = request.path_params["token"]

        def valid() -> bool:
            with Session(self.portal.engine) as session:
                return resets.find_valid(session, secret) is not None

        if request.method == "GET":
            if not await run_in_threadpool(valid):
                return self.page(request, "reinitialiser.html", 404, invalid=True)
            return self.page(request, "reinitialiser.html", invalid=False)
        form = await self.form(request)
        password = str(form.get("password", ""))
        if password != str(form.get("password_confirmation", "")):
            return self.page(
                request,
                "reinitialiser.html",
                400,
                invalid=False,
                error=_(NOT_SAME),
            )

        def complete() -> str | None:
            with Session(writing(self.portal.engine)) as session, session.begin():
                client = request.client.host if request.client else None
                return selfservice.complete_reset(session, secret, password, client)

        try:
            session_secret = await run_in_threadpool(complete)
        except AccountError as exc:
            gone = isinstance(exc, resets.InvalidLinkError)
            return self.page(
                request,
                "reinitialiser.html",
                404 if gone else 400,
                invalid=gone,
                error=sentence(exc),
            )
        assert session_secret is not None
        return self.signed_in(RedirectResponse("/compte", status_code=303), session_secret)

    # --- my account ----------------------------------------------------------------------

    def _account_context(self, user_id: int) -> dict[str, Any]:
        with Session(self.portal.engine) as session:
            user = session.get(User, user_id)
            assert user is not None
            viewer = viewer_for_user(session, user)
            memberships = [
                {
                    "organisation": m.organisation,
                    "role": _(ROLE_LABELS[Role(m.role)]),
                    "manages": allowed(viewer, Action.MEMBERS_MANAGE, m.organisation_id),
                }
                for m in users.memberships_of(session, user.id)
            ]
            items = [
                {
                    "id": t.id,
                    "name": t.name,
                    "prefix": t.prefix,
                    "scope": _("lecture et écriture")
                    if t.scope == TokenScope.WRITE
                    else _("lecture"),
                    "created_at": t.created_at,
                    "last_used_at": t.last_used_at,
                    "revoked": t.revoked_at is not None,
                }
                for t in tokens.list_tokens(session, user)
            ]
            asked = [
                {
                    "organisation": r.organisation.name,
                    "slug": r.organisation.slug,
                    "status": r.status,
                    "role": _(ROLE_LABELS[Role(r.role)]),
                    "created_at": r.created_at,
                    "decided_at": r.decided_at,
                }
                for r in requests.requests_of(session, user.id)
            ]
            return {
                "user_email": user.email,
                "user_name": user.display_name,
                "is_platform_admin": user.is_platform_admin,
                "memberships": memberships,
                "membership_requests": asked,
                "may_publish": publishes_somewhere(viewer),
                "tokens": items,
            }

    def _require_session(self, request: Request) -> int:
        identity = identity_for(request)
        if identity.via != "session" or identity.user_id is None:
            raise _RedirectToLogin(request.url.path)
        return identity.user_id

    async def account(self, request: Request) -> Response:
        try:
            user_id = self._require_session(request)
        except _RedirectToLogin as redirect:
            return redirect.response()
        context = await run_in_threadpool(self._account_context, user_id)
        return self.page(
            request,
            "compte.html",
            ogc_url=base_url(request) + "/ogc",
            password_changed=request.query_params.get("mot-de-passe") == "change",
            address_confirmed=request.query_params.get("adresse") == "confirmee",
            **context,
        )

    async def change_password(self, request: Request) -> Response:
        """Change one's password: the current one is checked (and throttled like a
        sign-in), every other session of the account ends, this browser stays in."""
        try:
            user_id = self._require_session(request)
        except _RedirectToLogin as redirect:
            return redirect.response()
        form = await self.form(request)
        current = str(form.get("current_password", ""))
        password = str(form.get("password", ""))
        client = request.client.host if request.client else None

        def change() -> tuple[str | None, str | None]:
            """(error message, new session secret); failures are committed (throttle)."""
            with Session(writing(self.portal.engine)) as session, session.begin():
                user = session.get(User, user_id)
                assert user is not None
                return selfservice.change_password(
                    session,
                    self.key,
                    user,
                    current,
                    password,
                    str(form.get("password_confirmation", "")),
                    client,
                )

        error, secret = await run_in_threadpool(change)
        if error is not None or secret is None:
            context = await run_in_threadpool(self._account_context, user_id)
            status = 429 if error == _(TOO_MANY) else 400
            return self.page(
                request,
                "compte.html",
                status,
                ogc_url=base_url(request) + "/ogc",
                password_error=error,
                **context,
            )
        response = RedirectResponse("/compte?mot-de-passe=change", status_code=303)
        return self.signed_in(response, secret)

    async def create_token(self, request: Request) -> Response:
        try:
            user_id = self._require_session(request)
        except _RedirectToLogin as redirect:
            return redirect.response()
        form = await self.form(request)
        name, scope = str(form.get("name", "")), str(form.get("scope", "read"))

        def create() -> tuple[str, str]:
            with Session(writing(self.portal.engine)) as session, session.begin():
                user = session.get(User, user_id)
                assert user is not None
                actor = self.actor(request, user_id)
                token, secret = selfservice.create_token(session, actor, user, name, scope)
                return token.name, secret

        error, created = None, None
        try:
            created = await run_in_threadpool(create)
        except AccountError as exc:
            error = str(exc)
        context = await run_in_threadpool(self._account_context, user_id)
        return self.page(
            request,
            "compte.html",
            400 if error else 200,
            ogc_url=base_url(request) + "/ogc",
            token_error=error,
            new_token=created,
            **context,
        )

    async def revoke_token(self, request: Request) -> Response:
        try:
            user_id = self._require_session(request)
        except _RedirectToLogin as redirect:
            return redirect.response()
        await self.form(request)
        raw = request.path_params["token_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise HTTPException(status_code=404)

        def revoke() -> None:
            with Session(writing(self.portal.engine)) as session, session.begin():
                user = session.get(User, user_id)
                assert user is not None
                selfservice.revoke_token(session, self.actor(request, user_id), user, int(raw))

        try:
            await run_in_threadpool(revoke)
        except AccountError:
            raise HTTPException(status_code=404) from None
        return RedirectResponse("/compte", status_code=303)


class _RedirectToLogin(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, path: str) -> None:
        self.path = path

    def response(self) -> Response:
        from urllib.parse import quote

        return RedirectResponse(f"/connexion?suivant={quote(self.path)}", status_code=303)
