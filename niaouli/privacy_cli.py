"""`niaouli privacy ...` and `niaouli dataset publish`: the personal-data guard from the
command line, the same core operations as the portal and the API (niaouli.privacy).

    niaouli privacy scan SLUG [--json]
    niaouli privacy anonymise SLUG LAYER COLUMN... --action drop|hash|generalise
    niaouli privacy confirm SLUG LAYER COLUMN... --reason "..."
    niaouli dataset publish SLUG [--access public|registered|organisation]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset
from niaouli.db.engine import get_engine, writing
from niaouli.errors import NiaouliError
from niaouli.privacy import actions, guard
from niaouli.settings import load_settings


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def _in_transaction(slug: str, work: Callable[[Session, Dataset], Any]) -> Any:  # noqa: ANN401
    """`work(session, dataset)` in one writing transaction; a refusal ends the command."""
    engine = get_engine(load_settings())
    try:
        with Session(writing(engine)) as session, session.begin():
            dataset = service.find_dataset(session, slug)
            if dataset is None:
                raise service.NotFoundError(f"jeu de données introuvable : « {slug} »")
            return work(session, dataset)
    except NiaouliError as exc:
        _fail(str(exc))


def _summary(session: Session, dataset: Dataset) -> dict[str, Any]:
    """The dataset's findings now, as plain data (read inside the transaction)."""
    found = guard.status(session, dataset)
    return {
        "open": guard.as_dicts(found.open),
        "confirmed": guard.as_dicts(found.confirmed),
        "held": found.review.held,
        "method": found.review.method,
    }


def _print(found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found["open"] and not found["confirmed"]:
        click.echo("aucune donnée personnelle trouvée")
    for f in found["open"]:
        click.echo(f"à traiter\t{f['layer']}\t{f['column']}\t{f['kind_label']}\t{f['share']:.0%}")
    for f in found["confirmed"]:
        click.echo(f"confirmée\t{f['layer']}\t{f['column']}\t{f['kind_label']}")
    click.echo(f"(noms dans le texte libre : {found['method']})")


@click.group(help="Données personnelles : contrôle avant publication, anonymisation.")
def privacy() -> None:
    pass


@privacy.command("scan", help="Cherche des données personnelles dans les couches d'un jeu.")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON.")
def scan(slug: str, as_json: bool) -> None:
    _print(_in_transaction(slug, _summary), as_json)


@privacy.command("anonymise", help="Supprime, hache ou généralise des colonnes d'une couche.")
@click.argument("slug")
@click.argument("layer")
@click.argument("columns", nargs=-1, required=True)
@click.option("--action", type=click.Choice(actions.ACTIONS), required=True)
def anonymise(slug: str, layer: str, columns: tuple[str, ...], action: str) -> None:
    def work(session: Session, dataset: Dataset) -> dict[str, Any]:
        for column in columns:  # all or nothing: one transaction
            actions.anonymise(
                session, Viewer.system(), audit.COMMAND_LINE, dataset, layer, column, action
            )
        return _summary(session, dataset)

    _print(_in_transaction(slug, work), False)


@privacy.command("confirm", help="Confirme avec un motif que des colonnes peuvent être publiées.")
@click.argument("slug")
@click.argument("layer")
@click.argument("columns", nargs=-1, required=True)
@click.option("--reason", required=True, help="Motif (journal d'audit), 10 caractères au moins.")
def confirm(slug: str, layer: str, columns: tuple[str, ...], reason: str) -> None:
    def work(session: Session, dataset: Dataset) -> dict[str, Any]:
        for column in columns:
            actions.confirm(
                session, Viewer.system(), audit.COMMAND_LINE, dataset, layer, column, reason
            )
        return _summary(session, dataset)

    _print(_in_transaction(slug, work), False)


@click.command("publish", help="Publie un jeu de données (contrôle des données personnelles).")
@click.argument("slug")
@click.option(
    "--access",
    type=click.Choice(["public", "registered", "organisation"]),
    default="public",
    show_default=True,
)
def publish(slug: str, access: str) -> None:
    from niaouli.catalogue import publication

    def work(session: Session, dataset: Dataset) -> None:
        publication.publish(session, dataset, Viewer.system(), access)

    _in_transaction(slug, work)
    click.echo(f"jeu de données publié ({access}) : {slug}")


def register(main: click.Group) -> None:
    main.add_command(privacy)
    dataset = main.commands["dataset"]
    assert isinstance(dataset, click.Group)
    dataset.add_command(publish)
