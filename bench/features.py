"""Benchmark: our /ogc against stock pygeoapi 0.24 and tipg, on the same PostGIS tables.

Why: OGC API Features is how QGIS, GDAL and web maps read the platform's layers; stock
pygeoapi (what we build on) is the baseline to beat by far (×5), and tipg, a lean
FastAPI + asyncpg server written for speed, is the level to reach.

How: N random points (and M small hexagons for the tile scenarios) over New Caledonia
are written once to `bench/out/` (cached, git-ignored; same generator as
`bench/ingest.py`) and loaded with the real `niaouli ingest` into a scratch database
(`niaouli_bench_features`, kept between runs). The peers get their own virtualenvs under
`bench/out/` (pygeoapi 0.24 with its PostgreSQL and MVT-postgresql providers, tipg from
PyPI) and read the SAME tables. The three servers run side by side, started by the same
launcher (`niaouli/serving.py`: uvicorn with httptools and uvloop, the same number of
workers, on a socket with TCP_NODELAY — uvicorn's own multi-worker socket adds 40 ms to
every response, which would hide every other difference); for each scenario, each server is
warmed up then loaded by the same `wrk` command (fixed duration, same connections), one
server after the other, in `--rounds` alternating turns (the best turn counts: the
machine's background load moves from minute to minute). Before loading, one request per
server and scenario is checked
(status 200, feature count, id, non-empty tile with the expected number of features):
a fast error never counts as a win, and a server whose single request takes longer than
`--max-request` seconds is not loaded (its figure is that one request).

Beside requests/s, each server's CPU time per request: user + system seconds of the
server process and its workers (psutil, read just before and just after each wrk turn;
niaouli's pycsw processes left out), summed over all the turns and divided by the
requests wrk counted in them; then the same plus the CPU of the PostgreSQL backends
serving that server's connections (found by client port in `pg_stat_activity`, when the
database runs on this machine). Requests/s on a shared machine mostly measure the
scheduler; CPU per request is what each server costs, whatever else runs, and the
ratios of the last table are printed for both.

    .venv/bin/python bench/features.py                        # 1,000,000 points
    .venv/bin/python bench/features.py --duration 5 --servers niaouli,tipg
    .venv/bin/python bench/features.py --scenarios first_page,by_id --keep

Needs PostgreSQL with PostGIS (default postgres@127.0.0.1:5432, trust), Debian's `wrk`
(installed when missing, as root) and a Python 3.12 for the peers (found as
scripts/lib.sh does).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import yaml
from benchdata import NIAOULI, OUT, REPO, input_file, recreate_database, scalar
from psycopg import sql

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_features"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
DATA_DIR = OUT / "features-data"
NOUMEA = (166.4580, -22.2758)
STATEMENT_TIMEOUT_S = 60
# Every server runs on uvicorn with httptools and uvloop, as ours does (pyproject.toml).
PEERS = {
    "pygeoapi": [
        "pygeoapi==0.24.0",
        "psycopg2-binary",
        "geoalchemy2",
        "starlette",
        "uvicorn",
        "httptools",
        "uvloop",
    ],
    "tipg": ["tipg", "uvicorn", "httptools", "uvloop"],
}
SERVERS = ("niaouli", "pygeoapi", "tipg")
SCENARIOS = ("first_page", "bbox", "offset", "by_id", "tile_z12", "tile_z8")
TITLES = {
    "first_page": "1re page (limit=100)",
    "bbox": "bbox ~5 km Nouméa (limit=500)",
    "offset": "offset {offset:,} (limit=100)",
    "by_id": "une entité par id",
    "tile_z12": "tuile MVT z12 (Nouméa)",
    "tile_z8": "tuile MVT z8 (Nouméa)",
}


# --- data ------------------------------------------------------------------------------


@dataclass
class Layer:
    collection_id: str
    table: str
    feature_count: int


@dataclass
class Data:
    dsn: str
    points: Layer
    hexagons: Layer


def _layer(dsn: str, dataset: str) -> Layer | None:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT l.collection_id, l.table_name, l.feature_count FROM layers l "
                "JOIN datasets d ON d.id = l.dataset_id WHERE d.slug = %s",
                (dataset,),
            ).fetchone()
    except psycopg.Error:
        return None
    return Layer(*row) if row else None


def niaouli_env(dsn: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NIAOULI_DATABASE_URL=dsn, NIAOULI_DATA_DIR=str(DATA_DIR))
    return env


def _niaouli(dsn: str, *args: str) -> None:
    done = subprocess.run(
        [str(NIAOULI), *args], env=niaouli_env(dsn), capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"niaouli {' '.join(args)} a échoué :\n{done.stderr[-4000:]}")


def prepare_data(dsn: str, points: int, hexagons: int, reload: bool) -> Data:
    """The two layers, ingested with `niaouli ingest` unless already there at that size."""
    wanted = {"bench-points": ("points", points), "bench-hexagones": ("hexagons", hexagons)}
    found = {slug: _layer(dsn, slug) for slug in wanted}
    if reload or any(
        found[s] is None or found[s].feature_count != n for s, (_, n) in wanted.items()
    ):
        files = {slug: input_file(n, kind) for slug, (kind, n) in wanted.items()}
        print(f"base {dsn} : création et import (niaouli ingest)...", flush=True)
        recreate_database(dsn)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _niaouli(dsn, "db", "upgrade")
        _niaouli(dsn, "org", "create", "bench", "--name", "Banc d'essai", "--kind", "research")
        for slug, path in files.items():
            started = time.perf_counter()
            _niaouli(
                dsn, "ingest", str(path), "--org", "bench", "--dataset", slug, "--progress", "none"
            )
            print(f"  {slug} : {time.perf_counter() - started:.1f} s", flush=True)
        found = {slug: _layer(dsn, slug) for slug in wanted}
    else:
        _niaouli(dsn, "db", "upgrade")  # the schema follows the code between runs
    # What a publication through a server does after its commit (`niaouli.tile_warm`):
    # the heavy low-zoom tiles stored once; `niaouli ingest` leaves them to the first
    # requests. Tiles already stored (same table, same attributes) are not made again.
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(VENV_PYTHON),
            "-c",
            "from niaouli.db.engine import get_engine; from niaouli.tile_warm import warm_all;"
            " print(warm_all(get_engine()))",
        ],
        env=niaouli_env(dsn),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"préparation des tuiles : échec\n{done.stderr[-4000:]}")
    print(
        f"tuiles basses stockées : {done.stdout.strip()} nouvelles en "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    # The same ceiling for every server: a runaway query cannot hold a core for minutes.
    scalar(
        dsn,
        sql.SQL("ALTER DATABASE {} SET statement_timeout = {}").format(
            sql.Identifier(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]),
            sql.Literal(f"{STATEMENT_TIMEOUT_S}s"),
        ),
    )
    return Data(dsn, found["bench-points"], found["bench-hexagones"])  # type: ignore[arg-type]


# --- peers' environments ---------------------------------------------------------------


def find_python() -> str:
    """A Python >= 3.12, found by scripts/lib.sh's own `find_python`."""
    done = subprocess.run(
        ["bash", "-c", f". {REPO / 'scripts' / 'lib.sh'} && find_python"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit("Python >= 3.12 introuvable pour les serveurs de comparaison (NIAOULI_PYTHON)")
    return done.stdout.strip()


def ensure_venv(name: str) -> Path:
    """bench/out/venv-<name> with the peer's packages (reinstalled when the list changes)."""
    venv = OUT / f"venv-{name}"
    marker = venv / "bench-requirements.txt"
    wanted = "\n".join(PEERS[name]) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return venv
    print(f"environnement {venv.relative_to(REPO)} : installation de {PEERS[name]}", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([find_python(), "-m", "venv", str(venv)], check=True)
    log = OUT / f"venv-{name}.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", *PEERS[name]], stdout=out, stderr=out
        )
    if done.returncode != 0:
        sys.exit(f"pip install a échoué pour {name} (journal : {log})")
    marker.write_text(wanted)
    return venv


def ensure_wrk() -> str:
    found = subprocess.run(["which", "wrk"], capture_output=True, text=True).stdout.strip()
    if found:
        return found
    if os.geteuid() == 0:
        print("wrk absent : apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        return "wrk"
    sys.exit("wrk introuvable : installez-le (Debian : `apt-get install -y wrk`, en root)")


# --- servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    base: str  # URL of the OGC API root, no trailing slash
    command: list[str]
    env: dict[str, str]
    collection: Callable[[Layer], str]
    tile_path: Callable[[str, int, int, int], str] | None  # (collection, z, x, y)
    process: subprocess.Popen | None = None
    log: Path | None = None

    def start(self) -> None:
        self.log = OUT / f"server-{self.name}-{self.base.split(':')[2].split('/')[0]}.log"
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
            cwd=OUT,
        )

    def wait_ready(self, probe: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base + probe, timeout=30).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-3000:] if self.log else ""
        sys.exit(f"le serveur {self.name} n'a pas démarré :\n{tail}")

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the server and its workers, not
        counting the CSW's pycsw processes (idle here) nor PostgreSQL's backends."""
        if self.process is None:
            return 0.0
        return server_cpu(self.process.pid)

    def database_cpu(self, dsn: str) -> dict[int, float]:
        """CPU seconds so far of the PostgreSQL backends serving this server."""
        if self.process is None:
            return {}
        return backends_cpu(self.process.pid, dsn)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def backends_cpu(pid: int, dsn: str) -> dict[int, float]:
    """{backend pid: CPU seconds so far} of the PostgreSQL backends serving the server's
    connections (matched by client port in `pg_stat_activity`); empty when the database
    is not on this machine (its processes cannot be read)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    if info.get("host", "127.0.0.1") not in ("127.0.0.1", "localhost", "::1"):
        return {}
    db_port = int(info.get("port", 5432))
    root = psutil.Process(pid)
    ports: list[int] = []
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            ports += [
                c.laddr.port
                # `net_connections` since psutil 6, `connections` before (pyproject: >= 5.9)
                for c in (getattr(p, "net_connections", None) or p.connections)(kind="tcp")
                if c.raddr and c.raddr.port == db_port
            ]
    if not ports:
        return {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", (ports,)
            )
        ]
    found: dict[int, float] = {}
    for backend in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(backend).cpu_times()
            found[backend] = times.user + times.system
    return found


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children, pycsw's excepted (as in
    bench/raster.py): the figure the machine's other load barely moves, unlike req/s."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            if any("pycsw" in part for part in p.cmdline()):
                continue
            times = p.cpu_times()
            total += times.user + times.system
    return total


