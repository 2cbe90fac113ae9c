"""CSRF protection for the portal's forms: a signed double-submit token.

A random value lives in an HttpOnly, SameSite=Lax cookie; every form carries its HMAC
under the server's secret key. Another site can make a browser send the cookie but can
neither read it nor compute the HMAC, so its forged POST lacks a valid token → 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from niaouli.accounts import secrets

COOKIE = "niaouli_csrf"
FIELD = "csrf"


class Csrf:
    def __init__(self, secret_key: str, secure: bool) -> None:
        self.secret_key = secret_key
        self.secure = secure

    def _token(self, seed: str) -> str:
        return secrets.keyed_digest(self.secret_key, "csrf:" + seed)

    def prepare(self, request: Request) -> tuple[str, str | None]:
        """(token for the form, new cookie seed to set or None when the cookie exists)."""
        seed = request.cookies.get(COOKIE, "")
        if 20 <= len(seed) <= 100:
            return self._token(seed), None
        seed = secrets.new_secret()
        return self._token(seed), seed

    def set_cookie(self, response: Response, seed: str | None) -> Response:
        if seed is not None:
            response.set_cookie(
                COOKIE, seed, httponly=True, samesite="lax", secure=self.secure, path="/"
            )
        return response

    def is_valid(self, request: Request, submitted: object) -> bool:
        seed = request.cookies.get(COOKIE, "")
        if not (20 <= len(seed) <= 100) or not isinstance(submitted, str) or not submitted:
            return False
        return secrets.same(self._token(seed), submitted)
