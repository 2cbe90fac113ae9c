"""The `niaouli` command line: database, catalogue, ingestion, demo data and server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from niaouli import gdalguard, startup
from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.models import AccessLevel, OrganisationKind
from niaouli.db import schema, trouble
from niaouli.db.engine import get_engine, writing
from niaouli.settings import load_settings


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


# Commands defined in modules of their own, imported only when one of them is run (or
# listed by `--help`): importing them all (shapely, numpy, the gazetteer, pyarrow...) cost
# half a second at the start of every command. Each module's `register(main)` adds its
# commands (to `main`, or to one of its groups: `dataset publish`).
LAZY_COMMANDS = {
    "campaign": "niaouli.campaign_cli",
    "code": "niaouli.community_cli",
    "reuse": "niaouli.community_cli",
    "event": "niaouli.community_cli",
    "call": "niaouli.community_cli",
    "schema": "niaouli.schema_cli",
    "backup": "niaouli.backup_cli",
    "restore": "niaouli.backup_cli",
    "privacy": "niaouli.privacy_cli",
}
LAZY_DATASET_COMMANDS = {"publish": "niaouli.privacy_cli"}


class _LazyGroup(click.Group):
    """A group some of whose commands (`lazy`: name -> module) are loaded when asked for."""

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            import importlib

            importlib.import_module(self.lazy[cmd_name]).register(main)
        return super().get_command(ctx, cmd_name)


class _DatasetCommands(_LazyGroup):
    lazy = LAZY_DATASET_COMMANDS


class _Commands(_LazyGroup):
    """Passing database trouble (SQLite busy past its timeout, PostgreSQL unreachable)
    ends a command with one French sentence instead of a traceback: nothing was written
    (the transaction rolled back) and trying again later is the remedy."""

    lazy = LAZY_COMMANDS

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and _schema_missing():
                _fail(
                    "la base de données n'est pas initialisée : lancez d'abord "
                    "« niaouli db upgrade » (ou « scripts/start »)."
                )
            if not trouble.is_transient(exc):
                raise
            _fail(
                "la base de données est occupée par un autre processus ou injoignable "
                f"({_first_line(exc)}). Rien n'a été écrit ; réessayez dans un instant."
            )


def _schema_missing() -> bool:
    """Whether the database has no schema at all (no migration ever applied), asked only
    after a command failed on it: a traceback about a missing table says nothing useful."""
    try:
        return schema.current_revision(get_engine()) is None
    except Exception:  # noqa: BLE001 - the original error is reported instead
        return False


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def run() -> None:
    """The `niaouli` command: `main`, then a quick exit (`niaouli.quickexit`). An
    unexpected exception propagates as usual (its traceback, the interpreter's exit)."""
    from niaouli.quickexit import leave

    try:
        main.main(prog_name="niaouli")
    except SystemExit as done:  # click's standalone mode always ends with sys.exit
        leave(done.code)
    leave(0)


@click.group(cls=_Commands, help="Niaouli — plateforme de données ouvertes de Nouvelle-Calédonie.")
def main() -> None:
    # GDAL and PROJ never reach the network from this process: guarded when loaded.
    gdalguard.install_on_import()
    startup.install()  # change hooks on the catalogue's sessions (CSW rows, search)


# --- db ------------------------------------------------------------------------------


@main.group(help="Base de données : schéma et nettoyage.")
def db() -> None:
    pass


@db.command("upgrade", help="Crée ou met à jour le schéma (sans effet s'il est à jour).")
def db_upgrade() -> None:
    settings = load_settings()
    engine = get_engine(settings)
    schema.upgrade(engine)
    click.echo(
        f"schéma à jour (révision {schema.current_revision(engine)}) : "
        f"{engine.url.render_as_string(hide_password=True)}"
    )


@db.command("wait", help="Attend que la base de données accepte les connexions.")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=lambda: load_settings().db_wait_timeout,  # NIAOULI_DB_WAIT_TIMEOUT
    show_default="60",
    help="Secondes d'attente au plus, puis échec avec la dernière erreur.",
)
def db_wait(timeout: float) -> None:
    from niaouli.db.wait import DatabaseWaitError, wait_for_database

    engine = get_engine(load_settings())
    shown = engine.url.render_as_string(hide_password=True)
    told: list[str] = []

    def waiting(error: str) -> None:
        if not told:  # once: the log of a slow start stays short
            click.echo(f"en attente de la base de données {shown} ({error})", err=True)
            told.append(error)

    try:
        seconds = wait_for_database(engine, timeout, on_retry=waiting)
    except DatabaseWaitError as exc:
        _fail(str(exc))
    click.echo(f"base de données joignable en {seconds:.1f} s : {shown}")


