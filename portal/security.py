"""Security headers for every portal response (SECURITY-CASES S19, S21).

Pages get a strict Content-Security-Policy: scripts and styles only from our own static
files (no inline script, no CDN), so an escaping bug elsewhere still cannot run code.
Downloaded files get `default-src 'none'; sandbox`, `nosniff` and `attachment`, so an
HTML or SVG "data file" is never rendered by the browser on our origin.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from niaouli.i18n import N_, _

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILE_CSP = "default-src 'none'; sandbox"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def page_csp(*origins: str) -> str:
    """PAGE_CSP that also lets images and fetches come from `origins` (map background tiles)."""
    extra = "".join(f" {origin}" for origin in origins)
    return PAGE_CSP.replace(
        "img-src 'self' data: blob:", f"img-src 'self' data: blob:{extra}"
    ).replace("connect-src 'self'", f"connect-src 'self'{extra}")


def file_headers() -> dict[str, str]:
    """Headers of a downloaded file (set by the download handlers themselves)."""
    return {"Content-Security-Policy": FILE_CSP, **COMMON}


class SecurityHeaders:
    """ASGI middleware: adds the page headers unless the handler set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                for name, value in COMMON.items():
                    if name.lower() not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- refusals (403) --------------------------------------------------------------------
# Every 403 of the portal says what is refused, why, and how to get the right; the CSRF
# sentence is kept for real CSRF failures only (issue 15).

REASONS: dict[str, tuple[str, str]] = {
    "csrf": (
        N_("Formulaire expiré"),
        N_("Ce formulaire a expiré ou ne vient pas de ce site. Rechargez la page et réessayez."),
    ),
    "publish": (
        N_("Publier des données est réservé aux éditeurs"),
        N_(
            "Créer un jeu de données, un projet de code ou un événement est réservé aux "
            "éditeurs et administrateurs d'une organisation, et votre compte n'est éditeur "
            "d'aucune organisation. Ouvrez la page de l'organisation pour laquelle vous "
            "publiez et demandez à la rejoindre comme éditeur : un de ses administrateurs "
            "accepte la demande, et vous en êtes informé par courriel et sur votre compte."
        ),
    ),
    "edit": (
        N_("Modification réservée aux éditeurs de l'organisation"),
        N_(
            "Seuls les éditeurs et administrateurs de l'organisation « %(organisation)s » "
            "peuvent modifier ce contenu ou y envoyer des fichiers, et votre compte n'en "
            "est pas éditeur. Demandez le rôle d'éditeur depuis la page de l'organisation : "
            "un de ses administrateurs accepte la demande."
        ),
    ),
    "members": (
        N_("Gestion des membres réservée aux administrateurs"),
        N_(
            "Seuls les administrateurs de l'organisation « %(organisation)s » gèrent ses "
            "membres, et votre compte n'en est pas administrateur. Un administrateur de "
            "l'organisation peut vous donner ce rôle."
        ),
    ),
    "platform": (
        N_("Réservé aux administrateurs de la plateforme"),
        N_(
            "Cette page est réservée aux administrateurs de la plateforme, et votre compte "
            "n'en est pas un. Les administrateurs de la plateforme sont nommés en ligne de "
            "commande par l'exploitant du site."
        ),
    ),
    "other": (
        N_("Accès refusé"),
        N_("Votre compte n'a pas le droit de faire cela."),
    ),
}


class Refused(HTTPException):
    """A 403 with its reason (a `REASONS` key) and the organisation concerned, if any."""

    def __init__(
        self, reason: str, organisation: str | None = None, organisation_slug: str | None = None
    ) -> None:
        super().__init__(status_code=403, detail=reason)
        self.reason = reason if reason in REASONS else "other"
        self.organisation = organisation
        self.organisation_slug = organisation_slug


def refusal(exc: Exception, signed_in: bool) -> dict[str, object]:
    """Title, message and the links that lead to the right, for the error page."""
    reason = exc.reason if isinstance(exc, Refused) else "other"
    title, message = REASONS[reason]
    text = _(message) % {"organisation": getattr(exc, "organisation", None) or ""}
    actions: list[tuple[str, str]] = []
    slug = getattr(exc, "organisation_slug", None)
    if reason in ("publish", "edit"):
        if slug:
            actions.append((f"/organisations/{slug}/rejoindre", _("Demander le rôle d'éditeur")))
        actions.append(("/organisations", _("Voir les organisations")))
        if signed_in:
            actions.append(("/compte", _("Mon compte et mes organisations")))
    if not signed_in and reason != "csrf":
        actions.append(("/connexion", _("Se connecter")))
    return {"title": _(title), "message": text, "actions": actions}
