"""What the benchmarks share: generated data over New Caledonia and scratch databases.

`bench/ingest.py` (ingestion) and `bench/features.py` (OGC API serving) read the same
cached files under `bench/out/` (git-ignored) and create their databases the same way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyogrio
import shapely
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
NIAOULI = REPO / ".venv" / "bin" / "niaouli"

# New Caledonia (Grande Terre, the Loyalty Islands, the Isle of Pines).
WEST, EAST, SOUTH, NORTH = 163.5, 168.2, -22.8, -19.5
PLACES = [
    "Nouméa",
    "Païta",
    "Dumbéa",
    "Mont-Dore",
    "Koné",
    "Poindimié",
    "Lifou — Wé",
    "Maré",
    "Île des Pins",
    "Thio",
    "Hienghène",
    "Ouvéa",
    "Bourail",
    "Kaala-Gomen",
    "Pouébo",
    "Yaté",
]


# --- input files -----------------------------------------------------------------------


def _attributes(rng: np.random.Generator, features: int) -> dict[str, pa.Array]:
    """An integer, a float, a short accented text and a date per feature."""
    places = np.array(PLACES, dtype=object)
    start = np.datetime64(dt.date(1990, 1, 1), "D")
    return {
        "code": pa.array(rng.integers(0, 1_000_000, features), type=pa.int32()),
        "mesure": pa.array(rng.normal(25.0, 4.0, features)),
        "lieu": pa.array(
            [
                f"{p} {n}"
                for p, n in zip(
                    places[rng.integers(0, len(PLACES), features)],
                    rng.integers(1, 100, features),
                    strict=True,
                )
            ],
            type=pa.string(),
        ),
        "releve": pa.array(start + rng.integers(0, 12_000, features).astype("timedelta64[D]")),
    }


def _write(path: Path, table: pa.Table, layer: str, geometry_type: str) -> None:
    tmp = path.with_suffix(".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    pyogrio.write_arrow(
        table,
        tmp,
        layer=layer,
        driver="GPKG",
        geometry_name="geom",
        geometry_type=geometry_type,
        crs="EPSG:4326",
    )
    tmp.rename(path)


def make_points(path: Path, features: int, seed: int = 7) -> None:
    """Write `features` random points with attributes to a GeoPackage at `path`."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(WEST, EAST, features)
    lat = rng.uniform(SOUTH, NORTH, features)
    table = pa.table(
        {
            **_attributes(rng, features),
            "geom": pa.array(shapely.to_wkb(shapely.points(lon, lat)), type=pa.binary()),
        }
    )
    _write(path, table, "points", "Point")


def make_hexagons(path: Path, features: int, radius: float = 0.002, seed: int = 11) -> None:
    """Write `features` small random hexagons (`radius` degrees, about 200 m)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(WEST, EAST, features)
    lat = rng.uniform(SOUTH, NORTH, features)
    angles = np.deg2rad(np.arange(0, 420, 60))  # 7 vertices: the ring is closed
    ring = np.empty((features, 7, 2))
    ring[:, :, 0] = lon[:, None] + radius * np.cos(angles)[None, :]
    ring[:, :, 1] = lat[:, None] + radius * np.sin(angles)[None, :]
    table = pa.table(
        {
            **_attributes(rng, features),
            "geom": pa.array(shapely.to_wkb(shapely.polygons(ring)), type=pa.binary()),
        }
    )
    _write(path, table, "hexagones", "Polygon")


def input_file(features: int, kind: str = "points") -> Path:
    """The cached GeoPackage of `features` points (or hexagons), written on first use."""
    path = OUT / f"{kind}-{features}.gpkg"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"écriture de {path.relative_to(REPO)} ({features} entités)...", flush=True)
        (make_points if kind == "points" else make_hexagons)(path, features)
    return path


# --- database --------------------------------------------------------------------------


def recreate_database(dsn: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    name = info["dbname"]
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def scalar(dsn: str, query: sql.Composable | str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(query)
        row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None
