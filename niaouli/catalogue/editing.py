"""Creating and editing datasets and organisations for a viewer: the operations the API,
the portal and the command line share.

Each function checks the viewer's right, changes the rows and writes the audit row in
the caller's transaction, so the change and its record commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import metadata, service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import SCHEMA_POLICIES, Dataset, Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.errors import (  # noqa: F401 - ConflictError: importers
    CatalogueError,
    ConflictError,
    ForbiddenError,
)
from niaouli.i18n import _

REQUIRED = ("title", "access_level", "licence", "themes", "keywords")


def free_dataset_slug(session: Session, title: str, prefix: str = "") -> str:
    """`prefix` + the title's slug, numbered (`-2`, `-3`...) past the slugs taken."""
    room = service.SLUG_MAX - len(prefix) - 4  # keeps room for "-999"
    base = prefix + service.make_slug(title, max_length=max(1, min(80, room)))
    slug, n = base, 1
    while service.find_dataset(session, slug) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def creation_slug(
    session: Session, viewer: Viewer, org: Organisation, title: str, requested: str | None
) -> str:
    """The slug a new dataset of `org` gets when `viewer` creates it (docs/api.md).

    Slugs are unique over the whole platform, but whether one is free must not tell an
    editor that another organisation's hidden dataset holds it (a slug oracle). So the
    slugs editors choose live in their organisation's namespace, `<organisation>--<name>`,
    where every dataset is one they may see: nothing they cannot see decides what they
    get. Platform admins, who see everything, choose any slug.
    """
    if allowed(viewer, Action.CATALOGUE_READ_ALL):
        return requested or free_dataset_slug(session, title)
    prefix = service.namespace_prefix(org.slug)
    if not requested:
        return free_dataset_slug(session, title, prefix)
    slug = requested if requested.startswith(prefix) else prefix + requested
    if len(slug) > service.SLUG_MAX:
        raise CatalogueError(
            _(
                "identifiant trop long : %(max)s caractères au plus, préfixe de "
                "l'organisation « %(prefix)s » compris"
            )
            % {"max": service.SLUG_MAX, "prefix": prefix}
        )
    return slug


def create_dataset(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    organisation: str,
    title: str,
    slug: str | None = None,
    **fields: Any,
) -> Dataset:
    """A new dataset of `organisation` (draft unless `access_level` says otherwise)."""
    # Creations in one organisation take turns (PostgreSQL: FOR NO KEY UPDATE, which
    # does not hold back the organisation's other writes; SQLite's writing transactions
    # already do): the slug found free is still free at the insert.
    org = session.scalar(
        select(Organisation)
        .where(Organisation.slug == organisation)
        .with_for_update(key_share=True)
    )
    if org is None:
        raise CatalogueError(_("organisation inconnue : « %(slug)s »") % {"slug": organisation})
    if not allowed(viewer, Action.DATASET_CREATE, org):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation y créent des jeux de données"))
    title = " ".join((title or "").split())
    if len(title) < 3:
        raise CatalogueError(_("le titre doit faire au moins 3 caractères"))
    fields.setdefault("access_level", "draft")
    fields = metadata.check(fields)
    for _attempt in range(5):
        chosen = creation_slug(session, viewer, org, title, slug)
        if service.find_dataset(session, chosen) is not None:  # one the viewer sees
            raise ConflictError(_("le jeu de données « %(slug)s » existe déjà") % {"slug": chosen})
        try:
            with session.begin_nested():
                dataset = service.create_dataset(session, org, chosen, title, **dict(fields))
            break
        except (IntegrityError, CatalogueError) as exc:
            # A concurrent creation took it between the look-up and the insert
            # (PostgreSQL; SQLite's writing transactions take turns): a slug asked for is
            # a conflict, one made from the title is allocated again.
            if not isinstance(exc, IntegrityError) and not service.find_dataset(session, chosen):
                raise  # refused for another reason (an invalid slug...)
            if slug:
                raise ConflictError(
                    _("le jeu de données « %(slug)s » existe déjà") % {"slug": chosen}
                ) from None
    else:
        raise ConflictError(_("création concurrente : réessayez"))
    slug = chosen
    if dataset.access_level.value != "draft":
        dataset.published_by_id = viewer.user_id
    audit.record(
        session,
        actor,
        "dataset.create",
        subject=slug,
        organisation_id=org.id,
        access_level=dataset.access_level.value,
    )
    session.flush()
    return dataset


def create_organisation(
    session: Session,
    viewer: Viewer,
    actor: audit.Actor,
    slug: str,
    name: str,
    kind: str,
    **fields: Any,
) -> Organisation:
    """A new organisation (platform admins). A bad website is a CatalogueError, a slug
    taken or refused a ConflictError."""
    if not allowed(viewer, Action.ORGANISATION_CREATE):
        raise ForbiddenError(
            _("seuls les administrateurs de la plateforme créent des organisations")
        )
    if "website" in fields:
        fields["website"] = service.organisation_website(fields["website"])
    try:
        org = service.create_organisation(session, slug, name, kind, **fields)
    except CatalogueError as exc:
        raise ConflictError(str(exc)) from None
    audit.record(session, actor, "organisation.create", subject=org.slug, organisation_id=org.id)
    session.flush()
    return org


ORGANISATION_REQUIRED = ("name", "kind", "description")


def update_organisation(
    session: Session, viewer: Viewer, actor: audit.Actor, org: Organisation, **changes: Any
) -> Organisation:
    """Changes the fields given (the organisation's admins, platform admins)."""
    if not allowed(viewer, Action.ORGANISATION_EDIT, org):
        raise ForbiddenError(_("seuls les administrateurs de l'organisation la modifient"))
    if "website" in changes:
        changes["website"] = service.organisation_website(changes["website"])
    if "schema_policy" in changes and changes["schema_policy"] not in SCHEMA_POLICIES:
        raise CatalogueError(_("choix inconnu pour un fichier non conforme : refuse ou publish"))
    for name, value in changes.items():
        if value is None and name in ORGANISATION_REQUIRED:
            raise CatalogueError(_("« %(field)s » ne peut pas être vide") % {"field": name})
        setattr(org, name, value)
    audit.record(
        session,
        actor,
        "organisation.update",
        subject=org.slug,
        organisation_id=org.id,
        fields=sorted(changes),
    )
    session.flush()
    return org


def update_dataset(
    session: Session, viewer: Viewer, actor: audit.Actor, dataset: Dataset, **changes: Any
) -> Dataset:
    if not allowed(viewer, Action.DATASET_EDIT, dataset):
        raise ForbiddenError(_("seuls les éditeurs de l'organisation modifient ce jeu de données"))
    for name in REQUIRED:
        if name in changes and changes[name] is None:
            raise CatalogueError(_("« %(field)s » ne peut pas être vide") % {"field": name})
    if "title" in changes:
        changes["title"] = " ".join(changes["title"].split())
        if len(changes["title"]) < 3:
            raise CatalogueError(_("le titre doit faire au moins 3 caractères"))
    changes = metadata.check(changes, dataset)
    was_draft = dataset.access_level.value == "draft"
    if "access_level" in changes and str(changes["access_level"]) != dataset.access_level.value:
        from niaouli.privacy.guard import guard

        guard(session, dataset, changes["access_level"])  # personal data: refused
    service.update_dataset(session, dataset, **changes)
    if was_draft and dataset.access_level.value != "draft":
        dataset.published_by_id = viewer.user_id
    audit.record(
        session,
        actor,
        "dataset.update",
        subject=dataset.slug,
        organisation_id=dataset.organisation_id,
        fields=sorted(changes),
    )
    session.flush()
    return dataset
