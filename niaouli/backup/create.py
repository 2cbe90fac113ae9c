"""`niaouli backup`: one archive with the database and the stored files, consistent.

PostgreSQL: a REPEATABLE READ transaction exports its snapshot; `pg_dump --snapshot`
dumps exactly what that transaction sees, and the same transaction lists the stored
files the catalogue references. SQLite: the online backup API copies the database, and
the copy is read for the same list. Stored files are immutable under random keys, so
copying them afterwards gives the referenced ones unchanged; a referenced file deleted
in between (a dataset deleted during the backup) is named in the manifest and a warning.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

import niaouli
from niaouli.backup import postgres, sqlite
from niaouli.backup.archive import hash_file, write_archive
from niaouli.backup.facts import Facts, read
from niaouli.backup.manifest import (
    DATABASE_MEMBERS,
    SECRET_KEY_MEMBER,
    BackupError,
    Manifest,
    Member,
    allowed_name,
)
from niaouli.db.engine import get_engine
from niaouli.settings import Settings


def create_backup(
    settings: Settings, archive: Path, echo: Callable[[str], None] = lambda _m: None
) -> Manifest:
    archive = archive.absolute()
    if archive.exists():
        raise BackupError(f"{archive} existe déjà : choisissez un autre nom")
    if not archive.parent.is_dir():
        raise BackupError(f"dossier introuvable : {archive.parent}")
    backend = "sqlite" if settings.is_embedded else "postgresql"
    staging = Path(tempfile.mkdtemp(prefix=".niaouli-backup-", dir=archive.parent))
    try:
        dumped = staging / "database"
        server_version = None
        if backend == "sqlite":
            sqlite.copy(sqlite.database_path(settings.database_url), dumped)
            facts = _sqlite_facts(dumped)
        else:
            facts, server_version = _postgres_dump(settings, dumped)
        if not facts.revision:
            raise BackupError("la base n'a pas de schéma Niaouli (lancez « niaouli db upgrade »)")
        echo(f"base {backend} sauvegardée (révision {facts.revision})")
        sources = {DATABASE_MEMBERS[backend]: dumped}
        sources.update(stored_files(settings, staging, echo))
        secret = settings.data_dir / "secret_key"
        if secret.is_file() and not secret.is_symlink():
            sources[SECRET_KEY_MEMBER] = secret
        stored = {name.split("/")[1] for name in sources if name.startswith("files/")}
        missing = sorted(facts.file_keys - stored)
        for key in missing:
            echo(f"attention : fichier {key} référencé par le catalogue mais absent du disque")
        members = [Member(name, *_size_and_hash(path)) for name, path in sources.items()]
        manifest = Manifest(
            backend=backend,
            schema_revision=facts.revision,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            niaouli_version=niaouli.__version__,
            members=members,
            counts={**facts.counts, "files": len(stored)},
            server_version=server_version,
            missing_files=missing,
        )
        manifest.check()
        write_archive(archive, manifest, sources)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _size_and_hash(path: Path) -> tuple[int, str]:
    hashed = hash_file(path)
    return hashed.size, hashed.sha256


def _sqlite_facts(copy: Path) -> Facts:
    import sqlean

    engine = create_engine(f"sqlite:///{copy}", module=sqlean)
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def _postgres_dump(settings: Settings, target: Path) -> tuple[Facts, str]:
    engine = get_engine(settings)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            facts = read(conn)
            version = postgres.dump(engine, conn, snapshot, target)
    return facts, version


def stored_files(settings: Settings, staging: Path, echo: Callable[[str], None]) -> dict[str, Path]:
    """The stored files, by archive name: read in place from the local files directory,
    or copied into `staging` through the storage interface (S3-compatible storage)."""
    if settings.storage == "local":
        return local_files(settings, echo)
    from niaouli import storage

    backend = storage.area(settings)
    found: dict[str, Path] = {}
    for name in backend.names():
        member = "files/" + name
        if not allowed_name(member, "sqlite"):
            echo(f"attention : {member} ignoré (pas un fichier stocké par Niaouli)")
            continue
        copy = staging / "objects" / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        with copy.open("wb") as out:
            for chunk in backend.read(name):
                out.write(chunk)
        found[member] = copy
    echo(f"{len(found)} fichier(s) copiés depuis {backend.describe()}")
    return found


def local_files(settings: Settings, echo: Callable[[str], None]) -> dict[str, Path]:
    """The stored files of the local files directory, by archive name."""
    root = settings.files_dir
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        name = "files/" + path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file() or not allowed_name(name, "sqlite"):
            echo(f"attention : {name} ignoré (pas un fichier stocké par Niaouli)")
            continue
        found[name] = path
    return found
