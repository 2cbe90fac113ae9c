"""Raster benchmark (issue 19), one run, two sections.

`ingest`: `niaouli ingest` of a generated 20,000 × 20,000 float32 DEM and an
8,000 × 8,000 RGB orthophoto against `gdal_translate -of COG` on the same files: wall
time, CPU time (user + system of all threads, which other load on the machine does not
move), the ratios niaouli / gdal_translate and each tool's peak RSS (from `os.wait4` in a
launcher process, as bench/ingest.py does). gdal_translate runs twice per file: with the
COG driver's defaults, and with the creation options niaouli chooses for the file's kind
(`niaouli.ingest.raster.cog`), so that the ratio compares the same work. niaouli's time
includes what gdal_translate does not do: the header checks, copying the original into
the file store, hashing both files and the catalogue transaction (an embedded SQLite
catalogue in `bench/out/`).

`tiles`: map tiles per second at zooms 8, 12 and 16, Niaouli against titiler, on the
COGs the ingestion stored (ingested first, untimed, if `ingest` did not run), with the
same number of worker processes, the same `GDAL_CACHEMAX`, the same random tiles at the
same concurrency and the same colouring (viridis over the same range for the DEM):
`niaouli serve --workers N` at `/ogc/collections/{id}/map/tiles/WebMercatorQuad/{z}/{y}/{x}`
and titiler (`uvicorn titiler.application.main:app --workers N` from its own virtualenv,
`--titiler`; `pip install titiler.application uvicorn` there, never a project
dependency) at `/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=<the stored COG>`. Printed
per raster and zoom: tiles/s for each, the ratio, each server's CPU time per tile (its
processes' user + system time over the run, divided by the tiles: the figure the
machine's other load does not move, where tiles/s under load also measures how the
scheduler treats each server) and the ratio titiler / niaouli, answers, and each
server's memory before and at its peak (resident set of its processes but niaouli's
pycsw, summed, sampled every 50 ms).

    .venv/bin/python bench/raster.py --titiler /tmp/titiler-venv           # full sizes
    .venv/bin/python bench/raster.py --titiler /tmp/titiler-venv --quick   # 4,000 / 2,000 px
    .venv/bin/python bench/raster.py --only ingest --dem-size 6000 --ortho-size 3000
    git archive main | tar -x -C /tmp/base   # and measure main's tiles too, same run:
    .venv/bin/python bench/raster.py --titiler /tmp/titiler-venv --quick --baseline /tmp/base

`--baseline DIR` serves the tiles a third time from another copy of the sources (say,
main's, before a change) with this virtualenv (`BASELINE_LAUNCHER` points the editable
install's import mapping there), for before/after ratios measured under the same load.

The machine's load average is printed at the start and the end of each section: on a
shared machine the figures are only comparable within one run. The generated sources
are kept in `bench/out/` for the next runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
import morecantile  # noqa: E402
import psutil  # noqa: E402
import rasterio  # noqa: E402
from rasterio.warp import transform_bounds  # noqa: E402

from ingest import cpu_seconds, timed  # noqa: E402  bench/ingest.py: the launcher measuring peak RSS
from tests.raster_support import dem, orthophoto  # noqa: E402

OUT = REPO / "bench" / "out"
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
ZOOMS = (8, 12, 16)
GDAL_CACHEMAX = "200"  # MB, the same for both tile servers
QUICK = {"dem_size": 4_000, "ortho_size": 2_000, "tiles": 100}
# `niaouli` from another source tree (--baseline) with this virtualenv: its editable
# install maps `niaouli.*` to folders; the mapping is pointed at the other tree before
# anything of niaouli is imported (at the top level: uvicorn's spawned workers run it too).
BASELINE_LAUNCHER = """
import os
import sys

finder = next(m for n, m in list(sys.modules.items()) if n.startswith("__editable___niaouli"))
for key, value in finder.MAPPING.items():
    finder.MAPPING[key] = value.replace(os.environ["BENCH_REPO"], os.environ["BENCH_BASELINE"])
if __name__ == "__main__":
    from niaouli.cli import main

    sys.exit(main())
