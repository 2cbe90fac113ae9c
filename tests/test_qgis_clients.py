"""Every address a dataset page gives, opened in the client it is meant for, on both backends.

The URLs and snippets are read from the rendered page (the "Utiliser ces données" box),
never rebuilt here: what an analyst pastes is what is tested.

- QGIS 3.22 itself (Debian's `python3-qgis` / `qgis-providers`, headless, run by Debian's
  `/usr/bin/python3` through `tests/qgis_driver.py`): the OGC API Features URL in the
  OAPIF provider (valid layer, count, accented attributes, a `bbox` request), the vector
  tiles URL in `QgsVectorTileLayer` rendered to an image, a restricted layer with a token
  (Basic, token as password: in the URI and as a QgsAuthManager configuration).
- The CSW URL with OWSLib called as QGIS 3.22's MetaSearch calls it: Debian's OWSLib
  (the one QGIS uses) and the .venv's.
- The curl, Python and JavaScript snippets run as shown (bash, the .venv's Python, node).
- `/ogc`, `/api` and `/csw` answer with and without the trailing slash (GDAL, OWSLib,
  a CSW POST), served in place (no redirect).

The MapLibre snippet is run in Chromium by tests/test_browser_portal.py. QGIS missing is a
failure under scripts/test and CI (scripts/install test installs it), a skip elsewhere.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest
from owslib.ogcapi.features import Features
from shapely import geometry

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from tests.accounts_support import LoggedServer
from tests.conftest import REPO, fresh_backend

QGIS_PYTHON = "/usr/bin/python3"  # Debian's: QGIS's bindings are built for it
DRIVER = Path(__file__).with_name("qgis_driver.py")
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
ARTIFACTS = REPO / "tests" / "artifacts" / "qgis"
ORG = "gouvernement-nc"  # the demo data's organisation
RESTRICTED = "sites-reserves"
MEMBER = "analyste@exemple.nc"
GRANDE_TERRE = (163.5, -22.8, 168.2, -19.5)  # west, south, east, north (lon/lat)
NOUMEA_BOX = (166.3, -22.4, 166.6, -22.1)
SITES = [  # accented values, a restricted point layer
    ("Forêt de Thy", (166.55, -22.18)),
    ("Plaine des Gaïacs", (164.98, -21.08)),
    ("Île Ouen", (166.8, -22.43)),
]


def required() -> bool:
    """Under scripts/test (and so in CI) QGIS is installed: missing is a failure."""
    return os.environ.get("CI") == "true" or os.environ.get("NIAOULI_REQUIRE_POSTGIS") == "1"


@pytest.fixture(scope="module")
def qgis() -> str:
    """Debian's Python with QGIS importable, or a failure (CI) / skip (elsewhere)."""
    problem = None
    if not Path(QGIS_PYTHON).exists():
        problem = f"{QGIS_PYTHON} is missing"
    else:
        check = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, env=_env()
        )
        if check.returncode != 0:
            problem = f"{QGIS_PYTHON} cannot import qgis: {check.stderr.strip()[-300:]}"
    if problem:
        if required():
            pytest.fail(f"{problem} (scripts/install test installs python3-qgis)")
        pytest.skip(f"{problem} (apt-get install python3-qgis qgis-providers)")
    return QGIS_PYTHON


def _env() -> dict[str, str]:
    """Another interpreter: none of the .venv's variables, Qt without a display."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def drive(jobs: list[dict[str, Any]], python: str = QGIS_PYTHON) -> list[dict[str, Any]]:
    """Run tests/qgis_driver.py in a fresh process (fresh QGIS profile and HTTP cache)."""
    result = subprocess.run(
        [python, str(DRIVER)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert result.returncode == 0, f"driver failed ({result.returncode}):\n{result.stderr[-3000:]}"
    results = json.loads(result.stdout.strip().splitlines()[-1])
    for job, answer in zip(jobs, results, strict=True):
        assert "exception" not in answer, (job, answer)
    return results


@dataclass
class Site:
    url: str
    backend: str
    token: str  # a read token of a member of the restricted dataset's organisation


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One live `niaouli serve` per backend: the demo data plus a restricted layer."""
    folder = tmp_path_factory.mktemp(f"qgis-{request.param}")
    with fresh_backend(request, request.param, folder) as backend:
        settings, engine = backend.settings, backend.engine
        load_demo(settings, echo=lambda _m: None)
        sites = folder / "sites.geojson"
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(point)},
                "properties": {"nom": name, "rang": rank},
            }
            for rank, (name, point) in enumerate(SITES, start=1)
        ]
        collection = {"type": "FeatureCollection", "features": features}
        sites.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
        ingest_file(
            sites,
            organisation=ORG,
            dataset=RESTRICTED,
            title="Sites réservés",
            access_level="organisation",
            settings=settings,
            engine=engine,
            progress="none",
        )
        with backend.session() as session, session.begin():
            user = users.create_user(session, MEMBER, "Analyste", "mot-de-passe-analyste")
            users.set_membership(session, service.get_organisation(session, ORG), user, "member")
            _token, secret = tokens.create_token(session, user, "QGIS", "read")
        with LoggedServer(backend, folder / "serve.log") as server:
            yield Site(server.url, request.param, secret)


