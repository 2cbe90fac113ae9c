"""Benchmark: what usage counting costs a request (docs/stats.md).

Why: the statistics middleware sits in front of every interface; it must not slow the
hot paths measurably.

How: in a temporary SQLite data folder with the demo catalogue, start two `niaouli
serve` processes, one with `NIAOULI_STATS=on` and one with `off`, and ask both the same
URLs (an OGC feature, a vector tile, a dataset page) alternately — interleaving cancels
the machine's load changes — then print each one's median latency and what was counted.

Run: `.venv/bin/python bench/stats.py [--requests 600]`
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
NIAOULI = str(REPO / ".venv" / "bin" / "niaouli")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, NIAOULI_DATA_DIR=folder, NIAOULI_STATS_FLUSH_SECONDS="2")
        env.pop("NIAOULI_DATABASE_URL", None)
        for command in (("db", "upgrade"), ("demo", "load")):
            subprocess.run([NIAOULI, *command], env=env, check=True, capture_output=True)
        servers = {}
        for mode in ("on", "off"):
            port = free_port()
            process = subprocess.Popen(
                [NIAOULI, "serve", "--port", str(port)],
                env=dict(env, NIAOULI_STATS=mode),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            servers[mode] = (f"http://127.0.0.1:{port}", process)
        try:
            for url, _process in servers.values():
                for _ in range(120):
                    try:
                        if httpx.get(url + "/", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.5)
            database = sqlite3.connect(Path(folder) / "niaouli.sqlite")
            (collection,) = database.execute(
                "SELECT collection_id FROM layers JOIN datasets d ON d.id = layers.dataset_id"
                " WHERE d.slug = 'communes-nc'"
            ).fetchone()
            paths = (
                f"/ogc/collections/{collection}/items/1",
                f"/ogc/collections/{collection}/tiles/WebMercatorQuad/7/72/125",
                "/jeux-de-donnees/communes-nc",
            )
            clients = {mode: httpx.Client(base_url=url) for mode, (url, _p) in servers.items()}
            for path in paths:
                times: dict[str, list[float]] = {"on": [], "off": []}
                for index in range(args.requests):
                    for mode in ("on", "off") if index % 2 else ("off", "on"):
                        start = time.perf_counter()
                        clients[mode].get(path)
                        times[mode].append(time.perf_counter() - start)
                medians = {m: statistics.median(v) * 1e3 for m, v in times.items()}
                print(
                    f"{path}: median {medians['on']:.3f} ms counted, "
                    f"{medians['off']:.3f} ms not counted"
                )
            time.sleep(3)
            print(
                "counted:",
                database.execute(
                    "SELECT interface, sum(hits), sum(unique_visits) FROM usage_daily"
                    " GROUP BY interface"
                ).fetchall(),
            )
        finally:
            for _url, process in servers.values():
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()
