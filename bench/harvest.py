"""Benchmark: harvest a local CSW serving 10,000 ISO 19139 records.

Why: a GeoNetwork catalogue (Sextant, SHOM, a province's geoportal) holds thousands of
records; a full harvest must go at a steady pace with bounded memory, and a second run
— nothing changed — must be much faster (incremental: content hashes, no writes).

How: the real GeoNetwork record of the test fixtures (`tests/fixtures/harvest/`) is
copied N times with its own identifier, title and bounding box over New Caledonia; a
CSW 2.0.2 endpoint in this process (http.server, 127.0.0.1) answers GetRecords pages
with startPosition/nextRecord. A scratch database (SQLite/SpatiaLite by default,
`--database-url postgresql://...` for PostGIS) is migrated, one organisation and one
source are registered, and the real command line is run twice as a subprocess:

    niaouli harvest run bench-csw --progress none

Each run is timed (wall clock, and CPU time — the figure that means something on a
shared machine); its peak resident memory comes from `os.wait4`. The script checks
that the first run created N records and the second found N unchanged, and exits
non-zero otherwise.

    .venv/bin/python bench/harvest.py                   # 10,000 records, SQLite
    .venv/bin/python bench/harvest.py --records 2000 --database-url postgresql://postgres@127.0.0.1:5432/niaouli_bench
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

REPO = Path(__file__).resolve().parents[1]
NIAOULI = REPO / ".venv" / "bin" / "niaouli"
RECORD = REPO / "tests" / "fixtures" / "harvest" / "iso19139_geonetwork_record.xml"
CSW = "http://www.opengis.net/cat/csw/2.0.2"
OLD_ID = "955c3e47-411e-4969-b61b-3556d1b9f879"


def make_records(count: int) -> list[bytes]:
    template = re.sub(r"^<\?xml[^>]*>\s*", "", RECORD.read_text(encoding="utf-8"))
    west = re.search(r"<gmd:westBoundLongitude>\s*<gco:Decimal>([^<]+)<", template)
    assert OLD_ID in template and west, "fixture changed"
    rng = random.Random(42)
    records = []
    for n in range(count):
        lon, lat = rng.uniform(163.5, 167.5), rng.uniform(-22.5, -20)
        text = template.replace(OLD_ID, f"nc-bench-{n:06d}").replace(
            "Cadastre 2018 en Bretagne", f"Relevé n° {n} — Nouvelle-Calédonie"
        )
        for tag, value in (
            ("westBoundLongitude", lon),
            ("eastBoundLongitude", lon + 0.5),
            ("southBoundLatitude", lat),
            ("northBoundLatitude", lat + 0.5),
        ):
            text = re.sub(
                rf"(<gmd:{tag}>\s*<gco:Decimal>)[^<]+(<)", rf"\g<1>{value:.4f}\g<2>", text
            )
        records.append(text.encode("utf-8"))
    return records


def serve(records: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            query = dict(parse_qsl(urlsplit(self.path).query))
            start = int(query.get("startPosition", 1))
            size = int(query.get("maxRecords", 10))
            chunk = records[start - 1 : start - 1 + size]
            nxt = start + len(chunk)
            nxt = 0 if nxt > len(records) else nxt
            body = b"".join(
                [
                    f'<csw:GetRecordsResponse xmlns:csw="{CSW}" version="2.0.2">'
                    f'<csw:SearchResults numberOfRecordsMatched="{len(records)}" '
                    f'numberOfRecordsReturned="{len(chunk)}" nextRecord="{nxt}">'.encode(),
                    *chunk,
                    b"</csw:SearchResults></csw:GetRecordsResponse>",
                ]
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(args: list[str], env: dict[str, str]) -> tuple[float, int, str, float]:
    """(seconds, peak RSS in KiB, stdout, CPU seconds) of one `niaouli` command."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen([str(NIAOULI), *args], env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        sys.exit(f"{' '.join(args)} a échoué :\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss, stdout, usage.ru_utime + usage.ru_stime


def floor(url: str, page_size: int) -> None:
    """The floor: fetch every GetRecords page and parse every record once with OWSLib
    (what any harvester must do), no writes. Run in its own process, printing
    `records seconds`."""
    import urllib.request

    from lxml import etree
    from owslib.iso import MD_Metadata

    started, start, parsed = time.monotonic(), 1, 0
    while start:
        query = (
            "service=CSW&version=2.0.2&request=GetRecords&typeNames=gmd:MD_Metadata"
            f"&resultType=results&elementSetName=full&startPosition={start}"
            f"&maxRecords={page_size}"
        )
        with urllib.request.urlopen(f"{url}?{query}") as response:  # noqa: S310 - local
            root = etree.fromstring(response.read())
        results = root.find(f"{{{CSW}}}SearchResults")
        for child in results:
            MD_Metadata(child)
            parsed += 1
        start = int(results.get("nextRecord") or 0)
    print(parsed, time.monotonic() - started)