@dataclass
class UseBox:
    """What the "Utiliser ces données" box of a dataset page gives, as rendered."""

    fields: dict[str, str] = field(default_factory=dict)  # input id -> value
    snippets: dict[str, str] = field(default_factory=dict)  # pre id -> code as copied
    collections: list[str] = field(default_factory=list)  # "Sélectionnez la collection …"
    zooms: tuple[int, int] = (0, 14)  # "(niveaux 0 à 24)"
    record_url: str = ""  # "Fiche de métadonnées (OGC API Records) : <a href=…>"
    token_hint: bool = False  # "Ce jeu n'est pas public : … jeton d'accès …"

    @property
    def ogc_url(self) -> str:
        return self.fields["url-ogc"]

    @property
    def csw_url(self) -> str:
        return self.fields["url-csw"]

    @property
    def tiles_urls(self) -> list[str]:
        return [v for k, v in sorted(self.fields.items()) if k.startswith("url-tuiles-")]


class _UseParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.box = UseBox()
        self.pre: str | None = None
        self.code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and (values.get("id") or "").startswith("url-"):
            self.box.fields[values["id"] or ""] = values.get("value") or ""
        elif tag == "pre" and "data-copier" in values:
            self.pre = values.get("id")
        elif tag == "code" and self.pre:
            self.code = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self.pre and self.code is not None:
            self.box.snippets[self.pre] = "".join(self.code)
            self.pre, self.code = None, None

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            self.code.append(data)


def use_box(site: Site, slug: str, token: str | None = None) -> UseBox:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    page = httpx.get(f"{site.url}/jeux-de-donnees/{slug}", headers=headers, timeout=60)
    assert page.status_code == 200, (slug, page.status_code)
    parser = _UseParser()
    parser.feed(page.text)
    box = parser.box
    step = re.search(r"Sélectionnez la collection (.*?) et cliquez", page.text, re.S)
    if step:
        box.collections = re.findall(r"<code>([^<]+)</code>", step.group(1))
    record = re.search(r'\(OGC API Records\) :\s*<a href="([^"]+)"', page.text)
    if record:
        box.record_url = html.unescape(record.group(1))
    box.token_hint = bool(re.search(r"est pas public : dans QGIS.*?/compte", page.text))
    zooms = re.search(r"niveaux (\d+) à (\d+)", page.text)
    if zooms:
        box.zooms = (int(zooms.group(1)), int(zooms.group(2)))
    return box


def test_service_addresses_answer_with_and_without_slash(site, gdal_client):
    box = use_box(site, "communes-nc")
    assert box.ogc_url == f"{site.url}/ogc" and box.csw_url == f"{site.url}/csw"
    assert not box.token_hint  # public: no token needed
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        for url in (box.ogc_url, box.ogc_url + "/"):
            landing = http.get(url, params={"f": "json"})
            assert landing.status_code == 200, url  # served in place, not redirected
            rels = {link["rel"] for link in landing.json()["links"]}
            assert {"data", "conformance", "service-desc"} <= rels, url
        for url in (f"{site.url}/api", f"{site.url}/api/"):
            index = http.get(url)
            assert index.status_code == 200 and index.json()["openapi"] == "/api/openapi.json"
        # A CSW POST (what MetaSearch sends) to either address: never lost in a redirect.
        get_records = (
            '<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" service="CSW"'
            ' version="2.0.2" resultType="results"><csw:Query typeNames="csw:Record">'
            "<csw:ElementSetName>brief</csw:ElementSetName></csw:Query></csw:GetRecords>"
        )
        for url in (box.csw_url, box.csw_url + "/"):
            answer = http.post(url, content=get_records, headers={"Content-Type": "text/xml"})
            assert answer.status_code == 200, url
            assert "GetRecordsResponse" in answer.text and "communes-nc" in answer.text, url
        for url in (box.csw_url, box.csw_url + "/"):
            answer = http.get(url, params={"service": "CSW", "request": "GetCapabilities"})
            assert answer.status_code == 200 and "Capabilities" in answer.text, url
        assert box.record_url.startswith(f"{site.url}/ogc/collections/catalogue/items/")
        record = http.get(box.record_url, headers={"Accept": "text/html"})
        assert record.status_code == 200 and "Communes" in record.text
    # GDAL's OAPIF driver and OWSLib given the landing page address as shown.
    assert "communes-nc" in pyogrio.list_layers(f"OAPIF:{box.ogc_url}")[:, 0]
    assert "communes-nc" in Features(box.ogc_url).feature_collections()