@db.command("cleanup", help="Supprime tables et fichiers orphelins (ingestions interrompues).")
@click.option("--min-age", default=3600, show_default=True, help="Âge minimal (s) des fichiers.")
def db_cleanup(min_age: int) -> None:
    from niaouli.catalogue.lifecycle import cleanup

    settings = load_settings()
    report = cleanup(get_engine(settings), settings, min_age)
    click.echo(f"{len(report.tables)} table(s) et {len(report.files)} fichier(s) supprimés")
    if report.uploads:
        click.echo(f"{len(report.uploads)} envoi(s) interrompu(s) supprimé(s)")


# --- organisations ---------------------------------------------------------------------


@main.group(help="Organisations (administrations, organismes publics, recherche...).")
def org() -> None:
    pass


@org.command("create", help="Enregistre une organisation.")
@click.argument("slug")
@click.option("--name", required=True, help="Nom complet.")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrganisationKind]))
@click.option("--description", default="")
@click.option("--website")
def org_create(slug: str, name: str, kind: str, description: str, website: str | None) -> None:
    from niaouli.accounts import audit
    from niaouli.catalogue import editing

    engine = writing(get_engine())
    try:
        with Session(engine) as session, session.begin():
            editing.create_organisation(
                session,
                Viewer.system(),
                audit.COMMAND_LINE,
                slug,
                name,
                kind,
                description=description,
                website=website,
            )
    except service.CatalogueError as exc:
        _fail(str(exc))
    click.echo(f"organisation créée : {slug}")


@org.command("list", help="Liste les organisations.")
def org_list() -> None:
    with Session(get_engine()) as session:
        for item in service.list_organisations(session):
            click.echo(f"{item.slug}\t{item.kind.value}\t{item.name}")


# --- datasets --------------------------------------------------------------------------


@main.group(cls=_DatasetCommands, help="Jeux de données.")
def dataset() -> None:
    pass


@dataset.command("list", help="Liste les jeux de données (tous niveaux d'accès).")
@click.option("--public-only", is_flag=True, help="Seulement ce que voit un visiteur anonyme.")
def dataset_list(public_only: bool) -> None:
    viewer = ANONYMOUS if public_only else Viewer.system()
    with Session(get_engine()) as session:
        for item in service.list_datasets(session, viewer):
            features = sum(layer.feature_count for layer in item.layers)
            click.echo(f"{item.slug}\t{item.access_level.value}\t{features} entités\t{item.title}")