"""


@dataclass
class Context:
    """What every section shares: sizes, the generated files, the catalogue, the report."""

    dem_size: int
    ortho_size: int
    repeat: int
    work: Path
    env: dict[str, str]
    titiler: Path | None = None
    baseline: Path | None = None
    workers: int = 2
    concurrency: int = 8
    tiles: int = 400
    ingested: set[str] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def dem(self) -> Path:
        path = OUT / f"dem-{self.dem_size}.tif"
        if not path.exists():
            started = time.perf_counter()
            dem(path.with_suffix(".part"), self.dem_size, rows_per_write=256, BIGTIFF="IF_SAFER")
            path.with_suffix(".part").rename(path)
            self.say(f"  (généré {path.name} en {time.perf_counter() - started:.0f} s)")
        return path

    def orthophoto(self) -> Path:
        path = OUT / f"ortho-grain-{self.ortho_size}.tif"
        if not path.exists():
            started = time.perf_counter()
            orthophoto(path.with_suffix(".part"), self.ortho_size, rows_per_write=256, grain=24)
            path.with_suffix(".part").rename(path)
            self.say(f"  (généré {path.name} en {time.perf_counter() - started:.0f} s)")
        return path


def catalogue(work: Path) -> dict[str, str]:
    """An empty embedded catalogue with the organisation `bench`; its environment."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ)
    env["NIAOULI_DATA_DIR"] = str(work / "data")
    env["NIAOULI_DATABASE_URL"] = f"sqlite:///{work / 'catalogue.sqlite'}"
    subprocess.run([str(NIAOULI), "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(NIAOULI), "org", "create", "bench", "--name", "Banc d'essai", "--kind", "government"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:,.0f} Mo".replace(",", " ")


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"charge de la machine {one:.1f} (1 min), {five:.1f} (5 min), {os.cpu_count()} cœurs"


def _best(runs: list[tuple[float, int]]) -> tuple[float, int]:
    return min(runs, key=lambda r: r[0])


# --- section: ingestion ----------------------------------------------------------------


def ingest_section(ctx: Context) -> None:
    from niaouli.catalogue.models import RasterKind
    from niaouli.ingest.raster import cog
    from niaouli.ingest.raster.checks import read_header
    from niaouli.ingest.raster.sniff import RasterFile, RasterFormat

    gdal_translate = shutil.which("gdal_translate")
    if gdal_translate is None:
        sys.exit("gdal_translate introuvable (Debian : apt-get install -y gdal-bin)")
    version = subprocess.run([gdal_translate, "--version"], capture_output=True, text=True)
    ctx.say(f"## Ingestion : niaouli ingest / gdal_translate -of COG ({version.stdout.strip()})")
    ctx.say(f"  ({load()})")
    for label, source, kind in (
        (f"MNT float32 {ctx.dem_size} × {ctx.dem_size}", ctx.dem(), RasterKind.ELEVATION),
        (
            f"orthophoto RVB {ctx.ortho_size} × {ctx.ortho_size}",
            ctx.orthophoto(),
            RasterKind.ORTHOPHOTO,
        ),
    ):
        info = read_header(RasterFile(source, RasterFormat.GEOTIFF), source.name)
        ours = cog.translate_arguments(kind, info, None)
        # `-co STATISTICS=YES` needs GDAL >= 3.8: dropped (with its `-co`) for older ones.
        cut = ours.index("STATISTICS=YES")
        same = ours[: cut - 1] + ours[cut + 1 :]
        runs: dict[str, list[tuple[float, int]]] = {"niaouli": [], "défauts": [], "mêmes": []}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        inside: list[float] = []  # the ingestion's own time, as its report gives it
        for attempt in range(ctx.repeat):
            dataset = f"bench-{kind.value}"
            log = ctx.work / f"niaouli-{kind.value}-{attempt}.log"
            runs["niaouli"].append(
                timed(
                    "niaouli",
                    [
                        str(NIAOULI),
                        "ingest",
                        str(source),
                        "--org",
                        "bench",
                        "--dataset",
                        dataset,
                        "--progress",
                        "none",
                    ],
                    ctx.env,
                    log,
                )
            )
            cpu["niaouli"].append(cpu_seconds(log))
            inside.append(_reported_seconds(log))
            for name, arguments in (("défauts", ["-of", "COG"]), ("mêmes", same)):
                target = ctx.work / f"gdal-{kind.value}-{name}.tif"
                log = ctx.work / f"gdal-{kind.value}-{name}-{attempt}.log"
                runs[name].append(
                    timed(
                        "gdal_translate",
                        [gdal_translate, "-q", *arguments, str(source), str(target)],
                        ctx.env,
                        log,
                    )
                )
                cpu[name].append(cpu_seconds(log))
                target.unlink(missing_ok=True)
        ours_s, ours_rss = _best(runs["niaouli"])
        ours_cpu = min(cpu["niaouli"])
        ctx.say(f"\n{label} ({_size(source)}, {kind.value}) — meilleur de {ctx.repeat}")
        ctx.say(
            f"  niaouli ingest            {ours_s:8.1f} s   CPU {ours_cpu:7.1f} s"
            f"   pic mémoire {ours_rss / 1024:6.0f} Mo"
        )
        ctx.say(
            f"  dont l'ingestion même     {min(inside):8.1f} s   (ce que paient le portail et"
            " l'API ; le reste : démarrage de la commande)"
        )
        for name, title in (
            ("défauts", "gdal_translate (défauts)"),
            ("mêmes", "gdal_translate (mêmes options)"),
        ):
            seconds, rss = _best(runs[name])
            their_cpu = min(cpu[name])
            ctx.say(
                f"  {title:30}{seconds:8.1f} s   CPU {their_cpu:7.1f} s   pic mémoire"
                f" {rss / 1024:6.0f} Mo   niaouli / gdal_translate : durée {ours_s / seconds:.2f},"
                f" CPU {ours_cpu / their_cpu:.2f}"
            )
        ctx.ingested.add(kind.value)
        stored = _stored_cog_size(ctx.work, f"bench-{kind.value}")
        if stored:
            ctx.say(f"  COG stocké : {stored / 1e6:,.0f} Mo".replace(",", " "))
    ctx.say(f"  ({load()})")


def _reported_seconds(log: Path) -> float:
    """The ingestion's time as its report prints it ("raster en 12.3 s"): the command
    minus its start-up, i.e. what an upload through the running portal or API costs."""
    found = re.search(r"raster en ([0-9.]+) s", log.read_text(errors="replace"))
    return float(found.group(1)) if found else float("nan")


def _stored_cog_size(work: Path, slug: str) -> int | None:
    with sqlite3.connect(work / "catalogue.sqlite") as db:
        row = db.execute(
            "SELECT r.cog_size FROM raster_layers r JOIN datasets d ON d.id = r.dataset_id "
            "WHERE d.slug = ?",
            (slug,),
        ).fetchone()
    return row[0] if row else None


# --- section: map tiles against titiler ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            sys.exit(f"le serveur s'est arrêté :\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
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
        self.peak = self.start = 0.0
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


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a server and its workers (not the CSW's pycsw): the
    figure the machine's other load does not move, unlike tiles per second."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            if any("pycsw" in part for part in p.cmdline()):
                continue
            times = p.cpu_times()
            total += times.user + times.system
    return total


def tiles_over(path: Path, z: int, count: int) -> list[tuple[int, int, int]]:
    """`count` random tiles of zoom `z` inside the raster (the same list for both)."""
    with rasterio.open(path) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    tms = morecantile.tms.get("WebMercatorQuad")
    top, bottom = tms.tile(west, north, z), tms.tile(east, south, z)
    # A margin of one tile inside when there is room, so no tile is outside for either.
    inner_x = bottom.x - top.x > 2
    inner_y = bottom.y - top.y > 2
    xs = range(top.x + inner_x, bottom.x + (0 if inner_x else 1))
    ys = range(top.y + inner_y, bottom.y + (0 if inner_y else 1))
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


def measure(servers: list[tuple[subprocess.Popen, dict]], concurrency: int) -> list[dict]:
    """Each server's tiles/s per zoom and memory. Zoom by zoom, the servers take turns
    (in a rotating order), so that a change of the machine's load between them spreads
    over all instead of falling on the one measured last."""
    results: list[dict] = [{} for _ in servers]
    memories = [PeakMemory(process.pid) for process, _urls in servers]
    for memory in memories:
        memory.__enter__()
    try:
        for turn, z in enumerate(ZOOMS):
            order = list(range(len(servers)))
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for i in order:
                urls = servers[i][1][z]
                asyncio.run(hammer(urls[:10], concurrency))  # warm: imports, workers, cache
                cpu_before = server_cpu(servers[i][0].pid)
                seconds, ok, size = asyncio.run(hammer(urls, concurrency))
                cpu_ms = (server_cpu(servers[i][0].pid) - cpu_before) * 1e3 / len(urls)
                results[i][z] = (len(urls) / seconds, ok, len(urls), size / max(ok, 1), cpu_ms)
    finally:
        for memory in memories:
            memory.__exit__()
    for result, memory in zip(results, memories, strict=True):
        result["peak_mb"], result["start_mb"] = memory.peak, memory.start
    return results


def _stored_cog(ctx: Context, slug: str) -> Path:
    from niaouli import storage
    from niaouli.settings import Settings

    with sqlite3.connect(ctx.work / "catalogue.sqlite") as db:
        key, filename = db.execute(
            "SELECT r.cog_key, r.cog_filename FROM raster_layers r "
            "JOIN datasets d ON d.id = r.dataset_id WHERE d.slug = ?",
            (slug,),
        ).fetchone()
    settings = Settings(data_dir=Path(ctx.env["NIAOULI_DATA_DIR"]))
    return storage.area(settings).path(storage.object_name(key, filename))


def tiles_section(ctx: Context) -> None:
    if ctx.titiler is None or not (ctx.titiler / "bin" / "uvicorn").exists():
        ctx.say("\n## Tuiles : titiler absent (--titiler VENV, avec titiler.application)")
        return
    sources = {"orthophoto": ctx.orthophoto(), "elevation": ctx.dem()}
    for kind, source in sources.items():
        if kind not in ctx.ingested:  # the COG the ingestion makes, not timed here
            subprocess.run(
                [str(NIAOULI), "ingest", str(source), "--org", "bench"]
                + ["--dataset", f"bench-{kind}", "--progress", "none"],
                env=ctx.env,
                check=True,
                capture_output=True,
            )
    port_n, port_t = free_port(), free_port()
    env = {**ctx.env, "GDAL_CACHEMAX": GDAL_CACHEMAX}
    niaouli_server = run_server(
        [str(NIAOULI), "serve", "--host", "127.0.0.1", "--port", str(port_n)]
        + ["--workers", str(ctx.workers)],
        env,
        f"http://127.0.0.1:{port_n}/ogc/",
        ctx.work / "serve.log",
    )
    base_server = None
    if ctx.baseline is not None:
        launcher = ctx.work / "baseline_niaouli.py"
        launcher.write_text(BASELINE_LAUNCHER)
        port_b = free_port()
        base_env = {**env, "BENCH_REPO": str(REPO), "BENCH_BASELINE": str(ctx.baseline)}
        base_server = run_server(
            [sys.executable, str(launcher), "serve", "--host", "127.0.0.1", "--port"]
            + [str(port_b), "--workers", str(ctx.workers)],
            base_env,
            f"http://127.0.0.1:{port_b}/ogc/",
            ctx.work / "baseline.log",
        )
    titiler_env = {k: v for k, v in os.environ.items() if not k.startswith("NIAOULI_")}
    titiler_env["GDAL_CACHEMAX"] = GDAL_CACHEMAX
    titiler_server = run_server(
        [str(ctx.titiler / "bin" / "uvicorn"), "titiler.application.main:app"]
        + ["--host", "127.0.0.1", "--port", str(port_t), "--workers", str(ctx.workers)]
        + ["--log-level", "warning"],
        titiler_env,
        f"http://127.0.0.1:{port_t}/healthz",
        ctx.work / "titiler.log",
    )
    ctx.say(
        f"\n## Tuiles : niaouli / titiler, {ctx.workers} processus chacun, "
        f"{ctx.concurrency} requêtes à la fois, {ctx.tiles} tuiles par niveau"
    )
    ctx.say(f"  ({load()})")
    try:
        for kind in sources:
            collection = f"bench-{kind}"
            cog = _stored_cog(ctx, collection)
            with rasterio.open(cog) as dataset:
                shape = f"{dataset.width} × {dataset.height} {dataset.dtypes[0]}"
                stats = dataset.stats(indexes=[1], approx=True)[0] if dataset.count == 1 else None
            extra = ""
            if stats is not None:
                extra = f"&rescale={stats.min},{stats.max}&colormap_name=viridis"
            zooms = {z: tiles_over(cog, z, ctx.tiles) for z in ZOOMS}
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
            servers = [(niaouli_server, ours), (titiler_server, theirs)]
            if base_server is not None:
                based = {
                    z: [u.replace(f":{port_n}/", f":{port_b}/") for u in us]
                    for z, us in ours.items()
                }
                servers.append((base_server, based))
            a, b, *rest = measure(servers, ctx.concurrency)
            c = rest[0] if rest else None
            ctx.say(f"\n{kind} ({shape}, COG {cog.stat().st_size / 1e6:.0f} Mo)")
            header = f"{'zoom':>6} {'niaouli t/s':>12} {'titiler t/s':>12} {'rapport':>8}"
            if c is not None:
                header += f" {'base t/s':>9} {'base/titiler':>13}"
            header += f" {'ms CPU/tuile':>13} {'rapport CPU':>12}"
            ctx.say(header + "  réponses 200 (niaouli, titiler)")
            for z in ZOOMS:
                na, nb = a[z], b[z]
                line = f"{z:>6} {na[0]:12.1f} {nb[0]:12.1f} {na[0] / nb[0]:8.2f}"
                if c is not None:
                    line += f" {c[z][0]:9.1f} {c[z][0] / nb[0]:13.2f}"
                # Server CPU per tile (niaouli / titiler) and titiler's ÷ ours: > 1 means
                # ours does less work per tile, whatever else the machine is doing.
                line += f" {na[4]:6.1f}/{nb[4]:<6.1f} {nb[4] / max(na[4], 1e-9):12.2f}"
                ctx.say(
                    f"{line}  {na[1]}/{na[2]}, {nb[1]}/{nb[2]} "
                    f"({na[3] / 1e3:.0f} / {nb[3] / 1e3:.0f} ko)"
                )
            memory = (
                f"  mémoire (avant -> pic) : niaouli {a['start_mb']:.0f} -> {a['peak_mb']:.0f} Mo,"
                f" titiler {b['start_mb']:.0f} -> {b['peak_mb']:.0f} Mo"
            )
            if c is not None:
                memory += f", base {c['start_mb']:.0f} -> {c['peak_mb']:.0f} Mo"
            ctx.say(memory)
    finally:
        stop(niaouli_server)
        stop(titiler_server)
        if base_server is not None:
            stop(base_server)
    ctx.say(f"  ({load()})")


SECTIONS: dict[str, Callable[[Context], None]] = {"ingest": ingest_section, "tiles": tiles_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dem-size", type=int, default=20_000)
    parser.add_argument("--ortho-size", type=int, default=8_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; best kept")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--titiler", type=Path, help="virtualenv with titiler.application")
    parser.add_argument("--baseline", type=Path, help="another source tree, measured too")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tiles", type=int, default=400, help="tiles per zoom (400)")
    parser.add_argument(
        "--quick", action="store_true", help="4,000 px DEM, 2,000 px ortho, 100 tiles per zoom"
    )
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "raster-run"
    ctx = Context(
        args.dem_size,
        args.ortho_size,
        args.repeat,
        work,
        catalogue(work),
        titiler=args.titiler,
        baseline=args.baseline,
        workers=args.workers,
        concurrency=args.concurrency,
        tiles=args.tiles,
    )
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        section(ctx)
    shutil.rmtree(work / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
