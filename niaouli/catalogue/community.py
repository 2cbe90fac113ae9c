"""Code projects, reuses and events: listing, filters, moderation, links to datasets.

These three are public content that *point at* datasets. The rule: a link to a dataset is
shown only when the viewer may see that dataset (`visible_links`), so a reuse of an
organisation-only dataset never reveals it to anonymous visitors. Reuses submitted by
users are public only once a platform admin approved them.

The lists are small (tens to a few hundred rows), so filters and facets are computed in
Python over one query rather than in backend-specific JSON SQL.

Who may add and change each kind is `permissions.allowed` (`code.edit`, `event.edit`,
`reuse.propose`, `reuse.edit`, `reuse.moderate`); each operation here checks it and
writes its audit row in the caller's transaction, so the API, the portal and the
command line only translate (they pass their `audit.Actor`; without one, the change is
recorded as the command line's or the application's, `audit.actor_for`).
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from niaouli import links
from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import (
    CodeProject,
    CodeStatus,
    Dataset,
    Event,
    EventKind,
    ModerationStatus,
    Organisation,
    Reuse,
    ReuseKind,
    code_project_datasets,
    dataset_events,
    dataset_reuses,
    utcnow,
)
from niaouli.catalogue.permissions import Action, allowed, visible_reuses
from niaouli.catalogue.publication import ForbiddenError
from niaouli.catalogue.service import CatalogueError, NotFoundError
from niaouli.i18n import N_, _
from niaouli.localtime import NOUMEA, as_utc

TITLE_MIN, TITLE_MAX = 3, 300
DESCRIPTION_MAX = 5000
URL_MAX = 1000
MAX_LINKED_DATASETS = 20
# A user's reuses awaiting moderation: enough for honest use, a ceiling for spam.
MAX_PENDING_PER_USER = 10

# Labels in French (the msgids): translate them where shown, `_(label)`.
REUSE_KINDS = {
    ReuseKind.APPLICATION: N_("Application"),
    ReuseKind.VISUALISATION: N_("Visualisation"),
    ReuseKind.API: N_("API"),
    ReuseKind.ARTICLE: N_("Article"),
}
EVENT_KINDS = {
    EventKind.HACKATHON: N_("Hackathon"),
    EventKind.CARTOPARTY: N_("Cartopartie"),
    EventKind.CALL_FOR_PROJECTS: N_("Appel à projets"),
    EventKind.GATHERING: N_("Rencontre"),
}
CODE_STATUSES = {
    CodeStatus.CONCEPT: N_("Idée"),
    CodeStatus.DEVELOPMENT: N_("En développement"),
    CodeStatus.BETA: N_("Bêta"),
    CodeStatus.STABLE: N_("Stable"),
    CodeStatus.OBSOLETE: N_("Obsolète"),
}
MODERATION = {
    ModerationStatus.PENDING: N_("en attente de modération"),
    ModerationStatus.APPROVED: N_("publiée"),
    ModerationStatus.REJECTED: N_("refusée"),
}


# --- times -----------------------------------------------------------------------------


def parse_local(text: str) -> datetime:
    """`2026-12-05 08:30` (Nouméa time) or an ISO 8601 time with offset → aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise CatalogueError(
            _("date invalide « %(text)s » : attendu AAAA-MM-JJ HH:MM (heure de Nouméa)")
            % {"text": text[:40]}
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=NOUMEA)


# --- links to datasets -----------------------------------------------------------------


def visible_links(session: Session, viewer: Viewer, datasets: Iterable[Dataset]) -> list[Dataset]:
    """The datasets among `datasets` that `viewer` may see, by title."""
    ids = {d.id for d in datasets}
    if not ids:
        return []
    return list(
        session.scalars(
            select(Dataset)
            .where(visible_datasets(viewer), Dataset.id.in_(ids))
            .order_by(Dataset.title, Dataset.id)
        ).all()
    )