def test_qgis_opens_the_ogc_api_url_of_the_page(site, qgis):
    box = use_box(site, "communes-nc")
    assert box.collections == ["communes-nc"]
    typename = box.collections[0]
    bare, slashed = drive(
        [
            {
                "kind": "oapif",
                "url": box.ogc_url,
                "typename": typename,
                "values_of": "LIBGEO",
                "bbox": NOUMEA_BOX,
            },
            {"kind": "oapif", "url": box.ogc_url + "/", "typename": typename},
        ],
        qgis,
    )
    for answer in (bare, slashed):
        assert answer["valid"], answer["messages"]
        assert answer["count"] == 33
        assert answer["fields"] == ["CODGEO", "LIBGEO", "INSEE_DEP"]
        assert answer["crs"] == "EPSG:4326" and answer["geometry"] == 2  # polygons
        west, south, east, north = answer["extent"]
        assert 163 < west < east < 169 and -23 < south < north < -19
    assert bare["requests"][0]["url"] == box.ogc_url  # the address as pasted
    # Accents arrive intact (UTF-8 GeoJSON read by QGIS).
    assert sorted(bare["values"]) == sorted(set(bare["values"])) and len(bare["values"]) == 33
    assert {"Nouméa", "Païta", "Hienghène", "Poindimié", "Ouvéa"} <= set(bare["values"])
    # The extent filter goes to the server as `bbox` and comes back right.
    bbox_requests = [r["url"] for r in bare["requests"] if "bbox=" in r["url"]]
    assert bbox_requests, bare["requests"]
    geojson = httpx.get(f"{box.ogc_url}/collections/{typename}/items?limit=100", timeout=60)
    area = geometry.box(*NOUMEA_BOX)
    expected = {
        f["properties"]["LIBGEO"]
        for f in geojson.json()["features"]
        if geometry.shape(f["geometry"]).intersects(area)
    }
    assert "Nouméa" in expected and len(expected) < 33
    assert sorted(bare["bbox_values"]) == sorted(expected)


def test_qgis_draws_the_vector_tiles_url_of_the_page(site, qgis):
    box = use_box(site, "communes-nc")
    (tiles,) = box.tiles_urls
    assert "/communes-nc/" in tiles and box.zooms == (0, 24)
    zmin, zmax = box.zooms
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    picture = ARTIFACTS / f"{site.backend}-tuiles-communes.png"
    job = {"kind": "vectortiles", "extent": GRANDE_TERRE, "zmin": zmin, "zmax": zmax}
    drawn, control = drive(
        [
            job | {"url": tiles, "save": str(picture)},
            # The same template on a collection that does not exist: nothing to draw, so
            # the pixels above come from the server's tiles.
            job | {"url": tiles.replace("/communes-nc/", "/inconnue/")},
        ],
        qgis,
    )
    assert drawn["valid"] and drawn["errors"] == []
    assert drawn["size"] == [256, 256]
    assert drawn["pixels"] > 2000, drawn  # Grande Terre and the islands, filled
    tile_requests = [r["url"] for r in drawn["requests"] if "/tiles/WebMercatorQuad/" in r["url"]]
    assert tile_requests and all(u.startswith(tiles.split("{z}")[0]) for u in tile_requests)
    assert control["valid"] and control["pixels"] == 0
    print(f"QGIS rendering: {picture}")


def test_metasearch_finds_the_dataset_through_the_csw_url(site, qgis):
    box = use_box(site, "communes-nc")
    jobs = [
        {"kind": "csw", "url": box.csw_url, "keywords": "communes"},
        {"kind": "csw", "url": box.csw_url, "keywords": "%communes%", "bbox": GRANDE_TERRE},
    ]
    # Debian's OWSLib (the one QGIS's MetaSearch imports), then the .venv's (newer).
    for python in (qgis, str(VENV_PYTHON)):
        keyword, boxed = drive(jobs, python)
        assert keyword["title"].startswith("Niaouli"), keyword
        for answer in (keyword, boxed):
            identifiers = [r["identifier"] for r in answer["records"]]
            assert "communes-nc" in identifiers, (python, answer)
            assert RESTRICTED not in identifiers  # anonymous
            assert answer["matches"] == len(answer["records"])
            assert answer["by_id"]["title"] == answer["records"][0]["title"]
        titles = {r["identifier"]: r["title"] for r in keyword["records"]}
        assert "Calédonie" in titles["communes-nc"]
        # The box: communes (inside it) yes; the table without geometry has no extent.
        assert "population-communes-nc" not in [r["identifier"] for r in boxed["records"]]


