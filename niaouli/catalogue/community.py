"""Code projects, reuses and events: listing, filters, moderation, links to datasets.

These three are public content that *point at* datasets. The rule: a link to a dataset is
shown only when the viewer may see that dataset (`visible_links`), so a reuse of an
organisation-only dataset never reveals it to anonymous visitors. Reuses submitted by
users are public only once a platform admin approved them.

The lists are small (tens to a few hundred rows), so filters and facets are computed in
Python over one query rather than in backend-specific JSON SQL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer, can_edit, visible_datasets
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
from niaouli.catalogue.service import CatalogueError, NotFoundError

NOUMEA = ZoneInfo("Pacific/Noumea")
TITLE_MIN, TITLE_MAX = 3, 300
DESCRIPTION_MAX = 5000
URL_MAX = 1000
MAX_LINKED_DATASETS = 20
# A user's reuses awaiting moderation: enough for honest use, a ceiling for spam.
MAX_PENDING_PER_USER = 10

REUSE_KINDS = {
    ReuseKind.APPLICATION: "Application",
    ReuseKind.VISUALISATION: "Visualisation",
    ReuseKind.API: "API",
    ReuseKind.ARTICLE: "Article",
}
EVENT_KINDS = {
    EventKind.HACKATHON: "Hackathon",
    EventKind.CARTOPARTY: "Cartopartie",
    EventKind.CALL_FOR_PROJECTS: "Appel à projets",
    EventKind.GATHERING: "Rencontre",
}
CODE_STATUSES = {
    CodeStatus.CONCEPT: "Idée",
    CodeStatus.DEVELOPMENT: "En développement",
    CodeStatus.BETA: "Bêta",
    CodeStatus.STABLE: "Stable",
    CodeStatus.OBSOLETE: "Obsolète",
}
MODERATION = {
    ModerationStatus.PENDING: "en attente de modération",
    ModerationStatus.APPROVED: "publiée",
    ModerationStatus.REJECTED: "refusée",
}


# --- times -----------------------------------------------------------------------------


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime. Naive values are UTC: that is how SQLite returns them."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | None) -> datetime | None:
    """The time in Nouméa (UTC+11, no daylight saving), for display and iCalendar."""
    return None if value is None else as_utc(value).astimezone(NOUMEA)


def parse_local(text: str) -> datetime:
    """`2026-12-05 08:30` (Nouméa time) or an ISO 8601 time with offset → aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise CatalogueError(
            f"date invalide « {text[:40]} » : attendu AAAA-MM-JJ HH:MM (heure de Nouméa)"
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
        "status": ranked(statuses, lambda k: (k, CODE_STATUSES.get(CodeStatus(k), k))),
    }


