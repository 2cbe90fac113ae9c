"""Benchmark: raster map tiles per second at zooms 8, 12 and 16, Niaouli against titiler.

Why: issue 19 asks for tiles at least as fast as titiler (23-27 tiles/s per process
from S3, ../shared/ANCHORS.md (d)) and memory bounded whatever the file size. Both
servers run in the same run with the same number of worker processes on the same COG
(the one stored in Niaouli's file storage), asked the same random tiles over the raster at the
same concurrency.

How: a generated RGB orthophoto (default 8,000 × 8,000 px at 0.5 m, UTM 58S) and an
elevation model (default 20,000 × 20,000 px float32 at 10 m, EPSG:3163; `--dem-size`)
are written under `bench/out/` once (COGs, rio-cogeo) and stored as raster layers of a
scratch data folder (SQLite, local storage), as the ingestion stores a COG. Then
`niaouli serve --workers N` serves the tiles at
`/ogc/collections/{id}/map/tiles/WebMercatorQuad/{z}/{y}/{x}`, and titiler
(`uvicorn titiler.application.main:app --workers N` from its own virtualenv, given by
`--titiler`; `pip install titiler.application` there, never a project dependency) the
same stored COG file at `/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=…` with the same
colouring (viridis over the same range for the DEM) and the same `GDAL_CACHEMAX`.
Printed per raster and zoom: tiles/s for each, the ratio, errors, and each server's peak
memory (resident set of its processes but niaouli's pycsw, summed, sampled every 50 ms).

    .venv/bin/python bench/raster_tiles.py --titiler /tmp/titiler-venv
    .venv/bin/python bench/raster_tiles.py --titiler /tmp/titiler-venv --dem-size 8000 --tiles 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psutil
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
ZOOMS = (8, 12, 16)
BLOCK = 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generate(kind: str, size: int) -> Path:
    """A GeoTIFF written block by block (never the whole array in memory), made once."""
    target = OUT / f"raster-{kind}-{size}.tif"
    if target.exists():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"génération de {target.name}...", flush=True)
    rng = np.random.default_rng(19)
    if kind == "ortho":
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 3,
            "dtype": "uint8",
            "crs": "EPSG:32758",
            "transform": from_origin(640000, 7550000, 0.5, 0.5),
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
        }
    else:
        profile = {
            "driver": "GTiff",
            "width": size,
            "height": size,
            "count": 1,
            "dtype": "float32",
            "crs": "EPSG:3163",
            "transform": from_origin(300000, 480000, 10, 10),
            "nodata": -9999,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
            "predictor": 3,
            "BIGTIFF": "IF_SAFER",
        }
    partial = target.with_suffix(".part.tif")
    with rasterio.open(partial, "w", **profile) as out:
        for row in range(0, size, BLOCK):
            for col in range(0, size, BLOCK):
                h, w = min(BLOCK, size - row), min(BLOCK, size - col)
                y, x = np.mgrid[row : row + h, col : col + w].astype("float32")
                if kind == "ortho":
                    noise = rng.integers(0, 40, (3, h, w), dtype="uint8")
                    base = np.stack([(x / size * 200), (y / size * 200), ((x + y) % 255)])
                    out.write((base.astype("uint8") + noise), window=Window(col, row, w, h))
                else:
                    hills = 600 * np.sin(x / 700) * np.cos(y / 900) + 0.05 * x
                    out.write(
                        (hills + rng.normal(0, 2, (h, w))).astype("float32")[np.newaxis],
                        window=Window(col, row, w, h),
                    )
    cog = target.with_suffix(".cog.tif")
    cog_translate(str(partial), str(cog), cog_profiles.get("deflate"), quiet=True)
    partial.unlink()
    cog.rename(target)
    return target


def environment(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["NIAOULI_DATA_DIR"] = str(data_dir)
    for name in ("NIAOULI_DATABASE_URL", "NIAOULI_STORAGE", "NIAOULI_PUBLIC_URL"):
        env.pop(name, None)
    return env


def niaouli(env: dict[str, str], *command: str) -> str:
    done = subprocess.run([str(NIAOULI), *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"niaouli {' '.join(command)} a échoué :\n{done.stderr[-4000:]}")
    return done.stdout


def register(data_dir: Path, slug: str, cog: Path) -> tuple[str, Path]:
    """Store the COG as a dataset's raster layer (as the ingestion stores one: a copy in
    the file storage and a `raster_layers` row); its collection id and stored path."""
    from rasterio.warp import transform_bounds
    from sqlalchemy.orm import Session

    from niaouli import startup, storage
    from niaouli.catalogue import service
    from niaouli.catalogue.models import RasterKind, RasterLayer
    from niaouli.db.engine import make_engine
    from niaouli.settings import Settings

    startup.install()
    settings = Settings(data_dir=data_dir)
    stored = storage.store_file(cog, settings, cog.name)
    with rasterio.open(cog) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
        facts = {
            "crs_code": f"EPSG:{dataset.crs.to_epsg()}",
            "crs_wkt": dataset.crs.to_wkt(),
            "width": dataset.width,
            "height": dataset.height,
            "band_count": dataset.count,
            "resolution_x": abs(dataset.transform.a),
            "resolution_y": abs(dataset.transform.e),
            "native_west": dataset.bounds.left,
            "native_south": dataset.bounds.bottom,
            "native_east": dataset.bounds.right,
            "native_north": dataset.bounds.top,
            "extent_west": west,
            "extent_south": south,
            "extent_east": east,
            "extent_north": north,
            "bands": [{"name": f"B{i}", "data_type": t} for i, t in enumerate(dataset.dtypes, 1)],
        }
    kind = RasterKind.ORTHOPHOTO if "ortho" in slug else RasterKind.ELEVATION
    engine = make_engine(settings)
    with Session(engine) as session, session.begin():
        org = service.get_organisation(session, "bench")
        dataset_row = service.create_dataset(session, org, slug, slug)
        session.add(
            RasterLayer(
                dataset=dataset_row,
                name=slug,
                collection_id=slug,
                kind=kind,
                cog_key=stored.key,
                cog_filename=stored.filename,
                cog_size=cog.stat().st_size,
                **facts,
            )
        )
    engine.dispose()
    return slug, storage.area(settings).path(storage.object_name(stored.key, stored.filename))


def prepare(sources: dict[str, Path]) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
    """A scratch data folder (SQLite, local storage) holding the COGs as raster layers."""
    data_dir = OUT / "raster-tiles"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = environment(data_dir)
    niaouli(env, "db", "upgrade")
    niaouli(env, "org", "create", "bench", "--name", "Banc d'essai", "--kind", "research")
    stored = {kind: register(data_dir, f"bench-{kind}", path) for kind, path in sources.items()}
    return env, stored


def wait_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            sys.exit(f"le serveur s'est arrêté :\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"le serveur n'a pas démarré :\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


class PeakMemory:
    """Peak summed RSS of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        total = 0
        for p in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                if any("pycsw" in part for part in p.cmdline()):
                    continue  # niaouli serve's CSW server, not a tile server
                total += p.memory_info().rss
        return total / 1e6

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tiles_over(path: Path, z: int, count: int) -> list[tuple[int, int, int]]:
    """`count` random tiles of zoom `z` inside the raster (the same list for both)."""
    with rasterio.open(path) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    tms = morecantile.tms.get("WebMercatorQuad")
    # A margin of one tile inside, so no tile is outside for either server.
    top, bottom = tms.tile(west, north, z), tms.tile(east, south, z)
    xs = range(
        top.x + (1 if bottom.x - top.x > 2 else 0), bottom.x + (0 if bottom.x - top.x > 2 else 1)
    )
    ys = range(
        top.y + (1 if bottom.y - top.y > 2 else 0), bottom.y + (0 if bottom.y - top.y > 2 else 1)
    )
    rng = random.Random(z)
    return [(z, rng.choice(xs), rng.choice(ys)) for _ in range(count)]


