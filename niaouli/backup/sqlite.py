"""SQLite: the online backup API out (a consistent copy while the platform runs), a
file swap in (the restored file, already migrated, replaces the old one by rename)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlean
from sqlalchemy.engine import make_url

from niaouli.backup.manifest import BackupError


def database_path(database_url: str) -> Path:
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupError("base SQLite sans fichier : rien à sauvegarder ni à restaurer")
    return Path(name)


def copy(source: Path, target: Path) -> None:
    """A consistent copy of `source` (WAL included) made with SQLite's backup API."""
    if not source.is_file():
        raise BackupError(f"base SQLite introuvable : {source}")
    src = sqlean.connect(str(source), timeout=60)
    dst = sqlean.connect(str(target))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def check(path: Path) -> None:
    """The staged file is a sound SQLite database (beyond its checksum)."""
    try:
        conn = sqlean.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlean.DatabaseError as exc:
        raise BackupError(f"la base SQLite de l'archive est illisible : {exc}") from None
    if not result or result[0] != "ok":
        raise BackupError(f"la base SQLite de l'archive est abîmée : {result}")


def swap(staged: Path, target: Path) -> Path | None:
    """Put `staged` in place of `target` by rename, all or nothing; returns where the old
    file went (beside it, for the caller to delete once everything succeeded), if any.

    The new file is first copied beside the target when it is on another file system
    (a database outside the data directory), so that both renames stay atomic. The old
    file's WAL is checkpointed into it first, so no `-wal` file pairs with the new one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = staged
    if staged.stat().st_dev != target.parent.stat().st_dev:
        incoming = target.with_name(f".{target.name}.restoring")
        shutil.copyfile(staged, incoming)
    aside = None
    if target.exists():
        conn = sqlean.connect(str(target), timeout=60)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        aside = target.with_name(f".{target.name}.before-restore")
        _move(target, aside)
    try:
        os.replace(incoming, target)
    except BaseException:
        if aside is not None:
            _move(aside, target)
        raise
    return aside


def _move(source: Path, target: Path) -> None:
    """A database file and its side files (WAL, shared memory, journal) together."""
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{source}{suffix}")
        if side.exists():
            os.replace(side, f"{target}{suffix}")
        else:
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(source, target)


def unswap(target: Path, aside: Path | None) -> None:
    """Bring back the file `swap` put aside (a later step of the restore failed)."""
    if aside is not None:
        _move(aside, target)
    else:
        target.unlink(missing_ok=True)


def remove(aside: Path | None) -> None:
    if aside is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{aside}{suffix}").unlink(missing_ok=True)
