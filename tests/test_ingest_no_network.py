"""No ingestion makes a network request, whatever the file names (SECURITY-CASES S11, S13,
S14).

A canary HTTP server on 127.0.0.1 answers every request with a valid WKT (the oracle an
attacker would use) and counts them; it must see none while files of every accepted
format, carrying every kind of remote reference we know of, are ingested through Python,
the CLI, the API and a harvest that copies data. GeoJSON `crs` members of type `link` or
`url` used to make GDAL fetch the URL three times per ingestion; they are now ignored with
a note in the report (`niaouli.gdalguard`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from niaouli import gdalguard
from niaouli.catalogue.models import Layer
from niaouli.ingest import IngestError
from niaouli.ingest.harvest.harvest_tables import JobStatus
from tests.api_support import start_api_site
from tests.harvest_support import FakeDcat, FakeRemote, add_source_for, commune_items, harvest
from tests.ingest_support import fixture, ingest, shapefile_parts

WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
)
POINTS = [(166.4572, -22.2758), (166.4421, -22.2969), (167.8811, -21.4783)]


@dataclass
class Canary:
    """An HTTP server that records every request it receives and answers a valid CRS."""

    hits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _answer(self) -> None:
                canary.hits.append(f"{self.command} {self.path}")
                body = WKT.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ogcwkt")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.close()
    assert server.hits == [], f"GDAL or PROJ reached the network: {server.hits}"


def _features() -> list[dict]:
    return [
        {
            "type": "Feature",
            "properties": {"nom": f"École {i}", "code": i},
            "geometry": {"type": "Point", "coordinates": list(point)},
        }
        for i, point in enumerate(POINTS, start=1)
    ]


def _geojson(crs: dict | None, *, crs_last: bool = False, extra: dict | None = None) -> bytes:
    body: dict = {"type": "FeatureCollection"}
    if crs is not None and not crs_last:
        body["crs"] = crs
    body["features"] = _features()
    body.update(extra or {})
    if crs is not None and crs_last:
        body["crs"] = crs
    return json.dumps(body, ensure_ascii=False).encode()


def _link(url: str) -> dict:
    return {"type": "link", "properties": {"href": url, "type": "ogcwkt"}}


def _url(url: str) -> dict:
    return {"type": "url", "properties": {"url": url}}


def _kml(c: Canary) -> bytes:
    placemarks = "".join(
        f"<Placemark><name>École {i}</name><styleUrl>{c.url('style.kml')}#s</styleUrl>"
        f"<Point><coordinates>{x},{y}</coordinates></Point></Placemark>"
        for i, (x, y) in enumerate(POINTS, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f'<Style id="s"><IconStyle><Icon><href>{c.url("icon.png")}</href></Icon></IconStyle>'
        "</Style>"
        f"<NetworkLink><name>distant</name><Link><href>{c.url('network.kml')}</href></Link>"
        f"</NetworkLink>{placemarks}</Document></kml>"
    ).encode()


def _gpx(c: Canary) -> bytes:
    points = "".join(
        f'<wpt lat="{y}" lon="{x}"><name>École {i}</name><link href="{c.url("wpt")}"/></wpt>'
        for i, (x, y) in enumerate(POINTS, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f'<metadata><link href="{c.url("metadata")}"/></metadata>{points}</gpx>'
    ).encode()


def _geopackage(c: Canary, tmp: Path) -> Path:
    """A GeoPackage whose SRS definition and description are URLs to the canary."""
    import geopandas as gpd
    from shapely.geometry import Point

    path = tmp / "ecoles.gpkg"
    frame = gpd.GeoDataFrame(
        {"nom": [f"École {i}" for i in range(1, 4)]},
        geometry=[Point(p) for p in POINTS],
        crs="EPSG:4326",
    )
    frame.to_file(path, layer="ecoles", driver="GPKG")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES ('distant', 990001, 'NIAOULI', 990001, ?, ?)",
            (c.url("gpkg-srs"), c.url("gpkg-description")),
        )
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = 990001")
        db.execute("UPDATE gpkg_contents SET srs_id = 990001")
    return path


def _shapefile_with_url_prj(c: Canary, tmp: Path) -> Path:
    parts = shapefile_parts()
    name = next(n for n in parts if n.endswith(".prj"))
    parts[name] = c.url("prj").encode()
    path = tmp / "communes_prj_url.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in parts.items():
            archive.writestr(member, data)
    return path


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


# Each case: a file with remote references, and whether its CRS came by URL (a note).
FILES: dict[str, tuple[Callable[[Canary, Path], Path], bool]] = {
    "geojson-crs-link": (
        lambda c, t: _write(t, "lien.geojson", _geojson(_link(c.url("link")))),
        True,
    ),
    "geojson-crs-url-at-the-end": (
        lambda c, t: _write(t, "url.geojson", _geojson(_url(c.url("url")), crs_last=True)),
        True,
    ),
    "geojson-feature-crs-link": (
        lambda c, t: _write(
            t, "objet.geojson", json.dumps({**_features()[0], "crs": _link(c.url("f"))}).encode()
        ),
        True,
    ),
    "geojson-crs-name-is-a-url": (
        lambda c, t: _write(
            t, "nom.geojson", _geojson({"type": "name", "properties": {"name": c.url("name")}})
        ),
        False,
    ),
    "jsonfg-coordrefsys-url": (
        lambda c, t: _write(
            t,
            "jsonfg.geojson",
            _geojson(
                None,
                extra={"conformsTo": ["http://www.opengis.net/spec/json-fg-1/0.2/conf/core"]}
                | {"coordRefSys": c.url("jsonfg")},
            ),
        ),
        False,
    ),
    "kml-links": (lambda c, t: _write(t, "ecoles.kml", _kml(c)), False),
    "gpx-links": (lambda c, t: _write(t, "ecoles.gpx", _gpx(c)), False),
    "geopackage-srs-url": (_geopackage, False),
    "shapefile-prj-url": (_shapefile_with_url_prj, False),
}


@pytest.mark.parametrize("case", FILES.keys())
def test_no_format_makes_gdal_reach_the_network(backend, org, canary, tmp_path, case):
    build, remote_crs = FILES[case]
    path = build(canary, tmp_path)
    try:
        report = ingest(backend, path, dataset=case)
    except IngestError as refused:  # refusing is fine too, as long as nothing was fetched
        assert refused.file == path.name
        return
    assert report.feature_count > 0
    notes = [n for layer in report.layers for n in layer.notes]
    if remote_crs:
        assert any("adresse distante" in n and "aucune requête réseau" in n for n in notes), notes
        assert report.layers[0].native_crs == "EPSG:4326"  # degrees, guessed and said


def test_a_crs_option_given_as_a_url_is_not_fetched(backend, org, canary):
    path = fixture("communes_3163_latin1_sans_prj.zip")
    with pytest.raises(IngestError) as refused:
        ingest(backend, path, crs=canary.url("option"))
    assert "système de coordonnées inconnu" in str(refused.value)


def test_the_cli_ignores_a_remote_crs(backend, org, canary, tmp_path):
    path = _write(tmp_path, "lien.geojson", _geojson(_link(canary.url("cli"))))
    result = backend.run("ingest", str(path), "--org", org, "--dataset", "ecoles-cli")
    assert "adresse distante" in result.stdout + result.stderr
    shown = json.loads(backend.run("dataset", "show", "ecoles-cli").stdout)
    assert shown["layers"][0]["feature_count"] == len(POINTS)


def test_an_api_upload_ignores_a_remote_crs(backend, canary, tmp_path):
    with start_api_site(backend, tmp_path) as site, site.client("editor_a") as http:
        created = http.post(
            "/api/datasets", json={"organisation": "province-sud", "title": "Écoles"}
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        for name, crs in (("lien.geojson", _link(canary.url("api"))), ("url.geojson", None)):
            data = _geojson(crs or _url(canary.url("api-url")), crs_last=crs is None)
            loaded = http.post(
                f"/api/datasets/{slug}/layers?mode=replace",
                files={"file": (name, data, "application/geo+json")},
            )
            assert loaded.status_code == 200, loaded.text
            assert loaded.json()["feature_count"] == len(POINTS)
            notes = [n for layer in loaded.json()["layers"] for n in layer.get("notes", [])]
            assert any("adresse distante" in n for n in notes), loaded.json()


def test_a_harvest_copying_data_ignores_a_remote_crs(backend, org, canary):
    remote = FakeRemote(FakeDcat())
    remote.handler.base = remote.url
    remote.handler.items = commune_items(remote.url)[:1]
    served = remote.handler

    def hostile(path: str, query: dict[str, str]):
        reply = served(path, query)
        if path == "/donnees/communes.geojson":
            collection = json.loads(reply.body)
            collection["crs"] = _link(canary.url("harvest"))
            reply.body = json.dumps(collection).encode()
        return reply

    remote.handler = hostile
    try:
        slug = add_source_for(
            backend, org, remote.url + "/data.json", "georep", "dcat", data="true"
        )
        report = harvest(backend, slug)
    finally:
        remote.close()
    assert report.status == JobStatus.SUCCESS, report.message
    assert report.items[0].diff["données"] == "33 entité(s) copiée(s)"
    with backend.session() as session:
        layer = session.scalars(select(Layer)).one()
        assert any("adresse distante" in n for n in layer.ingest_report.get("notes", []))


def test_gdal_http_is_refused_in_process(canary):
    """The guard itself, without a file: GDAL's HTTP client answers with a failure."""
    import pyogrio

    gdalguard.install()
    with gdalguard.refused_urls() as urls, pytest.raises(pyogrio.errors.DataSourceError):
        pyogrio.read_info(f"/vsicurl/{canary.url('direct.geojson')}")
    # /vsicurl/ is refused by extension before any request; a plain fetch is recorded.
    assert urls == [] or all(u.startswith("http://127.0.0.1") for u in urls)
    with httpx.Client() as http:  # the canary itself works: a hit would have been seen
        assert http.get(canary.url("self-test")).status_code == 200
    canary.hits.clear()


@pytest.mark.parametrize("guarded", [True, False], ids=["guard-on-import", "no-guard"])
def test_gdal_is_guarded_as_soon_as_it_is_imported(canary, tmp_path, guarded):
    """The command line guards GDAL when a package bringing it is imported
    (`gdalguard.install_on_import`), not by loading it at start: a process that only
    imports pyogrio afterwards and opens a file whose CRS is a link reaches nothing.
    Without the hook (the control), the same process does reach the canary: the test
    would see a missing guard."""
    import subprocess
    import sys

    path = _write(tmp_path, "lien.geojson", _geojson(_link(canary.url("on-import"))))
    hook = "gdalguard.install_on_import()" if guarded else "pass"
    script = (
        f"from niaouli import gdalguard\n{hook}\nimport pyogrio\npyogrio.read_info({str(path)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    if guarded:
        assert canary.hits == []
    else:
        assert any("/on-import" in hit for hit in canary.hits), canary.hits
        canary.hits.clear()  # the control's expected hits: the fixture checks the rest
