"""Benchmark: CSW (pycsw behind `/csw`) under concurrent clients, next to OGC API Records.

Why: QGIS MetaSearch, national harvesters and crawlers hit `/csw` at the same time. The
CSW must keep its throughput as clients are added (as `/ogc` does) and its memory must
stay bounded. This prints requests/s at 1, 10 and 50 concurrent clients for a CSW
GetRecords (full-text constraint, first page of 10 in summary) and a GetRecordById (ISO
19139, full), and the same two questions asked of OGC API Records
(`/ogc/collections/catalogue/items?q=...&limit=10`, `.../items/{id}`) in the same run, with
the server's memory (RSS and PSS summed over all its processes: `niaouli serve`, its
uvicorn workers, pycsw's processes) before, at the peak during, and after the CSW loads.

How: a catalogue of N synthetic French datasets (`bench/portal.py`'s generator, through
the catalogue service, so the change hooks write `csw_records` as in production) in a
scratch PostGIS database (`niaouli_bench_csw`, kept between runs; `--reload` rebuilds it)
or SQLite (`--backend sqlite`); `niaouli serve --workers W`; Debian's `wrk` for the load
(one thread, C connections, 1 s warm-up then `--duration` seconds). Every answer is
checked once before loading; wrk's count of non-2xx answers and socket errors is printed
beside each figure.

    .venv/bin/python bench/csw.py                          # 3,000 datasets, PostGIS
    .venv/bin/python bench/csw.py --datasets 1000 --duration 3 --backend sqlite
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from benchdata import NIAOULI, OUT, recreate_database
from features import ensure_wrk, run_wrk
from lxml import etree
from sqlalchemy import text

from niaouli import startup
from niaouli.db import schema
from niaouli.db.engine import make_engine
from niaouli.settings import Settings
from portal import populate

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/niaouli_bench_csw"
DATA_DIR = OUT / "csw-data"
WORD = "Noumea"  # accents dropped: found by both CSW (anytext) and OGC API Records (q)
RECORD = "jeu-00042"


def csw_get_records() -> str:
    return "/csw?" + urlencode(
        {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "typenames": "csw:Record",
            "elementsetname": "summary",
            "resulttype": "results",
            "maxrecords": "10",
            "constraintlanguage": "CQL_TEXT",
            "constraint": f"csw:AnyText like '%{WORD}%'",
        }
    )


def csw_get_record_by_id(identifier: str) -> str:
    return "/csw?" + urlencode(
        {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": identifier,
            "elementsetname": "full",
            "outputschema": "http://www.isotc211.org/2005/gmd",
        }
    )


# --- data ------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> Settings:
    """The catalogue of `args.datasets` datasets, built once and kept between runs."""
    data_dir = DATA_DIR / args.backend
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.backend == "sqlite":
        url = f"sqlite:///{data_dir / 'niaouli.sqlite'}"
    else:
        url = args.dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    settings = Settings(data_dir=data_dir, database_url=url, spatialite_library="mod_spatialite")
    marker = data_dir / "populated"
    populated = marker.exists() and marker.read_text().strip() == str(args.datasets)
    if args.reload or not populated:
        if args.backend == "sqlite":
            (data_dir / "niaouli.sqlite").unlink(missing_ok=True)
        else:
            recreate_database(args.dsn)
        engine = make_engine(settings)
        schema.upgrade(engine)
        print(f"catalogue de {args.datasets} jeux de données...", file=sys.stderr, flush=True)
        populate(settings, engine, args.datasets)
        engine.dispose()
        marker.write_text(str(args.datasets))
    engine = make_engine(settings)
    schema.upgrade(engine)
    with engine.connect() as conn:
        records = conn.execute(text("SELECT count(*) FROM csw_records")).scalar_one()
    engine.dispose()
    print(f"{records} notices dans csw_records", file=sys.stderr, flush=True)
    return settings


# --- the server and its memory ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (children are listed per thread in /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


@dataclass
class Memory:
    """RSS and PSS in MB summed over a process tree, all of it and pycsw's part.

    RSS counts pages shared between processes (forked workers) once per process; PSS
    shares them out, so PSS is what the tree really holds."""

    rss: float = 0.0
    pss: float = 0.0
    processes: int = 0
    pycsw_rss: float = 0.0
    pycsw_pss: float = 0.0
    pycsw_processes: int = 0

    def peak(self, other: Memory) -> Memory:
        pairs = zip(vars(self).values(), vars(other).values(), strict=True)
        return Memory(*(max(a, b) for a, b in pairs))

    def __str__(self) -> str:
        return (
            f"RSS {self.rss:6.0f} Mo, PSS {self.pss:6.0f} Mo ({self.processes} processus) ; "
            f"dont pycsw RSS {self.pycsw_rss:5.0f} Mo, PSS {self.pycsw_pss:5.0f} Mo "
            f"({self.pycsw_processes} processus)"
        )


def memory_mb(pid: int) -> Memory:
    memory = Memory()
    for current in process_tree(pid):
        try:
            pycsw = b"niaouli_csw.py" in Path(f"/proc/{current}/cmdline").read_bytes()
            lines = Path(f"/proc/{current}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        values = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines[1:]}
        memory.rss += values.get("Rss", 0)
        memory.pss += values.get("Pss", 0)
        memory.processes += 1
        if pycsw:
            memory.pycsw_rss += values.get("Rss", 0)
            memory.pycsw_pss += values.get("Pss", 0)
            memory.pycsw_processes += 1
    return memory


class Peak:
    """Samples the tree's memory in a thread; keeps the highest RSS and PSS seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.memory = Memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.memory = self.memory.peak(memory_mb(self.pid))

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Server:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["NIAOULI_DATA_DIR"] = str(settings.data_dir)
        env["NIAOULI_DATABASE_URL"] = settings.database_url
        env["NIAOULI_PUBLIC_URL"] = self.url
        env["NIAOULI_HARVEST_SCHEDULER"] = "0"
        if args.csw_workers:
            env["NIAOULI_CSW_WORKERS"] = str(args.csw_workers)
        self.log = DATA_DIR / "serve.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [str(NIAOULI), "serve", "--port", str(self.port), "--workers", str(args.workers)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(self.url + "/csw?service=CSW&request=GetCapabilities")
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        sys.exit(f"niaouli serve ne répond pas :\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- checks and loads ------------------------------------------------------------------


def check(server: Server, path: str) -> str:
    """One request: fails the benchmark unless the answer is right; says what it holds."""
    answer = httpx.get(server.url + path, timeout=60)
    if answer.status_code != 200:
        sys.exit(f"{path} : HTTP {answer.status_code}\n{answer.text[:500]}")
    if path.startswith("/csw"):
        root = etree.fromstring(answer.content)
        results = root.find(".//{http://www.opengis.net/cat/csw/2.0.2}SearchResults")
        if results is not None:
            if int(results.get("numberOfRecordsReturned", "0")) == 0:
                sys.exit(f"{path} : aucune notice")
            return f"{results.get('numberOfRecordsMatched')} notices trouvées"
        if RECORD.encode() not in answer.content:
            sys.exit(f"{path} : notice {RECORD} absente")
        return f"{len(answer.content)} octets"
    body = answer.json()
    if "numberMatched" in body:
        if not body.get("features"):
            sys.exit(f"{path} : aucune notice")
        return f"{body['numberMatched']} notices trouvées"
    if body.get("id") != RECORD:
        sys.exit(f"{path} : notice {RECORD} absente")
    return f"{len(answer.content)} octets"


@dataclass
class Figure:
    """Answers per second that were right (2xx); refusals (503 when the CSW queue is full,
    or any non-2xx) and socket errors are counted apart, never as throughput."""

    rps: float
    p50_ms: float
    p99_ms: float
    refused: int
    errors: int

    def __str__(self) -> str:
        text = f"{self.rps:7.1f} req/s (p50 {self.p50_ms:6.0f} ms, p99 {self.p99_ms:6.0f} ms)"
        if self.refused:
            text += f", {self.refused} non-2xx"
        if self.errors:
            text += f", {self.errors} erreurs"
        return text


def load(server: Server, path: str, clients: int, args: argparse.Namespace) -> Figure:
    url = server.url + path
    run_wrk(args.wrk, url, 1, clients, 1)  # warm-up
    report = run_wrk(args.wrk, url, args.duration, clients, 1)
    errors = sum(report[k] for k in ("connect", "read", "write", "timeout"))
    return Figure(
        rps=(report["requests"] - report["status"]) / report["seconds"],
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        refused=report["status"],
        errors=errors,
    )


def main() -> None:
    startup.install()  # change hooks (CSW rows, search), as `niaouli` itself does
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=3000)
    parser.add_argument("--backend", choices=["postgis", "sqlite"], default="postgis")
    parser.add_argument("--dsn", default=os.environ.get("NIAOULI_BENCH_CSW_DSN", DEFAULT_DSN))
    parser.add_argument("--workers", type=int, default=2, help="workers uvicorn (2)")
    parser.add_argument("--csw-workers", type=int, help="processus pycsw (défaut du serveur)")
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--duration", type=float, default=5, help="secondes par mesure (5)")
    parser.add_argument("--reload", action="store_true", help="reconstruire le catalogue")
    parser.add_argument(
        "--questions", default="GetRecords,GetRecordById", help="lesquelles mesurer (toutes)"
    )
    args = parser.parse_args()
    args.wrk = ensure_wrk()
    clients = [int(c) for c in args.clients.split(",")]
    settings = prepare(args)
    questions = {
        "GetRecords": (
            csw_get_records(),
            f"/ogc/collections/catalogue/items?{urlencode({'q': WORD, 'limit': 10})}",
        ),
        "GetRecordById": (
            csw_get_record_by_id(RECORD),
            f"/ogc/collections/catalogue/items/{RECORD}",
        ),
    }
    wanted = args.questions.split(",")
    questions = {name: paths for name, paths in questions.items() if name in wanted}
    server = Server(settings, args)
    try:
        for name, (csw, ogc) in questions.items():
            print(f"{name} : CSW {check(server, csw)} ; OGC {check(server, ogc)}", flush=True)
        before = memory_mb(server.process.pid)
        results: dict[tuple[str, str, int], Figure] = {}
        with Peak(server.process.pid) as peak:
            for name, (csw, _ogc) in questions.items():
                for count in clients:
                    results[("csw", name, count)] = load(server, csw, count, args)
                    print(f"  CSW {name} {count:3d} clients : {results[('csw', name, count)]}")
        time.sleep(1)
        after = memory_mb(server.process.pid)
        for name, (_csw, ogc) in questions.items():
            for count in clients:
                results[("ogc", name, count)] = load(server, ogc, count, args)
                print(f"  OGC {name} {count:3d} clients : {results[('ogc', name, count)]}")
    finally:
        server.stop()

    print(
        f"\n{args.datasets} jeux de données ({args.backend}), niaouli serve --workers "
        f"{args.workers}, pycsw : {args.csw_workers or 'défaut'} ; wrk -t1, "
        f"{args.duration:.0f} s par mesure"
    )
    print(f"  {'requête':15} {'clients':>7}  {'CSW':54} OGC API Records")
    for name in questions:
        for count in clients:
            csw, ogc = results[("csw", name, count)], results[("ogc", name, count)]
            print(f"  {name:15} {count:7d}  {csw!s:54} {ogc}")
    print("  mémoire du serveur (somme sur ses processus), charges CSW :")
    for label, memory in (("avant", before), ("pic", peak.memory), ("après", after)):
        print(f"    {label:6} : {memory}")


if __name__ == "__main__":
    main()
