"""`niaouli restore`: all or nothing.

1. The whole archive is read and checked into a staging folder inside the data
   directory (`archive.stage_archive`): any problem and nothing has been touched.
2. The target must be empty (no organisation, dataset or user, no stored file) unless
   `force`; the archive must come from the same backend and from a schema revision this
   code knows (an archive of a newer release is refused).
3. SQLite: the staged database is checked and, if older, migrated to head *before* it
   replaces the current file by rename. PostgreSQL: the dump is restored in one `psql`
   transaction (the old contents dropped in the same transaction), then migrated.
4. The files directory is swapped by rename; if the database step fails, it is put back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine

from niaouli.backup import facts, postgres, sqlite
from niaouli.backup.archive import stage_archive
from niaouli.backup.manifest import SECRET_KEY_MEMBER, BackupError, Manifest
from niaouli.db import schema
from niaouli.db.engine import get_engine, make_engine, release_engine
from niaouli.settings import Settings


@dataclass
class RestoreReport:
    manifest: Manifest
    revision: str  # the schema revision after the restore (head)
    upgraded: bool  # migrations ran after the restore (archive of an older revision)
    replaced: dict[str, int]  # what the target held before (with --force)


def head_revision() -> str:
    script = _script()
    head = script.get_current_head()
    assert head is not None
    return head


def _script():  # noqa: ANN202 - alembic's ScriptDirectory, imported when needed
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def _check_known(revision: str) -> None:
    from alembic.util import CommandError

    try:
        found = _script().get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise BackupError(
            f"révision de schéma {revision!r} inconnue de cette version de Niaouli : "
            "l'archive vient d'une version plus récente"
        )


def restore_backup(
    settings: Settings,
    archive: Path,
    force: bool = False,
    echo: Callable[[str], None] = lambda _m: None,
) -> RestoreReport:
    backend = "sqlite" if settings.is_embedded else "postgresql"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".niaouli-restore-", dir=settings.data_dir))
    try:
        manifest = stage_archive(archive.absolute(), staging)
        echo(
            f"archive vérifiée : {len(manifest.members)} fichier(s), base {manifest.backend}, "
            f"révision {manifest.schema_revision}, faite le {manifest.created_at}"
        )
        if manifest.backend != backend:
            raise BackupError(
                f"cette archive vient d'une base {manifest.backend} et la configuration "
                f"vise une base {backend} : restaurez-la sur le même type de base"
            )
        _check_known(manifest.schema_revision)
        head = head_revision()
        replaced = target_contents(settings)
        if replaced and not force:
            shown = ", ".join(f"{name} : {count}" for name, count in replaced.items())
            raise BackupError(
                f"le catalogue visé n'est pas vide ({shown}) : ajoutez --force pour le remplacer"
            )
        staged_db = staging / manifest.database_member
        if backend == "sqlite":
            sqlite.check(staged_db)
            if manifest.schema_revision != head:
                _upgrade_sqlite_copy(settings, staged_db, staging)
        _apply(settings, manifest, staging, staged_db)
        upgraded = manifest.schema_revision != head
        if backend == "postgresql" and upgraded:
            try:
                schema.upgrade(get_engine(settings))
            except Exception as exc:
                raise BackupError(
                    f"données restaurées (révision {manifest.schema_revision}) mais la mise "
                    f"à jour du schéma a échoué : {exc}. Corrigez puis lancez "
                    "« niaouli db upgrade »."
                ) from exc
        if upgraded:
            echo(f"schéma mis à jour : {manifest.schema_revision} → {head}")
        return RestoreReport(manifest, head, upgraded, replaced)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def target_contents(settings: Settings) -> dict[str, int]:
    """What the target holds that a restore would replace (empty: nothing)."""
    found: dict[str, int] = {}
    if settings.is_embedded:
        path = sqlite.database_path(settings.database_url)
        if path.is_file():
            import sqlean

            engine = create_engine(f"sqlite:///{path}", module=sqlean)
            try:
                with engine.connect() as conn:
                    found.update(facts.in_use(conn))
            finally:
                engine.dispose()
    else:
        with get_engine(settings).connect() as conn:
            found.update(facts.in_use(conn))
    if settings.storage == "local":
        files = settings.files_dir
        count = sum(1 for _ in files.iterdir()) if files.is_dir() else 0
    else:
        from niaouli import storage

        count = len(storage.area(settings).groups())
    if count:
        found["files"] = count
    return found


def _upgrade_sqlite_copy(settings: Settings, staged: Path, staging: Path) -> None:
    """Migrate the staged database to head before it replaces anything."""
    copy_settings = settings.model_copy(
        update={"database_url": f"sqlite:///{staged}", "data_dir": staging}
    )
    engine = make_engine(copy_settings)
    try:
        schema.upgrade(engine)
    except Exception as exc:
        raise BackupError(
            f"la mise à jour du schéma de l'archive a échoué, rien n'a été modifié : {exc}"
        ) from exc
    finally:
        engine.dispose()
    import sqlean

    conn = sqlean.connect(str(staged))
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # folds the WAL back into the file
    finally:
        conn.close()


def _apply(settings: Settings, manifest: Manifest, staging: Path, staged_db: Path) -> None:
    """Swap files, then the database; put the files back if the database step fails."""
    if settings.storage != "local":
        _apply_through_storage(settings, manifest, staging, staged_db)
        return
    release_engine(settings)  # no pooled connection on the file about to be replaced
    staged_files = staging / "files"
    staged_files.mkdir(exist_ok=True)
    target_files = settings.files_dir
    old_files = staging / "old-files"
    had_files = target_files.exists()
    if had_files:
        os.replace(target_files, old_files)
    os.replace(staged_files, target_files)
    database = sqlite.database_path(settings.database_url) if settings.is_embedded else None
    swapped = False
    aside = None
    try:
        if database is not None:
            aside = sqlite.swap(staged_db, database)
            swapped = True
        else:
            postgres.restore(get_engine(settings), staged_db)
        if any(m.name == SECRET_KEY_MEMBER for m in manifest.members):
            os.chmod(staging / SECRET_KEY_MEMBER, 0o600)
            os.replace(staging / SECRET_KEY_MEMBER, settings.data_dir / "secret_key")
    except BaseException:
        if swapped:
            sqlite.unswap(database, aside)
        os.replace(target_files, staged_files)
        if had_files:
            os.replace(old_files, target_files)
        raise
    sqlite.remove(aside)
    # Cached exports and generated configuration belong to the replaced catalogue.
    shutil.rmtree(settings.data_dir / "exports", ignore_errors=True)


def _apply_through_storage(
    settings: Settings, manifest: Manifest, staging: Path, staged_db: Path
) -> None:
    """Object storage (S3-compatible): the archive's objects are put first (their keys
    are random, so they sit beside the current ones), then the database is restored; if
    that fails, the objects put are removed again. Once it succeeded, the objects of the
    replaced catalogue go."""
    from niaouli import storage

    backend = storage.area(settings)
    before = set(backend.groups())
    put: set[str] = set()
    database = sqlite.database_path(settings.database_url) if settings.is_embedded else None
    release_engine(settings)
    aside = None
    try:
        for member in manifest.members:
            if not member.name.startswith("files/"):
                continue
            name = member.name.removeprefix("files/")
            backend.put(name, staging / member.name, known=(member.size, "sha256:" + member.sha256))
            put.add(name.split("/", 1)[0])
        if database is not None:
            aside = sqlite.swap(staged_db, database)
        else:
            postgres.restore(get_engine(settings), staged_db)
        if any(m.name == SECRET_KEY_MEMBER for m in manifest.members):
            os.chmod(staging / SECRET_KEY_MEMBER, 0o600)
            os.replace(staging / SECRET_KEY_MEMBER, settings.data_dir / "secret_key")
    except BaseException:
        if aside is not None:
            sqlite.unswap(database, aside)
        for group in put - before:
            backend.delete_group(group)
        raise
    sqlite.remove(aside)
    for group in before - put:
        backend.delete_group(group)
    shutil.rmtree(settings.data_dir / "exports", ignore_errors=True)
    for group in storage.area(settings, storage.EXPORTS).groups():
        storage.area(settings, storage.EXPORTS).delete_group(group)
