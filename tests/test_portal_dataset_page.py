"""The dataset page as a place to *use* the data, on both backends.

Licence in plain words, freshness facts, the table preview (equal to the first rows of
the source CSV), hostile attribute names and values escaped in the preview and the
snippets (SECURITY-CASES S20-S22), HTML5 validity, and the snippets' URLs EXECUTED
against a real `niaouli serve`: the curl URLs with httpx, the Python snippet's `OAPIF:`
URL with pyogrio (GDAL), the vector tiles URL template with a real tile.
"""

from __future__ import annotations

import csv
import html
import json
import re
from html.parser import HTMLParser

import httpx
import pyogrio
import pytest
from starlette.testclient import TestClient

from niaouli import storage
from niaouli.catalogue import service
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.ingest import ingest_file
from niaouli.portal.app import create_app
from tests.conftest import GEODATA
from tests.portal_support import LiveServer, populate, validate_html5

HOSTILE_SLUG = "colonnes-piegees"
HOSTILE_TABLE_SLUG = "table-piegee"
HOSTILE_COLUMNS = ("nom", "<script>", '"onload=')  # a CSV starting with < is XML
HOSTILE_VALUE = "</code></pre><script>alert(1)</script>"
QUOTE_VALUE = "\"'); alert(2); //"
ATTACHED_CSV = 'code;"<script>";valeur\n1;"</code><script>alert(3)</script>";x;y\n2;b;c\n'


def add_hostile_layers(backend, folder) -> None:
    """A point layer and a table whose attribute names and values are markup and quotes."""
    features = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [166.45, -22.27]},
                "properties": {"nom": "a", "<script>": HOSTILE_VALUE, '"onload=': QUOTE_VALUE},
            }
        ],
    }
    geojson = folder / "colonnes.geojson"
    geojson.write_text(json.dumps(features), encoding="utf-8")
    table = folder / "table.csv"
    with table.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HOSTILE_COLUMNS)
        writer.writerow(["b", HOSTILE_VALUE, QUOTE_VALUE])
    for path, slug in ((geojson, HOSTILE_SLUG), (table, HOSTILE_TABLE_SLUG)):
        ingest_file(
            path,
            organisation="gouvernement-nc",
            dataset=slug,
            title=f"Jeu {slug}",
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
    attached = folder / "annexe.csv"
    attached.write_text(ATTACHED_CSV, encoding="utf-8")
    stored = storage.store_file(attached, backend.settings, "annexe.csv")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, HOSTILE_SLUG)
        dataset.resources.append(
            Resource(
                title="Annexe (CSV joint, non importé)",
                kind=ResourceKind.FILE,
                storage_key=stored.key,
                filename=stored.filename,
                format="CSV",
                size=stored.size,
            )
        )
        dataset.licence = "Licence maison <b>bizarre</b>"
        dataset.resources.append(
            Resource(
                title="Notice",
                kind=ResourceKind.FILE,
                storage_key="test-notice-pdf",
                filename="notice.pdf",
                format="PDF",
                media_type="application/pdf",
                size=123456,
            )
        )