@dataset.command("show", help="Affiche un jeu de données en JSON.")
@click.argument("slug")
def dataset_show(slug: str) -> None:
    with Session(get_engine()) as session:
        try:
            item = service.get_dataset(session, slug, Viewer.system())
        except service.NotFoundError as exc:
            _fail(str(exc))
        click.echo(
            json.dumps(
                {
                    "slug": item.slug,
                    "title": item.title,
                    "organisation": item.organisation.slug,
                    "access_level": item.access_level.value,
                    "is_spatial": item.is_spatial,
                    "layers": [
                        {
                            "collection_id": layer.collection_id,
                            "geometry_type": layer.geometry_type,
                            "native_crs": layer.native_crs,
                            "feature_count": layer.feature_count,
                            "extent": layer.extent,
                            "attributes": layer.attribute_schema,
                            "report": layer.ingest_report,
                        }
                        for layer in item.layers
                    ],
                    "resources": [
                        {
                            "title": r.title,
                            "format": r.format,
                            "size": r.size,
                            "checksum": r.checksum,
                        }
                        for r in item.resources
                    ],
                },
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )


@dataset.command("delete", help="Supprime un jeu de données, ses tables et ses fichiers.")
@click.argument("slug")
def dataset_delete(slug: str) -> None:
    from niaouli.catalogue.lifecycle import delete_dataset

    settings = load_settings()
    try:
        delete_dataset(get_engine(settings), settings, slug)
    except service.NotFoundError as exc:
        _fail(str(exc))
    click.echo(f"jeu de données supprimé : {slug}")


# --- ingestion -------------------------------------------------------------------------


@main.command(help="Importe un fichier vectoriel ou tabulaire (tout ou rien).")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--org", "organisation", required=True, help="Organisation propriétaire.")
@click.option("--dataset", help="Identifiant du jeu (remplace ses couches s'il existe).")
@click.option("--title", help="Titre du jeu de données.")
@click.option("--description", help="Description.")
@click.option("--crs", help="Système de coordonnées de la source (ex. EPSG:3163).")
@click.option("--sheet", help="Feuille d'un classeur XLSX/ODS (nom ou numéro).")
@click.option(
    "--access",
    type=click.Choice([a.value for a in AccessLevel]),
    help="Niveau d'accès (public par défaut à la création).",
)
@click.option(
    "--raster-kind",
    type=click.Choice(["orthophoto", "elevation", "classified", "other"]),
    help="Nature d'un raster (devinée sinon) : compression et style par défaut.",
)
@click.option("--progress", type=click.Choice(["auto", "bar", "lines", "none"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Rapport en JSON.")
def ingest(
    file: str,
    organisation: str,
    dataset: str | None,
    title: str | None,
    description: str | None,
    crs: str | None,
    sheet: str | None,
    access: str | None,
    raster_kind: str | None,
    progress: str,
    as_json: bool,
) -> None:
    from niaouli.accounts import audit
    from niaouli.ingest import IngestError, ingest_file
    from niaouli.ingest.schema_check import SchemaValidationError

    try:
        report = ingest_file(
            file,
            organisation=organisation,
            dataset=dataset,
            title=title,
            description=description,
            crs=crs,
            access_level=access,
            progress=progress,
            sheet=sheet,
            keep_version=True,
            actor=audit.COMMAND_LINE,
            raster_kind=raster_kind,
        )
    except SchemaValidationError as exc:  # refused by its Table Schema: nothing written
        from niaouli.schema_cli import echo_reports

        echo_reports([r.as_dict() for r in exc.reports], err=True)
        _fail(exc.describe())
    except IngestError as exc:
        _fail(exc.describe())
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    if report.rasters:
        _echo_rasters(report)
        return
    verb = "créé" if report.created else "remplacé"
    click.echo(
        f"jeu de données {verb} : {report.dataset} — {report.feature_count} entités "
        f"en {report.seconds:.1f} s ({report.format})"
    )
    for layer in report.layers:
        kind = layer.geometry_type or "table sans géométrie"
        click.echo(
            f"  couche {layer.collection_id} : {layer.feature_count} entités, {kind}, "
            f"SCR source {layer.native_crs or '—'}"
        )
        for note in layer.notes:
            click.echo(f"    - {note}")
    if report.validation:  # checked against its Table Schema (niaouli/tableschema)
        from niaouli.schema_cli import echo_reports

        echo_reports(report.validation)
    if report.held:  # personal data found: kept as a draft (niaouli/privacy/guard.py)
        click.secho(
            f"jeu de données gardé en brouillon : données personnelles probables "
            f"(voir « niaouli privacy scan {report.dataset} »)",
            fg="yellow",
        )


def _echo_rasters(report: IngestReport) -> None:  # noqa: F821 - imported lazily
    verb = "créé" if report.created else "remplacé"
    click.echo(f"jeu de données {verb} : {report.dataset} — raster en {report.seconds:.1f} s")
    for raster in report.rasters:
        megabytes = (raster.size_before / 1e6, raster.size_after / 1e6)
        click.echo(
            f"  raster {raster.collection_id} ({raster.kind}) : {raster.width} × "
            f"{raster.height} px, {raster.band_count} bande(s), SCR {raster.crs or '—'}, "
            f"résolution {raster.resolution[0]:g} × {raster.resolution[1]:g}"
        )
        click.echo(
            f"    {raster.format} {megabytes[0]:.1f} Mo → COG {raster.compression} "
            f"{megabytes[1]:.1f} Mo, aperçus {raster.overview_levels}"
        )
        for band in raster.bands:
            stats = band["statistics"]
            click.echo(
                f"    {band['name']} ({band['data_type']}, nodata {band['nodata']}) : "
                f"min {stats['min']:g}, max {stats['max']:g}, moyenne {stats['mean']:.4g}"
                if stats["min"] is not None
                else f"    {band['name']} ({band['data_type']}) : aucune valeur valide"
            )


# --- metadata records (CSW) ----------------------------------------------------------


@main.group(help="Fiches de métadonnées (ISO 19139, Dublin Core) et enregistrements CSW.")
def records() -> None:
    pass


@records.command(
    "import", help="Importe des fiches ISO 19139 ou Dublin Core comme jeux de données."
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--org", "organisation", required=True, help="Organisation propriétaire.")
@click.option(
    "--access",
    type=click.Choice([a.value for a in AccessLevel]),
    default=AccessLevel.PUBLIC.value,
    show_default=True,
    help="Niveau d'accès des jeux importés.",
)
def records_import(files: tuple[str, ...], organisation: str, access: str) -> None:
    from niaouli.services.csw.importer import import_records

    try:
        results = import_records(get_engine(), files, organisation, access)
    except service.CatalogueError as exc:
        _fail(str(exc))
    for item in results:
        verb = "créé" if item.created else "mis à jour"
        click.echo(f"{item.file} : jeu {verb} « {item.slug} » (fiche {item.identifier})")
    click.echo(f"{len(results)} fiche(s) importée(s)")


@records.command("sync", help="Reconstruit les enregistrements CSW depuis le catalogue.")
def records_sync() -> None:
    from niaouli.services.csw.sync import rebuild

    with writing(get_engine()).begin() as conn:
        count = rebuild(conn)
    click.echo(f"{count} enregistrement(s) CSW publiés")


# --- gazetteer -------------------------------------------------------------------------


@main.group(help="Lieux (communes...) que la recherche comprend, lus dans une couche.")
def gazetteer() -> None:
    pass


@gazetteer.command("set", help="Fait d'une couche le répertoire des lieux : JEU[/COUCHE].")
@click.argument("source")
@click.option("--name-column", required=True, help="Colonne des noms de lieux (ex. LIBGEO).")
def gazetteer_set(source: str, name_column: str) -> None:
    from niaouli.catalogue import gazetteer as places

    slug, _sep, layer = source.partition("/")
    with Session(writing(get_engine())) as session, session.begin():
        try:
            found, count = places.set_source(session, slug, layer or None, name_column)
        except places.GazetteerError as exc:
            _fail(str(exc))
        click.echo(f"{count} lieu(x) lus dans {slug}/{found.layer_name} ({name_column})")


@gazetteer.command("unset", help="Retire la couche d'un jeu de données des sources de lieux.")
@click.argument("dataset")
def gazetteer_unset(dataset: str) -> None:
    from niaouli.catalogue import gazetteer as places

    with Session(writing(get_engine())) as session, session.begin():
        if not places.remove_source(session, dataset):
            _fail(f"{dataset} n'est pas une source de lieux")
    click.echo(f"{dataset} n'est plus une source de lieux")


@gazetteer.command("list", help="Liste les sources de lieux et leurs lieux.")
def gazetteer_list() -> None:
    from niaouli.catalogue import gazetteer as places
    from niaouli.catalogue.models import GazetteerSource

    with Session(get_engine()) as session:
        sources = session.scalars(select(GazetteerSource).order_by(GazetteerSource.id)).all()
        for source in sources:
            click.echo(f"{source.dataset.slug}/{source.layer_name} ({source.name_column})")
        names = [p.name for p in places.places(session, Viewer.system())]
        if names:
            click.echo(f"{len(names)} lieu(x) : {', '.join(names)}")


# --- harvesting ------------------------------------------------------------------------


def _register_harvest() -> None:
    from niaouli.ingest.harvest.harvest_commands import harvest

    main.add_command(harvest)


_register_harvest()


# --- accounts (niaouli/accounts/account_commands.py): `user ...`, `org member ...` ---------


def _register_accounts() -> None:
    from niaouli.accounts.account_commands import register

    register(main, org)


_register_accounts()


# `code`, `reuse`, `event`, `call` (community_cli.py), `campaign` (campaign_cli.py),
# `schema` (schema_cli.py), `backup` and `restore` (backup_cli.py), `privacy` and
# `dataset publish` (privacy_cli.py): `LAZY_COMMANDS`.


# --- demo and server -------------------------------------------------------------------


@main.group(help="Données de démonstration.")
def demo() -> None:
    pass


@demo.command("load", help="Charge les données de démonstration (idempotent).")
def demo_load() -> None:
    from niaouli.demo import load_demo

    settings = load_settings()
    schema.upgrade(get_engine(settings))
    load_demo(settings, echo=click.echo)


SECRET_SETTINGS = (
    "secret_key",
    "oidc_client_secret",
    "smtp_password",
    "metrics_token",
    "s3_secret_access_key",
)


@main.command("settings", help="Affiche la configuration en vigueur (variables NIAOULI_*).")
@click.option("--markdown", is_flag=True, help="Le tableau « Configuration » du README, généré.")
def settings_command(markdown: bool) -> None:
    from niaouli.settings import Settings, markdown_table, variable

    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    current = load_settings()
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("internal"):
            continue
        value = getattr(current, name)
        shown = "" if value is None else str(value)
        if name in SECRET_SETTINGS and shown:
            shown = "(masqué)"
        elif name == "database_url":
            from sqlalchemy.engine import make_url

            shown = make_url(shown).render_as_string(hide_password=True)
        click.echo(f"{variable(name)}={shown}")


@main.command(help="Démarre le serveur (portail, OGC API, CSW).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=lambda: load_settings().workers,  # NIAOULI_WORKERS
    show_default="1",
    type=click.IntRange(1, 64),
    help="Processus serveurs (en production : un par cœur).",
)
def serve(host: str, port: int, workers: int) -> None:
    import functools

    from niaouli import metrics

    # Before anything imports prometheus-client: this process and its workers count
    # into one folder, added up by /metrics (docs/operations.md).
    counters = metrics.prepare_multiprocess(load_settings().data_dir)

    from niaouli import requestlog, serving
    from niaouli.jobs.inline import Scheduler, recover
    from niaouli.services.csw.process import start_for_server
    from niaouli.settings import pin
    from niaouli.web import create_app

    settings = load_settings()
    if not settings.public_url:  # links point at the address served, by default
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    csw, settings = start_for_server(settings, workers)
    pin(settings)  # this process's own settings (the scheduler's jobs, one worker)
    harvests = None
    if settings.job_queue:  # long jobs are the workers' (`niaouli worker`), not ours
        click.echo("Tâches de fond : file PostgreSQL, exécutées par `niaouli worker`.")
    else:
        # Runs a previous server left under way died with it: failed, with the reason.
        recover(settings)
    if settings.is_embedded:  # the planner's statistics for pycsw's AnyText (a thread)
        from niaouli.db.sqlite_trigram import refresh_statistics_in_background

        refresh_statistics_in_background(get_engine(settings))
    if not settings.job_queue and settings.harvest_scheduler:
        # Embedded: periodic jobs in a thread of this process (a schedule that came due
        # while the server was down runs once now).
        harvests = Scheduler(settings)
        harvests.start()
    click.echo(f"Niaouli sur http://{host}:{port}/")
    try:
        serving.run(
            # The workers get the settings decided here explicitly (pickled to each).
            functools.partial(create_app, settings),
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=requestlog.log_config(settings.log_format),
        )
    finally:
        if harvests is not None:
            harvests.stop()
        if csw is not None:
            csw.stop()
        metrics.finish_multiprocess(counters)


@main.command(help="Exécute les tâches de fond de la file PostgreSQL (moissons, calendrier).")
@click.option(
    "--concurrency",
    default=lambda: load_settings().worker_concurrency,  # NIAOULI_WORKER_CONCURRENCY
    show_default="2",
    type=click.IntRange(1, 64),
    help="Tâches exécutées en même temps.",
)
@click.option("--queue", "queues", multiple=True, help="Files à servir (toutes par défaut).")
@click.option(
    "--check",
    is_flag=True,
    help="Ne démarre rien : code de sortie 0 si le worker de cette machine est vivant, 1 sinon"
    " (contrôle de santé du conteneur).",
)
@click.option(
    "--heartbeat-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fichier de battement (défaut : <NIAOULI_DATA_DIR>/run/worker-<hôte>.json).",
)
def worker(
    concurrency: int, queues: tuple[str, ...], check: bool, heartbeat_file: Path | None
) -> None:
    import logging

    from niaouli.jobs import heartbeat, queue
    from niaouli.jobs.status import jobs_reachable

    settings = load_settings()
    if check:
        path = heartbeat_file or heartbeat.heartbeat_path(settings)
        problem = heartbeat.check(get_engine(settings), settings, path)
        if problem:
            click.echo(f"worker : {problem}", err=True)
            sys.exit(1)
        click.echo("worker : vivant")
        return
    if settings.is_embedded:
        _fail(
            "la base intégrée (SQLite) n'a pas de file de tâches : `niaouli serve` exécute"
            " les tâches lui-même ; `niaouli worker` demande PostgreSQL"
            " (NIAOULI_DATABASE_URL)"
        )
    problem = jobs_reachable(get_engine(settings))
    if problem:
        _fail(problem)
    if settings.log_format == "json":  # one JSON stream, as `niaouli serve`'s processes
        import logging.config

        from niaouli.requestlog import log_config

        logging.config.dictConfig(log_config("json"))
    elif not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    click.echo(f"Worker : {concurrency} tâche(s) à la fois ; Ctrl-C pour arrêter.", err=True)
    queue.run_worker(settings, concurrency, list(queues) or None, heartbeat_file)


if __name__ == "__main__":
    main()