def get_code_project(session: Session, slug: str) -> CodeProject:
    project = session.scalar(select(CodeProject).where(CodeProject.slug == slug))
    if project is None:
        raise NotFoundError(f"projet de code introuvable : « {slug} »")
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
    ("name", "Nom"),
    ("softwareVersion", "Version"),
    ("releaseDate", "Date de la version"),
    ("developmentStatus", "État de développement"),
    ("softwareType", "Type de logiciel"),
    ("url", "Dépôt de code"),
    ("landingURL", "Page du projet"),
    ("platforms", "Plates-formes"),
    ("categories", "Catégories"),
    ("legal.license", "Licence"),
    ("legal.mainCopyrightOwner", "Titulaire des droits"),
    ("legal.repoOwner", "Propriétaire du dépôt"),
    ("maintenance.type", "Maintenance"),
    ("maintenance.contractors", "Prestataires de maintenance"),
    ("maintenance.contacts", "Contacts de maintenance"),
    ("localisation.availableLanguages", "Langues disponibles"),
    ("intendedAudience.countries", "Pays visés"),
    ("intendedAudience.scope", "Domaines"),
    ("dependsOn", "Dépendances"),
)
MAINTENANCE = {
    "internal": "assurée en interne",
    "contract": "assurée par un prestataire",
    "community": "assurée par la communauté",
    "none": "non assurée",
}
SOFTWARE_TYPES = {
    "standalone/web": "application web autonome",
    "standalone/desktop": "application de bureau",
    "standalone/mobile": "application mobile",
    "standalone/iot": "objet connecté",
    "standalone/backend": "service (serveur)",
    "standalone/other": "logiciel autonome",
    "library": "bibliothèque",
    "addon": "extension",
    "configurationFiles": "fichiers de configuration",
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
    """(French label, plain text) for the publiccode.yml fields a visitor cares about."""
    facts: list[tuple[str, str]] = []
    if not isinstance(publiccode, dict):
        return facts
    for path, label in PUBLICCODE_LABELS:
        value: Any = publiccode
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if path == "developmentStatus" and isinstance(value, str):
            status = value.lower()
            value = (
                CODE_STATUSES.get(CodeStatus(status), value) if status in set(CodeStatus) else value
            )
        elif path == "maintenance.type" and isinstance(value, str):
            value = MAINTENANCE.get(value, value)
        elif path == "softwareType" and isinstance(value, str):
            value = SOFTWARE_TYPES.get(value, value)
        text = _plain(value).strip()
        if text:
            facts.append((label, text[:1000]))
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
    """An approved reuse; its submitter and platform admins also see it before approval."""
    reuse = session.scalar(select(Reuse).where(Reuse.slug == slug))
    if reuse is None:
        raise NotFoundError(f"réutilisation introuvable : « {slug} »")
    if reuse.status == ModerationStatus.APPROVED or viewer.is_platform_admin:
        return reuse
    if viewer.user_id is not None and reuse.submitted_by_id == viewer.user_id:
        return reuse
    raise NotFoundError(f"réutilisation introuvable : « {slug} »")


def pending_reuses(session: Session) -> Sequence[Reuse]:
    return session.scalars(
        select(Reuse)
        .where(Reuse.status == ModerationStatus.PENDING)
        .options(selectinload(Reuse.datasets), selectinload(Reuse.submitted_by))
        .order_by(Reuse.created_at, Reuse.id)
    ).all()


def check_http_url(url: str) -> str:
    url = (url or "").strip()
    if len(url) > URL_MAX:
        raise CatalogueError(f"adresse trop longue ({URL_MAX} caractères au plus)")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or re.search(r"[\x00-\x20\x7f]", url)
    ):
        raise CatalogueError("adresse invalide : donnez une adresse web complète en http(s)://")
    return url


def check_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise CatalogueError(f"le titre doit faire de {TITLE_MIN} à {TITLE_MAX} caractères")
    return title


def free_slug(session: Session, model: type, text: str) -> str:
    base = service.make_slug(text, max_length=80)
    slug, n = base, 1
    while session.scalar(select(model.id).where(model.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def datasets_for_slugs(session: Session, viewer: Viewer, slugs: Iterable[str]) -> list[Dataset]:
    """The named datasets, each of which must exist and be visible to `viewer`."""
    wanted = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if len(wanted) > MAX_LINKED_DATASETS:
        raise CatalogueError(f"{MAX_LINKED_DATASETS} jeux de données au plus")
    found = []
    for slug in wanted:
        try:
            found.append(service.get_dataset(session, slug, viewer))
        except NotFoundError:
            raise CatalogueError(f"jeu de données inconnu : « {slug[:100]} »") from None
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
) -> Reuse:
    """A reuse proposed by `viewer` (pending), after validation; all-or-nothing."""
    title = check_title(title)
    if kind not in set(ReuseKind):
        raise CatalogueError("type de réutilisation inconnu")
    url = check_http_url(url)
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise CatalogueError(f"description trop longue ({DESCRIPTION_MAX} caractères au plus)")
    datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    if not datasets:
        raise CatalogueError("indiquez au moins un jeu de données utilisé")
    if not approved and viewer.user_id is not None:
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
                f"vous avez déjà {MAX_PENDING_PER_USER} réutilisations en attente de relecture : "
                "attendez qu'elles soient modérées"
            )
    reuse = service.create_reuse(
        session,
        free_slug(session, Reuse, title),
        title,
        kind,
        datasets=datasets,
        url=url,
        description=description,
        submitted_by_id=viewer.user_id,
        status=ModerationStatus.APPROVED if approved else ModerationStatus.PENDING,
    )
    return reuse