class Tables(HTMLParser):
    """Header and body cells of every <table> (text, entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001, ANN201, ARG002
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):  # noqa: ANN001, ANN201
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(("th" if tag == "th" else "td", "".join(self.cell)))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if all(kind == "th" for kind, _ in self.row):
                self.tables[-1]["head"] = [text for _, text in self.row]
            else:
                self.tables[-1]["rows"].append([text for _, text in self.row])
            self.row = None

    def handle_data(self, data):  # noqa: ANN001, ANN201
        if self.cell is not None:
            self.cell.append(data)


def tables(page: str) -> list[dict[str, list]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def snippets(page: str) -> dict[str, str]:
    """Snippet text by `pre` id, entities decoded (what the visitor copies)."""
    pattern = r'<pre class="code" tabindex="0" id="([^"]+)" data-copier><code[^>]*>(.*?)</code>'
    found = re.findall(pattern, page, re.S)
    return {key: html.unescape(code) for key, code in found}


def add_spreadsheets(backend, folder) -> None:
    """The population CSV as attached XLSX and ODS files, plus a broken XLSX."""
    import pandas

    frame = pandas.read_csv(GEODATA / "nc_communes_population.csv", dtype=str)
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet")
    paths = []
    for driver, name in (("XLSX", "population.xlsx"), ("ODS", "population.ods")):
        pyogrio.write_dataframe(frame, folder / name, driver=driver)
        paths.append(folder / name)
    paths.append(folder / "broken.xlsx")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "tribus-hienghene")
        for path in paths:
            stored = storage.store_file(path, backend.settings, path.name)
            dataset.resources.append(
                Resource(
                    title=path.name,
                    kind=ResourceKind.FILE,
                    storage_key=stored.key,
                    filename=stored.filename,
                    format=path.suffix[1:].upper(),
                    size=stored.size,
                )
            )


@pytest.fixture
def site(backend, tmp_path):
    populate(backend)
    add_hostile_layers(backend, tmp_path)
    add_spreadsheets(backend, tmp_path)
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    yield client
    client.close()


def get(client: TestClient, url: str, **kwargs) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response.text


def test_licence_freshness_and_table_preview(site, backend, tmp_path):
    communes = get(site, "/jeux-de-donnees/communes-nc")
    assert "Licence Ouverte 2.0 (Etalab)" in communes
    assert "citer la source" in communes
    assert 'href="https://www.etalab.gouv.fr/licence-ouverte-open-licence/"' in communes
    assert "Mise à jour</dt><dd>irrégulière" in communes
    assert "Territoire couvert</dt><dd>Nouvelle-Calédonie" in communes
    # spatial layer: attribute preview (10 rows, no geometry) under the map
    (table,) = tables(communes)
    assert len(table["rows"]) == 10 and "geom" not in table["head"]
    assert "(attributs, sans la géométrie)" in communes

    population = get(site, "/jeux-de-donnees/population-communes-nc")
    # The demo says « Licence Ouverte 2.0 » too: one licence, one name (issue 15 §6)
    assert "Licence Ouverte 2.0 (Etalab)" in population and "(« Licence" not in population
    with backend.session() as session, session.begin():  # a row from before the one name
        service.find_dataset(session, "tribus-hienghene").licence = "Licence Ouverte"
    older = get(site, "/jeux-de-donnees/tribus-hienghene")
    # "Licence Ouverte" without a version: Etalab's current one, as written beside it
    assert "Licence Ouverte 2.0 (Etalab)" in older and "(« Licence Ouverte »)" in older
    assert "Mise à jour</dt><dd>annuelle" in population
    assert "données importées le" in population
    with (GEODATA / "nc_communes_population.csv").open(encoding="utf-8") as source:
        rows = list(csv.reader(source))
    (table,) = tables(population)
    assert table["head"] == rows[0]
    assert table["rows"] == rows[1:21]  # the first 20 rows, exactly as in the CSV
    assert "Utiliser dans QGIS" not in population  # no layer to add to a map
    assert "Utiliser ces données" in population

    # attached spreadsheets (not ingested): the first sheet's first 20 rows; broken: none
    spreadsheets = get(site, "/jeux-de-donnees/tribus-hienghene")
    previews = tables(spreadsheets)
    assert len(previews) == 2  # XLSX and ODS; the broken file has no preview, no error
    for preview in previews:
        assert preview["head"] == rows[0] and preview["rows"] == rows[1:21]

    hostile = get(site, f"/jeux-de-donnees/{HOSTILE_SLUG}")
    assert "Licence non précisée : contactez le producteur avant réutilisation" in hostile
    assert "&lt;b&gt;bizarre&lt;/b&gt;" in hostile
    assert '<span class="badge">PDF</span>' in hostile and "123,5\u202fko" in hostile

    errors = validate_html5(
        {
            "communes": communes,
            "population": population,
            "hostile": hostile,
            "spreadsheets": spreadsheets,
        },
        tmp_path,
    )
    assert errors == []


def test_hostile_names_and_values_are_escaped(site):
    for slug in (HOSTILE_SLUG, HOSTILE_TABLE_SLUG):
        page = get(site, f"/jeux-de-donnees/{slug}")
        assert "<script>alert" not in page and "</code></pre><script>" not in page
        table = tables(page)[0]
        assert table["head"] == list(HOSTILE_COLUMNS)  # shown as text, intact
        assert table["rows"] == [["a" if slug == HOSTILE_SLUG else "b", HOSTILE_VALUE, QUOTE_VALUE]]
        assert '<th scope="col">&lt;script&gt;</th>' in page
        assert '<th scope="col">&#34;onload=</th>' in page
        codes = snippets(page)
        assert codes, slug
        for key, code in codes.items():
            # data only reaches a snippet percent-encoded: no raw markup, no raw quote
            assert "<script>alert" not in code and "alert(2)" not in code, key
        if slug == HOSTILE_SLUG:  # the attached CSV, sniffed as ;-separated, as text
            attached = tables(page)[1]
            assert attached["head"] == ["code", "<script>", "valeur", ""]  # padded
            assert attached["rows"] == [
                ["1", "</code><script>alert(3)</script>", "x", "y"],
                ["2", "b", "c", ""],
            ]
        curl = next(c for k, c in codes.items() if k.endswith("curl"))
        # the CQL2 example uses the only simple attribute name, `nom`, and its value
        assert "filter=nom%3D%27" in curl


def test_urls_come_from_a_trusted_root(site, monkeypatch):
    forged = get(site, "/jeux-de-donnees/communes-nc", headers={"host": "evil.example/<x>"})
    assert "evil.example" not in forged and "http://localhost/ogc" in forged
    page = get(site, "/jeux-de-donnees/communes-nc")
    assert 'value="http://testserver/ogc"' in page and 'value="http://testserver/csw"' in page
    tiles = "http://testserver/ogc/collections/communes-nc/tiles/WebMercatorQuad/{z}/{y}/{x}"
    assert f'value="{tiles}"' in page
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", "https://data.example.nc/")
    public = get(site, "/jeux-de-donnees/communes-nc")
    assert 'value="https://data.example.nc/ogc"' in public
    assert "testserver" not in "".join(snippets(public).values())


def test_snippets_work_against_a_live_server(backend, tmp_path, gdal_client):
    populate(backend)
    with LiveServer(backend) as server, httpx.Client(timeout=60) as http:
        page = http.get(f"{server.url}/jeux-de-donnees/communes-nc").text
        codes = snippets(page)
        web = codes["code-1-web"]
        assert '"source-layer": "communes-nc"' in web and '"type": "fill"' in web
        tiles = re.search(r'"tiles": \["([^"]+)"\]', web).group(1)
        assert tiles.startswith(server.url)
        tile = http.get(tiles.format(z=8, y=143, x=245))  # Grande Terre, around Nouméa
        assert tile.status_code == 200 and len(tile.content) > 100

        curl_urls = re.findall(r"curl -L '([^']+)'", codes["code-1-curl"])
        assert len(curl_urls) == 3
        items, filtered, lambert = (http.get(u) for u in curl_urls)
        assert items.status_code == 200 and len(items.json()["features"]) == 33
        assert filtered.status_code == 200
        match = re.search(r"Filtre CQL2 : (\w+)='([^']*)'", codes["code-1-curl"])
        name, value = match.groups()
        assert filtered.json()["features"]
        assert all(f["properties"][name] == value for f in filtered.json()["features"])
        assert len(filtered.json()["features"]) < 33
        assert "3163" in lambert.headers["content-crs"]
        x, _y = _first_coordinate(lambert.json()["features"][0]["geometry"])
        assert 100_000 < x < 1_000_000  # metres in Lambert NC, not degrees

        python = codes["code-1-python"]
        oapif = re.search(r'read_dataframe\("(OAPIF:[^"]+)"\)', python).group(1)
        assert oapif == f"OAPIF:{server.url}/ogc/collections/communes-nc"
        frame = pyogrio.read_dataframe(oapif)
        assert len(frame) == 33
        requests_url = re.search(r'requests\.get\("([^"]+)"', python).group(1)
        assert len(http.get(requests_url).json()["features"]) == 33
        fetch_url = re.search(r'const url = "([^"]+)"', codes["code-1-javascript"]).group(1)
        assert fetch_url == requests_url

        population = http.get(f"{server.url}/jeux-de-donnees/population-communes-nc").text
        codes = snippets(population)
        assert "code-1-web" not in codes  # a table has no tiles
        table_urls = re.findall(r"curl -L '([^']+)'", codes["code-1-curl"])
        assert len(table_urls) == 2  # items and a CQL2 filter, no CRS for a table
        assert len(http.get(table_urls[0]).json()["features"]) == 33
        assert len(http.get(table_urls[1]).json()["features"]) == 1  # one commune by code
        oapif = re.search(r'read_dataframe\("(OAPIF:[^"]+)"\)', codes["code-1-python"]).group(1)
        assert len(pyogrio.read_dataframe(oapif)) == 33


def _first_coordinate(geometry: dict) -> tuple[float, float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return coords[0], coords[1]


def test_filter_example_never_carries_a_line_break_or_quote():
    """The CQL2 example is also printed in a shell comment: a newline would run a command."""
    from types import SimpleNamespace

    from niaouli.portal.dataset_page import sample_filter

    layer = SimpleNamespace(
        attribute_schema=[
            {"name": "nom", "column": "c1", "type": "string"},
            {"name": "rang", "column": "c2", "type": "integer"},
            {"name": "part", "column": "c3", "type": "number"},
        ]
    )
    for hostile in ("x\nrm -rf ~", "x\r\ncurl evil", "x\u2028y", "l'île", "a\x00b"):
        assert sample_filter(layer, {"c1": hostile, "c2": 7, "c3": 0.5}) == "rang=7"
    assert sample_filter(layer, {"c1": None, "c2": None, "c3": float("nan")}) is None
    assert sample_filter(layer, {"c1": "Nouméa", "c2": 1, "c3": 1.0}) == "nom='Nouméa'"
