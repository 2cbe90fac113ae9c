"""PostgreSQL: `pg_dump --format=custom` out, `pg_restore` piped into `psql` in one
transaction in.

The client programs must be at least as new as the server (`pg_dump` refuses an older
one): they are looked for in the server's own version folder first (Debian's
`/usr/lib/postgresql/<major>/bin`, RHEL's `/usr/pgsql-<major>/bin`), then on `PATH`.
The password goes to them through `PGPASSWORD`, never on a command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from niaouli.backup.manifest import BackupError

TOOLS = ("pg_dump", "pg_restore", "psql")


@dataclass(frozen=True)
class ClientTools:
    folder: Path | None  # None: from PATH
    major: int

    def path(self, tool: str) -> str:
        if self.folder is not None:
            return str(self.folder / tool)
        found = shutil.which(tool)
        assert found is not None
        return found


def server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _version(program: str) -> int | None:
    try:
        out = subprocess.run(  # noqa: S603 - a program path we found
            [program, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def find_tools(major: int) -> ClientTools:
    """Client programs of version `major` or newer, all three from one place."""
    candidates: list[Path | None] = [
        Path(f"/usr/lib/postgresql/{major}/bin"),
        Path(f"/usr/pgsql-{major}/bin"),
        None,
    ]
    newer = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    candidates.extend(newer)
    for folder in candidates:
        programs = [str(folder / t) for t in TOOLS] if folder else [shutil.which(t) for t in TOOLS]
        if not all(p and os.access(p, os.X_OK) for p in programs):
            continue
        found = _version(programs[0])  # type: ignore[arg-type]
        if found is not None and found >= major:
            return ClientTools(folder, found)
    raise BackupError(
        f"pg_dump, pg_restore et psql version {major} (ou plus récente) introuvables : "
        f"installez le paquet postgresql-client-{major} (Debian) ou mettez ses programmes "
        "dans le PATH"
    )


def client_env(engine: Engine) -> tuple[str, dict[str, str]]:
    """The libpq connection URI without password, and the environment carrying it."""
    url = make_url(engine.url.render_as_string(hide_password=False))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def dump(engine: Engine, conn: Connection, snapshot: str, target: Path) -> str:
    """Dump the database as seen by `snapshot` (exported by `conn`'s open transaction)
    into `target`; returns the server's version."""
    tools = find_tools(server_major(conn))
    uri, env = client_env(engine)
    command = [
        tools.path("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--snapshot={snapshot}",
        f"--file={target}",
        f"--dbname={uri}",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"pg_dump a échoué : {result.stderr.strip()[:2000]}")
    return str(conn.execute(text("SHOW server_version")).scalar_one())


# Everything the platform has in the database lives in these two schemas: the catalogue
# (and the extensions PostGIS and unaccent) in `public`, the layer tables in `layers`.
# They are emptied in the same transaction that restores the dump.
_RESET = """
DROP SCHEMA IF EXISTS layers CASCADE;
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
"""


def restore(engine: Engine, dump_file: Path) -> None:
    """Replace the database's contents by the dump's, all or nothing (`psql
    --single-transaction` with `ON_ERROR_STOP`): any error leaves it as it was."""
    with engine.connect() as conn:
        tools = find_tools(server_major(conn))
    uri, env = client_env(engine)
    listing = subprocess.run(  # noqa: S603
        [tools.path("pg_restore"), "--list", str(dump_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise BackupError(f"pg_restore ne lit pas la sauvegarde : {listing.stderr.strip()[:500]}")
    # `public` is recreated above; its own entry (made by pg_dump for its comment) goes.
    entries = [
        line
        for line in listing.stdout.splitlines()
        if not re.search(r"\bSCHEMA - public\b|\bCOMMENT - SCHEMA public\b", line)
    ]
    use_list = dump_file.with_suffix(".list")
    use_list.write_text("\n".join(entries) + "\n", encoding="utf-8")
    # The whole script is written first: a pg_restore failing half-way must not leave
    # psql a truncated script that it would commit.
    script = dump_file.with_suffix(".sql")
    reset = dump_file.with_suffix(".reset.sql")
    reset.write_text(_RESET, encoding="utf-8")
    made = subprocess.run(  # noqa: S603
        [
            tools.path("pg_restore"),
            "--no-owner",
            "--no-privileges",
            f"--use-list={use_list}",
            f"--file={script}",
            str(dump_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise BackupError(f"pg_restore a échoué : {made.stderr.strip()[:2000]}")
    loaded = subprocess.run(  # noqa: S603
        [
            tools.path("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            f"--file={reset}",
            f"--file={script}",
            f"--dbname={uri}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    script.unlink(missing_ok=True)
    if loaded.returncode != 0:
        raise BackupError(
            "la restauration de la base a échoué, rien n'a été modifié : "
            f"{loaded.stderr.strip()[:2000]}"
        )