SERVING = REPO / "niaouli" / "serving.py"


def asgi_command(
    python: Path, app: str, port: int, workers: int, factory: bool = False
) -> list[str]:
    """The same launcher for the three servers: uvicorn with `workers` processes on a
    socket with TCP_NODELAY (`niaouli/serving.py`, standard library + uvicorn only; `-P`
    keeps its folder off the peers' import path)."""
    return [
        str(python),
        "-P",
        str(SERVING),
        app,
        *(["--factory"] if factory else []),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def niaouli_server(data: Data, workers: int) -> Server:
    """Our app as `niaouli serve` runs it (`niaouli.web:create_app`, same launcher), with
    its in-memory tile cache off (the peers compute every tile). The heavy low-zoom tiles
    stored at publication (`niaouli.db.tile_overviews`) are read as in production: that
    is how the platform serves them (issue 20 §4), made ahead of time, complete."""
    port = free_port()
    env = dict(niaouli_env(data.dsn), NIAOULI_TILE_CACHE_MB="0")
    return Server(
        "niaouli",
        f"http://127.0.0.1:{port}/ogc",
        asgi_command(VENV_PYTHON, "niaouli.web:create_app", port, workers, factory=True),
        env,
        lambda layer: layer.collection_id,
        lambda c, z, x, y: f"/collections/{c}/tiles/WebMercatorQuad/{z}/{y}/{x}",
    )


def pygeoapi_config(data: Data, port: int) -> dict:
    info = psycopg.conninfo.conninfo_to_dict(data.dsn)
    connection = {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "dbname": info["dbname"],
        "user": info.get("user", "postgres"),
        "password": info.get("password", ""),
        "search_path": ["layers", "public"],
    }

    def feature(layer: Layer) -> dict:
        return {
            "type": "feature",
            "name": "PostgreSQL",
            "data": connection,
            "id_field": "fid",
            "table": layer.table,
            "geom_field": "geom",
        }

    def resource(layer: Layer, tiles: bool) -> dict:
        providers = [feature(layer)]
        if tiles:
            providers.append(
                {
                    **feature(layer),
                    "type": "tile",
                    "name": "MVT-postgresql",
                    "options": {"zoom": {"min": 0, "max": 16}},
                    "format": {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
                }
            )
        return {
            "type": "collection",
            "title": layer.collection_id,
            "description": layer.collection_id,
            "keywords": ["bench"],
            "extents": {"spatial": {"bbox": [163.5, -22.8, 168.2, -19.5]}},
            "links": [],
            "providers": providers,
        }

    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": ""},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "bench",
                "description": "bench",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": "http://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "http://example.org"},
            "provider": {"name": "bench", "url": "http://example.org"},
            "contact": {"name": "bench", "email": "bench@example.org", "role": "pointOfContact"},
        },
        "resources": {
            layer.collection_id: resource(layer, tiles)
            for layer, tiles in ((data.points, False), (data.hexagons, True))
        },
    }


