"""`niaouli backup ARCHIVE` and `niaouli restore ARCHIVE`: database and stored files in
one checked archive (niaouli/backup/)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from niaouli.backup import BackupError, create_backup, restore_backup
from niaouli.settings import load_settings


def _fail(message: str) -> None:
    click.secho(f"erreur : {message}", fg="red", err=True)
    sys.exit(1)


@click.command("backup", help="Sauvegarde la base et les fichiers dans une archive tar.")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def backup(archive: Path) -> None:
    try:
        manifest = create_backup(load_settings(), archive, echo=click.echo)
    except BackupError as exc:
        _fail(str(exc))
    counts = ", ".join(f"{name} : {count}" for name, count in manifest.counts.items())
    click.echo(f"sauvegarde écrite : {archive} ({counts})")


@click.command(
    "restore",
    help="Restaure une sauvegarde (tout ou rien ; met le schéma à jour si elle est ancienne).",
)
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Remplace un catalogue qui n'est pas vide.")
def restore(archive: Path, force: bool) -> None:
    try:
        report = restore_backup(load_settings(), archive, force=force, echo=click.echo)
    except BackupError as exc:
        _fail(str(exc))
    counts = ", ".join(f"{name} : {count}" for name, count in report.manifest.counts.items())
    click.echo(f"sauvegarde restaurée (révision {report.revision}) : {counts}")


def register(main: click.Group) -> None:
    main.add_command(backup)
    main.add_command(restore)
