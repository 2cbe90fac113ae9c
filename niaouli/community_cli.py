"""`niaouli code ...`, `niaouli reuse ...`, `niaouli event ...`, `niaouli call ...`: the
community catalogue.

The command line acts as the platform (like `Viewer.system()`): a reuse added here is
approved at once; reuses proposed on the portal are moderated with `reuse moderate`.
Every command is all-or-nothing: a bad value (unknown dataset, non-http URL, end before
start) fails with a French message and changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from niaouli import localtime
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import calls, events, projects, reuses
from niaouli.catalogue.models import (
    CodeStatus,
    EventKind,
    ReuseKind,
)
from niaouli.db.engine import get_engine, writing
from niaouli.errors import CatalogueError, NotFoundError
from niaouli.settings import load_settings

SYSTEM = Viewer.system()


def _session() -> Session:
    return Session(get_engine(load_settings()))


def _writing_session() -> Session:
    """For units of work that read then write (SQLite waits for the write lock first)."""
    return Session(writing(get_engine(load_settings())))


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def _choices(kind: type) -> click.Choice:
    return click.Choice([str(k) for k in kind])


# --- code ------------------------------------------------------------------------------


@click.group(help="Projets de code (catalogue /code).")
def code() -> None:
    pass


@code.command("add", help="Ajoute un projet de code à une organisation.")
@click.argument("slug")
@click.argument("name")
@click.option("--org", "organisation", required=True, help="Organisation (identifiant).")
@click.option("--repository", help="Adresse du dépôt (http/https).")
@click.option("--licence", help="Licence, identifiant SPDX (ex. MIT, AGPL-3.0-or-later).")
@click.option("--language", "languages", multiple=True, help="Langage (répétable).")
@click.option("--status", type=_choices(CodeStatus), default="stable", show_default=True)
@click.option("--description", default="")
@click.option("--default-branch", help="Branche par défaut (pour l'archive du code).")
@click.option("--dataset", "datasets", multiple=True, help="Jeu de données utilisé (répétable).")
@click.option(
    "--publiccode",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier publiccode.yml du projet.",
)
def code_add(
    slug: str,
    name: str,
    organisation: str,
    repository: str | None,
    licence: str | None,
    languages: tuple[str, ...],
    status: str,
    description: str,
    default_branch: str | None,
    datasets: tuple[str, ...],
    publiccode: Path | None,
) -> None:
    from niaouli.ingest.harvest.sources.forges import read_publiccode

    try:
        with _writing_session() as session, session.begin():
            service.check_slug(slug)
            projects.add_code_project(
                session,
                SYSTEM,
                organisation,
                name,
                repository_url=repository or "",
                licence=licence or "",
                languages=languages,
                status=status,
                description=description,
                default_branch=default_branch or "",
                dataset_slugs=datasets,
                slug=slug,
                publiccode=read_publiccode(publiccode.read_bytes()) if publiccode else None,
            )
    except service.CatalogueError as exc:
        _fail(str(exc))
    click.echo(f"projet de code créé : {slug}")


@code.command("list", help="Liste les projets de code.")
def code_list() -> None:
    with _session() as session:
        for p in projects.code_projects(session):
            click.echo(f"{p.slug}\t{p.name}\t{p.organisation.slug}\t{p.licence or '-'}")


# --- reuses ----------------------------------------------------------------------------


@click.group(help="Réutilisations (catalogue /reutilisations) et leur modération.")
def reuse() -> None:
    pass


@reuse.command("add", help="Ajoute une réutilisation, publiée aussitôt.")
@click.argument("title")
@click.option("--kind", type=_choices(ReuseKind), required=True)
@click.option("--url", required=True, help="Adresse de la réutilisation (http/https).")
@click.option("--description", default="")
@click.option("--dataset", "datasets", multiple=True, required=True, help="Répétable.")
def reuse_add(title: str, kind: str, url: str, description: str, datasets: tuple[str, ...]) -> None:
    try:
        with _writing_session() as session, session.begin():
            item = reuses.submit_reuse(
                session, SYSTEM, title, kind, url, description, datasets, approved=True
            )
            slug = item.slug
    except service.CatalogueError as exc:
        _fail(str(exc))
    click.echo(f"réutilisation publiée : {slug}")


@reuse.command("list", help="Liste les réutilisations (toutes, ou en attente).")
@click.option("--pending", is_flag=True, help="Seulement celles en attente de modération.")
def reuse_list(pending: bool) -> None:
    with _session() as session:
        listed = reuses.pending_reuses(session) if pending else reuses.all_reuses(session)
        for r in listed:
            click.echo(f"{r.slug}\t{r.status}\t{r.title}")


@reuse.command("moderate", help="Approuve ou refuse une réutilisation proposée.")
@click.argument("slug")
@click.argument("decision", type=click.Choice(["approve", "reject"]))
def reuse_moderate(slug: str, decision: str) -> None:
    with _writing_session() as session, session.begin():
        try:
            item = reuses.get_reuse(session, slug, SYSTEM)
        except NotFoundError as exc:
            _fail(str(exc))
        reuses.moderate_reuse(session, SYSTEM, item, decision == "approve")
    click.echo(f"réutilisation {slug} : {'approuvée' if decision == 'approve' else 'refusée'}")


# --- events ----------------------------------------------------------------------------


@click.group(help="Événements (catalogue /evenements, flux iCalendar).")
def event() -> None:
    pass


@event.command("add", help="Ajoute un événement (heures de Nouméa).")
@click.argument("slug")
@click.argument("title")
@click.option("--kind", type=_choices(EventKind), required=True)
@click.option("--starts", required=True, help="Début : AAAA-MM-JJ HH:MM (heure de Nouméa).")
@click.option("--ends", help="Fin : AAAA-MM-JJ HH:MM (heure de Nouméa).")
@click.option("--location", help="Lieu.")
@click.option("--lat", type=click.FloatRange(-90, 90), help="Latitude du lieu (WGS 84).")
@click.option("--lon", type=click.FloatRange(-180, 180), help="Longitude du lieu (WGS 84).")
@click.option("--url", help="Page de l'événement (http/https).")
@click.option("--description", default="")
@click.option("--results", default="", help="Résultats (après l'événement).")
@click.option("--org", "organisation", help="Organisation qui l'organise (identifiant).")
@click.option("--dataset", "datasets", multiple=True, help="Jeu de données lié (répétable).")
def event_add(
    slug: str,
    title: str,
    kind: str,
    starts: str,
    ends: str | None,
    location: str | None,
    lat: float | None,
    lon: float | None,
    url: str | None,
    description: str,
    results: str,
    organisation: str | None,
    datasets: tuple[str, ...],
) -> None:
    try:
        with _writing_session() as session, session.begin():
            service.check_slug(slug)
            events.add_event(
                session,
                SYSTEM,
                organisation,
                title,
                kind,
                starts,
                ends=ends or "",
                location=location or "",
                url=url or "",
                description=description,
                results=results,
                dataset_slugs=datasets,
                latitude=lat,
                longitude=lon,
                slug=slug,
            )
    except service.CatalogueError as exc:
        _fail(str(exc))
    click.echo(f"événement créé : {slug}")


@event.command("participants", help="Enregistre le nombre de participants d'un événement.")
@click.argument("slug")
@click.argument("count", type=click.IntRange(0, 10_000_000))
def event_participants(slug: str, count: int) -> None:
    with _writing_session() as session, session.begin():
        try:
            found = events.get_event(session, slug)
        except NotFoundError:
            _fail(f"aucun événement « {slug[:100]} »")
        found.participants = count
    click.echo(f"{slug} : {count} participant{'s' if count != 1 else ''}")


@event.command("list", help="Liste les événements (heures de Nouméa).")
def event_list() -> None:
    with _session() as session:
        for e in events.list_events(session):
            starts = localtime.local(e.starts_at)
            click.echo(f"{e.slug}\t{starts:%Y-%m-%d %H:%M}\t{e.kind}\t{e.title}")


# --- calls for projects ------------------------------------------------------------------


@click.group("call", help="Appels à projets : candidatures et lauréats (docs/calls.md).")
def call_group() -> None:
    pass


@call_group.command("applications", help="Les candidatures d'un appel, comme le jury les voit.")
@click.argument("event_slug")
def call_applications(event_slug: str) -> None:
    with _session() as session:
        try:
            found = calls.get_call(session, event_slug)
        except NotFoundError as exc:
            _fail(str(exc))
            return
        click.echo(f"{found.event.title} — {calls.phase(found)}")
        for a in calls.visible_applications(session, SYSTEM, found):
            total = calls.total(a)
            mark = "lauréat " if calls.is_public(a) else ""
            shown = "—" if total is None else f"{total:g}"
            click.echo(f"{a.id}\t{mark}{a.project_name}\t{a.lead.display_name}\t{shown}")


@call_group.command("publish", help="Publie les lauréats d'un appel clos (identifiants).")
@click.argument("event_slug")
@click.argument("application_ids", nargs=-1, type=int, required=True)
def call_publish(event_slug: str, application_ids: tuple[int, ...]) -> None:
    try:
        with _writing_session() as session, session.begin():
            found = calls.get_call(session, event_slug)
            chosen = calls.publish_laureates(session, SYSTEM, found, application_ids)
            names = [a.project_name for a in chosen]
    except CatalogueError as exc:
        _fail(str(exc))
        return
    click.echo("lauréats publiés : " + ", ".join(names))


def register(main: click.Group) -> None:
    for group in (code, reuse, event, call_group):
        main.add_command(group)