def test_snippets_run_as_shown(site, tmp_path):
    for slug, count, spatial in (("communes-nc", 33, True), ("population-communes-nc", 33, False)):
        box = use_box(site, slug)
        codes = {key.rsplit("-", 1)[-1]: code for key, code in box.snippets.items()}
        assert set(codes) == ({"web"} if spatial else set()) | {"curl", "python", "javascript"}
        # curl: each block (comment + command) through bash, exactly as copied.
        blocks = [block for block in codes["curl"].split("\n\n") if block.strip()]
        assert len(blocks) == (3 if spatial else 2)
        answers = [_run(["bash", "-c", block]) for block in blocks]
        collections = [json.loads(answer) for answer in answers]
        assert len(collections[0]["features"]) == count
        assert 0 < len(collections[1]["features"]) < count  # the CQL2 example filters
        if spatial:  # Lambert NC (EPSG:3163): metres, not degrees
            ring = collections[2]["features"][0]["geometry"]["coordinates"]
            while isinstance(ring[0], list):
                ring = ring[0]
            assert 100_000 < ring[0] < 1_000_000
        # Python: the .venv's interpreter (pyogrio, geopandas, requests), as shown.
        script = tmp_path / f"{slug}.py"
        script.write_text(codes["python"], encoding="utf-8")
        lines = _run([str(VENV_PYTHON), str(script)]).splitlines()
        assert lines[0].startswith(f"{count} [") and lines[1] == str(count), lines
        assert ("'LIBGEO'" if spatial else "'nom_commune'") in lines[0], lines
        # JavaScript: Node.js (fetch, top-level await in an ES module).
        node = shutil.which("node")
        if node is None:
            if required():
                pytest.fail("node is not installed")
            continue
        module = tmp_path / f"{slug}.mjs"
        module.write_text(codes["javascript"], encoding="utf-8")
        output = _run([node, str(module)])
        assert output.startswith(f"{count} "), output
        assert ("LIBGEO" if spatial else "nom_commune") in output


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (command, result.stderr[-2000:])
    return result.stdout


def test_restricted_layer_opens_in_qgis_with_a_token(site, qgis):
    assert httpx.get(f"{site.url}/jeux-de-donnees/{RESTRICTED}").status_code == 404
    box = use_box(site, RESTRICTED, token=site.token)
    assert box.collections == [RESTRICTED]
    assert box.token_hint  # the page says how to give QGIS the token
    (tiles,) = box.tiles_urls
    layer = {"kind": "oapif", "url": box.ogc_url, "typename": RESTRICTED, "values_of": "nom"}
    basic = {"username": MEMBER, "password": site.token}
    drawing = {"kind": "vectortiles", "url": tiles, "extent": GRANDE_TERRE, "zmax": box.zooms[1]}
    search = {"kind": "csw", "url": box.csw_url, "keywords": "%réservés%"}
    # QGIS caches answers by URL in its profile, so a layer could load from what an
    # earlier one fetched: each working way of connecting gets a fresh process; the
    # refused ones run first in another, before anything of the layer is cached.
    wrong, anonymous, tiles_anonymous, signed, unsigned = drive(
        [
            layer | {"auth": {"method": "uri", "username": MEMBER, "password": "nia_faux"}},
            layer,
            drawing,
            # MetaSearch with the token as password (its User name / Password fields).
            search | {"username": MEMBER, "password": site.token},
            search,
        ],
        qgis,
    )
    (in_uri,) = drive([layer | {"auth": {"method": "uri"} | basic}], qgis)
    authcfg, tiles_authcfg = drive(
        [layer | {"auth": {"method": "authcfg"} | basic}, drawing | {"auth": basic}], qgis
    )

    assert not wrong["valid"]
    assert any("authentication" in m for m in wrong["messages"]), wrong["messages"]  # 401
    assert not anonymous["valid"]
    assert any("Not Found" in m for m in anonymous["messages"]), anonymous["messages"]
    assert tiles_anonymous["pixels"] == 0  # the tiles of a restricted layer need the token
    for answer in (in_uri, authcfg):
        assert answer["valid"], answer["messages"]
        assert answer["count"] == len(SITES)
        assert answer["fields"] == ["nom", "rang"]
        assert sorted(answer["values"]) == sorted(name for name, _ in SITES)
        assert all(r["authorization"] for r in answer["requests"]), answer["requests"]
    assert tiles_authcfg["pixels"] > 0, tiles_authcfg
    assert all(r["authorization"] for r in tiles_authcfg["requests"])
    assert [r["identifier"] for r in signed["records"]] == [RESTRICTED]
    assert signed["records"][0]["title"] == "Sites réservés"
    assert unsigned["matches"] == 0
