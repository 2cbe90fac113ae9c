"""Soak benchmark: many concurrent clients on a mix of portal, OGC API items, tiles and CSW.

Why: the limits of one machine (issue 17 §7). For a bounded time, N clients (default 50)
each send one request after another, drawn from a mix of the four kinds of traffic a
public catalogue gets; the script prints the throughput, p50/p95 latency per kind, the
errors (anything but 200/204/304, or no answer: there must be none) and the servers'
memory over time (RSS summed over `niaouli serve`'s process tree — the workers and the
pycsw pool — sampled every few seconds with psutil: it must stay flat).

How: unless `--url` names a running server, it makes a scratch data folder and database
(PostGIS `niaouli_bench_soak` on postgres@127.0.0.1:5432, or `--dsn`; `--backend sqlite`
for the embedded one), loads the demo (`niaouli demo load`) and starts `niaouli serve`
(`--workers`, default NIAOULI_WORKERS) on a free port. The request mix is read from the
server itself: the collections of /ogc, the datasets of the search page, the CSW
identifiers. The clients are asyncio tasks in this process, each with its own
keep-alive connection: on a small machine they compete with the server for CPU, which
the figures include.

    .venv/bin/python bench/soak.py                         # 60 s, 50 clients, PostGIS
    .venv/bin/python bench/soak.py --seconds 300 --workers 4
    .venv/bin/python bench/soak.py --backend sqlite --seconds 30
    .venv/bin/python bench/soak.py --url http://127.0.0.1:8000 --pid 1234  # a running one
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_soak"
KINDS = {"portail": 0.30, "items": 0.30, "tuiles": 0.25, "csw": 0.15}
OK = (200, 204, 304)
CENTRES = [(166.45, -22.27), (164.83, -21.06), (167.1, -20.9)]  # Nouméa, Koné, Lifou
WORDS = ["eau", "école", "commune", "route", "forêt", "population", "tribu", "plage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(dsn: str) -> None:
    url = make_url(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def niaouli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([str(NIAOULI), *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"niaouli {' '.join(args)} a échoué :\n{result.stdout}\n{result.stderr}")


def start_server(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    env["NIAOULI_DATA_DIR"] = str(folder / "data")
    env.pop("NIAOULI_DATABASE_URL", None)
    env.pop("NIAOULI_PUBLIC_URL", None)
    if args.backend == "postgis":
        recreate_database(args.dsn)
        env["NIAOULI_DATABASE_URL"] = args.dsn
    print("chargement de la démo...", flush=True)
    niaouli(env, "db", "upgrade")
    niaouli(env, "demo", "load")
    port = free_port()
    command = [str(NIAOULI), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    log = folder / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            sys.exit(f"le serveur s'est arrêté :\n{log.read_text()[-4000:]}")
        try:
            capabilities = httpx.get(
                f"{url}/csw", params={"service": "CSW", "request": "GetCapabilities"}, timeout=2
            )
            if capabilities.status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"le serveur n'a pas démarré :\n{log.read_text()[-4000:]}")
        time.sleep(0.5)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    return x, y


def request_mix(url: str) -> dict[str, list[str]]:
    """The URLs of each kind, read from the server's own answers."""
    collections = httpx.get(f"{url}/ogc/collections", params={"f": "json"}, timeout=60).json()
    ids = [c["id"] for c in collections["collections"]]
    if not ids:
        sys.exit("aucune collection publiée dans /ogc")
    items, tiles = [], []
    for cid in ids:
        items += [
            f"/ogc/collections/{cid}/items?f=json&limit=10",
            f"/ogc/collections/{cid}/items?f=json&limit=50&offset=10",
            f"/ogc/collections/{cid}/items?f=json&limit=20&bbox=166.3,-22.4,166.6,-22.1",
        ]
        if httpx.get(f"{url}/ogc/collections/{cid}/tiles", timeout=60).status_code != 200:
            continue  # no tiles: a table without geometry, the records
        for lon, lat in CENTRES:
            for z in (8, 10, 12, 14):
                x, y = tile_of(lon, lat, z)
                tiles.append(f"/ogc/collections/{cid}/tiles/WebMercatorQuad/{z}/{y}/{x}")
    search = httpx.get(f"{url}/jeux-de-donnees", timeout=60).text
    datasets = sorted(set(re.findall(r'href="(/jeux-de-donnees/[a-z0-9-]+)"', search)))
    portal = ["/", "/jeux-de-donnees", "/recherche", *datasets[:20]]
    portal += [f"/recherche?q={word}" for word in WORDS]
    csw = "/csw?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record"
    records = httpx.get(f"{url}{csw}&resultType=results&elementSetName=brief&maxRecords=50")
    identifiers = re.findall(r"<dc:identifier>([^<]+)</dc:identifier>", records.text)
    csw_urls = [
        f"{csw}&resultType=results&elementSetName=brief&maxRecords=10",
        f"{csw}&resultType=results&elementSetName=summary&maxRecords=10&startPosition=5",
        "/csw?service=CSW&request=GetCapabilities",
    ]
    csw_urls += [
        f"/csw?service=CSW&version=2.0.2&request=GetRecordById&id={i}&elementSetName=full"
        for i in identifiers[:20]
    ]
    return {"portail": portal, "items": items, "tuiles": tiles, "csw": csw_urls}


