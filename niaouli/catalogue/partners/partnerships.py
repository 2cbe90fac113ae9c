"""Changing a partnership: its status, the agreement, the obligation facts, the contacts.

Platform admins follow the programme (`partner.manage`: status, agreement, commune and
agents); an organisation's own admins keep its open-data contacts up to date
(`partner.contacts`). Each change writes its audit row in the same transaction.

The status moves along the programme's path, never backwards past a signature: invited
→ in discussion → agreement signed → left, where an invitation may be signed directly
and one who left may be invited again. « Signed » needs the agreement's date (not in
the future) and its PDF, stored first (`attach_agreement`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import localtime, storage
from niaouli.accounts import audit
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.base import utcnow
from niaouli.catalogue.models import Organisation
from niaouli.catalogue.partners import contacts as contact_rules
from niaouli.catalogue.partners.obligations import communes
from niaouli.catalogue.partners.partner_tables import Partnership, PartnerStatus
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ForbiddenError
from niaouli.i18n import N_, _
from niaouli.pdfguard import check_pdf
from niaouli.settings import Settings

S = PartnerStatus
NEXT: dict[PartnerStatus | None, set[PartnerStatus]] = {
    None: {S.INVITED, S.DISCUSSION, S.SIGNED},
    S.INVITED: {S.DISCUSSION, S.SIGNED, S.LEFT},
    S.DISCUSSION: {S.SIGNED, S.LEFT},
    S.SIGNED: {S.LEFT},
    S.LEFT: {S.INVITED, S.DISCUSSION},
}
STATUS_LABELS = {
    S.INVITED: N_("invitée"),
    S.DISCUSSION: N_("en discussion"),
    S.SIGNED: N_("convention signée"),
    S.LEFT: N_("sortie du programme"),
}
MAX_AGENTS = 1_000_000


def find(session: Session, organisation: Organisation) -> Partnership | None:
    """The organisation's row, if it has one."""
    return session.scalar(select(Partnership).where(Partnership.organisation_id == organisation.id))


def partnership_of(session: Session, organisation: Organisation) -> Partnership:
    """The organisation's row, made (empty) on first use."""
    row = session.scalar(select(Partnership).where(Partnership.organisation_id == organisation.id))
    if row is None:
        row = Partnership(organisation=organisation, contacts=[])
        session.add(row)
        session.flush()
    return row


def _require(viewer: Viewer, action: Action, organisation: Organisation) -> None:
    if not allowed(viewer, action, organisation):
        raise ForbiddenError(
            _("seuls les administrateurs de la plateforme suivent les partenariats")
            if action == Action.PARTNER_MANAGE
            else _("seuls les administrateurs de l'organisation changent ses contacts")
        )


def set_status(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: Organisation,
    status: str,
    signed_on: date | None = None,
) -> Partnership:
    """Moves the partnership to `status` (module docstring), with its audit row."""
    _require(viewer, Action.PARTNER_MANAGE, organisation)
    try:
        new = PartnerStatus(status)
    except ValueError:
        raise CatalogueError(
            _("statut de partenariat inconnu : « %(s)s »") % {"s": status}
        ) from None
    row = partnership_of(session, organisation)
    old = row.status
    if new == old and (new != S.SIGNED or signed_on == row.signed_on):
        return row  # nothing changes
    if new != old and new not in NEXT[old]:
        raise CatalogueError(
            _("un partenariat « %(old)s » ne peut pas passer à « %(new)s »")
            % {"old": _(STATUS_LABELS[old]) if old else _("aucun"), "new": _(STATUS_LABELS[new])}
        )
    if new == S.SIGNED:
        if signed_on is None:
            raise CatalogueError(_("indiquez la date de signature de la convention"))
        if signed_on > localtime.today():  # Nouméa's day, not UTC's
            raise CatalogueError(_("la date de signature ne peut pas être dans le futur"))
        if row.agreement_key is None:
            raise CatalogueError(_("joignez la convention signée (PDF) avant de la déclarer"))
        row.signed_on = signed_on
    if new != old:
        row.status = new
        row.status_since = utcnow()
    audit.record(
        session,
        actor,
        "partner.status",
        subject=organisation.slug,
        organisation_id=organisation.id,
        previous=old.value if old else None,
        status=new.value,
        signed_on=row.signed_on.isoformat() if new == S.SIGNED and row.signed_on else None,
    )
    session.flush()
    return row


def set_facts(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: Organisation,
    *,
    agents: int | None,
    commune_code: str | None,
) -> Partnership:
    """The figures the obligation is decided on: agents, and the commune's INSEE code."""
    _require(viewer, Action.PARTNER_MANAGE, organisation)
    if agents is not None and not 0 <= agents <= MAX_AGENTS:
        raise CatalogueError(_("nombre d'agents invalide"))
    code = (commune_code or "").strip() or None
    if code is not None and code not in communes():
        raise CatalogueError(_("code de commune inconnu : « %(code)s »") % {"code": code[:10]})
    row = partnership_of(session, organisation)
    changed = sorted(
        name
        for name, value in (("agents", agents), ("commune_code", code))
        if getattr(row, name) != value
    )
    row.agents, row.commune_code = agents, code
    if changed:
        audit.record(
            session,
            actor,
            "partner.update",
            subject=organisation.slug,
            organisation_id=organisation.id,
            fields=changed,
            agents=agents,
            commune_code=code,
        )
    session.flush()
    return row


def set_contacts(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: Organisation,
    contacts: list[dict[str, str]],
) -> Partnership:
    """The open-data contacts (the organisation's admins, platform admins)."""
    _require(viewer, Action.PARTNER_CONTACTS, organisation)
    checked = contact_rules.check(session, contacts)
    row = partnership_of(session, organisation)
    if checked != list(row.contacts or []):
        row.contacts = checked
        audit.record(
            session,
            actor,
            "partner.contacts",
            subject=organisation.slug,
            organisation_id=organisation.id,
            roles=[c["role"] for c in checked],
        )
    session.flush()
    return row


def attach_agreement(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: Organisation,
    data: bytes,
    filename: str,
    settings: Settings,
    folder: Path,
) -> tuple[Partnership, str | None]:
    """Checks the agreement's PDF (`niaouli.pdfguard`), stores it and records it: the
    partnership and the key of the file it replaces, to remove once committed."""
    _require(viewer, Action.PARTNER_MANAGE, organisation)
    check_pdf(data)
    name = filename if filename.lower().endswith(".pdf") else "convention.pdf"
    path = folder / "convention.pdf"
    path.write_bytes(data)
    stored = storage.store_file(path, settings, name)
    row = partnership_of(session, organisation)
    replaced = row.agreement_key
    row.agreement_key = stored.key
    row.agreement_filename = stored.filename
    row.agreement_size = stored.size
    row.agreement_checksum = stored.checksum
    audit.record(
        session,
        actor,
        "partner.agreement",
        subject=organisation.slug,
        organisation_id=organisation.id,
        filename=stored.filename,
        size=stored.size,
        checksum=stored.checksum,
    )
    session.flush()
    return row, replaced
