"""`niaouli harvest add|edit|list|remove|run|show|types|worker` (registered by `niaouli.cli`)."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy.orm import Session

from niaouli.catalogue import service as catalogue
from niaouli.db.engine import get_engine, writing
from niaouli.ingest.harvest.harvest_tables import ItemAction

ACTION_LABELS = {
    ItemAction.CREATED: "créé",
    ItemAction.UPDATED: "mis à jour",
    ItemAction.UNCHANGED: "inchangé",
    ItemAction.DELETED: "supprimé",
    ItemAction.FAILED: "échec",
}


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"option invalide « {pair} » (attendu : clé=valeur)")
        options[key.strip()] = value.strip()
    return options


@click.group("harvest", help="Moissonnage de catalogues distants (CSW, DCAT, OAI-PMH...).")
def harvest() -> None:
    pass


@harvest.command("add", help="Enregistre une source de moissonnage pour une organisation.")
@click.argument("organisation")
@click.argument("kind", metavar="TYPE")
@click.argument("url")
@click.option("--slug", help="Identifiant de la source (déduit sinon).")
@click.option("--name", help="Nom affiché de la source.")
@click.option("--schedule", type=click.Choice(["hourly", "daily", "weekly"]))
@click.option(
    "--allow-private-network",
    is_flag=True,
    help="Autorise les adresses privées ou locales (réseau interne de l'administration).",
)
@click.option("--option", "pairs", multiple=True, help="Option du type, clé=valeur.")
def harvest_add(
    organisation: str,
    kind: str,
    url: str,
    slug: str | None,
    name: str | None,
    schedule: str | None,
    allow_private_network: bool,
    pairs: tuple[str, ...],
) -> None:
    from niaouli.ingest.harvest.base import HarvestError
    from niaouli.ingest.harvest.service import add_source

    try:
        with Session(writing(get_engine())) as session, session.begin():
            source = add_source(
                session,
                organisation,
                kind,
                url,
                slug=slug,
                name=name,
                schedule=schedule,
                allow_private_network=allow_private_network,
                options=_options(pairs),
            )
            created = source.slug
    except (catalogue.CatalogueError, HarvestError) as exc:
        _fail(str(exc))
    click.echo(f"source créée : {created}")


@harvest.command("types", help="Liste les types de sources et leurs options.")
def harvest_types() -> None:
    from niaouli.ingest.harvest import registry

    for kind in registry.types():
        cls = registry.harvester_class(kind)
        click.echo(kind)
        for key, text in cls.options.items():
            click.echo(f"  {key} : {text}")


@harvest.command("list", help="Liste les sources et leur dernière moisson.")
def harvest_list() -> None:
    from niaouli.ingest.harvest.service import jobs, list_sources

    with Session(get_engine()) as session:
        for source in list_sources(session):
            last = jobs(session, source, limit=1)
            state = "jamais"
            if last:
                state = f"{last[0].status.value} le {last[0].started_at:%Y-%m-%d %H:%M}"
            click.echo(
                f"{source.slug}\t{source.type}\t{source.organisation.slug}\t"
                f"{source.schedule or '-'}\t{state}\t{source.url}"
            )


@harvest.command("run", help="Moissonne une source (--dry-run : rapport sans rien écrire).")
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Simulation : rapport et différences, rien d'écrit.")
@click.option("--force", is_flag=True, help="Réécrit aussi les fiches inchangées.")
@click.option("--progress", type=click.Choice(["auto", "bar", "none"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Rapport complet en JSON.")
def harvest_run(slug: str, dry_run: bool, force: bool, progress: str, as_json: bool) -> None:
    from tqdm import tqdm

    from niaouli.ingest.harvest.base import HarvestError
    from niaouli.ingest.harvest.runner import run_source

    show_bar = progress == "bar" or (progress == "auto" and sys.stderr.isatty())
    bar = tqdm(desc=slug, unit=" fiche", disable=not show_bar, file=sys.stderr)

    def on_item(_item, total):  # noqa: ANN001, ANN202
        if total and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(1)

    if not dry_run:
        from niaouli.ingest.harvest.launch import resolve_abandoned
        from niaouli.settings import load_settings

        # A run this machine's killed process left `running` (embedded database) is
        # resolved first: it is resumed rather than blocking the source for hours.
        resolve_abandoned(load_settings())
    try:
        report = run_source(slug, dry_run=dry_run, force=force, on_item=on_item)
    except (catalogue.CatalogueError, HarvestError) as exc:
        _fail(str(exc))
    finally:
        bar.close()
    if as_json:
        payload = {
            "source": report.source,
            "job": report.job_id,
            "dry_run": report.dry_run,
            "status": report.status.value,
            "message": report.message,
            "resumed_from": report.resumed_from,
            "counts": report.counts,
            "items": [
                {
                    "remote_id": i.remote_id,
                    "action": i.action.value,
                    "reason": i.reason,
                    "target": i.target,
                    "diff": i.diff,
                }
                for i in report.items
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    else:
        for item in report.items:
            if item.action in (ItemAction.UNCHANGED,):
                continue
            line = f"  {ACTION_LABELS[item.action]} : {item.remote_id}"
            if item.target:
                line += f" → {item.target}"
            if item.reason:
                line += f" ({item.reason})"
            click.echo(line)
            if dry_run and item.diff:
                for key, value in item.diff.items():
                    shown = json.dumps(value, ensure_ascii=False, default=str)
                    click.echo(f"      {key} : {shown}")
        click.echo(report.summary())
    if report.status.value == "failed":
        sys.exit(2)


@harvest.command("show", help="Affiche une source et l'historique de ses moissons.")
@click.argument("slug")
@click.option("--limit", default=20, show_default=True)
def harvest_show(slug: str, limit: int) -> None:
    from niaouli.ingest.harvest.service import get_source, jobs

    with Session(get_engine()) as session:
        try:
            source = get_source(session, slug)
        except catalogue.NotFoundError as exc:
            _fail(str(exc))
        click.echo(f"{source.slug} — {source.name}")
        click.echo(f"  type : {source.type}   organisation : {source.organisation.slug}")
        click.echo(f"  adresse : {source.url}")
        click.echo(f"  calendrier : {source.schedule or 'manuel'}")
        click.echo(f"  réseau privé autorisé : {'oui' if source.allow_private_network else 'non'}")
        if source.options:
            click.echo(f"  options : {json.dumps(source.options, ensure_ascii=False)}")
        history = jobs(session, source, limit=limit)
        click.echo(f"moissons ({len(history)}) :")
        for job in history:
            click.echo(
                f"  n° {job.id} {job.started_at:%Y-%m-%d %H:%M:%S} {job.status.value} : "
                f"{job.created} créé(s), {job.updated} mis à jour, {job.unchanged} inchangé(s), "
                f"{job.deleted} supprimé(s), {job.failed} en échec"
                + (f" — {job.message}" if job.message else "")
            )
            for item in job.items:
                if item.action == ItemAction.FAILED:
                    click.echo(f"      échec {item.remote_id} : {item.reason}")


@harvest.command("edit", help="Modifie le nom, le calendrier ou les options d'une source.")
@click.argument("slug")
@click.option("--name", help="Nouveau nom affiché.")
@click.option(
    "--schedule",
    type=click.Choice(["hourly", "daily", "weekly", "manual"]),
    help="Calendrier (manual : à la main seulement).",
)
@click.option("--option", "pairs", multiple=True, help="Option du type, clé=valeur (clé= l'ôte).")
def harvest_edit(slug: str, name: str | None, schedule: str | None, pairs: tuple[str, ...]) -> None:
    from niaouli.ingest.harvest.base import HarvestError
    from niaouli.ingest.harvest.service import edit_source

    if name is None and schedule is None and not pairs:
        _fail("rien à modifier (--name, --schedule ou --option)")
    try:
        with Session(writing(get_engine())) as session, session.begin():
            edit_source(session, slug, name=name, schedule=schedule, options=_options(pairs))
    except (catalogue.CatalogueError, HarvestError) as exc:
        _fail(str(exc))
    click.echo(f"source modifiée : {slug}")


@harvest.command(
    "remove", help="Supprime une source, son historique et les jeux de données moissonnés."
)
@click.argument("slug")
@click.option(
    "--keep-datasets", is_flag=True, help="Garde les jeux de données et projets moissonnés."
)
def harvest_remove(slug: str, keep_datasets: bool) -> None:
    from niaouli.ingest.harvest.service import remove_source
    from niaouli.settings import load_settings

    settings = load_settings()
    try:
        deleted = remove_source(get_engine(settings), settings, slug, keep_datasets)
    except catalogue.CatalogueError as exc:
        _fail(str(exc))
    for target in deleted:
        click.echo(f"  supprimé : {target}")
    kept = (
        " (jeux de données gardés)" if keep_datasets else f" ({len(deleted)} fiche(s) supprimée(s))"
    )
    click.echo(f"source supprimée : {slug}{kept}")


@harvest.command("worker", help="Moissonne les sources dont le calendrier est échu, en boucle.")
@click.option("--once", is_flag=True, help="Un seul passage, puis s'arrête.")
@click.option("--tick", default=60.0, show_default=True, help="Secondes entre deux passages.")
def harvest_worker(once: bool, tick: float) -> None:
    import time

    from niaouli.ingest.harvest.scheduler import run_due
    from niaouli.settings import load_settings

    settings = load_settings()
    engine = get_engine(settings)
    while True:
        run_due(engine, settings, echo=click.echo)
        if once:
            return
        time.sleep(tick)