def measure_floor(url: str, page_size: int) -> tuple[float, int, float]:
    """(seconds, peak RSS in KiB, CPU seconds) of the floor, in a process of its own."""
    python = REPO / ".venv" / "bin" / "python"
    started = time.monotonic()
    process = subprocess.Popen(
        [str(python), __file__, "--floor", url, "--page-size", str(page_size)],
        stdout=subprocess.PIPE,
    )
    out = process.stdout.read().decode() if process.stdout else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("la mesure du plancher a échoué")
    del out
    return time.monotonic() - started, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--database-url", help="PostGIS URL (default: scratch SQLite)")
    parser.add_argument("--floor", help=argparse.SUPPRESS)  # the floor's own process
    options = parser.parse_args()
    if options.floor:
        floor(options.floor, options.page_size)
        return

    records = make_records(options.records)
    size_mb = sum(len(r) for r in records) / 1e6
    server = serve(records)
    url = f"http://127.0.0.1:{server.server_address[1]}/csw"
    with tempfile.TemporaryDirectory(prefix="niaouli-bench-harvest-") as folder:
        env = dict(os.environ, NIAOULI_DATA_DIR=folder, NIAOULI_HARVEST_SCHEDULER="0")
        if options.database_url:
            env["NIAOULI_DATABASE_URL"] = options.database_url
            from benchdata import recreate_database

            recreate_database(options.database_url)
        else:
            env.pop("NIAOULI_DATABASE_URL", None)
        run(["db", "upgrade"], env)
        run(["org", "create", "bench", "--name", "Banc d'essai", "--kind", "government"], env)
        run(
            [
                "harvest",
                "add",
                "bench",
                "csw",
                url,
                "--slug",
                "bench-csw",
                "--allow-private-network",
                "--option",
                f"page_size={options.page_size}",
            ],
            env,
        )
        backend = "PostGIS" if options.database_url else "SQLite/SpatiaLite"
        print(
            f"{options.records} fiches ISO 19139 ({size_mb:.0f} Mo), pages de "
            f"{options.page_size}, base {backend}"
        )
        # What starting a command costs (imports: seconds on a loaded machine), once.
        startup, _peak, _out, startup_cpu = run(["harvest", "list"], env)
        floor_s, floor_peak, floor_cpu = measure_floor(url, options.page_size)
        print(
            f"plancher (pages lues, fiches analysées une fois par OWSLib, rien d'écrit) : "
            f"{floor_s:.1f} s, {options.records / floor_s:,.0f} fiches/s ({floor_cpu:.1f} s de "
            f"CPU), mémoire max {floor_peak / 1024:.0f} Mo ; démarrage d'une commande "
            f"niaouli : {startup:.1f} s ({startup_cpu:.1f} s de CPU)"
        )
        expected = (f"{options.records} créé(s)", f"{options.records} inchangé(s)")
        for label, wanted in zip(
            ("première moisson", "seconde moisson (rien n'a changé)"), expected, strict=True
        ):
            seconds, peak, out, cpu = run(
                ["harvest", "run", "bench-csw", "--progress", "none"], env
            )
            summary = out.strip().splitlines()[-1]
            if wanted not in summary:
                sys.exit(f"résultat inattendu : {summary}")
            print(
                f"{label} : {seconds:.1f} s, {options.records / seconds:,.0f} fiches/s "
                f"({cpu:.1f} s de CPU, {options.records / cpu:,.0f} fiches par seconde de "
                f"CPU), mémoire max {peak / 1024:.0f} Mo — {summary}"
            )
            # Without the command's start-up (measured apart: on a loaded machine its
            # wall time varies by tens of seconds, its CPU time hardly).
            work, work_cpu = seconds - startup, max(cpu - startup_cpu, 1e-3)
            walls = f"{work / floor_s:.2f}× (temps), " if work > 0 else ""
            print(
                f"  rapport au plancher : {seconds / floor_s:.2f}× (temps), "
                f"{cpu / floor_cpu:.2f}× (CPU) ; sans le démarrage de la commande : "
                f"{walls}{work_cpu / floor_cpu:.2f}× (CPU), "
                f"{options.records / work_cpu:,.0f} fiches par seconde de CPU, "
                f"{1000 * work_cpu / options.records:.2f} ms de CPU par fiche"
            )
    server.shutdown()


if __name__ == "__main__":
    main()
