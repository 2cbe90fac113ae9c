"""Benchmark: the portal and catalogue services at 10,000 and 100,000 datasets (issue 20).

Why: the search page (/recherche, /jeux-de-donnees) must stay fast with a national
catalogue's worth of datasets on both backends — full-text matching, facet counts over
everything the viewer may see, sorting — and so must what harvesters and crawlers read
(DCAT pages, the sitemap, CSW, OGC API Records), the dataset pages, the server's memory,
and the map's vector tiles.

How, for each backend (SQLite/SpatiaLite in a temporary folder; PostGIS in a scratch
database `niaouli_bench_portal`, or `--dsn`):

1. migrate, ingest the communes (geodata/nc_communes.geojson: the map's layer), create
   the provinces' and communes' organisations, then grow the catalogue through each
   size of `--datasets` (`grow`: SQL Core inserts of synthetic but realistic French
   datasets — "Écoles primaires — Hienghène (2019)", a description, themes, keywords,
   licence, 1–2 resources with formats, a spatial coverage for most; 85 % public, the
   rest registered / organisation / draft — with 1,000 organisations per 100,000
   datasets, and the change hooks run per chunk as a write would: search text,
   full-text index, quality score, CSW records; past the first chunk the CSW rows are
   copies of real ones, since rendering ISO 19139 costs ~20 ms a dataset), plus code
   projects, reuses and events;
2. at each size, start `niaouli serve` (one worker) and, with one keep-alive client,
   run a mix of searches (words with and without accents, phrases, exclusions, facets,
   the map box, sorts, no words at all) and of service requests (/catalog.ttl page 1
   and a middle page, /sitemap.xml, CSW GetRecords plain / deep / AnyText, OGC API
   Records items plain / q / deep offset, two dataset pages); print p50/p95 per group,
   the load average, and the server's RSS (with its children: pycsw) before and after;
3. at the last size, request vector tiles of the communes layer at z8–z12 around Nouméa
   and Koné from 4 client threads and print requests/s per zoom level.

    .venv/bin/python bench/portal.py                                 # both, 10,000
    .venv/bin/python bench/portal.py --datasets 10000,100000 --tile-seconds 0
    .venv/bin/python bench/portal.py --datasets 2000 --only sqlite
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pyogrio
import shapely
from geoalchemy2.elements import WKTElement
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from niaouli import startup
from niaouli.catalogue import changes, service
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import (
    AccessLevel,
    Dataset,
    Organisation,
    OrganisationKind,
    Resource,
    ResourceKind,
    Reuse,
)
from niaouli.db import schema
from niaouli.db.engine import make_engine
from niaouli.dcat import mapping
from niaouli.ingest import ingest_file
from niaouli.services.csw import sync as csw_sync
from niaouli.settings import Settings

REPO = Path(__file__).resolve().parents[1]
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
COMMUNES = REPO / "geodata" / "nc_communes.geojson"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_portal"
SUBJECTS = {
    "Éducation": ["Écoles primaires", "Collèges", "Lycées", "Effectifs scolaires", "Cantines"],
    "Transport": ["Routes provinciales", "Arrêts de bus", "Trafic routier", "Aérodromes"],
    "Environnement": ["Qualité de l'eau", "Forêts sèches", "Espèces protégées", "Mangroves"],
    "Population": ["Recensement de la population", "Naissances", "Ménages", "Tribus"],
    "Santé": ["Dispensaires", "Pharmacies", "Centres médico-sociaux"],
    "Urbanisme": ["Plan d'urbanisme directeur", "Permis de construire", "Cadastre"],
    "Économie": ["Entreprises", "Emploi salarié", "Marchés publics"],
    "Tourisme": ["Hébergements touristiques", "Sentiers de randonnée", "Gîtes"],
}
FORMATS = ["CSV", "GeoJSON", "SHP", "PDF", "XLSX", "GPKG"]
LICENCES = ["Licence Ouverte 2.0"] * 6 + ["ODbL", "CC-BY 4.0"]
PROVINCES = ["Province Sud", "Province Nord", "Province des Îles Loyauté"]
TILE_POINTS = {"Nouméa": (166.45, -22.27), "Koné": (164.86, -21.06)}


# --- data --------------------------------------------------------------------------------


def communes() -> list[tuple[str, tuple[float, float]]]:
    """(name, centroid) of the 33 communes, from the real layer."""
    frame = pyogrio.read_dataframe(COMMUNES)
    return [
        (str(name), (geom.centroid.x, geom.centroid.y))
        for name, geom in zip(frame["LIBGEO"], frame.geometry, strict=True)
    ]


def populate(settings: Settings, engine, count: int) -> str:  # noqa: ANN001
    """The communes layer (the map's), about 40 organisations, then `count` datasets (see
    `grow`) with code projects, reuses and events; returns the layer's collection id."""
    rng = random.Random(2026)
    places = communes()
    with Session(engine) as session, session.begin():
        service.create_organisation(session, "gouvernement", "Gouvernement", "government")
        for name in PROVINCES:
            service.create_organisation(session, service.make_slug(name), name, "province")
        for name, _c in places:
            service.create_organisation(
                session, service.make_slug(f"commune {name}"), f"Commune de {name}", "commune"
            )
    report = ingest_file(
        COMMUNES,
        organisation="gouvernement",
        dataset="communes",
        title="Limites des communes",
        settings=settings,
        engine=engine,
        progress="none",
    )
    grow(engine, count)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(engine) as session:
        org_ids = [o.id for o in service.list_organisations(session)]
        ids = list(session.scalars(text("SELECT id FROM datasets ORDER BY id LIMIT 300")))
        for n in range(50):
            service.create_code_project(
                session,
                session.get(Organisation, rng.choice(org_ids)),
                f"projet-{n}",
                f"Outil {rng.choice(list(SUBJECTS)).lower()} {n}",
                description="Code source libre qui exploite les données de la plateforme.",
                licence=rng.choice(["MIT", "EUPL-1.2", "GPL-3.0"]),
                datasets=[session.get(Dataset, i) for i in rng.sample(ids, 3)],
            )
        for n in range(100):
            reuse = service.create_reuse(
                session,
                f"reutilisation-{n}",
                f"Carte des {rng.choice(SUBJECTS['Éducation']).lower()} {n}",
                "visualisation",
                datasets=[session.get(Dataset, i) for i in rng.sample(ids, 2)],
            )
            if hasattr(Reuse, "status"):
                reuse.status = "approved"
        for n in range(30):
            service.create_event(
                session,
                f"evenement-{n}",
                f"Hackathon des données {n} à {rng.choice(places)[0]}",
                "hackathon",
                now + timedelta(days=n),
            )
        session.commit()
    return report.layers[0].collection_id


