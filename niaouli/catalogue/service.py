"""The catalogue's service API: what the CLI, the portal and the jobs call.

Functions take a SQLAlchemy `Session` and, where they read datasets, a `Viewer`; the
access rule is applied here, never in callers.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from slugify import slugify
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from niaouli import links
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import (
    AccessLevel,
    CodeProject,
    Dataset,
    Event,
    EventKind,
    Layer,
    Organisation,
    OrganisationKind,
    Reuse,
    ReuseKind,
    utcnow,
)
from niaouli.catalogue.search import text as search

# The refusals (`niaouli.errors`), importable from here as they always were.
from niaouli.errors import CatalogueError, NotFoundError  # noqa: F401
from niaouli.localtime import as_utc  # events are stored in UTC (SQLite drops offsets)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
# The OGC API collection of all records (services/ogc/records_collection.py): a dataset with this
# slug would give a layer collection of the same id, so no dataset may take it.
RECORDS_COLLECTION_ID = "catalogue"
RESERVED_DATASET_SLUGS = frozenset({RECORDS_COLLECTION_ID})
WEBSITE_MAX = 500  # organisations.website


def _transliteration() -> dict[str, str]:
    """python-slugify's transliteration named, when it is the one its `auto` picks anyway:
    `auto` tries to import `unidecode` on every call with non-ASCII text, and a failed
    import is not remembered (a search of the whole module path each time: a quarter of
    a millisecond a title, as much as the rest of a harvested record's slug)."""
    if "backend" not in inspect.signature(slugify).parameters:
        return {}  # older releases: no choice, and no import per call
    if importlib.util.find_spec("unidecode") is not None:
        return {}
    return {"backend": "text-unidecode"}


_SLUGIFY_OPTIONS = _transliteration()


def make_slug(text: str, max_length: int = 80) -> str:
    slug = slugify(text, max_length=max_length, word_boundary=True, **_SLUGIFY_OPTIONS)
    if slug in RESERVED_DATASET_SLUGS:  # a title "Catalogue" must not fail an import
        slug = f"{slug}-donnees"
    return slug or "jeu-de-donnees"


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise CatalogueError(
            f"identifiant invalide « {slug[:120]} » : lettres minuscules sans accent, "
            "chiffres et tirets uniquement (100 caractères au plus)"
        )
    return slug


def check_dataset_slug(slug: str) -> str:
    """`check_slug`, and not a name the platform keeps for itself."""
    check_slug(slug)
    if slug in RESERVED_DATASET_SLUGS:
        raise CatalogueError(
            f"l'identifiant « {slug} » est réservé par la plateforme (catalogue OGC API "
            "Records) : choisissez-en un autre pour ce jeu de données"
        )
    return slug


# Organisation namespaces of dataset slugs (`catalogue.editing.creation_slug`): a slug
# with "--" belongs to the organisation named before it, so the slugs an organisation's
# editors choose can never be held by a dataset of another organisation.
SLUG_MAX = 100
NAMESPACE_SEPARATOR = "--"


def namespace_prefix(organisation_slug: str) -> str:
    return f"{organisation_slug}{NAMESPACE_SEPARATOR}"


def check_namespace(organisation: Organisation, slug: str) -> None:
    """A dataset slug with "--" must start with its own organisation's namespace."""
    owner, separator, _rest = slug.partition(NAMESPACE_SEPARATOR)
    if separator and owner != organisation.slug:
        raise CatalogueError(
            f"l'identifiant « {slug[:120]} » est dans l'espace de l'organisation "
            f"« {owner[:100]} » : un jeu de « {organisation.slug} » commence par "
            f"« {namespace_prefix(organisation.slug)} » ou n'a pas de « -- »"
        )


def check_organisation_slug(slug: str) -> str:
    """`check_slug`, without "--" (it separates an organisation's dataset namespace)."""
    check_slug(slug)
    if NAMESPACE_SEPARATOR in slug:
        raise CatalogueError(
            f"identifiant d'organisation invalide « {slug[:120]} » : pas de « -- »"
        )
    return slug


# --- organisations ---------------------------------------------------------------------


def create_organisation(
    session: Session, slug: str, name: str, kind: str | OrganisationKind, **fields: Any
) -> Organisation:
    check_organisation_slug(slug)
    try:
        kind = OrganisationKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in OrganisationKind)
        raise CatalogueError(
            f"type d'organisation inconnu « {kind} » (attendu : {allowed})"
        ) from None
    if "website" in fields:
        fields["website"] = organisation_website(fields["website"])
    if session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        raise CatalogueError(f"l'organisation « {slug} » existe déjà")
    org = Organisation(slug=slug, name=name, kind=kind, **fields)
    session.add(org)
    session.flush()
    return org


def organisation_website(value: str | None) -> str | None:
    """The website to store (None when empty), by the platform's one link rule (S22)."""
    try:
        return links.optional_link(value, WEBSITE_MAX)
    except links.LinkError as exc:
        raise CatalogueError(str(exc)) from None


