"""Scale-out test rigs: a real PostgreSQL streaming replica and a real PgBouncer.

`StreamingPair` makes a small primary cluster in a temporary directory with the Debian
PostgreSQL binaries (`initdb`, `wal_level=replica`, a free port), then its replica with
`pg_basebackup -R` (the standby signal and `primary_conninfo` written by it) in a
second directory, started on another free port. Nothing of the system's PostgreSQL
(its clusters, its configuration under /etc/postgresql) is touched; Debian's
`pg_createcluster` would register the clusters in /etc/postgresql instead. `initdb`
refuses to run as root: as root, the clusters are made and run as the `postgres` user
(`runuser`), in a directory it owns.

`PgBouncer` runs Debian's pgbouncer with its own configuration in a temporary
directory: transaction pooling, trust authentication, a free port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.ports import free_port


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL binaries whose server has PostGIS installed."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        major = folder.parent.name
        postgis = Path(f"/usr/share/postgresql/{major}/extension/postgis.control")
        tools = (folder / "initdb").exists() and (folder / "pg_basebackup").exists()
        if tools and postgis.exists():
            return folder
    return None


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], timeout: float = 120) -> None:
    result = subprocess.run(
        _as_postgres(command), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


class StreamingPair:
    """A primary and its streaming replica (hot standby), each on a free port."""

    def __init__(self, database: str = "niaouli") -> None:
        binaries = postgres_bin()
        if binaries is None:
            pytest.skip("PostgreSQL server binaries with PostGIS missing (/usr/lib/postgresql)")
        self.bin = binaries
        self.database = database
        self.folder = Path(tempfile.mkdtemp(prefix="niaouli-replica-"))
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self.folder.chmod(0o700)
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.started: list[Path] = []

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{self.database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def _start(self, data: Path, port: int, *options: str) -> None:
        settings = " ".join(
            [
                f"-p {port}",
                f"-k {self.folder}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c max_connections=60",
                *options,
            ]
        )
        log = self.folder / f"{data.name}.log"
        _run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-o",
                settings,
                "start",
            ]
        )
        self.started.append(data)

    def stop_replica(self) -> None:
        """Stop the replica at once (`pg_ctl stop -m immediate`: a crash, no shutdown)."""
        _run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.folder / "replica"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ]
        )
        self.started.remove(self.folder / "replica")

    def start_replica(self) -> None:
        """Start the replica again (it recovers, then streams from the primary)."""
        self._start(self.folder / "replica", self.replica_port, "-c hot_standby=on")

    def __enter__(self) -> StreamingPair:
        primary = self.folder / "primary"
        replica = self.folder / "replica"
        try:
            _run(
                [str(self.bin / "initdb"), "-D", str(primary), "-U", "postgres", "-A", "trust"]
                + ["-E", "UTF8", "--no-sync"]
            )
            self._start(primary, self.primary_port, "-c wal_level=replica", "-c max_wal_senders=4")
            with psycopg.connect(
                self.url(self.primary_port).replace(self.database, "postgres"), autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
            with psycopg.connect(self.primary_url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            # -R: standby.signal and primary_conninfo; -c fast: no wait for a checkpoint.
            _run(
                [str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port)]
                + ["-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "-c", "fast"]
                + ["--no-sync"]
            )
            self._start(replica, self.replica_port, "-c hot_standby=on")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for data in reversed(self.started):
            subprocess.run(
                _as_postgres(
                    [str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        self.started.clear()
        shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, port: int, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url(port), autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def caught_up(self) -> bool:
        """Whether the replica has replayed everything the primary wrote so far."""
        (lsn,) = self.query(self.primary_port, "SELECT pg_current_wal_lsn()::text")[0]
        return bool(
            self.query(self.replica_port, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn)[0][
                0
            ]
        )

    def wait_caught_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.caught_up():
            if time.monotonic() > deadline:
                raise AssertionError("the replica did not catch up with the primary")
            time.sleep(0.1)


class PgBouncer:
    """Debian's pgbouncer in transaction pooling mode in front of one database."""

    def __init__(self, database_url: str) -> None:
        self.binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(self.binary).exists():
            pytest.skip("pgbouncer missing (Debian package pgbouncer: scripts/install test)")
        self.target = make_url(database_url)
        # Its own folder, not under pytest's (which the postgres user cannot enter).
        self.folder = Path(tempfile.mkdtemp(prefix="niaouli-pgbouncer-"))
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The same database, through pgbouncer."""
        return self.target.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )

    def __enter__(self) -> PgBouncer:
        name = self.target.database
        host = self.target.host or "127.0.0.1"
        port = self.target.port or 5432
        user = self.target.username or "postgres"
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{name} = host={host} port={port} dbname={name} user={user}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.folder}\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "default_pool_size = 2\n"  # few server connections: clients share them
            "max_client_conn = 400\n"
            # psycopg sends none of these at start-up; SQLAlchemy's psycopg2 (pycsw) may.
            "ignore_startup_parameters = extra_float_digits\n"
            "server_reset_query =\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n",
            encoding="utf-8",
        )
        (self.folder / "users.txt").write_text(f'"{user}" ""\n', encoding="utf-8")
        for path in (config, self.folder / "users.txt"):
            if os.geteuid() == 0:
                postgres = pwd.getpwnam("postgres")
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        self.process = subprocess.Popen(
            _as_postgres([self.binary, str(config)]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise AssertionError(f"pgbouncer did not start:\n{self.log()}") from None
                time.sleep(0.2)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