class Sampler(threading.Thread):
    """RSS of the server's process tree every `every` seconds."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, float, int]] = []  # (s, MB, processes)
        self.stop = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> None:
        total, count = 0, 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
                count += 1
            except psutil.NoSuchProcess:
                continue
        self.samples.append((time.monotonic() - self.started, total / 2**20, count))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)


async def client(
    base: str,
    mix: dict[str, list[str]],
    until: float,
    results: dict[str, list[float]],
    errors: dict[str, list[str]],
    seed: int,
) -> None:
    draw = random.Random(seed)
    kinds, weights = list(KINDS), list(KINDS.values())
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        while time.monotonic() < until:
            kind = draw.choices(kinds, weights)[0]
            path = draw.choice(mix[kind])
            started = time.perf_counter()
            try:
                answer = await http.get(path)
                await answer.aread()
                status = answer.status_code
            except httpx.HTTPError as exc:
                status = 0
                errors[kind].append(f"{path}: {type(exc).__name__}")
            elapsed = time.perf_counter() - started
            results[kind].append(elapsed)
            if status and status not in OK:
                errors[kind].append(f"{path}: {status}")


async def soak(base: str, mix: dict[str, list[str]], clients: int, seconds: float):  # noqa: ANN201
    results: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(client(base, mix, until, results, errors, seed) for seed in range(clients))
    )
    return results, errors


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def report(results, errors, elapsed: float, sampler: Sampler | None) -> int:  # noqa: ANN001
    total = sum(len(v) for v in results.values())
    failed = sum(len(v) for v in errors.values())
    print(f"\n{total} requêtes en {elapsed:.0f} s : {total / elapsed:.1f} req/s, {failed} erreurs")
    print(f"{'type':<9} {'requêtes':>9} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'erreurs':>8}")
    for kind in KINDS:
        values = results.get(kind, [])
        if not values:
            continue
        print(
            f"{kind:<9} {len(values):>9} {len(values) / elapsed:>7.1f}"
            f" {statistics.median(values) * 1000:>8.0f} {p95(values) * 1000:>8.0f}"
            f" {len(errors.get(kind, [])):>8}"
        )
    for kind, found in errors.items():
        for line in found[:5]:
            print(f"  erreur {kind} : {line}")
    if sampler is not None and sampler.samples:
        print("\nmémoire des serveurs (RSS de l'arbre de processus de niaouli serve)")
        for at, mb, count in sampler.samples:
            print(f"  {at:>6.0f} s  {mb:>7.0f} MB  ({count} processus)")
        warm = [mb for at, mb, _ in sampler.samples if at >= elapsed * 0.25]
        if len(warm) >= 2:
            print(
                f"  après le premier quart : min {min(warm):.0f} MB, max {max(warm):.0f} MB,"
                f" fin - début {warm[-1] - warm[0]:+.0f} MB"
            )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="durée (60)")
    parser.add_argument("--clients", type=int, default=50, help="clients simultanés (50)")
    parser.add_argument("--backend", choices=["postgis", "sqlite"], default="postgis")
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_DSN", DEFAULT_DSN))
    parser.add_argument("--workers", type=int, default=None, help="workers du serveur")
    parser.add_argument("--sample", type=float, default=5, help="mesure de la mémoire (5 s)")
    parser.add_argument("--url", default=None, help="un serveur déjà lancé")
    parser.add_argument("--pid", type=int, default=None, help="son pid (mémoire)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="niaouli-soak-"))
    process = None
    try:
        if args.url:
            base, pid = args.url.rstrip("/"), args.pid
        else:
            process, base = start_server(args, folder)
            pid = process.pid
        mix = request_mix(base)
        sizes = ", ".join(f"{kind} {len(urls)}" for kind, urls in mix.items())
        print(f"{base} : {args.clients} clients pendant {args.seconds:.0f} s (URL : {sizes})")
        sampler = Sampler(pid, args.sample) if pid else None
        if sampler is not None:
            sampler.start()
        started = time.monotonic()
        results, errors = asyncio.run(soak(base, mix, args.clients, args.seconds))
        elapsed = time.monotonic() - started
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            sampler.sample()
        code = report(results, errors, elapsed, sampler)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
