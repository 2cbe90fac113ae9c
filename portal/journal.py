"""An organisation's audit log: `/organisations/{slug}/journal`, for its admins.

Who created, changed, published, deleted what and when, read from `audit_events` (written
in each change's own transaction). Only the organisation's admins and platform admins see
it; for anyone else the page does not exist (404, even for its members). People are
shown by display name; e-mail addresses (of actors and of members added or removed) only
to platform admins. Times are in New Caledonia's time (Pacific/Noumea), newest first,
paged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.permissions import Action, allowed
from niaouli.i18n import N_, _, current_language
from niaouli.portal.common import PAGE_SIZE, Paging, Portal, not_found, page_number, viewer_for

NOUMEA = ZoneInfo("Pacific/Noumea")
# Marked here, translated when shown.
ACTIONS = {
    "dataset.create": N_("a créé le jeu de données"),
    "dataset.update": N_("a modifié le jeu de données"),
    "dataset.publish": N_("a publié le jeu de données"),
    "dataset.unpublish": N_("a dépublié le jeu de données"),
    "dataset.delete": N_("a supprimé le jeu de données"),
    "resource.create": N_("a ajouté un fichier au jeu de données"),
    "resource.delete": N_("a retiré un fichier du jeu de données"),
    "member.set": N_("a ajouté ou changé le rôle de"),
    "member.remove": N_("a retiré de l'organisation"),
    "member.request": N_("a demandé à rejoindre l'organisation :"),
    "member.request_accepted": N_("a accepté la demande de"),
    "member.request_refused": N_("a refusé la demande de"),
    "organisation.create": N_("a créé l'organisation"),
    "organisation.update": N_("a modifié l'organisation"),
    "code.create": N_("a ajouté le projet de code"),
    "code.update": N_("a modifié le projet de code"),
    "reuse.create": N_("a proposé la réutilisation"),
    "reuse.update": N_("a modifié la réutilisation"),
    "reuse.approve": N_("a approuvé la réutilisation"),
    "reuse.reject": N_("a refusé la réutilisation"),
    "event.create": N_("a ajouté l'événement"),
    "event.update": N_("a modifié l'événement"),
    "partner.status": N_("a changé le statut de partenariat de"),
    "partner.update": N_("a changé les chiffres de l'obligation de"),
    "partner.contacts": N_("a changé les contacts open data de"),
    "partner.agreement": N_("a joint la convention de partenariat de"),
}
VIA = {
    "session": N_("portail"),
    "token": "API",
    "app": N_("portail"),
    "cli": N_("ligne de commande"),
}


def label(labels: dict[str, str], code: str) -> str:
    """The translated label of `code`, or the code itself when it has none."""
    return _(labels[code]) if code in labels else code


def local_time(value: datetime) -> str:
    """26/11/2026 14:05 in Nouméa, or 26 Nov 2026 14:05 in English (unambiguous
    either side of the Atlantic); stored times are UTC, SQLite returns them naive."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    here = value.astimezone(NOUMEA)
    if current_language() == "en":
        return format_datetime(here, "d MMM yyyy HH:mm", tzinfo=NOUMEA, locale="en")
    return here.strftime("%d/%m/%Y %H:%M")


class JournalPages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def _context(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except service.NotFoundError:
                raise not_found() from None
            if not allowed(viewer, Action.JOURNAL_READ, org):
                raise not_found()
            paging = Paging(page_number(request), audit.count_events(session, org.id), PAGE_SIZE)
            # Members added or removed are named by their e-mail in the log: show names.
            rows, names = audit.journal_page(session, org.id, paging.offset, PAGE_SIZE)
            show_emails = allowed(viewer, Action.CONTACTS_READ)
            events = []
            for event, name, email in rows:
                if name:
                    who = name
                elif event.via == "cli":
                    who = _("ligne de commande")
                else:
                    who = _("compte supprimé")
                subject = event.subject
                if event.action.startswith("member."):
                    subject = names.get(subject) or _("compte supprimé")
                    if show_emails:
                        subject = f"{subject} ({event.subject})"
                events.append(
                    {
                        "when": local_time(event.at),
                        "iso": event.at.isoformat(),
                        "who": who,
                        "email": email if show_emails else None,
                        "what": label(ACTIONS, event.action),
                        "subject": subject,
                        "via": label(VIA, event.via),
                    }
                )
            return {"organisation": org, "events": events, "paging": paging}

    async def page(self, request: Request) -> Response:
        context = await run_in_threadpool(self._context, request)
        response = self.portal.render(
            request, "journal.html", base=request.url.path, query="", **context
        )
        response.headers["Cache-Control"] = "private, no-store"
        return response
