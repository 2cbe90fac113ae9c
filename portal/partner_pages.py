"""Partner administrations (issue 22 §2): the public list `/partenaires`, an agreement's
PDF, and the form `/organisations/{slug}/partenariat`.

The form shows platform admins everything (status, agreement's date and PDF, commune
and agents) and an organisation's admins its contacts only; the core decides
(`catalogue.partners.partnerships`) and writes the audit rows. The PDF is read with a
cap before anything else (`pdfguard.MAX_PDF_BYTES`), checked by `niaouli.pdfguard` and
stored through `niaouli.storage`; the download is an attachment under the files' CSP.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import storage
from niaouli.accounts.csrf import FIELD
from niaouli.catalogue import service
from niaouli.catalogue.partners import listing, obligations, partnerships
from niaouli.catalogue.partners.partner_tables import PartnerStatus
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.errors import CatalogueError, NotFoundError
from niaouli.i18n import _
from niaouli.pdfguard import MAX_PDF_BYTES
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import identity_for, not_found, viewer_for
from niaouli.portal.files import storage_unavailable
from niaouli.portal.security import Refused, file_headers
from niaouli.storage.http import object_response

CONTACT_ROWS = 3
FORM_SLACK = 64 * 1024  # the form's other fields and the multipart framing


def _date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CatalogueError(_("date invalide : « %(d)s »") % {"d": text[:20]}) from None


def _agents(text: str) -> int | None:
    text = text.strip().replace(" ", "").replace("\u202f", "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 7:
        raise CatalogueError(_("nombre d'agents invalide"))
    return int(text)


class PartnerPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal

    # --- public ------------------------------------------------------------------------

    def partners(self, request: Request) -> Response:
        """`/partenaires`: the partners and their figures (listing.py)."""
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            rows = listing.rows(session)
            return self.portal.render(
                request,
                "partenaires.html",
                rows=rows,
                status_labels=partnerships.STATUS_LABELS,
                obligation_labels=obligations.LABELS,
                signed=PartnerStatus.SIGNED,
                manage=allowed(viewer, Action.PARTNER_MANAGE),
                min_inhabitants=obligations.MIN_INHABITANTS,
                min_agents=obligations.MIN_AGENTS,
            )

    def agreement(self, request: Request) -> Response:
        """`/partenaires/{slug}/convention.pdf`: the signed agreement, as an attachment."""
        with Session(self.portal.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except NotFoundError:
                raise not_found() from None
            row = partnerships.find(session, org)
            if row is None or not row.agreement_key or not row.agreement_filename:
                raise not_found()
            key, filename = row.agreement_key, row.agreement_filename
        try:
            return object_response(
                request,
                storage.area(self.portal.settings),
                storage.object_name(key, filename),
                media_type="application/pdf",
                filename=filename,
                headers=file_headers(),
            )
        except (ValueError, FileNotFoundError):
            raise not_found() from None
        except storage.StorageError:
            return storage_unavailable()

    # --- the form ----------------------------------------------------------------------

    def _context(self, request: Request) -> dict[str, Any]:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except NotFoundError:
                raise not_found() from None
            manage = allowed(viewer, Action.PARTNER_MANAGE, org)
            if not manage and not allowed(viewer, Action.PARTNER_CONTACTS, org):
                raise Refused("other")
            row = partnerships.find(session, org)
            contacts = list(row.contacts) if row else []
            contacts += [{"role": "", "email": ""}] * (CONTACT_ROWS - len(contacts))
            return {
                "organisation": org,
                "partnership": row,
                "manage": manage,
                "values": {
                    "status": row.status.value if row and row.status else "",
                    "signed_on": row.signed_on.isoformat() if row and row.signed_on else "",
                    "agents": str(row.agents) if row and row.agents is not None else "",
                    "commune_code": row.commune_code or "" if row else "",
                },
                "contacts": contacts,
                "statuses": partnerships.STATUS_LABELS,
                "communes": sorted(obligations.communes().values(), key=lambda c: c.name),
                "max_mb": MAX_PDF_BYTES // (1024 * 1024),
            }

    async def _form(self, request: Request) -> tuple[dict[str, str], UploadFile | None]:
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HTTPException(status_code=411)
        if int(length) > MAX_PDF_BYTES + FORM_SLACK:
            raise HTTPException(status_code=413)
        form = await request.form(max_files=1, max_fields=20)
        if not self.accounts.csrf.is_valid(request, form.get(FIELD)):
            raise Refused("csrf")
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if any("\x00" in f"{k}{v}" for k, v in values.items()):
            raise HTTPException(status_code=400)
        upload = form.get("convention")
        return values, upload if isinstance(upload, UploadFile) and upload.filename else None

    async def edit(self, request: Request) -> Response:
        """`GET|POST /organisations/{slug}/partenariat`."""
        if identity_for(request).via != "session":
            return RedirectResponse(f"/connexion?suivant={request.url.path}", status_code=303)
        context = await run_in_threadpool(self._context, request)
        if request.method == "GET":
            return self.accounts.page(request, "partenariat.html", **context)
        values, upload = await self._form(request)
        data = await upload.read(MAX_PDF_BYTES + 1) if upload is not None else None
        filename = upload.filename or "convention.pdf" if upload is not None else ""
        viewer = viewer_for(request)
        actor = self.accounts.actor(request, identity_for(request).user_id)
        slug = context["organisation"].slug
        manage = context["manage"]

        def save() -> None:
            new_key = None
            try:
                with (
                    Session(writing(self.portal.engine)) as session,
                    session.begin(),
                    tempfile.TemporaryDirectory() as folder,
                ):
                    org = service.get_organisation(session, slug)
                    contacts = [
                        {"role": values.get(f"role_{i}", ""), "email": values.get(f"email_{i}", "")}
                        for i in range(CONTACT_ROWS)
                    ]
                    partnerships.set_contacts(session, viewer, actor, org, contacts)
                    replaced = None
                    if manage:
                        partnerships.set_facts(
                            session,
                            viewer,
                            actor,
                            org,
                            agents=_agents(values.get("agents", "")),
                            commune_code=values.get("commune_code") or None,
                        )
                        if data is not None:
                            row, replaced = partnerships.attach_agreement(
                                session,
                                viewer,
                                actor,
                                org,
                                data,
                                filename,
                                self.portal.settings,
                                Path(folder),
                            )
                            new_key = row.agreement_key
                        if values.get("status"):
                            partnerships.set_status(
                                session,
                                viewer,
                                actor,
                                org,
                                values["status"],
                                _date(values.get("signed_on", "")),
                            )
            except Exception:
                if new_key:
                    storage.remove_key(self.portal.settings, new_key)
                raise
            if replaced:
                storage.remove_key(self.portal.settings, replaced)

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            context["values"] = {k: values.get(k, "") for k in context["values"]}
            context["contacts"] = [
                {"role": values.get(f"role_{i}", ""), "email": values.get(f"email_{i}", "")}
                for i in range(CONTACT_ROWS)
            ]
            return self.accounts.page(request, "partenariat.html", 400, error=str(exc), **context)
        return RedirectResponse("/partenaires", status_code=303)
