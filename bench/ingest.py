"""Benchmark: `niaouli ingest` against `ogr2ogr` loading the same GeoPackage into PostGIS.

Why: ingestion is the platform's heaviest routine job, and GDAL's own `ogr2ogr` (with
COPY) is the reference anyone would reach for instead. Our loader does more (validity
checks, type normalisation, CRS handling, an all-or-nothing swap in the catalogue), and
it should still be at least as fast, with memory bounded however large the file.

How: N random points over New Caledonia with a few attributes (an integer, a float, a
short accented text, a date) are written once to `bench/out/points-<N>.gpkg` (cached,
git-ignored). A scratch database is dropped and recreated (PostGIS, `niaouli db upgrade`,
one organisation); then, in the same run and on the same file, each tool is run as a
subprocess, the real command line, and timed:

    niaouli ingest FILE --org bench --dataset bench-points --progress none
    ogr2ogr -f PostgreSQL PG:... FILE --config PG_USE_COPY YES -lco SPATIAL_INDEX=GIST ...

Both build a GiST index on the geometry and a primary key. The peak resident memory of
each tool comes from `os.wait4` in a small launcher process. Both tables are checked to
hold N rows; the script exits non-zero if a tool fails or a count is wrong.

    .venv/bin/python bench/ingest.py                    # 1,000,000 points
    .venv/bin/python bench/ingest.py --features 200000 --repeat 3

Needs PostgreSQL with PostGIS (default: postgres@127.0.0.1:5432, trust) and GDAL's
`ogr2ogr` (Debian: `apt-get install -y gdal-bin`, installed here when missing and run
as root).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from benchdata import NIAOULI, OUT, input_file, recreate_database, scalar
from psycopg import sql

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench"


@dataclass
class Run:
    tool: str
    seconds: float
    peak_rss_kib: int
    rows: int

    def rate(self, features: int) -> float:
        return features / self.seconds


# --- database --------------------------------------------------------------------------


def settle(dsn: str) -> None:
    """Start each timed run from the same state: no dirty buffers waiting to be written."""
    scalar(dsn, "CHECKPOINT")


def ogr_dsn(dsn: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    keys = ("dbname", "host", "port", "user", "password")
    return "PG:" + " ".join(f"{k}={info[k]}" for k in keys if info.get(k))


# --- tools -----------------------------------------------------------------------------


def ensure_ogr2ogr() -> str:
    found = shutil.which("ogr2ogr")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("ogr2ogr absent : apt-get install -y gdal-bin", flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "gdal-bin"], check=True)
        found = shutil.which("ogr2ogr")
        if found:
            return found
    sys.exit(
        "ogr2ogr introuvable : installez GDAL (Debian : `apt-get install -y gdal-bin`, "
        "en root) puis relancez."
    )


# Peak RSS: on Linux a process's `ru_maxrss` keeps the high-water mark of the process it
# was forked from (across exec), so the tools are not spawned from this Python process,
# which holds the generated points, but from this small launcher (about 8 MB).
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(tool: str, command: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Run `command`; its wall time and peak RSS (KiB). Exits when it fails."""
    rss_file = log.with_suffix(".rss")
    launcher = [sys.executable, "-S", "-c", LAUNCHER, str(rss_file), *command]
    with log.open("wb") as out:
        started = time.perf_counter()
        result = subprocess.run(launcher, env=env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        sys.exit(f"{tool} a échoué (code {result.returncode}) : {' '.join(command)}")
    return seconds, int(rss_file.read_text().split()[0])  # KiB on Linux


def cpu_seconds(log: Path) -> float:
    """CPU time (user + system, all threads) of the command `timed` last ran with `log`:
    the work done, which the machine's other load does not move (wall time does)."""
    return float(log.with_suffix(".rss").read_text().split()[1])


def run_niaouli(path: Path, dsn: str, env: dict[str, str], log: Path) -> Run:
    dataset = "bench-points"
    command = [str(NIAOULI), "ingest", str(path), "--org", "bench", "--dataset", dataset]
    seconds, rss = timed("niaouli", [*command, "--progress", "none"], env, log)
    table = scalar(
        dsn,
        sql.SQL(
            "SELECT l.table_name FROM layers l JOIN datasets d ON d.id = l.dataset_id "
            "WHERE d.slug = {}"
        ).format(sql.Literal(dataset)),
    )
    rows = scalar(dsn, sql.SQL("SELECT count(*) FROM layers.{}").format(sql.Identifier(table)))
    return Run("niaouli", seconds, rss, int(rows))


def run_ogr2ogr(ogr2ogr: str, path: Path, dsn: str, env: dict[str, str], log: Path) -> Run:
    command = [
        ogr2ogr,
        "-f",
        "PostgreSQL",
        ogr_dsn(dsn),
        str(path),
        "--config",
        "PG_USE_COPY",
        "YES",
        "-lco",
        "SPATIAL_INDEX=GIST",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-nln",
        "ogr_points",
        "-overwrite",
    ]
    seconds, rss = timed("ogr2ogr", command, env, log)
    rows = scalar(dsn, "SELECT count(*) FROM public.ogr_points")
    return Run("ogr2ogr", seconds, rss, int(rows))


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=1_000_000, help="points (1000000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; best kept")
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_DSN", DEFAULT_DSN))
    parser.add_argument(
        "--only", choices=["niaouli", "ogr2ogr"], help="run one tool only (while developing)"
    )
    args = parser.parse_args()

    ogr2ogr = ensure_ogr2ogr() if args.only != "niaouli" else ""
    path = input_file(args.features)
    recreate_database(args.dsn)

    data_dir = Path(tempfile.mkdtemp(prefix="niaouli-bench-", dir=OUT))
    env = dict(os.environ)
    env.update(NIAOULI_DATABASE_URL=args.dsn, NIAOULI_DATA_DIR=str(data_dir))
    try:
        for step in (
            ["db", "upgrade"],
            ["org", "create", "bench", "--name", "Banc d'essai", "--kind", "research"],
        ):
            done = subprocess.run([str(NIAOULI), *step], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"niaouli {' '.join(step)} a échoué :\n{done.stderr[-4000:]}")

        runs: dict[str, list[Run]] = {"niaouli": [], "ogr2ogr": []}
        for _ in range(args.repeat):
            if args.only != "ogr2ogr":
                settle(args.dsn)
                runs["niaouli"].append(run_niaouli(path, args.dsn, env, data_dir / "niaouli.log"))
            if args.only != "niaouli":
                settle(args.dsn)
                runs["ogr2ogr"].append(
                    run_ogr2ogr(ogr2ogr, path, args.dsn, env, data_dir / "ogr2ogr.log")
                )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    n = args.features
    size = path.stat().st_size / 1e6
    print(
        f"\n{n} points, {path.name} ({size:.0f} Mo), index GiST, "
        f"meilleur temps de {args.repeat} essai(s), RSS du plus gourmand\n"
    )
    print(f"{'outil':<10}{'secondes':>10}{'entités/s':>12}{'RSS max (Mo)':>14}{'lignes':>10}")
    best: dict[str, Run] = {}
    failed = False
    for tool, items in runs.items():
        if not items:
            continue
        best[tool] = min(items, key=lambda r: r.seconds)
        r = best[tool]
        rss = max(item.peak_rss_kib for item in items) / 1024  # the worst run's
        print(f"{tool:<10}{r.seconds:>10.2f}{r.rate(n):>12,.0f}{rss:>14.0f}{r.rows:>10}")
        for item in items:
            if item.rows != n:
                failed = True
                print(f"  erreur : {tool} a chargé {item.rows} lignes au lieu de {n}")
    if len(best) == 2:
        ratio = best["niaouli"].rate(n) / best["ogr2ogr"].rate(n)
        print(f"\nratio niaouli / ogr2ogr (entités/s) : {ratio:.2f}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
