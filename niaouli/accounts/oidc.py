"""OpenID Connect sign-in (e.g. the government's single sign-on): settings and accounts.

The protocol itself (discovery, PKCE, state, nonce, token exchange, ID token signature
and claims) is Authlib's (`portal/oidc.py`); this module decides which account an
identity opens:

1. the account already linked to this (issuer, subject);
2. else the account with the same e-mail, when the provider says it verified it (the
   identity is then linked to it);
3. else a new account, without password, with the provider's e-mail and name.

A provider that sends no verified e-mail cannot create or link an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import links
from niaouli.accounts.account_tables import User
from niaouli.accounts.users import AccountError, create_user, find_user
from niaouli.catalogue.models import utcnow
from niaouli.i18n import N_, _
from niaouli.settings import get_settings

ISSUER_MAX, SUBJECT_MAX = 500, 255  # users.oidc_issuer, users.oidc_subject
# Translated where shown; a label set in NIAOULI_OIDC_LABEL is shown as it is.
DEFAULT_LABEL = N_("Se connecter avec le compte de l'administration")


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    label: str

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def oidc_settings() -> OidcSettings | None:
    """From `NIAOULI_OIDC_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` (`_LABEL`); None if unset."""
    settings = get_settings()
    issuer, client_id = settings.oidc_issuer, settings.oidc_client_id
    if not issuer or not client_id:
        return None
    if links.web_link(issuer) is None:  # the platform's one link rule (S22)
        raise ValueError(f"NIAOULI_OIDC_ISSUER must be an http(s) URL, not {issuer[:200]!r}")
    return OidcSettings(
        issuer=issuer,
        client_id=client_id,
        client_secret=settings.oidc_client_secret,
        label=settings.oidc_label or DEFAULT_LABEL,
    )


def user_for_identity(session: Session, claims: dict[str, Any]) -> tuple[User, str]:
    """The account these validated ID token claims open (see the module docstring).

    Also says how: "known" (already linked), "linked" (by e-mail) or "created".
    """
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    if not issuer or not subject or len(issuer) > ISSUER_MAX or len(subject) > SUBJECT_MAX:
        raise AccountError(_("réponse du fournisseur d'identité incomplète"))
    if links.web_link(issuer) is None:  # stored: the platform's one link rule (S22)
        raise AccountError(_("réponse du fournisseur d'identité incomplète"))
    user = session.scalar(
        select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    )
    how = "known"
    if user is None:
        email = claims.get("email")
        if not email or claims.get("email_verified") is not True:
            raise AccountError(
                _("le fournisseur d'identité n'a pas transmis d'adresse électronique vérifiée")
            )
        user = find_user(session, str(email))
        if user is None:
            name = str(claims.get("name") or claims.get("preferred_username") or "")
            user = create_user(session, str(email), name or str(email).split("@")[0], None)
            how = "created"
        elif user.oidc_subject is not None:
            raise AccountError(_("ce compte est déjà lié à une autre identité"))
        elif user.email_verified_at is None:
            # A sign-up that never proved the address: its password may be anyone's
            # (pre-hijacking), so it goes; the provider has just proved the address.
            user.password_hash = None
            user.email_verified_at = utcnow()
        user.oidc_issuer, user.oidc_subject = issuer, subject
        how = "linked" if how == "known" else how
    if not user.is_active:
        raise AccountError(_("ce compte est désactivé"))
    user.last_login_at = utcnow()
    session.flush()
    return user, how