def get_organisation(session: Session, slug: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if org is None:
        raise NotFoundError(f"organisation inconnue : « {slug} »")
    return org


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.name)).all()


# --- datasets --------------------------------------------------------------------------


def dataset_query(viewer: Viewer):  # noqa: ANN201 - a Select of Dataset
    return select(Dataset).where(visible_datasets(viewer))


def list_datasets(
    session: Session,
    viewer: Viewer,
    organisation: Organisation | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Dataset]:
    query = (
        dataset_query(viewer)
        .options(selectinload(Dataset.organisation), selectinload(Dataset.layers))
        .order_by(Dataset.title, Dataset.id)
        .offset(offset)
    )
    if organisation is not None:
        query = query.where(Dataset.organisation_id == organisation.id)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()


def count_datasets(session: Session, viewer: Viewer, spatial: bool | None = None) -> int:
    query = select(func.count()).select_from(Dataset).where(visible_datasets(viewer))
    if spatial is not None:
        query = query.where(Dataset.is_spatial == spatial)
    return session.scalar(query) or 0


def search_datasets(
    session: Session,
    viewer: Viewer,
    query: str | None = None,
    organisation: Organisation | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[Sequence[Dataset], int]:
    """One page of the datasets `viewer` may see matching `query`, and their total count.

    Matching is accent- and case-insensitive over title, description, themes, keywords
    and organisation name (see `niaouli.catalogue.search.text`). A place of the gazetteer in
    the query also finds the datasets whose extent meets it, as on the portal (`finder`).
    """
    from niaouli.catalogue import gazetteer  # shapely and the layers' SQL: when searched

    condition = and_(visible_datasets(viewer), search.matches(query))
    named = gazetteer.find_for(session, viewer, query) if query else None
    if named is not None:
        rest = search.matches(named.rest_words)
        meeting = gazetteer.datasets_meeting(session, viewer, named.place)
        by_place = and_(rest, Dataset.id.in_(meeting))
        if named.rest_words:  # a table without extent may hold the place's rows
            by_place = or_(by_place, and_(rest, Dataset.spatial_coverage.is_(None)))
        condition = and_(visible_datasets(viewer), or_(search.matches(query), by_place))
    if organisation is not None:
        condition = and_(condition, Dataset.organisation_id == organisation.id)
    total = session.scalar(select(func.count()).select_from(Dataset).where(condition)) or 0
    items = session.scalars(
        select(Dataset)
        .where(condition)
        .options(selectinload(Dataset.organisation), selectinload(Dataset.layers))
        .order_by(Dataset.title, Dataset.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return items, total


def recent_datasets(session: Session, viewer: Viewer, limit: int = 5) -> Sequence[Dataset]:
    """The datasets `viewer` may see, most recently updated first."""
    return session.scalars(
        dataset_query(viewer)
        .options(selectinload(Dataset.organisation), selectinload(Dataset.layers))
        .order_by(Dataset.updated_at.desc(), Dataset.id.desc())
        .limit(limit)
    ).all()


def count_layers(session: Session, viewer: Viewer) -> tuple[int, int]:
    """(spatial layers, features in them) among the datasets `viewer` may see."""
    row = session.execute(
        select(func.count(Layer.id), func.coalesce(func.sum(Layer.feature_count), 0))
        .join(Dataset, Dataset.id == Layer.dataset_id)
        .where(visible_datasets(viewer), Layer.geometry_type.is_not(None))
    ).one()
    return int(row[0]), int(row[1])


def organisations_with_counts(session: Session, viewer: Viewer) -> list[tuple[Organisation, int]]:
    """Every organisation with the number of its datasets that `viewer` may see."""
    visible = (
        select(Dataset.organisation_id, func.count(Dataset.id).label("n"))
        .where(visible_datasets(viewer))
        .group_by(Dataset.organisation_id)
        .subquery()
    )
    rows = session.execute(
        select(Organisation, func.coalesce(visible.c.n, 0))
        .outerjoin(visible, visible.c.organisation_id == Organisation.id)
        .order_by(Organisation.name)
    ).all()
    return [(org, int(n)) for org, n in rows]


def get_dataset(session: Session, slug: str, viewer: Viewer) -> Dataset:
    """The dataset, or `NotFoundError` — also when it exists but `viewer` may not see it."""
    dataset = session.scalar(dataset_query(viewer).where(Dataset.slug == slug))
    if dataset is None:
        raise NotFoundError(f"jeu de données introuvable : « {slug} »")
    return dataset


def find_dataset(session: Session, slug: str) -> Dataset | None:
    """Internal lookup ignoring access (ingestion, CLI)."""
    return session.scalar(select(Dataset).where(Dataset.slug == slug))


# The dataset columns a caller sets (create, update, harvest), in the table's order: the
# one list of them; the CSW's `DatasetView` reads these and a few more (`services/csw/view.py`).
DATASET_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "themes",
    "keywords",
    "licence",
    "producer",
    "contact_name",
    "contact_email",
    "update_frequency",
    "temporal_start",
    "temporal_end",
    "lineage",
    "provenance",
    "access_level",
    "original_metadata",
)


def create_dataset(
    session: Session,
    organisation: Organisation,
    slug: str,
    title: str,
    *,
    flush: bool = True,
    **fields: Any,
) -> Dataset:
    """A new dataset, added to `session` (and flushed).

    `flush=False`: the caller has just checked that `slug` is free and flushes later,
    many datasets at once (a harvest writes a page of records in one flush)."""
    check_dataset_slug(slug)
    check_namespace(organisation, slug)
    unknown = set(fields).difference(DATASET_FIELDS)
    if unknown:
        raise CatalogueError(f"champs inconnus : {', '.join(sorted(unknown))}")
    if flush and find_dataset(session, slug) is not None:
        raise CatalogueError(f"le jeu de données « {slug} » existe déjà")
    access = AccessLevel(fields.pop("access_level", AccessLevel.PUBLIC))
    # Written at the insertion, so the search text's hook need not rewrite the row.
    text = search.search_text(
        title,
        fields.get("description"),
        fields.get("themes"),
        fields.get("keywords"),
        organisation.name,
    )
    dataset = Dataset(
        slug=slug,
        title=title,
        organisation=organisation,
        access_level=access,
        search_text=text,
        **fields,
    )
    if access != AccessLevel.DRAFT:
        dataset.published_at = utcnow()
    session.add(dataset)
    if flush:
        session.flush()
    return dataset


def update_dataset(session: Session, dataset: Dataset, **fields: Any) -> Dataset:
    unknown = set(fields).difference(DATASET_FIELDS)
    if unknown:
        raise CatalogueError(f"champs inconnus : {', '.join(sorted(unknown))}")
    if "access_level" in fields:
        fields["access_level"] = AccessLevel(fields["access_level"])
        if fields["access_level"] != AccessLevel.DRAFT and dataset.published_at is None:
            dataset.published_at = utcnow()
    for name, value in fields.items():
        setattr(dataset, name, value)
    dataset.updated_at = utcnow()
    session.flush()
    return dataset


def list_layers(session: Session, viewer: Viewer, *options: Any) -> Sequence[Layer]:
    """Layers of the datasets `viewer` may see (what OGC API will publish); `options`:
    more loader options (e.g. columns not wanted)."""
    query = (
        select(Layer)
        .join(Dataset)
        .where(visible_datasets(viewer))
        .options(selectinload(Layer.dataset), *options)
        .order_by(Layer.collection_id)
    )
    return session.scalars(query).all()


# --- code projects, reuses, events -----------------------------------------------------


def create_code_project(
    session: Session, organisation: Organisation, slug: str, name: str, **fields: Any
) -> CodeProject:
    check_slug(slug)
    project = CodeProject(slug=slug, name=name, organisation=organisation, **fields)
    session.add(project)
    session.flush()
    return project


def list_code_projects(session: Session) -> Sequence[CodeProject]:
    return session.scalars(select(CodeProject).order_by(CodeProject.name)).all()


def _visible(session: Session, datasets: Iterable[Dataset], viewer: Viewer) -> list[Dataset]:
    ids = [d.id for d in datasets]
    if not ids:
        return []
    return list(session.scalars(dataset_query(viewer).where(Dataset.id.in_(ids))).all())


def create_reuse(
    session: Session,
    slug: str,
    title: str,
    kind: str | ReuseKind,
    datasets: Iterable[Dataset] = (),
    **fields: Any,
) -> Reuse:
    check_slug(slug)
    reuse = Reuse(slug=slug, title=title, kind=ReuseKind(kind), datasets=list(datasets), **fields)
    session.add(reuse)
    session.flush()
    return reuse


def reuse_datasets(session: Session, reuse: Reuse, viewer: Viewer) -> list[Dataset]:
    """The datasets a reuse links to, as far as `viewer` may see them."""
    return _visible(session, reuse.datasets, viewer)


def list_reuses(session: Session) -> Sequence[Reuse]:
    return session.scalars(select(Reuse).order_by(Reuse.title)).all()


def create_event(
    session: Session,
    slug: str,
    title: str,
    kind: str | EventKind,
    starts_at: datetime,
    datasets: Iterable[Dataset] = (),
    **fields: Any,
) -> Event:
    check_slug(slug)
    if fields.get("ends_at") is not None:
        fields["ends_at"] = as_utc(fields["ends_at"])
        if fields["ends_at"] < as_utc(starts_at):
            raise CatalogueError("l'événement finit avant de commencer")
    event = Event(
        slug=slug,
        title=title,
        kind=EventKind(kind),
        starts_at=as_utc(starts_at),
        datasets=list(datasets),
        **fields,
    )
    session.add(event)
    session.flush()
    return event


def event_datasets(session: Session, event: Event, viewer: Viewer) -> list[Dataset]:
    return _visible(session, event.datasets, viewer)


def list_events(session: Session) -> Sequence[Event]:
    return session.scalars(select(Event).order_by(Event.starts_at)).all()
