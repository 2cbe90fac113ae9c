"""Who may write through the API: a session (with the CSRF header) or a `write` token.

Browsers call the API with their session cookie; a cross-site page can make the browser
send that cookie but cannot add a custom header without a CORS preflight we never grant,
so session calls must carry `X-CSRF-Token` (the same signed double-submit token as the
portal's forms). Tokens are not sent by browsers on their own, so need no such header.
"""

from __future__ import annotations

from starlette.requests import Request

from niaouli.accounts.csrf import Csrf
from niaouli.accounts.middleware import identity_of
from niaouli.accounts.resolve import Identity
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.services.api.errors import ApiError

CSRF_HEADER = "x-csrf-token"


def viewer_of(request: Request) -> Viewer:
    return request.scope.get("state", {}).get("viewer", ANONYMOUS)


def writer(request: Request, csrf: Csrf) -> tuple[Identity, Viewer]:
    """The identity and viewer of a request that wants to change something, or an error."""
    identity = identity_of(request.scope)
    viewer = viewer_of(request)
    if not identity.is_signed_in:
        raise ApiError(
            401,
            "AuthenticationRequired",
            "Connectez-vous ou fournissez un jeton d'accès (Authorization: Bearer …).",
        )
    if identity.via == "session" and not csrf.is_valid(request, request.headers.get(CSRF_HEADER)):
        raise ApiError(
            403,
            "CsrfTokenInvalid",
            "En-tête X-CSRF-Token absent ou invalide : rechargez la page et réessayez.",
        )
    if not viewer.may_write:
        raise ApiError(
            403,
            "ReadOnlyToken",
            "Ce jeton ne permet que la lecture : créez un jeton « écriture » dans votre compte.",
        )
    return identity, viewer