def visible_ids(session: Session, viewer: Viewer, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        session.scalars(select(Dataset.id).where(visible_datasets(viewer), Dataset.id.in_(ids)))
    )


def _linked_to(session: Session, viewer: Viewer, slug: str | None) -> Dataset | None | bool:
    """The dataset a filter names, False when the viewer may not see it, None without."""
    if not slug:
        return None
    try:
        return service.get_dataset(session, slug, viewer)
    except NotFoundError:
        return False


# --- code projects ---------------------------------------------------------------------


@dataclass(frozen=True)
class CodeFilters:
    organisation: str = ""
    language: str = ""
    licence: str = ""
    status: str = ""


def code_projects(session: Session) -> Sequence[CodeProject]:
    return session.scalars(
        select(CodeProject)
        .options(selectinload(CodeProject.organisation), selectinload(CodeProject.datasets))
        .order_by(CodeProject.name, CodeProject.id)
    ).all()


def filter_code_projects(
    projects: Sequence[CodeProject], filters: CodeFilters
) -> list[CodeProject]:
    kept = []
    for project in projects:
        if filters.organisation and project.organisation.slug != filters.organisation:
            continue
        if filters.language and filters.language not in (project.languages or []):
            continue
        if filters.licence and (project.licence or "") != filters.licence:
            continue
        if filters.status and str(project.status) != filters.status:
            continue
        kept.append(project)
    return kept


