"""Benchmark: server memory and time of concurrent low-zoom vector tiles (issue 13 §3).

Why: a low-zoom tile meets every feature of a dense layer. Before thinning, six
concurrent z0-z4 tiles of 150,000 points took a server on SQLite from 313 MB to
1,465 MB (6.7 MB tiles, 9-13 s each). This prints what a `niaouli serve` worker (one
process) holds before and after such requests, so that the bound stays measured.

How: N random points over New Caledonia (the generator of `bench/ingest.py`, cached in
`bench/out/`) are ingested once into a scratch data folder (`bench/out/tiles-memory-*`,
SQLite) or database (`--dsn`, PostGIS); then one server is started with the tile cache
off (each request makes its tile), and `--rounds` times the same `--concurrency` tiles
(z0 to z4 over New Caledonia, by default) are asked at once. For each request: status,
size, seconds; for the server: resident memory (VmRSS) before and after each round, and
its high-water mark (VmHWM), read from /proc. Speeds move with the machine's load; the
memory figures are the point.

    .venv/bin/python bench/tiles_memory.py                           # 150,000 points, SQLite
    .venv/bin/python bench/tiles_memory.py --points 400000 --concurrency 8
    .venv/bin/python bench/tiles_memory.py --dsn postgresql://postgres@127.0.0.1:5432/niaouli_bench_tiles
    .venv/bin/python bench/tiles_memory.py --slots 6 --wait 60         # no gate (compare)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from benchdata import NIAOULI, OUT, input_file, recreate_database

NOUMEA = (166.4580, -22.2758)
LOW_ZOOM_TILES = [(0, 0, 0), (1, 1, 1), (2, 3, 2), (3, 7, 4), (4, 15, 8), (4, 15, 9)]
"""(z, x, y) over New Caledonia; z1-z4 are on the antimeridian column."""
DATASET = "bench-tuiles"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def environment(data_dir: Path, dsn: str | None, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["NIAOULI_DATA_DIR"] = str(data_dir)
    env.pop("NIAOULI_DATABASE_URL", None)
    if dsn:
        env["NIAOULI_DATABASE_URL"] = dsn
    env["NIAOULI_TILE_CACHE_MB"] = "0"
    if args.slots is not None:
        env["NIAOULI_TILE_HEAVY_SLOTS"] = str(args.slots)
    if args.wait is not None:
        env["NIAOULI_TILE_HEAVY_WAIT"] = str(args.wait)
    return env


def niaouli(env: dict[str, str], *command: str) -> None:
    done = subprocess.run([str(NIAOULI), *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"niaouli {' '.join(command)} a échoué :\n{done.stderr[-4000:]}")


def prepare(points: int, dsn: str | None, args: argparse.Namespace) -> dict[str, str]:
    """A data folder (and database) holding the points, made once per size."""
    data_dir = OUT / f"tiles-memory-{'postgis' if dsn else 'sqlite'}-{points}"
    env = environment(data_dir, dsn, args)
    marker = data_dir / "ingested"
    if not marker.exists():
        source = input_file(points)
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        if dsn:
            recreate_database(dsn)
        print(f"import de {points} points dans {data_dir.name}...", flush=True)
        niaouli(env, "db", "upgrade")
        niaouli(env, "org", "create", "bench", "--name", "Banc d'essai", "--kind", "research")
        niaouli(env, "ingest", str(source), "--org", "bench", "--dataset", DATASET)
        marker.write_text("ok\n")
    return env


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(NIAOULI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            sys.exit(f"le serveur s'est arrêté :\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ogc/", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"le serveur n'a pas démarré :\n{log.read_text()[-4000:]}")
        time.sleep(0.3)


def tile_url(port: int, z: int, x: int, y: int) -> str:
    return f"http://127.0.0.1:{port}/ogc/collections/{DATASET}/tiles/WebMercatorQuad/{z}/{y}/{x}"


def one_round(port: int, tiles: list[tuple[int, int, int]]) -> list[tuple[str, int, int, float]]:
    """All `tiles` asked at the same moment: (tile, status, bytes, seconds) each."""
    results: list[tuple[str, int, int, float]] = [("", 0, 0, 0.0)] * len(tiles)
    barrier = threading.Barrier(len(tiles))

    def ask(i: int, z: int, x: int, y: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            response = httpx.get(tile_url(port, z, x, y), timeout=300)
            status, size = response.status_code, len(response.content)
        except httpx.HTTPError:
            status, size = 0, 0
        results[i] = (f"{z}/{y}/{x}", status, size, time.perf_counter() - started)

    threads = [threading.Thread(target=ask, args=(i, *t)) for i, t in enumerate(tiles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=150_000, help="points (150000)")
    parser.add_argument("--concurrency", type=int, default=6, help="tuiles à la fois (6)")
    parser.add_argument("--rounds", type=int, default=2, help="tours (2)")
    parser.add_argument("--dsn", default=None, help="PostGIS (sinon SQLite)")
    parser.add_argument("--slots", type=int, default=None, help="NIAOULI_TILE_HEAVY_SLOTS")
    parser.add_argument("--wait", type=float, default=None, help="NIAOULI_TILE_HEAVY_WAIT")
    args = parser.parse_args()

    env = prepare(args.points, args.dsn, args)
    tiles = [LOW_ZOOM_TILES[i % len(LOW_ZOOM_TILES)] for i in range(args.concurrency)]
    port = free_port()
    log = Path(env["NIAOULI_DATA_DIR"]) / "serve.log"
    process = serve(env, port, log)
    try:
        # Warm up with one small tile: imports and connections count in the baseline.
        z = 12
        x = int((NOUMEA[0] + 180) / 360 * 2**z)
        lat = math.radians(NOUMEA[1])
        y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * 2**z)
        httpx.get(tile_url(port, z, x, y), timeout=60).raise_for_status()
        rss, _peak = memory_mb(process.pid)
        print(f"{args.points} points, {'PostGIS' if args.dsn else 'SQLite'}, cache off")
        print(f"serveur prêt : RSS {rss:.0f} MB")
        for number in range(1, args.rounds + 1):
            before, _ = memory_mb(process.pid)
            started = time.perf_counter()
            results = one_round(port, tiles)
            elapsed = time.perf_counter() - started
            after, peak = memory_mb(process.pid)
            print(f"tour {number} : {len(tiles)} tuiles à la fois, {elapsed:.1f} s")
            for tile, status, size, seconds in results:
                print(f"  {tile:>8}  {status}  {size / 1e6:6.2f} MB  {seconds:5.1f} s")
            print(f"  RSS {before:.0f} -> {after:.0f} MB, pic du processus {peak:.0f} MB")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
