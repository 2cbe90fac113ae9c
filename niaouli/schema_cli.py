"""`niaouli schema ...`: Table Schemas from the command line, the same core operations as
the portal and the API (niaouli.tableschema, docs/schemas.md).

    niaouli schema examples
    niaouli schema attach SLUG (FILE.json | --example NAME)
    niaouli schema show SLUG [--json]
    niaouli schema detach SLUG
    niaouli schema policy ORGANISATION refuse|publish
    niaouli schema validate FILE (SCHEMA.json | --example NAME) [--json]   (nothing written)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.accounts import audit
from niaouli.catalogue import editing, service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import SCHEMA_POLICIES, Dataset
from niaouli.db.engine import get_engine, writing
from niaouli.errors import NiaouliError
from niaouli.settings import load_settings
from niaouli.tableschema import examples, reports, validate
from niaouli.tableschema.schema_tables import ValidationRecord

SHOWN_ERRORS = 20


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def echo_reports(found: list[dict[str, Any]], *, err: bool = False) -> None:
    """Each table's summary and its first errors by row and column."""
    for report in found:
        colour = "green" if report["valid"] else "yellow"
        click.secho(f"schéma : {report['summary']}", fg=colour, err=err)
        for error in report["errors"][:SHOWN_ERRORS]:
            row = error["row"] if error["row"] is not None else "—"
            click.echo(
                f"  ligne {row}\tcolonne {error['column'] or '—'}\t{error['message']}", err=err
            )
        if len(report["errors"]) > SHOWN_ERRORS or report["error_count"] > len(report["errors"]):
            click.echo(f"  … {report['error_count']} erreur(s) en tout", err=err)


def _in_transaction(slug: str, work: Callable[[Session, Dataset], Any]) -> Any:  # noqa: ANN401
    engine = get_engine(load_settings())
    try:
        with Session(writing(engine)) as session, session.begin():
            dataset = service.find_dataset(session, slug)
            if dataset is None:
                raise service.NotFoundError(f"jeu de données introuvable : « {slug} »")
            return work(session, dataset)
    except NiaouliError as exc:
        _fail(str(exc))


def _status(session: Session, dataset: Dataset) -> dict[str, Any]:
    link = reports.attached(session, dataset.id)
    kept = session.scalars(
        select(ValidationRecord)
        .where(ValidationRecord.dataset_id == dataset.id)
        .order_by(ValidationRecord.id.desc())
        .limit(5)
    ).all()
    return {
        "schema": None
        if link is None
        else {"title": link.title, "source": link.source, "descriptor": link.descriptor},
        "policy": dataset.organisation.schema_policy,
        "reports": [reports.record_view(r) for r in kept],
    }


def _print(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        return
    if status["schema"] is None:
        click.echo("aucun schéma joint")
    else:
        click.echo(f"schéma : {status['schema']['title']} ({status['schema']['source']})")
    click.echo(f"fichier non conforme : {status['policy']}")
    echo_reports(status["reports"][:1])


@click.group(help="Schémas de données (Table Schema) : validation des fichiers envoyés.")
def schema() -> None:
    pass


@schema.command("examples", help="Liste les schémas d'exemple livrés.")
def list_examples() -> None:
    for name, descriptor in examples.examples().items():
        click.echo(f"{name}\t{descriptor.get('title', '')}")


@schema.command("attach", help="Joint un schéma (fichier JSON ou --example) à un jeu.")
@click.argument("slug")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--example", "example_name", help="Nom d'un schéma d'exemple.")
def attach(slug: str, file: Path | None, example_name: str | None) -> None:
    if (file is None) == (example_name is None):
        _fail("donnez un fichier JSON ou --example NOM")
    text = None
    if file is not None:
        if file.stat().st_size > validate.MAX_SCHEMA:
            _fail("schéma trop grand (plus de 256 Kio)")
        text = file.read_text(encoding="utf-8")

    def work(session: Session, dataset: Dataset) -> dict[str, Any]:
        reports.attach(
            session,
            Viewer.system(),
            audit.COMMAND_LINE,
            dataset,
            descriptor=text,
            example_name=example_name,
        )
        return _status(session, dataset)

    _print(_in_transaction(slug, work), False)


@schema.command("show", help="Schéma joint, choix de l'organisation, dernier rapport.")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON.")
def show(slug: str, as_json: bool) -> None:
    _print(_in_transaction(slug, _status), as_json)


@schema.command("detach", help="Retire le schéma d'un jeu (les rapports restent).")
@click.argument("slug")
def detach(slug: str) -> None:
    def work(session: Session, dataset: Dataset) -> bool:
        return reports.detach(session, Viewer.system(), audit.COMMAND_LINE, dataset)

    removed = _in_transaction(slug, work)
    click.echo("schéma retiré" if removed else "aucun schéma joint")


@schema.command("policy", help="Fichier non conforme : refusé, ou publié avec son rapport.")
@click.argument("organisation")
@click.argument("policy", type=click.Choice(SCHEMA_POLICIES))
def policy(organisation: str, policy: str) -> None:
    engine = get_engine(load_settings())
    try:
        with Session(writing(engine)) as session, session.begin():
            org = service.get_organisation(session, organisation)
            editing.update_organisation(
                session, Viewer.system(), audit.COMMAND_LINE, org, schema_policy=policy
            )
    except NiaouliError as exc:
        _fail(str(exc))
    click.echo(f"{organisation} : fichier non conforme → {policy}")


@schema.command("validate", help="Valide un fichier CSV sans rien écrire.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("schema_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--example", "example_name", help="Nom d'un schéma d'exemple.")
@click.option("--json", "as_json", is_flag=True, help="Rapport en JSON.")
def validate_command(
    file: Path, schema_file: Path | None, example_name: str | None, as_json: bool
) -> None:
    try:
        if example_name:
            descriptor = examples.example(example_name)
            if descriptor is None:
                _fail(f"schéma d'exemple inconnu : « {example_name} »")
        elif schema_file is not None:
            descriptor = schema_file.read_text(encoding="utf-8")
        else:
            _fail("donnez un schéma JSON ou --example NOM")
        checked = validate.check_schema(descriptor)
    except (NiaouliError, OSError) as exc:
        _fail(str(exc))
    title = str(checked.get("title") or checked.get("name") or "")
    report = validate.validate_file(file.resolve(), checked, title=title).as_dict()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        echo_reports([report])
    sys.exit(0 if report["valid"] else 1)


def register(main: click.Group) -> None:
    main.add_command(schema)
