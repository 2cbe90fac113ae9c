"""`/connexion/oidc/debut` and `/connexion/oidc/retour`: OpenID Connect sign-in (Authlib).

Authlib's Starlette client does the protocol: discovery, authorization code with PKCE
(S256), `state` and `nonce` kept in a short-lived signed cookie (`niaouli_oidc`, only on
these two routes), the token exchange, and the ID token's signature (provider JWKS),
issuer, audience, expiry and nonce. `niaouli.accounts.oidc` then picks the account, and
the browser gets the same session as with a password.
"""

from __future__ import annotations

import logging

from authlib.integrations.starlette_client import OAuth, OAuthError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from niaouli.accounts import oidc, selfservice
from niaouli.accounts.users import AccountError
from niaouli.db.engine import writing
from niaouli.i18n import N_, _
from niaouli.portal.accounts import AccountPages, safe_next

LOGGER = logging.getLogger("niaouli.accounts")
FAILED = N_("La connexion par le fournisseur d'identité a échoué.")
UNREACHABLE = N_("La connexion par le fournisseur d'identité a échoué : fournisseur injoignable.")


class OidcPages:
    def __init__(self, accounts: AccountPages, settings: oidc.OidcSettings) -> None:
        self.accounts = accounts
        self.oauth = OAuth()
        self.oauth.register(
            "sso",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=settings.metadata_url,
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )

    async def start(self, request: Request) -> Response:
        request.session.clear()
        request.session["next"] = safe_next(request.query_params.get("suivant"))
        redirect_uri = self.accounts.site_url(request) + "/connexion/oidc/retour"
        try:
            return await self.oauth.sso.authorize_redirect(request, redirect_uri)
        except Exception as exc:  # noqa: BLE001 - provider unreachable or misconfigured
            LOGGER.warning("OpenID Connect: cannot start sign-in: %s", exc)
            return self._failed(request, 502, _(UNREACHABLE))

    async def callback(self, request: Request) -> Response:
        target = safe_next(request.session.get("next"))
        try:
            token = await self.oauth.sso.authorize_access_token(request)
        except OAuthError as exc:
            LOGGER.warning("OpenID Connect: refused answer: %s", exc.error)
            return self._failed(request, 400, _(FAILED))
        except Exception as exc:  # noqa: BLE001 - bad signature, claims, network...
            LOGGER.warning("OpenID Connect: invalid answer: %s", exc)
            return self._failed(request, 400, _(FAILED))
        finally:
            request.session.clear()
        claims = dict(token.get("userinfo") or {})

        def open_session() -> str:
            with Session(writing(self.accounts.portal.engine)) as session, session.begin():
                user, how = oidc.user_for_identity(session, claims)
                client = request.client.host if request.client else None
                return selfservice.sign_in_from_provider(session, user, how, client)

        try:
            secret = await run_in_threadpool(open_session)
        except AccountError as exc:
            message = _("La connexion par le fournisseur d'identité a échoué : %(reason)s.")
            return self._failed(request, 403, message % {"reason": exc})
        return self.accounts.signed_in(RedirectResponse(target, status_code=303), secret)

    def _failed(self, request: Request, status: int, message: str) -> Response:
        return self.accounts.page(request, "connexion.html", status, error=message, next="/compte")


def oidc_app(accounts: AccountPages) -> Starlette | None:
    """The two routes, with their own state cookie; None when OIDC is not configured."""
    settings = oidc.oidc_settings()
    if settings is None:
        return None
    pages = OidcPages(accounts, settings)
    state_cookie = Middleware(
        SessionMiddleware,
        secret_key=accounts.key,
        session_cookie="niaouli_oidc",
        max_age=600,
        same_site="lax",
        https_only=accounts.secure,
    )
    return Starlette(
        routes=[Route("/debut", pages.start), Route("/retour", pages.callback)],
        middleware=[state_cookie],
    )