def pygeoapi_server(data: Data, workers: int) -> Server:
    """Stock pygeoapi 0.24: its own Starlette app, PostgreSQL and MVT-postgresql providers."""
    venv = ensure_venv("pygeoapi")
    port = free_port()
    # Named after the port: two runs at once do not overwrite each other's files.
    config, openapi = OUT / f"pygeoapi-{port}.yml", OUT / f"pygeoapi-{port}-openapi.yml"
    config.write_text(yaml.safe_dump(pygeoapi_config(data, port), sort_keys=False))
    env = dict(os.environ, PYGEOAPI_CONFIG=str(config), PYGEOAPI_OPENAPI=str(openapi))
    subprocess.run(
        [
            str(venv / "bin" / "pygeoapi"),
            "openapi",
            "generate",
            str(config),
            "--output-file",
            str(openapi),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return Server(
        "pygeoapi",
        f"http://127.0.0.1:{port}",
        asgi_command(venv / "bin" / "python", "pygeoapi.starlette_app:APP", port, workers),
        env,
        lambda layer: layer.collection_id,
        lambda c, z, x, y: f"/collections/{c}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt",
    )


def tipg_server(data: Data, workers: int) -> Server:
    """tipg with its defaults, on the `layers` schema (collection id `layers.<table>`)."""
    venv = ensure_venv("tipg")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=data.dsn, TIPG_DB_SCHEMAS='["layers"]')
    return Server(
        "tipg",
        f"http://127.0.0.1:{port}",
        asgi_command(venv / "bin" / "python", "tipg.main:app", port, workers),
        env,
        lambda layer: f"layers.{layer.table}",
        lambda c, z, x, y: f"/collections/{c}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    )


FACTORIES = {"niaouli": niaouli_server, "pygeoapi": pygeoapi_server, "tipg": tipg_server}


# --- scenarios and checks --------------------------------------------------------------


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def bbox_near_noumea(km: float = 5.0) -> tuple[float, float, float, float]:
    lon, lat = NOUMEA
    half_lat = km / 2 / 111.32
    half_lon = km / 2 / (111.32 * math.cos(math.radians(lat)))
    return (lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat)


@dataclass
class Scenario:
    name: str
    title: str
    path: Callable[[Server], str | None]  # None: the server does not offer it
    check: Callable[[httpx.Response], str | None]  # an error message, or None when right


def _features(response: httpx.Response) -> list | str:
    try:
        body = response.json()
    except ValueError:
        return f"pas du JSON ({response.headers.get('content-type')})"
    found = body.get("features") if isinstance(body, dict) else None
    return found if isinstance(found, list) else "pas de FeatureCollection"


def count_check(expected: int) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        found = _features(response)
        if isinstance(found, str):
            return found
        return None if len(found) == expected else f"{len(found)} entités au lieu de {expected}"

    return check


def id_check(fid: int) -> Callable[[httpx.Response], str | None]:
    def check(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return "pas du JSON"
        if str(body.get("id")) != str(fid) or not body.get("geometry"):
            return f"mauvaise entité : id {body.get('id')!r}"
        return None

    return check


def mvt_feature_count(tile: bytes) -> int:
    """Features in all the layers of a Mapbox vector tile (a minimal protobuf walk)."""

    def varint(buf: bytes, i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = buf[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    def fields(buf: bytes):
        i = 0
        while i < len(buf):
            key, i = varint(buf, i)
            number, wire = key >> 3, key & 7
            if wire == 0:
                _, i = varint(buf, i)
                yield number, None
            elif wire == 2:
                size, i = varint(buf, i)
                yield number, buf[i : i + size]
                i += size
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            else:
                raise ValueError(f"wire type {wire}")

    return sum(
        sum(1 for n, _ in fields(layer) if n == 2) for number, layer in fields(tile) if number == 3
    )


@dataclass
class TileCheck:
    expected: int
    counts: dict[str, int] = field(default_factory=dict)

    def for_server(self, name: str) -> Callable[[httpx.Response], str | None]:
        def check(response: httpx.Response) -> str | None:
            if not response.content:
                return "tuile vide"
            try:
                found = mvt_feature_count(response.content)
            except (ValueError, IndexError):
                return "pas une tuile MVT"
            self.counts[name] = found
            if found < self.expected:
                return f"tuile tronquée : {found} entités sur {self.expected}"
            return None

        return check


def expected_in_tile(dsn: str, table: str, z: int, x: int, y: int) -> int:
    query = sql.SQL(
        "SELECT count(*) FROM layers.{} WHERE ST_Intersects(geom, "
        "ST_Transform(ST_TileEnvelope({}, {}, {}), 4326))"
    ).format(sql.Identifier(table), sql.Literal(z), sql.Literal(x), sql.Literal(y))
    return int(scalar(dsn, query))  # type: ignore[arg-type]


def scenarios(data: Data) -> list[Scenario]:
    points, hexagons = data.points, data.hexagons
    west, south, east, north = bbox_near_noumea()
    in_bbox = int(
        scalar(  # type: ignore[arg-type]
            data.dsn,
            sql.SQL(
                "SELECT count(*) FROM layers.{} WHERE ST_Intersects(geom, "
                "ST_MakeEnvelope({}, {}, {}, {}, 4326))"
            ).format(sql.Identifier(points.table), *map(sql.Literal, (west, south, east, north))),
        )
    )
    offset = points.feature_count // 2
    fid = points.feature_count // 3 + 7
    bbox = f"{west:.5f},{south:.5f},{east:.5f},{north:.5f}"
    items = lambda s: f"/collections/{s.collection(points)}/items"  # noqa: E731
    result = [
        Scenario(
            "first_page",
            TITLES["first_page"],
            lambda s: items(s) + "?limit=100",
            count_check(min(100, points.feature_count)),
        ),
        Scenario(
            "bbox",
            TITLES["bbox"] + f" — {in_bbox} entités",
            lambda s: items(s) + f"?bbox={bbox}&limit=500",
            count_check(min(500, in_bbox)),
        ),
        Scenario(
            "offset",
            TITLES["offset"].format(offset=offset),
            lambda s: items(s) + f"?limit=100&offset={offset}",
            count_check(100),
        ),
        Scenario("by_id", TITLES["by_id"], lambda s: items(s) + f"/{fid}", id_check(fid)),
    ]
    for z in (12, 8):
        x, y = tile_of(*NOUMEA, z)
        expected = expected_in_tile(data.dsn, hexagons.table, z, x, y)
        tiles = TileCheck(expected)
        result.append(
            Scenario(
                f"tile_z{z}",
                TITLES[f"tile_z{z}"] + f" {z}/{x}/{y} — {expected} hexagones",
                lambda s, z=z, x=x, y=y: (
                    s.tile_path(s.collection(hexagons), z, x, y) if s.tile_path else None
                ),
                tiles,  # type: ignore[arg-type]
            )
        )
    return result


def check_response(scenario: Scenario, server: Server, url: str, timeout: float):
    """(error or None, seconds) of one request."""
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.TimeoutException:
        return f"pas de réponse en {timeout:.0f} s", time.perf_counter() - started
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        return f"HTTP {response.status_code}", seconds
    check = scenario.check
    if isinstance(check, TileCheck):
        return check.for_server(server.name)(response), seconds
    return check(response), seconds


# --- load ------------------------------------------------------------------------------

WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Result:
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""
    requests: int = 0  # answered during the turn(s), as wrk counts them
    cpu_s: float = 0.0  # the server's CPU seconds during the turn(s)
    cpu_ms: float | None = None  # the server's CPU milliseconds per request, all turns
    db_cpu_s: float = 0.0  # CPU seconds of its PostgreSQL backends during the turn(s)
    db_cpu_ms: float | None = None  # the same per request, all turns

    @property
    def ok(self) -> bool:
        return self.rps is not None and not self.note


def run_wrk(wrk: str, url: str, seconds: float, connections: int, threads: int) -> dict:
    script = OUT / "wrk-report.lua"
    script.write_text(WRK_REPORT)
    done = subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={STATEMENT_TIMEOUT_S}s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    sys.exit(f"wrk n'a pas rendu de résultat pour {url} :\n{done.stdout}\n{done.stderr}")


def prepare(
    scenario: Scenario, server: Server, args: argparse.Namespace
) -> tuple[str, float] | Result:
    """The URL to load and its single-request time once checked, or the final `Result`."""
    path = scenario.path(server)
    if path is None:
        return Result(note="n/a")
    url = server.base + path
    error, seconds = check_response(scenario, server, url, timeout=STATEMENT_TIMEOUT_S)
    if error and not error.startswith("tuile tronquée"):
        return Result(note=f"{error} après {seconds:.1f} s")
    if seconds > args.max_request:
        # Loading it would keep the database busy long after wrk stops, and skew the rest.
        return Result(
            rps=1 / seconds,
            p50_ms=seconds * 1000,
            p99_ms=seconds * 1000,
            note=error or f"1 requête : {seconds:.1f} s",
        )
    return url, seconds


def load(wrk: str, server: Server, url: str, args: argparse.Namespace, seconds: float) -> Result:
    db_before = server.database_cpu(args.dsn)
    cpu_before = server.cpu_seconds()
    report = run_wrk(wrk, url, seconds, args.connections, args.threads)
    cpu = server.cpu_seconds() - cpu_before
    # Backends opened during the turn count from zero; one closed during it is missed.
    db_cpu = sum(t - db_before.get(b, 0.0) for b, t in server.database_cpu(args.dsn).items())
    failures = sum(report[k] for k in ("connect", "read", "write", "status", "timeout"))
    if report["requests"] == 0:
        return Result(rps=0.0, cpu_s=cpu, db_cpu_s=db_cpu)
    note = ""
    if failures:
        note = f"{failures} échecs sur {report['requests']} (HTTP {report['status']})"
    return Result(
        rps=report["requests"] / report["seconds"],
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        note=note,
        requests=report["requests"],
        cpu_s=cpu,
        db_cpu_s=db_cpu,
    )


def measure(
    wrk: str, scenario: Scenario, servers: list[Server], args: argparse.Namespace
) -> dict[str, Result]:
    """Each server checked and warmed up, then loaded in `rounds` turns that alternate
    between the servers (the machine's background load moves from minute to minute);
    each keeps its best turn, failures first, and its CPU per request over all its turns
    (total CPU seconds / total requests). Slow requests (more than a tenth of a turn)
    get one turn of the whole duration instead."""
    prepared = {server.name: prepare(scenario, server, args) for server in servers}
    results = {name: p for name, p in prepared.items() if isinstance(p, Result)}
    urls = {name: p for name, p in prepared.items() if not isinstance(p, Result)}
    for url, _ in urls.values():
        run_wrk(wrk, url, args.warmup, args.connections, args.threads)
    turn = args.duration / args.rounds
    slow = any(seconds > turn / 10 for _, seconds in urls.values())
    rounds, turn = (1, args.duration) if slow else (args.rounds, turn)
    turns: dict[str, list[Result]] = {name: [] for name in urls}
    by_name = {server.name: server for server in servers}
    for _ in range(rounds):
        for name, (url, _) in urls.items():
            turns[name].append(load(wrk, by_name[name], url, args, turn))
    for name, items in turns.items():
        failed = [r for r in items if r.note]
        best = failed[0] if failed else max(items, key=lambda r: r.rps or 0.0)
        if not best.rps and not best.note:
            best.note = f"aucune réponse en {turn:g} s"
        check = scenario.check
        if isinstance(check, TileCheck) and check.counts.get(name, check.expected) < check.expected:
            found = check.counts[name]
            best.note = (best.note + " ; " if best.note else "") + (
                f"tuile tronquée : {found} entités sur {check.expected}"
            )
        answered = sum(r.requests for r in items)
        if answered:
            best.cpu_ms = sum(r.cpu_s for r in items) * 1e3 / answered
            best.db_cpu_ms = sum(r.db_cpu_s for r in items) * 1e3 / answered
        results[name] = best
    return results


# --- report ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"


def _fmt_cpu(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:,.2f}" if ms < 10 else f"{ms:,.0f}"


def _with_db(r: Result) -> float | None:
    """CPU ms per request of the server and its PostgreSQL backends together."""
    return None if r.cpu_ms is None or r.db_cpu_ms is None else r.cpu_ms + r.db_cpu_ms


def _cpu_ratio(ours: Result, other: Result | None, database: bool = False) -> str:
    """How many times our CPU per request the peer spends (higher is better for us)."""
    if other is None or not ours.ok:
        return "—"
    mine, theirs = (_with_db(ours), _with_db(other)) if database else (ours.cpu_ms, other.cpu_ms)
    if not mine or theirs is None:
        return "—"
    ratio = theirs / mine
    return f"{ratio:,.1f}" if ratio < 100 else f"{ratio:,.0f}"


def print_table(
    chosen: list[Scenario], servers: list[str], results: dict[tuple[str, str], Result]
) -> None:
    print(
        "\n| scénario | serveur | req/s | p50 ms | p99 ms | remarque | CPU ms/req "
        "| + PostgreSQL ms/req |"
    )
    print("|---|---|--:|--:|--:|---|--:|--:|")
    for scenario in chosen:
        for name in servers:
            r = results[(scenario.name, name)]
            note = r.note
            if isinstance(scenario.check, TileCheck) and name in scenario.check.counts:
                note = (note + " ; " if note else "") + f"{scenario.check.counts[name]} entités"
            print(
                f"| {scenario.title} | {name} | {_fmt(r.rps)} | {_fmt(r.p50_ms)} | "
                f"{_fmt(r.p99_ms)} | {note} | {_fmt_cpu(r.cpu_ms)} | {_fmt_cpu(_with_db(r))} |"
            )
    if "niaouli" not in servers:
        return
    print(
        "\n| scénario | niaouli / pygeoapi | niaouli / tipg | ≥ 5× pygeoapi et ≥ tipg "
        "| CPU/req pygeoapi / niaouli | CPU/req tipg / niaouli "
        "| + PostgreSQL : pygeoapi / niaouli | + PostgreSQL : tipg / niaouli |"
    )
    print("|---|--:|--:|:-:|--:|--:|--:|--:|")
    for scenario in chosen:
        ours = results[(scenario.name, "niaouli")]
        ratios, verdict = [], True
        cpu_ratios = [
            _cpu_ratio(ours, results.get((scenario.name, peer)), database)
            for database in (False, True)
            for peer in ("pygeoapi", "tipg")
        ]
        for peer, needed in (("pygeoapi", 5.0), ("tipg", 1.0)):
            other = results.get((scenario.name, peer))
            if other is None or not ours.ok or other.rps is None:
                ratios.append("—")
                verdict = verdict and other is None and ours.ok
                continue
            if other.rps == 0:
                ratios.append("∞")
                continue
            ratio = ours.rps / other.rps
            ratios.append(f"{ratio:,.1f}" if ratio < 100 else f"{ratio:,.0f}")
            verdict = verdict and ratio >= needed
        print(
            f"| {scenario.title} | {ratios[0]} | {ratios[1]} | {'oui' if verdict else 'non'} "
            f"| {' | '.join(cpu_ratios)} |"
        )


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points (1000000)")
    parser.add_argument("--hexagons", type=int, default=300_000, help="hexagones (300000)")
    parser.add_argument(
        "--duration", type=float, default=15, help="secondes de charge par serveur et scénario (15)"
    )
    parser.add_argument("--warmup", type=float, default=2, help="secondes de chauffe (2)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="tours alternés par mesure, le meilleur compte (3)"
    )
    parser.add_argument("--connections", type=int, default=8, help="connexions wrk (8)")
    parser.add_argument("--threads", type=int, default=1, help="threads wrk (1)")
    parser.add_argument("--workers", type=int, default=2, help="workers uvicorn par serveur (2)")
    parser.add_argument(
        "--max-request",
        type=float,
        default=5.0,
        help="au-delà (s) pour une requête seule, pas de charge (5)",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_FEATURES_DSN", DEFAULT_DSN))
    parser.add_argument("--reload", action="store_true", help="réimporter les données")
    parser.add_argument(
        "--keep", action="store_true", help="laisser tourner les serveurs après la mesure (Ctrl-C)"
    )
    args = parser.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    wanted = [s for s in args.scenarios.split(",") if s]
    for name in servers:
        if name not in SERVERS:
            sys.exit(f"serveur inconnu : {name} (parmi {', '.join(SERVERS)})")
    for name in wanted:
        if name not in SCENARIOS:
            sys.exit(f"scénario inconnu : {name} (parmi {', '.join(SCENARIOS)})")

    wrk = ensure_wrk()
    OUT.mkdir(parents=True, exist_ok=True)
    data = prepare_data(args.dsn, args.points, args.hexagons, args.reload)
    running = [FACTORIES[name](data, args.workers) for name in servers]

    def shutdown(*_: object) -> None:
        for server in running:
            server.stop()

    atexit.register(shutdown)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for server in running:
        server.start()
    try:
        for server in running:
            server.wait_ready(f"/collections/{server.collection(data.points)}")
        for server in running:
            print(f"{server.name} : {server.base}", flush=True)
        chosen = [s for s in scenarios(data) if s.name in wanted]
        results: dict[tuple[str, str], Result] = {}
        for scenario in chosen:
            measured = measure(wrk, scenario, running, args)
            for server in running:
                result = measured[server.name]
                results[(scenario.name, server.name)] = result
                print(
                    f"  {scenario.name:<11} {server.name:<9} {_fmt(result.rps):>8} req/s  "
                    f"p50 {_fmt(result.p50_ms):>7} ms  p99 {_fmt(result.p99_ms):>7} ms  "
                    f"CPU {_fmt_cpu(result.cpu_ms):>6} ms/req "
                    f"(+ PostgreSQL {_fmt_cpu(_with_db(result)):>6})  {result.note}",
                    flush=True,
                )
        print(
            f"\n{data.points.feature_count:,} points, {data.hexagons.feature_count:,} hexagones ; "
            f"{args.workers} workers uvicorn par serveur ; wrk -t{args.threads} "
            f"-c{args.connections} ; par scénario et serveur {args.warmup:g} s de chauffe puis "
            f"{args.rounds} tours de {args.duration / args.rounds:g} s alternés entre serveurs, "
            f"le meilleur retenu ; {os.cpu_count()} cœurs"
        )
        print_table(chosen, servers, results)
        if args.keep:
            print("\nserveurs laissés en marche ; Ctrl-C pour arrêter", flush=True)
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        shutdown()


if __name__ == "__main__":
    main()