def code_facets(projects: Sequence[CodeProject]) -> dict[str, list[tuple[str, str, int]]]:
    """(value, label, count) per filter, over all projects, most frequent first."""
    orgs: Counter[tuple[str, str]] = Counter()
    languages: Counter[str] = Counter()
    licences: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for p in projects:
        orgs[(p.organisation.slug, p.organisation.name)] += 1
        languages.update(str(x) for x in (p.languages or []))
        if p.licence:
            licences[p.licence] += 1
        statuses[str(p.status)] += 1

    def ranked(counter: Counter[Any], label: Any) -> list[tuple[str, str, int]]:  # noqa: ANN401
        return [
            (*label(key), n) for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    return {
        "organisation": ranked(orgs, lambda k: k),
        "language": ranked(languages, lambda k: (k, k)),
        "licence": ranked(licences, lambda k: (k, k)),
        "status": ranked(statuses, lambda k: (k, _(CODE_STATUSES.get(CodeStatus(k), k)))),
    }


def get_code_project(session: Session, slug: str) -> CodeProject:
    project = session.scalar(select(CodeProject).where(CodeProject.slug == slug))
    if project is None:
        raise NotFoundError(_("projet de code introuvable : « %(slug)s »") % {"slug": slug})
    return project


def forge_of(repository_url: str | None) -> str | None:
    """`github` or `gitlab` when the repository URL is on a forge we know the archives of."""
    if not repository_url:
        return None
    try:
        parts = urlsplit(repository_url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or parts.path.strip("/").count("/") < 1:
        return None
    if host == "github.com":
        return "github"
    if host == "gitlab.com" or host.startswith("gitlab.") or ".gitlab." in host:
        return "gitlab"
    return None


def archive_url(project: CodeProject) -> tuple[str, str] | None:
    """(URL, ref) of a source archive: the latest release's, else the default branch's.

    A release may give its own `archive_url`; otherwise the forge's archive address is
    built from the tag (GitHub `/archive/refs/tags/T.zip`, GitLab `/-/archive/T/N-T.zip`).
    """
    releases = [r for r in (project.releases or []) if isinstance(r, dict)]
    latest = releases[0] if releases else None
    if latest and isinstance(latest.get("archive_url"), str):
        return latest["archive_url"], str(latest.get("version") or "")
    forge = forge_of(project.repository_url)
    if forge is None:
        return None
    repo = (project.repository_url or "").rstrip("/").removesuffix(".git")
    name = repo.rsplit("/", 1)[-1]
    if latest and latest.get("version"):
        ref, kind = str(latest["version"]), "tags"
    elif project.default_branch:
        ref, kind = project.default_branch, "heads"
    else:
        return None
    if forge == "github":
        return f"{repo}/archive/refs/{kind}/{quote(ref, safe='')}.zip", ref
    safe = quote(ref, safe="")
    return f"{repo}/-/archive/{safe}/{quote(name, safe='')}-{safe}.zip", ref


PUBLICCODE_LABELS = (
    ("name", N_("Nom")),
    ("softwareVersion", N_("Version")),
    ("releaseDate", N_("Date de la version")),
    ("developmentStatus", N_("État de développement")),
    ("softwareType", N_("Type de logiciel")),
    ("url", N_("Dépôt de code")),
    ("landingURL", N_("Page du projet")),
    ("platforms", N_("Plates-formes")),
    ("categories", N_("Catégories")),
    ("legal.license", N_("Licence")),
    ("legal.mainCopyrightOwner", N_("Titulaire des droits")),
    ("legal.repoOwner", N_("Propriétaire du dépôt")),
    ("maintenance.type", N_("Maintenance")),
    ("maintenance.contractors", N_("Prestataires de maintenance")),
    ("maintenance.contacts", N_("Contacts de maintenance")),
    ("localisation.availableLanguages", N_("Langues disponibles")),
    ("intendedAudience.countries", N_("Pays visés")),
    ("intendedAudience.scope", N_("Domaines")),
    ("dependsOn", N_("Dépendances")),
)
MAINTENANCE = {
    "internal": N_("assurée en interne"),
    "contract": N_("assurée par un prestataire"),
    "community": N_("assurée par la communauté"),
    "none": N_("non assurée"),
}
SOFTWARE_TYPES = {
    "standalone/web": N_("application web autonome"),
    "standalone/desktop": N_("application de bureau"),
    "standalone/mobile": N_("application mobile"),
    "standalone/iot": N_("objet connecté"),
    "standalone/backend": N_("service (serveur)"),
    "standalone/other": N_("logiciel autonome"),
    "library": N_("bibliothèque"),
    "addon": N_("extension"),
    "configurationFiles": N_("fichiers de configuration"),
}


def _plain(value: Any) -> str:  # noqa: ANN401 - YAML gives anything
    """A publiccode.yml value in words: lists joined, people by name (never e-mail)."""
    if isinstance(value, list):
        return ", ".join(p for p in (_plain(v) for v in value) if p)
    if isinstance(value, dict):
        if "name" in value:
            return str(value["name"])
        # dependsOn: {open: [...], proprietary: [...]}
        return ", ".join(p for p in (_plain(v) for v in value.values()) if p)
    return "" if value is None else str(value)


def publiccode_facts(publiccode: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, plain text) in the reader's language for the publiccode.yml fields a
    visitor cares about (the values themselves are the project's, never translated)."""
    facts: list[tuple[str, str]] = []
    if not isinstance(publiccode, dict):
        return facts
    for path, label in PUBLICCODE_LABELS:
        value: Any = publiccode
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if path == "developmentStatus" and isinstance(value, str):
            status = value.lower()
            value = _(CODE_STATUSES[CodeStatus(status)]) if status in set(CodeStatus) else value
        elif path == "maintenance.type" and isinstance(value, str):
            value = _(MAINTENANCE[value]) if value in MAINTENANCE else value
        elif path == "softwareType" and isinstance(value, str):
            value = _(SOFTWARE_TYPES[value]) if value in SOFTWARE_TYPES else value
        text = _plain(value).strip()
        if text:
            facts.append((_(label), text[:1000]))
    return facts


def publiccode_features(publiccode: dict[str, Any] | None) -> list[str]:
    """The feature list of publiccode.yml's description (French first)."""
    if not isinstance(publiccode, dict):
        return []
    descriptions = publiccode.get("description")
    if not isinstance(descriptions, dict):
        return []
    for lang in ("fr", "en", *descriptions):
        chosen = descriptions.get(lang)
        if isinstance(chosen, dict) and isinstance(chosen.get("features"), list):
            return [str(f)[:300] for f in chosen["features"][:30]]
    return []


# --- reuses ----------------------------------------------------------------------------


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
    target = _linked_to(session, viewer, dataset_slug)
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


def check_http_url(url: str, max_length: int = URL_MAX) -> str:
    """The platform's one link rule (`niaouli.links`, row S22), as a `CatalogueError`."""
    try:
        return links.check_link(url, max_length)
    except links.LinkError as exc:
        raise CatalogueError(str(exc)) from None


def check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise CatalogueError(
            _("le titre doit faire de %(min)s à %(max)s caractères")
            % {"min": TITLE_MIN, "max": TITLE_MAX}
        )
    return title


# Length limits of free texts, one whole sentence each (the noun's gender differs).
TOO_LONG = {
    "description": N_("description trop longue (%(max)s caractères au plus)"),
    "licence": N_("identifiant de licence trop long (%(max)s caractères au plus)"),
    "language": N_("nom de langage trop long (%(max)s caractères au plus)"),
    "branch": N_("nom de branche trop long (%(max)s caractères au plus)"),
    "location": N_("lieu trop long (%(max)s caractères au plus)"),
    "results": N_("résultats trop longs (%(max)s caractères au plus)"),
}


def _text(value: str | None, too_long: str, limit: int = DESCRIPTION_MAX) -> str:
    """`value` stripped, refused with the sentence `too_long` past `limit` characters."""
    value = (value or "").strip()
    if len(value) > limit:
        raise CatalogueError(_(too_long) % {"max": limit})
    return value


def _optional_url(url: str | None) -> str | None:
    url = (url or "").strip()
    return check_http_url(url) if url else None


def free_slug(session: Session, model: type, text: str) -> str:
    base = service.make_slug(text, max_length=80)
    slug, n = base, 1
    while session.scalar(select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


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


def datasets_for_slugs(session: Session, viewer: Viewer, slugs: Iterable[str]) -> list[Dataset]:
    """The named datasets, each of which must exist and be visible to `viewer`."""
    wanted = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if len(wanted) > MAX_LINKED_DATASETS:
        raise CatalogueError(_("%(max)s jeux de données au plus") % {"max": MAX_LINKED_DATASETS})
    found = []
    for slug in wanted:
        try:
            found.append(service.get_dataset(session, slug, viewer))
        except NotFoundError:
            raise CatalogueError(
                _("jeu de données inconnu : « %(slug)s »") % {"slug": slug[:100]}
            ) from None
    return found


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
    description = _text(description, TOO_LONG["description"])
    datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    if not datasets:
        raise CatalogueError(_("indiquez au moins un jeu de données utilisé"))
    if not approved and viewer.user_id is not None:
        # The count and the insert must not interleave with another proposal of the same
        # user, or parallel proposals all pass the ceiling: lock the user's row first
        # (PostgreSQL; SQLite's writing transactions already take turns).
        from niaouli.accounts.models import User

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
    _record(session, viewer, actor, "reuse.create", reuse)
    return reuse


REUSE_FIELDS = ("title", "kind", "url", "description", "datasets")


def change_reuse(
    session: Session, viewer: Viewer, reuse: Reuse, actor: audit.Actor | None = None, **changes: Any
) -> Reuse:
    """Changes the fields given (`REUSE_FIELDS`; `datasets` is a list of slugs, replacing
    the links). A `None` title, kind, address or datasets leaves it as it is. Changed by
    anyone but a moderator, the reuse goes back to moderation."""
    _known(changes, REUSE_FIELDS)
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
    _record(session, viewer, actor, "reuse.update", reuse)
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
    _record(session, viewer, actor, "reuse.approve" if approve else "reuse.reject", reuse)
    return reuse


def _record(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor | None,
    action: str,
    item: CodeProject | Event | Reuse,
) -> None:
    """The audit row of a change to `item` (as the API has always written it)."""
    audit.record(
        session,
        actor or audit.actor_for(viewer),
        action,
        subject=item.slug,
        organisation_id=item.organisation_id,
    )


# --- events ----------------------------------------------------------------------------


def events(session: Session, when: str = "", kind: str = "") -> list[Event]:
    """Events, upcoming (not yet ended) soonest first, or past most recent first."""
    query = select(Event).options(selectinload(Event.datasets), selectinload(Event.organisation))
    if kind:
        query = query.where(Event.kind == kind)
    items = list(session.scalars(query).all())
    now = utcnow()

    def ended(event: Event) -> bool:
        return as_utc(event.ends_at or event.starts_at) < now

    if when == "a-venir":
        items = [e for e in items if not ended(e)]
    elif when == "passes":
        items = [e for e in items if ended(e)]
    upcoming = sorted((e for e in items if not ended(e)), key=lambda e: as_utc(e.starts_at))
    past = sorted((e for e in items if ended(e)), key=lambda e: as_utc(e.starts_at), reverse=True)
    return upcoming + past


def is_past(event: Event) -> bool:
    return as_utc(event.ends_at or event.starts_at) < utcnow()


def get_event(session: Session, slug: str) -> Event:
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFoundError(_("événement introuvable : « %(slug)s »") % {"slug": slug})
    return event


# --- what uses a dataset ---------------------------------------------------------------


def uses_of_dataset(session: Session, dataset: Dataset) -> dict[str, list[Any]]:
    """Approved reuses, code projects and events linked to `dataset` (already visible)."""
    return {
        "reuses": list(
            session.scalars(
                select(Reuse)
                .join(dataset_reuses, dataset_reuses.c.reuse_id == Reuse.id)
                .where(
                    dataset_reuses.c.dataset_id == dataset.id,
                    Reuse.status == ModerationStatus.APPROVED,
                )
                .order_by(Reuse.title)
            ).all()
        ),
        "code_projects": list(
            session.scalars(
                select(CodeProject)
                .join(
                    code_project_datasets,
                    code_project_datasets.c.code_project_id == CodeProject.id,
                )
                .where(code_project_datasets.c.dataset_id == dataset.id)
                .order_by(CodeProject.name)
            ).all()
        ),
        "events": list(
            session.scalars(
                select(Event)
                .join(dataset_events, dataset_events.c.event_id == Event.id)
                .where(dataset_events.c.dataset_id == dataset.id)
                .order_by(Event.starts_at.desc())
            ).all()
        ),
    }


# --- code projects and events by editors (portal forms, API, command line) -------------


def editable_organisations(
    session: Session, viewer: Viewer, action: Action = Action.DATASET_CREATE
) -> list[Organisation]:
    """The organisations whose content `viewer` may add to (`action` on them)."""
    return [o for o in service.list_organisations(session) if allowed(viewer, action, o)]


def _organisation_for(session: Session, viewer: Viewer, slug: str, action: Action) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None or not allowed(viewer, action, org):
        raise CatalogueError(_("choisissez une organisation dont vous êtes éditeur"))
    return org


def _licence(text: str | None) -> str | None:
    licence = _text(text, TOO_LONG["licence"], 100)
    if licence and not re.fullmatch(r"[A-Za-z0-9.+\-() ]+", licence):
        raise CatalogueError(_("licence : donnez un identifiant SPDX, par exemple MIT ou EUPL-1.2"))
    return licence or None


def _languages(names: Iterable[str]) -> list[str]:
    return [_text(x, TOO_LONG["language"], 50) for x in names if x.strip()][:20]


def _code_status(status: str) -> CodeStatus:
    if status not in set(CodeStatus):
        raise CatalogueError(_("état de développement inconnu"))
    return CodeStatus(status)


def _event_kind(kind: str) -> EventKind:
    if kind not in set(EventKind):
        raise CatalogueError(_("type d'événement inconnu"))
    return EventKind(kind)


def _starts(text: str | None) -> datetime:
    if not (text or "").strip():
        raise CatalogueError(_("indiquez la date et l'heure de début"))
    return parse_local(text or "")


def _ends(text: str | None) -> datetime | None:
    return parse_local(text) if text and text.strip() else None


def _check_period(starts: datetime, ends: datetime | None) -> None:
    if ends is not None and as_utc(ends) < as_utc(starts):
        raise CatalogueError(_("l'événement finit avant de commencer"))


def _relinked(
    session: Session, viewer: Viewer, current: Iterable[Dataset], slugs: Iterable[str]
) -> list[Dataset]:
    """The datasets named (each visible to `viewer`), plus the ones linked now that
    `viewer` may not see: they were never shown to them, so they are not theirs to drop."""
    chosen = datasets_for_slugs(session, viewer, slugs)
    current = list(current)
    seen = visible_ids(session, viewer, {d.id for d in current})
    return chosen + [d for d in current if d.id not in seen and d not in chosen]


def _known(changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")


def _apply(session: Session, item: Any, new: dict[str, Any]) -> Any:  # noqa: ANN401
    """Sets the checked values all at once."""
    for name, value in new.items():
        setattr(item, name, value)
    session.flush()
    return item


def add_code_project(
    session: Session,
    viewer: Viewer,
    organisation: str,
    name: str,
    repository_url: str = "",
    licence: str = "",
    languages: Iterable[str] = (),
    status: str = "stable",
    description: str = "",
    default_branch: str = "",
    dataset_slugs: Iterable[str] = (),
    slug: str | None = None,
    publiccode: dict[str, Any] | None = None,
    actor: audit.Actor | None = None,
) -> CodeProject:
    """A code project of an organisation `viewer` edits for, after validation."""
    org = _organisation_for(session, viewer, organisation, Action.CODE_EDIT)
    name = check_title(name)
    code_status = _code_status(status)
    kept_licence = _licence(licence)
    kept_languages = _languages(languages)
    if slug is None:
        slug = free_slug(session, CodeProject, name)
    elif session.scalar(select(CodeProject.id).where(CodeProject.slug == slug)) is not None:
        raise CatalogueError(_("le projet de code « %(slug)s » existe déjà") % {"slug": slug})
    project = service.create_code_project(
        session,
        org,
        slug,
        name,
        repository_url=_optional_url(repository_url),
        licence=kept_licence,
        languages=kept_languages,
        status=code_status,
        description=_text(description, TOO_LONG["description"]),
        default_branch=_text(default_branch, TOO_LONG["branch"], 200) or None,
        publiccode=publiccode or {},
    )
    project.datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    _record(session, viewer, actor, "code.create", project)
    session.flush()
    return project


CODE_FIELDS = (
    "name",
    "repository_url",
    "licence",
    "languages",
    "status",
    "description",
    "default_branch",
    "datasets",
)


def change_code_project(
    session: Session,
    viewer: Viewer,
    project: CodeProject,
    actor: audit.Actor | None = None,
    **changes: Any,
) -> CodeProject:
    """Changes the fields given (`CODE_FIELDS`; `languages` and `datasets` are lists).

    A `None` name, languages, status or datasets leaves it as it is; an empty repository
    address, licence or branch removes it. Every value is checked before any is set, so a
    refusal (CatalogueError) leaves the project as it was. Only who may `code.edit` it.
    """
    _known(changes, CODE_FIELDS)
    if not allowed(viewer, Action.CODE_EDIT, project):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce projet"))
    new: dict[str, Any] = {}
    if changes.get("name") is not None:
        new["name"] = check_title(changes["name"])
    if "repository_url" in changes:
        new["repository_url"] = _optional_url(changes["repository_url"])
    if "licence" in changes:
        new["licence"] = _licence(changes["licence"])
    if changes.get("languages") is not None:
        new["languages"] = _languages(changes["languages"])
    if changes.get("status") is not None:
        new["status"] = _code_status(changes["status"])
    if "description" in changes:
        new["description"] = _text(changes["description"], TOO_LONG["description"])
    if "default_branch" in changes:
        new["default_branch"] = _text(changes["default_branch"], TOO_LONG["branch"], 200) or None
    if changes.get("datasets") is not None:
        new["datasets"] = _relinked(session, viewer, project.datasets, changes["datasets"])
    _record(session, viewer, actor, "code.update", project)
    return _apply(session, project, new)


def add_event(
    session: Session,
    viewer: Viewer,
    organisation: str | None,
    title: str,
    kind: str,
    starts: str,
    ends: str = "",
    location: str = "",
    url: str = "",
    description: str = "",
    results: str = "",
    dataset_slugs: Iterable[str] = (),
    latitude: float | None = None,
    longitude: float | None = None,
    slug: str | None = None,
    actor: audit.Actor | None = None,
) -> Event:
    """An event (times in Nouméa unless an offset is given), after validation."""
    org = (
        _organisation_for(session, viewer, organisation, Action.EVENT_EDIT)
        if organisation
        else None
    )
    if org is None and not allowed(viewer, Action.EVENT_EDIT, None):
        raise CatalogueError(_("choisissez une organisation dont vous êtes éditeur"))
    title = check_title(title)
    event_kind = _event_kind(kind)
    starts_at, ends_at = _starts(starts), _ends(ends)
    _check_period(starts_at, ends_at)
    if slug is None:
        slug = free_slug(session, Event, title)
    elif session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
        raise CatalogueError(_("l'événement « %(slug)s » existe déjà") % {"slug": slug})
    event = service.create_event(
        session,
        slug,
        title,
        event_kind,
        starts_at,
        datasets=datasets_for_slugs(session, viewer, dataset_slugs),
        ends_at=ends_at,
        location=_text(location, TOO_LONG["location"], 300) or None,
        latitude=latitude,
        longitude=longitude,
        url=_optional_url(url),
        description=_text(description, TOO_LONG["description"]),
        results=_text(results, TOO_LONG["results"]),
        organisation_id=org.id if org else None,
    )
    _record(session, viewer, actor, "event.create", event)
    return event


EVENT_FIELDS = (
    "title",
    "kind",
    "starts",
    "ends",
    "location",
    "url",
    "description",
    "results",
    "datasets",
)


def change_event(
    session: Session, viewer: Viewer, event: Event, actor: audit.Actor | None = None, **changes: Any
) -> Event:
    """Changes the fields given (`EVENT_FIELDS`; `datasets` is a list of slugs).

    A `None` title, kind or datasets leaves it as it is; `starts` may not be empty; an
    empty end, place or address removes it. Everything is checked before anything is set
    (the end may not come before the start), so a refusal leaves the event as it was.
    Only who may `event.edit` it.
    """
    _known(changes, EVENT_FIELDS)
    if not allowed(viewer, Action.EVENT_EDIT, event):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient cet événement"))
    new: dict[str, Any] = {}
    if changes.get("title") is not None:
        new["title"] = check_title(changes["title"])
    if changes.get("kind") is not None:
        new["kind"] = _event_kind(changes["kind"])
    if "starts" in changes:
        new["starts_at"] = as_utc(_starts(changes["starts"]))  # UTC: SQLite drops offsets
    if "ends" in changes:
        ends = _ends(changes["ends"])
        new["ends_at"] = as_utc(ends) if ends is not None else None
    _check_period(new.get("starts_at", event.starts_at), new.get("ends_at", event.ends_at))
    if "location" in changes:
        new["location"] = _text(changes["location"], TOO_LONG["location"], 300) or None
    if "url" in changes:
        new["url"] = _optional_url(changes["url"])
    if "description" in changes:
        new["description"] = _text(changes["description"], TOO_LONG["description"])
    if "results" in changes:
        new["results"] = _text(changes["results"], TOO_LONG["results"])
    if changes.get("datasets") is not None:
        new["datasets"] = _relinked(session, viewer, event.datasets, changes["datasets"])
    _record(session, viewer, actor, "event.update", event)
    return _apply(session, event, new)
