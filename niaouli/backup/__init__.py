"""Backups of a whole platform (database and stored files) in one archive, and restores.

`niaouli backup` / `niaouli restore` (niaouli/backup_cli.py) call `create_backup` and
`restore_backup`. The archive is a tar file whose first member, `manifest.json`, names
every other member with its size and SHA-256; a restore reads and checks the whole
archive into a staging folder before changing anything (see `restore.py`).
"""

from __future__ import annotations

from niaouli.backup.create import create_backup
from niaouli.backup.manifest import BackupError, Manifest
from niaouli.backup.restore import RestoreReport, restore_backup

__all__ = ["BackupError", "Manifest", "RestoreReport", "create_backup", "restore_backup"]
