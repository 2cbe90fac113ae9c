"""Calls for projects (issue 22 §1): an event of kind « appel à projets » gets rules,
criteria, dates and the datasets it puts forward; teams apply, edit until the deadline,
the organisers score and publish the laureates.

Who sees an application (`can_see`): its team (the lead and the members), the editors of
the organising organisation (`call.read` on the event; without organisation, platform
admins), and, once the results are published, everybody for a laureate. Nothing else
lists applications: they are in no search index, DCAT feed, sitemap or statistics.

Times are stored in UTC and typed in Nouméa time (`common.parse_local`); whether the
call is open is decided here, on the server's clock (`now` may be given by tests).
Every decision writes its audit row in the caller's transaction, with the event's
organisation, so the organisation's journal shows it.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import pdfguard, storage
from niaouli.accounts import audit, users
from niaouli.accounts.account_tables import User
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import common, projects, reuses
from niaouli.catalogue.community.call_tables import Application, Attachment, Call, Score
from niaouli.catalogue.models import Event, EventKind, utcnow
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ConflictError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.localtime import as_utc
from niaouli.settings import Settings

MAX_CRITERIA = 10
MAX_TEAM = 10
MAX_ATTACHMENTS = 5
MAX_PAGES = 100
SCORE_MAX = 10
SUMMARY_MAX = 5000
RULES_MAX = 20_000


class Phase(enum.StrEnum):
    UPCOMING = "upcoming"  # before `opens_at`
    OPEN = "open"  # applications accepted and changed
    CLOSED = "closed"  # the deadline passed: the jury reviews
    RESULTS = "results"  # laureates published


PHASES = {
    Phase.UPCOMING: N_("Candidatures bientôt ouvertes"),
    Phase.OPEN: N_("Candidatures ouvertes"),
    Phase.CLOSED: N_("Candidatures closes, jury en cours"),
    Phase.RESULTS: N_("Lauréats publiés"),
}


# --- the call ---------------------------------------------------------------------------


def find_call(session: Session, event: Event) -> Call | None:
    return session.scalar(select(Call).where(Call.event_id == event.id))


def get_call(session: Session, event_slug: str) -> Call:
    """The call of event `event_slug`, or NotFoundError."""
    call = session.scalar(select(Call).join(Event).where(Event.slug == event_slug))
    if call is None:
        raise NotFoundError(_("appel à projets introuvable : « %(slug)s »") % {"slug": event_slug})
    return call


def phase(call: Call, now: datetime | None = None) -> Phase:
    now = as_utc(now or utcnow())
    if call.results_published_at is not None:
        return Phase.RESULTS
    if now < as_utc(call.opens_at):
        return Phase.UPCOMING
    if now < as_utc(call.deadline_at):
        return Phase.OPEN
    return Phase.CLOSED


def _criteria(names: Iterable[str]) -> list[str]:
    kept = list(dict.fromkeys(" ".join(n.split()) for n in names if n and n.strip()))
    if not kept:
        raise CatalogueError(_("indiquez au moins un critère de sélection"))
    if len(kept) > MAX_CRITERIA or any(len(n) > 200 for n in kept):
        raise CatalogueError(
            _("%(max)s critères au plus, de 200 caractères au plus") % {"max": MAX_CRITERIA}
        )
    return kept


def _when(text: str | None, required: bool) -> datetime | None:
    if not (text or "").strip():
        if required:
            raise CatalogueError(_("indiquez les dates d'ouverture et de clôture"))
        return None
    return as_utc(common.parse_local(text or ""))


def configure_call(
    session: Session,
    viewer: Viewer,
    event: Event,
    *,
    rules: str,
    criteria: Iterable[str],
    opens: str,
    deadline: str,
    jury: str = "",
    results: str = "",
    dataset_slugs: Iterable[str] = (),
    actor: audit.Actor | None = None,
) -> Call:
    """Sets (or creates) the call of `event`, an « appel à projets », for its editors.
    Dates may not change once the laureates are published."""
    if not allowed(viewer, Action.CALL_REVIEW, event):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation organisent cet appel"))
    if event.kind != EventKind.CALL_FOR_PROJECTS:
        raise CatalogueError(_("cet événement n'est pas un appel à projets"))
    opens_at, deadline_at = _when(opens, True), _when(deadline, True)
    assert opens_at is not None and deadline_at is not None
    if deadline_at <= opens_at:
        raise CatalogueError(_("la clôture doit suivre l'ouverture"))
    values: dict[str, Any] = {
        "rules": common.checked_text(rules, common.TOO_LONG["description"], RULES_MAX),
        "criteria": _criteria(criteria),
        "opens_at": opens_at,
        "deadline_at": deadline_at,
        "jury_at": _when(jury, False),
        "results_at": _when(results, False),
        "datasets": common.datasets_for_slugs(session, viewer, dataset_slugs),
    }
    call = find_call(session, event)
    if call is not None and call.results_published_at is not None:
        raise ConflictError(_("les lauréats sont publiés : l'appel ne change plus"))
    if call is None:
        call = Call(event_id=event.id, event=event)
        session.add(call)
    common.apply_changes(session, call, values)
    _record(session, viewer, actor, "call.configure", call)
    return call


# --- who sees what ----------------------------------------------------------------------


def is_organiser(viewer: Viewer, call: Call) -> bool:
    return allowed(viewer, Action.CALL_READ, call.event)


def in_team(viewer: Viewer, application: Application) -> bool:
    if viewer.user_id is None:
        return False
    return viewer.user_id == application.lead_id or any(
        m.id == viewer.user_id for m in application.members
    )


def is_public(application: Application) -> bool:
    return application.laureate and application.call.results_published_at is not None


def can_see(viewer: Viewer, application: Application) -> bool:
    """The one rule of who sees an application (see the module's docstring)."""
    return (
        is_public(application)
        or in_team(viewer, application)
        or is_organiser(viewer, application.call)
    )


def visible_applications(session: Session, viewer: Viewer, call: Call) -> list[Application]:
    """The applications of `call` that `viewer` sees: all for organisers, their own for
    applicants, the laureates for everybody once published; oldest first."""
    rows = session.scalars(
        select(Application).where(Application.call_id == call.id).order_by(Application.id)
    ).all()
    return [a for a in rows if can_see(viewer, a)]


def laureates(session: Session, call: Call) -> list[Application]:
    """The public laureates (none before the results)."""
    if call.results_published_at is None:
        return []
    return list(
        session.scalars(
            select(Application)
            .where(Application.call_id == call.id, Application.laureate.is_(True))
            .order_by(Application.project_name, Application.id)
        )
    )


def get_application(session: Session, viewer: Viewer, call: Call, raw_id: str) -> Application:
    """Application `raw_id` of `call`, when `viewer` may see it: NotFoundError otherwise,
    so that whoever may not see one cannot tell whether it exists."""
    missing = NotFoundError(_("candidature introuvable"))
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
        raise missing
    application = session.get(Application, int(raw_id))
    if application is None or application.call_id != call.id or not can_see(viewer, application):
        raise missing
    return application


# --- applying ---------------------------------------------------------------------------


def _check_open(call: Call, now: datetime | None) -> None:
    current = phase(call, now)
    if current == Phase.UPCOMING:
        raise ConflictError(_("les candidatures ne sont pas encore ouvertes"))
    if current != Phase.OPEN:
        raise ConflictError(_("la date limite est passée : les candidatures ne changent plus"))


def _members(session: Session, lead_id: int, emails: Iterable[str]) -> list[User]:
    found: dict[int, User] = {}
    for email in dict.fromkeys(e.strip() for e in emails if e.strip()):
        user = users.find_user(session, email)
        if user is None:
            raise CatalogueError(
                _("aucun compte pour « %(email)s » : chaque membre de l'équipe s'inscrit d'abord")
                % {"email": email[:100]}
            )
        if user.id != lead_id:
            found[user.id] = user
    if len(found) + 1 > MAX_TEAM:
        raise CatalogueError(_("%(max)s personnes au plus par équipe") % {"max": MAX_TEAM})
    return list(found.values())


def _project(name: str) -> str:
    return common.check_title(name)


def _summary(text: str) -> str:
    summary = common.checked_text(text, common.TOO_LONG["description"], SUMMARY_MAX)
    if len(summary) < 20:
        raise CatalogueError(_("résumez le projet en quelques phrases (20 caractères au moins)"))
    return summary


def apply(
    session: Session,
    viewer: Viewer,
    call: Call,
    *,
    project_name: str,
    summary: str,
    dataset_slugs: Iterable[str] = (),
    member_emails: Iterable[str] = (),
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> Application:
    """A new application led by `viewer`, while the call is open."""
    if not allowed(viewer, Action.CALL_APPLY) or viewer.user_id is None:
        raise ForbiddenError(_("connectez-vous pour candidater"))
    _check_open(call, now)
    application = Application(
        call=call,
        call_id=call.id,
        lead_id=viewer.user_id,
        project_name=_project(project_name),
        summary=_summary(summary),
        datasets=common.datasets_for_slugs(session, viewer, dataset_slugs),
        members=_members(session, viewer.user_id, member_emails),
    )
    session.add(application)
    session.flush()
    _record(session, viewer, actor, "call.apply", call, application)
    return application


APPLICATION_FIELDS = ("project_name", "summary", "datasets", "members")


def _check_team_may_change(viewer: Viewer, application: Application, now: datetime | None) -> None:
    if not (viewer.may_write and in_team(viewer, application)):
        raise ForbiddenError(_("seule l'équipe modifie sa candidature"))
    _check_open(application.call, now)


def change_application(
    session: Session,
    viewer: Viewer,
    application: Application,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
    **changes: Any,
) -> Application:
    """Changes the fields given (`APPLICATION_FIELDS`; `datasets` slugs, `members`
    e-mail addresses), by the team, until the deadline. Only the lead changes the team."""
    common.check_known(changes, APPLICATION_FIELDS)
    _check_team_may_change(viewer, application, now)
    new: dict[str, Any] = {}
    if changes.get("project_name") is not None:
        new["project_name"] = _project(changes["project_name"])
    if changes.get("summary") is not None:
        new["summary"] = _summary(changes["summary"])
    if changes.get("datasets") is not None:
        new["datasets"] = common.relinked(
            session, viewer, application.datasets, changes["datasets"]
        )
    if changes.get("members") is not None:
        members = _members(session, application.lead_id, changes["members"])
        if {m.id for m in members} != {m.id for m in application.members}:
            if viewer.user_id != application.lead_id:
                raise ForbiddenError(_("seul le porteur du projet change l'équipe"))
            new["members"] = members
    common.apply_changes(session, application, new)
    application.updated_at = utcnow()
    _record(session, viewer, actor, "call.application.update", application.call, application)
    return application


def add_attachment(
    session: Session,
    settings: Settings,
    viewer: Viewer,
    application: Application,
    path: Path,
    filename: str,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> Attachment:
    """Keeps the PDF at `path` (checked by `pdfguard`, then stored) for the team."""
    _check_team_may_change(viewer, application, now)
    if len(application.attachments) >= MAX_ATTACHMENTS:
        raise CatalogueError(_("%(max)s pièces jointes au plus") % {"max": MAX_ATTACHMENTS})
    if path.stat().st_size > pdfguard.MAX_PDF_BYTES:
        raise pdfguard.UnsafePdfError(
            _("PDF trop lourd : %(max)s Mo au plus") % {"max": pdfguard.MAX_PDF_BYTES >> 20}
        )
    data = path.read_bytes()
    pdfguard.check_pdf(data)
    pages = page_count(data)
    name = filename if filename.lower().endswith(".pdf") else f"{filename or 'piece'}.pdf"
    stored = storage.store_file(path, settings, name)
    attachment = Attachment(
        storage_key=stored.key,
        filename=stored.filename,
        size=stored.size,
        pages=pages,
        checksum=stored.checksum,
    )
    application.attachments.append(attachment)
    session.flush()
    _record(
        session, viewer, actor, "call.attachment.add", application.call, application,
        file=stored.filename, checksum=stored.checksum,
    )  # fmt: skip
    return attachment


PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def page_count(data: bytes) -> int:
    """The pages of a PDF that `pdfguard` accepted (its page objects, compressed ones
    too); refused without any or past MAX_PAGES."""
    pages = len(PAGE.findall(data))
    for match in re.finditer(rb">>\s*stream\r?\n", data):
        try:
            chunk = zlib.decompressobj().decompress(data[match.end() :], 16 << 20)
        except zlib.error:
            continue
        pages += len(PAGE.findall(chunk))
    if pages == 0:
        raise pdfguard.UnsafePdfError(_("ce PDF n'a aucune page lisible"))
    if pages > MAX_PAGES:
        raise pdfguard.UnsafePdfError(
            _("PDF trop long : %(max)s pages au plus") % {"max": MAX_PAGES}
        )
    return pages


def get_attachment(application: Application, raw_id: str) -> Attachment:
    for attachment in application.attachments:
        if str(attachment.id) == raw_id:
            return attachment
    raise NotFoundError(_("pièce jointe introuvable"))


def remove_attachment(
    session: Session,
    viewer: Viewer,
    application: Application,
    attachment: Attachment,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> None:
    """Drops the row; the stored file goes with the next `niaouli cleanup`."""
    _check_team_may_change(viewer, application, now)
    application.attachments.remove(attachment)
    session.flush()
    _record(
        session, viewer, actor, "call.attachment.remove", application.call, application,
        file=attachment.filename,
    )  # fmt: skip


# --- review -----------------------------------------------------------------------------


def _check_review(viewer: Viewer, call: Call, now: datetime | None) -> None:
    if not allowed(viewer, Action.CALL_REVIEW, call.event):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation évaluent les candidatures"))
    current = phase(call, now)
    if current in (Phase.UPCOMING, Phase.OPEN):
        raise ConflictError(_("les candidatures s'évaluent après la date limite"))
    if current == Phase.RESULTS:
        raise ConflictError(_("les lauréats sont publiés : l'évaluation est close"))


def score(
    session: Session,
    viewer: Viewer,
    application: Application,
    marks: dict[str, int],
    comment: str = "",
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> list[Score]:
    """`viewer`'s marks (0 to 10) for the criteria given, replacing their earlier ones.
    Nobody scores an application of their own team."""
    call = application.call
    _check_review(viewer, call, now)
    if viewer.user_id is None:  # a mark is a person's (the command line publishes only)
        raise ForbiddenError(_("seuls les éditeurs de l'organisation évaluent les candidatures"))
    if in_team(viewer, application):
        raise ForbiddenError(_("on n'évalue pas la candidature de sa propre équipe"))
    unknown = set(marks) - set(call.criteria)
    if unknown:
        raise CatalogueError(_("critère inconnu : « %(name)s »") % {"name": sorted(unknown)[0]})
    for value in marks.values():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= SCORE_MAX:
            raise CatalogueError(_("une note va de 0 à %(max)s") % {"max": SCORE_MAX})
    comment = common.checked_text(comment, common.TOO_LONG["description"])
    reviewer = viewer.user_id
    mine = {s.criterion: s for s in application.scores if s.reviewer_id == reviewer}
    for criterion, value in marks.items():
        row = mine.get(criterion)
        if row is None:
            row = Score(reviewer_id=reviewer, criterion=criterion)
            application.scores.append(row)
        row.score, row.comment, row.scored_at = value, comment, utcnow()
    session.flush()
    _record(session, viewer, actor, "call.score", call, application, marks=marks)
    return [s for s in application.scores if s.reviewer_id == reviewer]


def averages(application: Application) -> dict[str, float]:
    """The mean mark per criterion (criteria nobody scored are left out)."""
    by: dict[str, list[int]] = {}
    for row in application.scores:
        by.setdefault(row.criterion, []).append(row.score)
    return {c: round(float(mean(by[c])), 1) for c in application.call.criteria if c in by}


def total(application: Application) -> float | None:
    marks = averages(application)
    return round(sum(marks.values()), 1) if marks else None


def publish_laureates(
    session: Session,
    viewer: Viewer,
    call: Call,
    application_ids: Iterable[int],
    actor: audit.Actor | None = None,
    now: datetime | None = None,
) -> list[Application]:
    """Marks the chosen applications laureates and publishes the results, once."""
    _check_review(viewer, call, now)
    chosen = set(application_ids)
    rows = session.scalars(select(Application).where(Application.call_id == call.id)).all()
    if not chosen or not chosen <= {a.id for a in rows}:
        raise CatalogueError(_("choisissez les lauréats parmi les candidatures de l'appel"))
    for application in rows:
        application.laureate = application.id in chosen
    call.results_published_at = utcnow()
    session.flush()
    _record(session, viewer, actor, "call.laureates", call, laureates=sorted(chosen))
    return [a for a in rows if a.laureate]


def link_shipped(
    session: Session,
    viewer: Viewer,
    application: Application,
    *,
    reuse_slug: str = "",
    code_slug: str = "",
    actor: audit.Actor | None = None,
) -> Application:
    """A laureate's project, shipped: the reuse or code project it became (the team or
    the organisers say which); its page then names the call."""
    if not is_public(application):
        raise ConflictError(_("seul le projet d'un lauréat publié devient une réutilisation"))
    if not viewer.may_write or not (
        in_team(viewer, application) or allowed(viewer, Action.CALL_REVIEW, application.call.event)
    ):
        raise ForbiddenError(_("seule l'équipe ou les organisateurs relient le projet"))
    if reuse_slug.strip():
        application.reuse = reuses.get_reuse(session, reuse_slug.strip(), viewer)
    if code_slug.strip():
        application.code_project = projects.get_code_project(session, code_slug.strip())
    session.flush()
    _record(session, viewer, actor, "call.shipped", application.call, application)
    return application


def call_of_shipped(
    session: Session, reuse_id: int | None = None, code_id: int | None = None
) -> Application | None:
    """The published laureate that became this reuse or code project, if any."""
    query = select(Application).where(Application.laureate.is_(True))
    if reuse_id is not None:
        query = query.where(Application.reuse_id == reuse_id)
    elif code_id is not None:
        query = query.where(Application.code_project_id == code_id)
    else:
        return None
    found = session.scalars(query.order_by(Application.id)).first()
    return found if found is not None and is_public(found) else None


def stored_keys(session: Session) -> set[str]:
    """The storage keys attachments hold (kept by `lifecycle.cleanup`)."""
    return set(session.scalars(select(Attachment.storage_key)))


def _record(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor | None,
    action: str,
    call: Call,
    application: Application | None = None,
    **details: Any,
) -> None:
    subject = call.event.slug + (f"#{application.id}" if application is not None else "")
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        action,
        subject=subject,
        organisation_id=call.event.organisation_id,
        **details,
    )
