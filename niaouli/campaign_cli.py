"""`niaouli campaign ...`: cartoparty campaigns from the command line (docs/campaigns.md).

The command line acts as the platform (`Viewer.system()`); every command is
all-or-nothing: a bad value fails with the core's French message and changes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import campaigns
from niaouli.db.engine import get_engine, writing
from niaouli.errors import NiaouliError
from niaouli.settings import load_settings

SYSTEM = Viewer.system()


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def _json_file(path: str | None, what: str) -> Any:  # noqa: ANN401
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"{what} illisible ({path}) : {exc}")
        return None


def _fields(options: dict[str, Any]) -> dict[str, Any]:
    """The core's fields from the options given (None: not given)."""
    fields: dict[str, Any] = {}
    simple = ("title", "description", "event", "dataset", "layer", "geometry_type", "starts")
    for name in (*simple, "ends", "licence", "duplicate_distance_m", "allow_edits"):
        if options.get(name) is not None:
            fields[name] = options[name]
    if options.get("schema") is not None:
        fields["attribute_schema"] = _json_file(options["schema"], "schéma")
    if options.get("area") is not None:
        fields["area"] = _json_file(options["area"], "zone")
        fields["area_source"] = Path(options["area"]).name
    if options.get("place") is not None:
        fields["area_place"] = options["place"]
    return fields


def _options(command: Any) -> Any:  # noqa: ANN401 - a click command
    for option in reversed(
        [
            click.option("--title", help="Titre de la campagne."),
            click.option("--description"),
            click.option("--event", help="Cartopartie liée (identifiant de l'événement)."),
            click.option("--dataset", help="Jeu de données cible (de l'organisation)."),
            click.option("--layer", help="Couche cible (une nouvelle si le jeu ne l'a pas)."),
            click.option(
                "--geometry-type",
                "geometry_type",
                type=click.Choice(campaigns.GEOMETRY_TYPES),
            ),
            click.option("--schema", type=click.Path(exists=True), help="Champs (JSON)."),
            click.option("--area", type=click.Path(exists=True), help="Zone (GeoJSON)."),
            click.option("--place", help="Zone : un lieu du répertoire (une commune...)."),
            click.option("--starts", help="Début : AAAA-MM-JJ HH:MM (heure de Nouméa)."),
            click.option("--ends", help="Fin : AAAA-MM-JJ HH:MM (heure de Nouméa)."),
            click.option("--licence", type=click.Choice(sorted(campaigns.LICENCES))),
            click.option(
                "--allow-edits/--no-edits",
                "allow_edits",
                default=None,
                help="Les volontaires peuvent aussi corriger ou retirer des objets.",
            ),
            click.option(
                "--duplicate-distance",
                "duplicate_distance_m",
                type=click.FloatRange(0, 1000),
                help="Distance des doublons possibles (mètres).",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group(help="Campagnes de cartopartie (docs/campaigns.md).")
def campaign() -> None:
    pass


@campaign.command("create", help="Crée une campagne (en brouillon) d'une organisation.")
@click.argument("slug")
@click.option("--org", "organisation", required=True, help="Organisation (identifiant).")
@click.option("--new-dataset", "new_dataset", help="Titre d'un nouveau jeu (brouillon) à créer.")
@_options
def campaign_create(slug: str, organisation: str, new_dataset: str | None, **options: Any) -> None:
    try:
        with Session(writing(get_engine(load_settings()))) as session, session.begin():
            fields = _fields(options)
            if new_dataset:
                fields["new_dataset"] = new_dataset
            made = campaigns.create_campaign(
                session, SYSTEM, organisation=organisation, slug=slug, **fields
            )
            collection = made.collection_id
    except NiaouliError as exc:
        _fail(str(exc))
    click.echo(f"campagne créée : {slug} (collection OGC API : {collection})")


@campaign.command("update", help="Modifie une campagne.")
@click.argument("slug")
@_options
def campaign_update(slug: str, **options: Any) -> None:
    try:
        with Session(writing(get_engine(load_settings()))) as session, session.begin():
            found = campaigns.get_campaign(session, slug, SYSTEM)
            campaigns.update_campaign(session, SYSTEM, found, **_fields(options))
    except NiaouliError as exc:
        _fail(str(exc))
    click.echo(f"campagne modifiée : {slug}")


@campaign.command("open", help="Ouvre une campagne aux contributions.")
@click.argument("slug")
def campaign_open(slug: str) -> None:
    _set_state(slug, campaigns.open_campaign, "ouverte")


@campaign.command("close", help="Clôt une campagne (la revue continue).")
@click.argument("slug")
def campaign_close(slug: str) -> None:
    _set_state(slug, campaigns.close_campaign, "close")


def _set_state(slug: str, change: Any, word: str) -> None:  # noqa: ANN401
    try:
        with Session(writing(get_engine(load_settings()))) as session, session.begin():
            change(session, SYSTEM, campaigns.get_campaign(session, slug, SYSTEM))
    except NiaouliError as exc:
        _fail(str(exc))
    click.echo(f"campagne {word} : {slug}")


@campaign.command("list", help="Liste les campagnes.")
def campaign_list() -> None:
    with Session(get_engine(load_settings())) as session:
        for found in campaigns.list_campaigns(session, SYSTEM):
            click.echo(f"{found.slug}\t{found.state}\t{found.organisation.slug}\t{found.title}")


def register(main: click.Group) -> None:
    main.add_command(campaign)
