"""Code projects (`/code`): the list with its filters and facets, source archives, the
facts of a project's publiccode.yml, and the editors' operations (add, change)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community.common import (
    TOO_LONG,
    apply_changes,
    check_known,
    check_title,
    checked_text,
    chosen_slug,
    datasets_for_slugs,
    optional_url,
    organisation_for,
    record_change,
    relinked,
)
from niaouli.catalogue.models import CodeProject, CodeStatus
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import CatalogueError, ForbiddenError, NotFoundError
from niaouli.i18n import N_, _

TAKEN = N_("le projet de code « %(slug)s » existe déjà")
CODE_STATUSES = {
    CodeStatus.CONCEPT: N_("Idée"),
    CodeStatus.DEVELOPMENT: N_("En développement"),
    CodeStatus.BETA: N_("Bêta"),
    CodeStatus.STABLE: N_("Stable"),
    CodeStatus.OBSOLETE: N_("Obsolète"),
}


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


# --- the editors' operations (portal forms, API, command line) ------------------------


def _licence(text: str | None) -> str | None:
    licence = checked_text(text, TOO_LONG["licence"], 100)
    if licence and not re.fullmatch(r"[A-Za-z0-9.+\-() ]+", licence):
        raise CatalogueError(_("licence : donnez un identifiant SPDX, par exemple MIT ou EUPL-1.2"))
    return licence or None


def _languages(names: Iterable[str]) -> list[str]:
    return [checked_text(x, TOO_LONG["language"], 50) for x in names if x.strip()][:20]


def _code_status(status: str) -> CodeStatus:
    if status not in set(CodeStatus):
        raise CatalogueError(_("état de développement inconnu"))
    return CodeStatus(status)


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
    org = organisation_for(session, viewer, organisation, Action.CODE_EDIT)
    name = check_title(name)
    code_status = _code_status(status)
    kept_licence = _licence(licence)
    kept_languages = _languages(languages)
    slug = chosen_slug(session, CodeProject, slug, name, TAKEN)
    project = service.create_code_project(
        session,
        org,
        slug,
        name,
        repository_url=optional_url(repository_url),
        licence=kept_licence,
        languages=kept_languages,
        status=code_status,
        description=checked_text(description, TOO_LONG["description"]),
        default_branch=checked_text(default_branch, TOO_LONG["branch"], 200) or None,
        publiccode=publiccode or {},
    )
    project.datasets = datasets_for_slugs(session, viewer, dataset_slugs)
    record_change(session, viewer, actor, "code.create", project)
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
    check_known(changes, CODE_FIELDS)
    if not allowed(viewer, Action.CODE_EDIT, project):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce projet"))
    new: dict[str, Any] = {}
    if changes.get("name") is not None:
        new["name"] = check_title(changes["name"])
    if "repository_url" in changes:
        new["repository_url"] = optional_url(changes["repository_url"])
    if "licence" in changes:
        new["licence"] = _licence(changes["licence"])
    if changes.get("languages") is not None:
        new["languages"] = _languages(changes["languages"])
    if changes.get("status") is not None:
        new["status"] = _code_status(changes["status"])
    if "description" in changes:
        new["description"] = checked_text(changes["description"], TOO_LONG["description"])
    if "default_branch" in changes:
        branch = checked_text(changes["default_branch"], TOO_LONG["branch"], 200)
        new["default_branch"] = branch or None
    if changes.get("datasets") is not None:
        new["datasets"] = relinked(session, viewer, project.datasets, changes["datasets"])
    record_change(session, viewer, actor, "code.update", project)
    return apply_changes(session, project, new)