def moderate(session: Session, reuse: Reuse, moderator_id: int | None, approve: bool) -> Reuse:
    reuse.status = ModerationStatus.APPROVED if approve else ModerationStatus.REJECTED
    reuse.moderated_by_id = moderator_id
    reuse.moderated_at = utcnow()
    session.flush()
    return reuse


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
        raise NotFoundError(f"événement introuvable : « {slug} »")
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


# --- adding code projects and events (editors' forms and the command line) -------------


def editable_organisations(session: Session, viewer: Viewer) -> list[Organisation]:
    """The organisations whose content `viewer` may add to (editors, admins)."""
    return [o for o in service.list_organisations(session) if can_edit(viewer, o.id)]


def _organisation_for(session: Session, viewer: Viewer, slug: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None or not can_edit(viewer, org.id):
        raise CatalogueError("choisissez une organisation dont vous êtes éditeur")
    return org


def _text(value: str, what: str, limit: int = DESCRIPTION_MAX) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise CatalogueError(f"{what} trop long ({limit} caractères au plus)")
    return value


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
) -> CodeProject:
    """A code project of an organisation `viewer` edits for, after validation."""
    org = _organisation_for(session, viewer, organisation)
    name = check_title(name)
    if status not in set(CodeStatus):
        raise CatalogueError("état de développement inconnu")
    licence = _text(licence, "identifiant de licence", 100)
    if licence and not re.fullmatch(r"[A-Za-z0-9.+\-() ]+", licence):
        raise CatalogueError("licence : donnez un identifiant SPDX, par exemple MIT ou EUPL-1.2")
    kept_languages = [_text(x, "nom de langage", 50) for x in languages if x.strip()][:20]
    if slug is None:
        slug = free_slug(session, CodeProject, name)
    elif session.scalar(select(CodeProject.id).where(CodeProject.slug == slug)) is not None:
        raise CatalogueError(f"le projet de code « {slug} » existe déjà")
    project = service.create_code_project(
        session,
        org,
        slug,
        name,
        repository_url=check_http_url(repository_url) if repository_url.strip() else None,
        licence=licence or None,
        languages=kept_languages,
        status=CodeStatus(status),
        description=_text(description, "description"),
        default_branch=_text(default_branch, "nom de branche", 200) or None,
        publiccode=publiccode or {},
    )
    project.datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    session.flush()
    return project


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
) -> Event:
    """An event (times in Nouméa unless an offset is given), after validation."""
    org = _organisation_for(session, viewer, organisation) if organisation else None
    if org is None and not viewer.is_platform_admin:
        raise CatalogueError("choisissez une organisation dont vous êtes éditeur")
    title = check_title(title)
    if kind not in set(EventKind):
        raise CatalogueError("type d'événement inconnu")
    if not starts.strip():
        raise CatalogueError("indiquez la date et l'heure de début")
    if slug is None:
        slug = free_slug(session, Event, title)
    elif session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
        raise CatalogueError(f"l'événement « {slug} » existe déjà")
    return service.create_event(
        session,
        slug,
        title,
        kind,
        parse_local(starts),
        datasets=datasets_for_slugs(session, viewer, dataset_slugs),
        ends_at=parse_local(ends) if ends.strip() else None,
        location=_text(location, "lieu", 300) or None,
        latitude=latitude,
        longitude=longitude,
        url=check_http_url(url) if url.strip() else None,
        description=_text(description, "description"),
        results=_text(results, "résultats"),
        organisation_id=org.id if org else None,
    )