ORGANISATIONS = 1_000  # at 100,000 datasets; proportionally fewer below
CHUNK = 2_000


def grow(engine, count: int) -> None:  # noqa: ANN001
    """Add datasets (SQL Core, `CHUNK` rows a statement) until there are `count`, with
    1 000 organisations per 100 000 datasets; then run the change hooks (search text,
    full-text index, quality score, CSW records) on them as a write would, chunk by
    chunk. 100,000 datasets in a minute or two instead of half an hour through the ORM."""
    started = time.monotonic()
    datasets, resources = Dataset.__table__, Resource.__table__
    organisations = Organisation.__table__
    now = datetime(2026, 11, 1, tzinfo=UTC)
    levels = [AccessLevel.PUBLIC] * 17 + [
        AccessLevel.REGISTERED,
        AccessLevel.ORGANISATION,
        AccessLevel.DRAFT,
    ]
    places = communes()
    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(datasets)).scalar_one()
        orgs = conn.execute(select(func.count()).select_from(organisations)).scalar_one()
        wanted = max(orgs, min(ORGANISATIONS, count // 100))
        if wanted > orgs:
            conn.execute(
                insert(organisations),
                [
                    {
                        "slug": f"service-{n:04d}",
                        "name": f"Service des données n° {n}",
                        "kind": OrganisationKind.PUBLIC_BODY,
                    }
                    for n in range(orgs, wanted)
                ],
            )
        org_ids = list(conn.scalars(select(organisations.c.id)))
        commune_orgs = {
            name.removeprefix("Commune de "): oid
            for oid, name in conn.execute(select(organisations.c.id, organisations.c.name))
            if name.startswith("Commune de ")
        }
    rng = random.Random(have)
    for first in range(have, count, CHUNK):
        rows, files = [], []
        for n in range(first, min(count, first + CHUNK)):
            theme = rng.choice(list(SUBJECTS))
            subject = rng.choice(SUBJECTS[theme])
            place, (lon, lat) = rng.choice(places)
            year = rng.randint(2005, 2026)
            province = rng.choice(PROVINCES)
            spatial = rng.random() < 0.7
            coverage = None
            if spatial:
                half = rng.uniform(0.02, 0.2)
                box = (lon - half, lat - half, lon + half, lat + half)
                coverage = WKTElement(shapely.box(*box).wkt, srid=4326)
            rows.append(
                {
                    "slug": f"jeu-{n:06d}",
                    "organisation_id": commune_orgs[place]
                    if rng.random() < 0.6
                    else rng.choice(org_ids),
                    "title": f"{subject} — {place} ({year})",
                    "description": (
                        f"{subject} de la commune de {place} ({province}), année {year}. "
                        f"Données produites et mises à jour par les services, "
                        f"réutilisables librement pour les études et les applications."
                    ),
                    "themes": [theme]
                    + ([rng.choice(list(SUBJECTS))] if rng.random() < 0.3 else []),
                    "keywords": [place, subject.lower(), str(year)],
                    "licence": rng.choice(LICENCES),
                    "access_level": rng.choice(levels),
                    "is_spatial": spatial,
                    "spatial_coverage": coverage,
                    "published_at": now - timedelta(days=rng.randint(0, 3000)),
                }
            )
            files.append(
                [(f"{subject} ({fmt})", fmt, n) for fmt in rng.sample(FORMATS, rng.randint(1, 2))]
            )
        with engine.begin() as conn:
            ids = list(
                conn.scalars(
                    insert(datasets).returning(datasets.c.id, sort_by_parameter_order=True), rows
                )
            )
            conn.execute(
                insert(resources),
                [
                    {
                        "dataset_id": oid,
                        "title": title,
                        "kind": ResourceKind.LINK,
                        "url": f"https://data.gouv.nc/{n}.{fmt.lower()}",
                        "format": fmt,
                    }
                    for oid, group in zip(ids, files, strict=True)
                    for title, fmt, n in group
                ],
            )
            if not conn.execute(select(func.count()).where(GENERATED_RECORD)).scalar_one():
                changes._notify(conn, set(ids), set())  # noqa: SLF001 (what a flush runs)
            else:
                _notify_cloning_records(conn, ids, rows)
        print(f"  {first + len(rows)} jeux de données", file=sys.stderr, end="\r")
    print(f"  {count} jeux de données en {time.monotonic() - started:.0f} s", file=sys.stderr)


# The CSW rows of `grow`'s datasets (not the communes layer's, written by `populate`).
GENERATED_RECORD = csw_records.c.identifier.like("jeu-%")


def _notify_cloning_records(conn, ids: list[int], rows: list[dict]) -> None:  # noqa: ANN001
    """The change hooks, but CSW rows copied from real ones (title, identifier, access,
    organisation changed): rendering and parsing ISO 19139 costs ~20 ms a dataset, half
    an hour at 100,000. The first chunk's rows are real, and only they are copied (until
    December 2026 every copy was of the communes layer's record, the first row: AnyText
    then held none of the generated words, and `ecoles` matched no record)."""
    hooks = list(changes._hooks)  # noqa: SLF001
    changes._hooks[:] = [h for h in hooks if h is not csw_sync.sync_records]  # noqa: SLF001
    try:
        changes._notify(conn, set(ids), set())  # noqa: SLF001
    finally:
        changes._hooks[:] = hooks  # noqa: SLF001
    templates = [
        dict(r._mapping)
        for r in conn.execute(
            select(csw_records)
            .where(GENERATED_RECORD)
            .order_by(csw_records.c.dataset_id)
            .limit(CHUNK)
        )
    ]
    titles = dict(
        conn.execute(
            select(Dataset.__table__.c.id, Dataset.__table__.c.title).where(
                Dataset.__table__.c.id.in_([t["dataset_id"] for t in templates])
            )
        ).all()
    )
    copies = []
    for n, (oid, row) in enumerate(zip(ids, rows, strict=True)):
        template = templates[n % len(templates)]
        old_id, old_title = template["identifier"], titles[template["dataset_id"]]
        copy = {  # the title first: it may hold the identifier's words, not the reverse
            k: v.replace(old_title, row["title"]).replace(old_id, row["slug"])
            if isinstance(v, str)
            else v
            for k, v in template.items()
        }
        copy["identifier"] = row["slug"]
        copy.update(
            dataset_id=oid,
            access_level=row["access_level"].value,
            organisation_id=row["organisation_id"],
        )
        copies.append(copy)
    conn.execute(insert(csw_records), copies)


# --- the server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, settings: Settings, backends: Callable[[], list[int]] | None = None) -> None:
        self.backends = backends
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["NIAOULI_DATA_DIR"] = str(settings.data_dir)
        env["NIAOULI_DATABASE_URL"] = settings.database_url
        env["NIAOULI_HARVEST_SCHEDULER"] = "0"
        self.process = subprocess.Popen(
            [str(NIAOULI), "serve", "--port", str(self.port), "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        sys.exit("niaouli serve ne répond pas")

    def rss(self) -> float:
        """Resident memory of the server and its child processes (workers, CSW), MB."""
        root = psutil.Process(self.process.pid)
        procs = [root, *root.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 1e6

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server, its children and, on PostGIS, the
        database's backends serving it: the load of other processes does not count."""
        root = psutil.Process(self.process.pid)
        procs = [root, *root.children(recursive=True)]
        if self.backends is not None:
            procs += [psutil.Process(pid) for pid in self.backends()]
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- measures ----------------------------------------------------------------------------

SEARCHES = {
    "mots": [
        "/recherche?q=ecoles",
        "/recherche?q=%C3%A9coles",
        "/jeux-de-donnees?q=Hiengh%C3%A8ne",
        "/jeux-de-donnees?q=hienghene+cantines",
        "/recherche?q=recensement+population",
        "/jeux-de-donnees?q=%22plan+d%27urbanisme%22",
        "/jeux-de-donnees?q=routes+-aerodromes",
        "/recherche?q=mangroves+or+for%C3%AAts",
        "/jeux-de-donnees?q=pharmacies+noum%C3%A9a",
        "/recherche?q=introuvablexyz",
    ],
    "mots + facettes": [
        "/jeux-de-donnees?q=ecoles&theme=%C3%89ducation",
        "/jeux-de-donnees?q=tribus&format=CSV&spatial=oui",
        "/recherche?q=donnees&type=jeux-de-donnees&licence=ODbL",
        "/jeux-de-donnees?q=emploi&organisation=province-sud&tri=recent",
        "/recherche?q=cadastre&tri=populaire",
    ],
    "sans mots (tout le catalogue)": [
        "/jeux-de-donnees",
        "/recherche",
        "/jeux-de-donnees?theme=Transport&format=GEOJSON",
        "/jeux-de-donnees?tri=populaire&page=3",
    ],
    "zone de la carte": [
        "/jeux-de-donnees?bbox=166.3,-22.4,166.6,-22.1",
        "/recherche?q=ecoles&bbox=164.5,-21.2,165.5,-20.5",
    ],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def measure_searches(server: Server, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {group: [] for group in SEARCHES}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for urls in SEARCHES.values():  # warm-up: imports, caches, the first plan
            for url in urls:
                http.get(url)
        for _ in range(rounds):
            for group, urls in SEARCHES.items():
                for url in urls:
                    started = time.perf_counter()
                    response = http.get(url)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        sys.exit(f"{url} : HTTP {response.status_code}")
                    timings[group].append(elapsed * 1000)
    return timings


SERVICES = {
    "/catalog.ttl (page 1, page profonde)": ["/catalog.ttl", "/catalog.ttl?page={deep}"],
    "/sitemap.xml": ["/sitemap.xml"],
    "CSW GetRecords": [
        "/csw?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record"
        "&resultType=results&elementSetName=summary&maxRecords=10",
        "/csw?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record"
        "&resultType=results&elementSetName=brief&maxRecords=10&startPosition={deep_record}",
        "/csw?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record"
        "&resultType=results&elementSetName=brief&maxRecords=10"
        "&constraintLanguage=CQL_TEXT&constraint_language_version=1.1.0"
        "&constraint=csw:AnyText%20like%20%27%25ecoles%25%27",
    ],
    "OGC API Records (items)": [
        "/ogc/collections/catalogue/items?limit=10",
        "/ogc/collections/catalogue/items?limit=10&q=ecoles",
        "/ogc/collections/catalogue/items?limit=10&offset={deep_record}",
    ],
    "page d'un jeu de données": ["/jeux-de-donnees/jeu-000042", "/jeux-de-donnees/{last_slug}"],
}


# Groups whose requests are also printed one by one (their costs differ by far).
PER_REQUEST = ("CSW GetRecords", "OGC API Records (items)")


def measure_services(
    server: Server, rounds: int
) -> tuple[dict[str, list[float]], dict[str, int], dict[str, float]]:
    """DCAT pages, the sitemap, CSW, OGC API Records, dataset pages: p50/p95 each, and
    each request of `PER_REQUEST` on its own (keyed `group\turl`); the failures and the
    CPU milliseconds a request of each group (server, pycsw, database backends)."""
    with httpx.Client(base_url=server.url, timeout=120) as http:
        total = int(http.get("/ogc/collections/catalogue/items?limit=1").json()["numberMatched"])
        last = http.get(f"/ogc/collections/catalogue/items?limit=1&offset={total - 1}").json()
        values = {
            "deep": max(1, total // mapping.DEFAULT_PAGE_SIZE // 2),  # the middle page
            "deep_record": max(1, total // 2),
            "last_slug": last["features"][0]["id"],
        }
        failures: dict[str, int] = {}
        cpu_ms: dict[str, float] = {}
        urls = {g: [u.format(**values) for u in us] for g, us in SERVICES.items()}
        timings: dict[str, list[float]] = {}
        for group, group_urls in urls.items():  # each group, then its requests
            timings[group] = []
            if group in PER_REQUEST:
                timings.update({f"{group}\t{url}": [] for url in group_urls})
        for group in urls.values():  # warm-up
            for url in group:
                http.get(url)
        for _ in range(rounds):
            for group, group_urls in urls.items():
                for url in group_urls:
                    cpu = server.cpu()
                    started = time.perf_counter()
                    response = http.get(url)
                    elapsed = time.perf_counter() - started
                    cpu_ms[group] = cpu_ms.get(group, 0.0) + (server.cpu() - cpu) * 1000
                    if response.status_code != 200:  # counted, and shown: not fatal
                        failures[group] = failures.get(group, 0) + 1
                        print(f"  {url} : HTTP {response.status_code}", file=sys.stderr)
                    timings[group].append(elapsed * 1000)
                    if group in PER_REQUEST:
                        timings[f"{group}\t{url}"].append(elapsed * 1000)
    cpu = {group: total / len(timings[group]) for group, total in cpu_ms.items()}
    return timings, failures, cpu


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def hammer(server: Server, paths: list[str], seconds: float, threads: int) -> tuple[float, float]:
    """(requests/s, mean body size) of `threads` keep-alive clients cycling over `paths`."""
    done = [0] * threads
    sizes = [0] * threads
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            i = index
            while time.monotonic() < stop:
                response = http.get(paths[i % len(paths)])
                if response.status_code not in (200, 204):
                    errors.append(f"{paths[i % len(paths)]}: {response.status_code}")
                    return
                done[index] += 1
                sizes[index] += len(response.content)
                i += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    if errors:
        sys.exit(f"tuiles : {errors[0]}")
    return sum(done) / elapsed, sum(sizes) / max(1, sum(done))


def measure_tiles(server: Server, collection: str, seconds: float, threads: int) -> dict:
    results = {}
    for z in range(8, 13):
        paths = []
        for lon, lat in TILE_POINTS.values():
            x, y = tile_of(lon, lat, z)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, 0)):
                paths.append(
                    f"/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y + dy}/{x + dx}"
                )
        results[z] = hammer(server, paths, seconds, threads)
    return results


# --- main --------------------------------------------------------------------------------


def scratch_postgres(dsn: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    return url.render_as_string(hide_password=False)


REUSE_DIR = REPO / "bench" / "out" / "portal"


def reusable(url: str, size: int) -> str | None:
    """The kept catalogue's collection id (`--reuse`), if it holds exactly `size`
    datasets and was completed (its events, written last); None: build it again."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            have = conn.execute(
                text("SELECT count(*) FROM datasets")  # `grow` counts the communes too
            ).scalar_one()
            collection = conn.execute(
                text("SELECT collection_id FROM layers ORDER BY id LIMIT 1")
            ).scalar_one_or_none()
            events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    except Exception as exc:  # noqa: BLE001 (no database, no tables: build it)
        print(f"  catalogue à refaire : {type(exc).__name__} {exc}"[:300], file=sys.stderr)
        return None
    finally:
        engine.dispose()
    if have != size or not events:
        print(
            f"  catalogue à refaire : {have} jeux de données, {events} événements", file=sys.stderr
        )
        return None
    return collection


def run_backend(name: str, args: argparse.Namespace, folder: Path) -> None:
    """Grow the catalogue through each size of `--datasets`, measuring at each."""
    sizes = sorted(args.datasets)
    collection = None
    if args.reuse:  # a kept catalogue: bench/out/portal/<backend>, the --dsn database
        data_dir = REUSE_DIR / name
        sqlite_url = f"sqlite:///{data_dir / 'niaouli.sqlite'}"
        url = sqlite_url if name == "sqlite" else args.dsn.replace("+psycopg", "")
        if data_dir.exists():
            collection = reusable(url, sizes[-1])
        if collection is None:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            sizes = sizes[-1:]  # measured at its size only
            print(f"== {name} : catalogue réutilisé ({sizes[0]})", file=sys.stderr)
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = folder / name
        data_dir.mkdir()
    if collection is not None:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    elif name == "sqlite":
        url = f"sqlite:///{data_dir / 'niaouli.sqlite'}"
    else:
        url = scratch_postgres(args.dsn)
    settings = Settings(data_dir=data_dir, database_url=url, spatialite_library="mod_spatialite")
    engine = make_engine(settings)
    schema.upgrade(engine)
    backends = None
    if name == "postgis":  # the database's side of the CPU time (see Server.cpu)
        # Autocommit: pg_stat_activity is read once per transaction.
        watcher = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

        def backends() -> list[int]:
            return list(
                watcher.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                )
            )

    if collection is None:
        print(f"== {name} : préparation", file=sys.stderr)
        collection = populate(settings, engine, sizes[0])
    for n, size in enumerate(sizes):
        if n:
            grow(engine, size)
        if name == "postgis":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:  # what a harvest and `niaouli serve` do on SQLite (sqlite_trigram)
            from niaouli.db import sqlite_trigram

            with engine.begin() as conn:
                sqlite_trigram.refresh_statistics(conn)
        server = Server(settings, backends=backends)
        try:
            rss_before = server.rss()
            timings = measure_searches(server, args.rounds)
            services, failures, cpu = measure_services(server, args.rounds)
            rss_after = server.rss()
            last = n == len(sizes) - 1
            tiles = (
                measure_tiles(server, collection, args.tile_seconds, args.threads)
                if last and args.tile_seconds > 0
                else {}
            )
        finally:
            server.stop()
        load = os.getloadavg()[0]
        every = [t for values in timings.values() for t in values]
        print(f"\n{name} — {size} jeux de données (charge {load:.1f}, ms, un client)")
        print(f"  {'recherche':36} {'n':>5} {'p50':>8} {'p95':>8}")
        for group, values in [*timings.items(), ("toutes", every)]:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"  {group:36} {len(values):5d} {p50:8.1f} {p95:8.1f}")
        print(f"  {'service':36} {'n':>5} {'p50':>8} {'p95':>8}")
        for group, values in services.items():
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            if "\t" in group:  # one request of a group: its query string's end
                print(f"    {group.split(chr(9))[1][-60:]:60} {p50:8.1f} {p95:8.1f}")
                continue
            failed = f"   {failures[group]} échecs" if group in failures else ""
            used = f"   CPU {cpu[group]:.1f} ms/requête"
            print(f"  {group:36} {len(values):5d} {p50:8.1f} {p95:8.1f}{used}{failed}")
        print(f"  mémoire du serveur (RSS) : {rss_before:.0f} Mo avant, {rss_after:.0f} Mo après")
        if tiles:
            print(f"{name} — tuiles vectorielles des communes ({args.threads} clients)")
            for z, (rate, body) in tiles.items():
                print(f"  z{z:<3} {rate:8.0f} requêtes/s   {body / 1000:6.1f} ko en moyenne")
        sys.stdout.flush()
    if backends is not None:
        watcher.close()
    engine.dispose()


def main() -> None:
    startup.install()  # change hooks (CSW rows, search), as `niaouli` itself does
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets",
        type=lambda v: [int(n) for n in v.split(",")],
        default=[10_000],
        help="sizes, comma-separated: the catalogue grows through each (10000,100000)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="passes over the request mix")
    parser.add_argument("--tile-seconds", type=float, default=5.0, help="0: no tiles")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", choices=["sqlite", "postgis"])
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_DSN", DEFAULT_DSN))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the catalogue (bench/out/portal/, the --dsn database) and measure it"
        " again when it already holds the largest size: no rebuild",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="niaouli-bench-portal-"))
    try:
        for name in ("sqlite", "postgis"):
            if args.only in (None, name):
                run_backend(name, args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
