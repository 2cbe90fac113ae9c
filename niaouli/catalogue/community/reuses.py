"""Reuses (`/reutilisations`): proposed by signed-in users, public once a platform admin
approved them (`permissions.visible_reuses` for the rest); the list, the moderation
queue, proposals, changes and moderation."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community.common import (
    TOO_LONG,
    check_http_url,
    check_known,
    check_title,
    checked_text,
    datasets_for_slugs,
    free_slug,
    linked_to,
    record_change,
)
from niaouli.catalogue.models import (
    Dataset,
    ModerationStatus,
    Reuse,
    ReuseKind,
    dataset_reuses,
    utcnow,
)
from niaouli.catalogue.permissions import Action, allowed, visible_reuses
from niaouli.errors import CatalogueError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _

# A user's reuses awaiting moderation: enough for honest use, a ceiling for spam.
MAX_PENDING_PER_USER = 10

# Labels in French (the msgids): translate them where shown, `_(label)`.
REUSE_KINDS = {
    ReuseKind.APPLICATION: N_("Application"),
    ReuseKind.VISUALISATION: N_("Visualisation"),
    ReuseKind.API: N_("API"),
    ReuseKind.ARTICLE: N_("Article"),
}
MODERATION = {
    ModerationStatus.PENDING: N_("en attente de modération"),
    ModerationStatus.APPROVED: N_("publiée"),
    ModerationStatus.REJECTED: N_("refusée"),
}


def public_reuses(
    session: Session, viewer: Viewer, kind: str = "", dataset_slug: str = ""
) -> tuple[list[Reuse], Dataset | None | bool]:
    """Approved reuses, optionally of one kind and one dataset the viewer may see."""
    query = (
        select(Reuse)
        .where(Reuse.status == ModerationStatus.APPROVED)
        .options(selectinload(Reuse.datasets), selectinload(Reuse.submitted_by))
        .order_by(Reuse.created_at.desc(), Reuse.id.desc())
    )
    if kind:
        query = query.where(Reuse.kind == kind)
    target = linked_to(session, viewer, dataset_slug)
    if target is False:
        return [], False
    if target is not None:
        query = query.where(
            Reuse.id.in_(
                select(dataset_reuses.c.reuse_id).where(dataset_reuses.c.dataset_id == target.id)
            )
        )
    return list(session.scalars(query).all()), target


def get_reuse(session: Session, slug: str, viewer: Viewer) -> Reuse:
    """A reuse `viewer` may see (`permissions.visible_reuses`), else NotFoundError."""
    reuse = session.scalar(select(Reuse).where(Reuse.slug == slug, visible_reuses(viewer)))
    if reuse is None:
        raise NotFoundError(_("réutilisation introuvable : « %(slug)s »") % {"slug": slug})
    return reuse


def pending_reuses(session: Session) -> Sequence[Reuse]:
    return session.scalars(
        select(Reuse)
        .where(Reuse.status == ModerationStatus.PENDING)
        .options(selectinload(Reuse.datasets), selectinload(Reuse.submitted_by))
        .order_by(Reuse.created_at, Reuse.id)
    ).all()


def all_reuses(session: Session) -> Sequence[Reuse]:
    """Every reuse whatever its status, oldest first (the command line's list)."""
    return session.scalars(select(Reuse).order_by(Reuse.created_at, Reuse.id)).all()


def visible_reuses_by_title(session: Session, viewer: Viewer) -> Sequence[Reuse]:
    """Every reuse `viewer` may see (`permissions.visible_reuses`), by title."""
    return session.scalars(select(Reuse).where(visible_reuses(viewer)).order_by(Reuse.title)).all()


def proposal_slug(session: Session, title: str) -> str:
    """The slug of a reuse proposed for moderation: the title's words and a random tail.

    A proposal is hidden from all but its author and the moderators. Numbered after the
    slugs taken (`-2`), its slug would tell its author that someone else's hidden
    proposal holds the title's slug (a slug oracle); a random tail tells nothing.
    """
    base = service.make_slug(title, max_length=80)
    while True:
        slug = f"{base}-{secrets.token_hex(3)}"
        if session.scalar(select(Reuse.id).where(Reuse.slug == slug)) is None:
            return slug


def submit_reuse(
    session: Session,
    viewer: Viewer,
    title: str,
    kind: str,
    url: str,
    description: str = "",
    dataset_slugs: Iterable[str] = (),
    approved: bool = False,
    actor: audit.Actor | None = None,
) -> Reuse:
    """A reuse proposed by `viewer` (pending unless `approved`: the callers approve a
    moderator's own), after validation; all-or-nothing, with its audit row."""
    if not allowed(viewer, Action.REUSE_PROPOSE):
        raise ForbiddenError(_("connectez-vous pour proposer une réutilisation"))
    title = check_title(title)
    if kind not in set(ReuseKind):
        raise CatalogueError(_("type de réutilisation inconnu"))
    url = check_http_url(url)
    description = checked_text(description, TOO_LONG["description"])
    datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    if not datasets:
        raise CatalogueError(_("indiquez au moins un jeu de données utilisé"))
    if not approved and viewer.user_id is not None:
        # The count and the insert must not interleave with another proposal of the same
        # user, or parallel proposals all pass the ceiling: lock the user's row first
        # (PostgreSQL; SQLite's writing transactions already take turns).
        from niaouli.accounts.account_tables import User

        session.execute(select(User.id).where(User.id == viewer.user_id).with_for_update())
        waiting = session.scalar(
            select(func.count())
            .select_from(Reuse)
            .where(
                Reuse.submitted_by_id == viewer.user_id,
                Reuse.status == ModerationStatus.PENDING,
            )
        )
        if (waiting or 0) >= MAX_PENDING_PER_USER:
            raise CatalogueError(
                _(
                    "vous avez déjà %(num)s réutilisations en attente de relecture : "
                    "attendez qu'elles soient modérées"
                )
                % {"num": MAX_PENDING_PER_USER}
            )
    reuse = service.create_reuse(
        session,
        free_slug(session, Reuse, title) if approved else proposal_slug(session, title),
        title,
        kind,
        datasets=datasets,
        url=url,
        description=description,
        submitted_by_id=viewer.user_id,
        status=ModerationStatus.APPROVED if approved else ModerationStatus.PENDING,
    )
    record_change(session, viewer, actor, "reuse.create", reuse)
    return reuse


REUSE_FIELDS = ("title", "kind", "url", "description", "datasets")


def change_reuse(
    session: Session, viewer: Viewer, reuse: Reuse, actor: audit.Actor | None = None, **changes: Any
) -> Reuse:
    """Changes the fields given (`REUSE_FIELDS`; `datasets` is a list of slugs, replacing
    the links). A `None` title, kind, address or datasets leaves it as it is. Changed by
    anyone but a moderator, the reuse goes back to moderation."""
    check_known(changes, REUSE_FIELDS)
    if not allowed(viewer, Action.REUSE_EDIT, reuse):
        raise ForbiddenError(
            _("seuls son auteur et les administrateurs modifient cette réutilisation")
        )
    if changes.get("title") is not None:
        reuse.title = check_title(changes["title"])
    if changes.get("kind") is not None:
        if changes["kind"] not in set(ReuseKind):
            raise CatalogueError(_("type de réutilisation inconnu"))
        reuse.kind = ReuseKind(changes["kind"])
    if changes.get("url") is not None:
        reuse.url = check_http_url(changes["url"])
    if "description" in changes:
        reuse.description = changes["description"] or ""
    if changes.get("datasets") is not None:
        linked = datasets_for_slugs(session, viewer, changes["datasets"])
        if not linked:
            raise CatalogueError(_("indiquez au moins un jeu de données utilisé"))
        reuse.datasets = linked
    if not allowed(viewer, Action.REUSE_MODERATE):
        reuse.status = ModerationStatus.PENDING  # changed content is moderated again
    record_change(session, viewer, actor, "reuse.update", reuse)
    session.flush()
    return reuse


def moderate(session: Session, reuse: Reuse, moderator_id: int | None, approve: bool) -> Reuse:
    """Records the decision on the reuse's row (no rule, no audit: `moderate_reuse` is
    the operation)."""
    reuse.status = ModerationStatus.APPROVED if approve else ModerationStatus.REJECTED
    reuse.moderated_by_id = moderator_id
    reuse.moderated_at = utcnow()
    session.flush()
    return reuse


def moderate_reuse(
    session: Session, viewer: Viewer, reuse: Reuse, approve: bool, actor: audit.Actor | None = None
) -> Reuse:
    """A moderator approves or rejects a reuse (platform admins), with its audit row."""
    if not allowed(viewer, Action.REUSE_MODERATE):
        raise ForbiddenError(_("seuls les administrateurs de la plateforme modèrent"))
    moderate(session, reuse, viewer.user_id, approve)
    record_change(session, viewer, actor, "reuse.approve" if approve else "reuse.reject", reuse)
    return reuse
