"""Raster benchmark (issue 19). Section `ingest`: `niaouli ingest` of a generated
20,000 × 20,000 float32 DEM and an 8,000 × 8,000 RGB orthophoto against
`gdal_translate -of COG` on the same files, in the same run: wall time, the ratio
niaouli / gdal_translate and each tool's peak RSS (from `os.wait4` in a launcher process,
as bench/ingest.py does).

    .venv/bin/python bench/raster.py                          # every section, full sizes
    .venv/bin/python bench/raster.py --only ingest --dem-size 6000 --ortho-size 3000

gdal_translate runs twice per file: with the COG driver's defaults (LZW), and with the
creation options niaouli chooses for the file's kind (`niaouli.ingest.raster.cog`), so
that the ratio compares the same work. niaouli's time includes what gdal_translate does
not do: the header checks, copying the original into the file store, hashing both files
and the catalogue transaction (an embedded SQLite catalogue in `bench/out/`).
The generated sources are kept in `bench/out/` for the next runs.

Sections are functions in `SECTIONS`, run in order; another section (map tiles against
titiler) takes the same `Context` and adds its lines to the same report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import timed  # noqa: E402  bench/ingest.py: the launcher measuring peak RSS
from tests.raster_support import dem, orthophoto  # noqa: E402

OUT = REPO / "bench" / "out"
NIAOULI = REPO / ".venv" / "bin" / "niaouli"


@dataclass
class Context:
    """What every section shares: sizes, the generated files, the catalogue, the report."""

    dem_size: int
    ortho_size: int
    repeat: int
    work: Path
    env: dict[str, str]
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
        path = OUT / f"ortho-{self.ortho_size}.tif"
        if not path.exists():
            started = time.perf_counter()
            orthophoto(path.with_suffix(".part"), self.ortho_size, rows_per_write=256)
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
        for attempt in range(ctx.repeat):
            dataset = f"bench-{kind.value}"
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
                    ctx.work / f"niaouli-{kind.value}-{attempt}.log",
                )
            )
            for name, arguments in (("défauts", ["-of", "COG"]), ("mêmes", same)):
                target = ctx.work / f"gdal-{kind.value}-{name}.tif"
                runs[name].append(
                    timed(
                        "gdal_translate",
                        [gdal_translate, "-q", *arguments, str(source), str(target)],
                        ctx.env,
                        ctx.work / f"gdal-{kind.value}-{name}-{attempt}.log",
                    )
                )
                target.unlink(missing_ok=True)
        ours_s, ours_rss = _best(runs["niaouli"])
        ctx.say(f"\n{label} ({_size(source)}, {kind.value}) — meilleur de {ctx.repeat}")
        ctx.say(
            f"  niaouli ingest            {ours_s:8.1f} s   pic mémoire {ours_rss / 1024:6.0f} Mo"
        )
        for name, title in (
            ("défauts", "gdal_translate (défauts)"),
            ("mêmes", "gdal_translate (mêmes options)"),
        ):
            seconds, rss = _best(runs[name])
            ctx.say(
                f"  {title:26}{seconds:8.1f} s   pic mémoire {rss / 1024:6.0f} Mo   "
                f"rapport niaouli / gdal_translate {ours_s / seconds:.2f}"
            )
        stored = _stored_cog_size(ctx.work, f"bench-{kind.value}")
        if stored:
            ctx.say(f"  COG stocké : {stored / 1e6:,.0f} Mo".replace(",", " "))


def _stored_cog_size(work: Path, slug: str) -> int | None:
    with sqlite3.connect(work / "catalogue.sqlite") as db:
        row = db.execute(
            "SELECT r.cog_size FROM raster_layers r JOIN datasets d ON d.id = r.dataset_id "
            "WHERE d.slug = ?",
            (slug,),
        ).fetchone()
    return row[0] if row else None


SECTIONS: dict[str, Callable[[Context], None]] = {"ingest": ingest_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dem-size", type=int, default=20_000)
    parser.add_argument("--ortho-size", type=int, default=8_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool; best kept")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "raster-run"
    ctx = Context(args.dem_size, args.ortho_size, args.repeat, work, catalogue(work))
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        section(ctx)
    shutil.rmtree(work / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