async def hammer(urls: list[str], concurrency: int) -> tuple[float, int, int]:
    """(seconds, ok answers, bytes) for all `urls` at `concurrency` at a time."""
    queue = list(reversed(urls))
    ok = size = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal ok, size
            while queue:
                url = queue.pop()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    continue  # counted as not answered
                if response.status_code == 200:
                    ok += 1
                    size += len(response.content)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, ok, size


def run_server(command: list[str], env: dict[str, str], probe: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_up(probe, process, log)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(name: str, process: subprocess.Popen, urls_by_zoom: dict, concurrency: int) -> dict:
    results = {}
    with PeakMemory(process.pid) as memory:
        for z, urls in urls_by_zoom.items():
            asyncio.run(hammer(urls[:10], concurrency))  # warm: imports, headers, workers
            seconds, ok, size = asyncio.run(hammer(urls, concurrency))
            results[z] = (len(urls) / seconds, ok, len(urls), size / max(ok, 1))
    results["peak_mb"] = memory.peak
    results["start_mb"] = memory.start
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titiler", type=Path, required=True, help="virtualenv de titiler")
    parser.add_argument("--ortho-size", type=int, default=8000)
    parser.add_argument("--dem-size", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tiles", type=int, default=400, help="tuiles par niveau (400)")
    args = parser.parse_args()

    sources = {"ortho": generate("ortho", args.ortho_size), "dem": generate("dem", args.dem_size)}
    env, stored = prepare(sources)
    data_dir = Path(env["NIAOULI_DATA_DIR"])
    port_n, port_t = free_port(), free_port()
    env["GDAL_CACHEMAX"] = "200"  # the same GDAL block cache for both servers (MB)
    niaouli_server = run_server(
        [
            str(NIAOULI),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port_n),
            "--workers",
            str(args.workers),
        ],
        env,
        f"http://127.0.0.1:{port_n}/ogc/",
        data_dir / "serve.log",
    )
    titiler_env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    titiler_env["GDAL_CACHEMAX"] = "200"
    titiler_server = run_server(
        [
            str(args.titiler / "bin" / "uvicorn"),
            "titiler.application.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port_t),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        titiler_env,
        f"http://127.0.0.1:{port_t}/healthz",
        data_dir / "titiler.log",
    )
    try:
        print(
            f"{args.workers} processus chacun, {args.concurrency} requêtes à la fois, "
            f"{args.tiles} tuiles par niveau"
        )
        for kind, (collection, cog) in stored.items():
            with rasterio.open(cog) as dataset:
                shape = f"{dataset.width} × {dataset.height} {dataset.dtypes[0]}"
                stats = dataset.stats(indexes=[1], approx=True)[0] if kind == "dem" else None
            extra = ""
            if stats is not None:
                extra = f"&rescale={stats.min},{stats.max}&colormap_name=viridis"
            zooms = {z: tiles_over(cog, z, args.tiles) for z in ZOOMS}
            ours = {
                z: [
                    f"http://127.0.0.1:{port_n}/ogc/collections/{collection}/map/tiles/"
                    f"WebMercatorQuad/{z}/{y}/{x}?f=png"
                    for z, x, y in tiles
                ]
                for z, tiles in zooms.items()
            }
            theirs = {
                z: [
                    f"http://127.0.0.1:{port_t}/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
                    f"?url={cog}{extra}"
                    for z, x, y in tiles
                ]
                for z, tiles in zooms.items()
            }
            a = measure("niaouli", niaouli_server, ours, args.concurrency)
            b = measure("titiler", titiler_server, theirs, args.concurrency)
            print(f"\n{kind} ({shape}, COG {cog.stat().st_size / 1e6:.0f} MB)")
            print(f"{'zoom':>5} {'niaouli t/s':>12} {'titiler t/s':>12} {'ratio':>6}  réponses 200")
            for z in ZOOMS:
                na, nb = a[z], b[z]
                print(
                    f"{z:>5} {na[0]:12.1f} {nb[0]:12.1f} {na[0] / nb[0]:6.2f}  "
                    f"{na[1]}/{na[2]} et {nb[1]}/{nb[2]} ({na[3] / 1e3:.0f} / {nb[3] / 1e3:.0f} ko)"
                )
            print(
                f"mémoire (avant -> pic) : niaouli {a['start_mb']:.0f} -> {a['peak_mb']:.0f} MB,"
                f" titiler {b['start_mb']:.0f} -> {b['peak_mb']:.0f} MB"
            )
    finally:
        stop(niaouli_server)
        stop(titiler_server)


if __name__ == "__main__":
    main()
