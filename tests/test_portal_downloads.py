"""Original files and layer exports from the portal, on both backends (S16, S19)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyogrio
import pytest
from starlette.testclient import TestClient

from niaouli.ingest import ingest_file
from niaouli.portal.app import create_app
from tests.conftest import FIXTURES, GEODATA
from tests.portal_support import links, populate, sha256

COMMUNES = "/jeux-de-donnees/communes-nc"
POPULATION = "/jeux-de-donnees/population-communes-nc"


@pytest.fixture
def client(backend):
    populate(backend)
    with TestClient(create_app(backend.settings), raise_server_exceptions=False) as client:
        yield client


def download_url(client: TestClient, page: str, suffix: str) -> str:
    html = client.get(page).text
    found = [h for h in links(html) if "/ressources/" in h and h.endswith(suffix)]
    assert len(found) == 1, links(html)
    return found[0]


def assert_attachment(response, filename: str) -> None:
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert filename in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "html" not in response.headers["content-type"]


def test_original_file_downloads_byte_identical(client):
    for page, name, source in (
        (COMMUNES, "nc_communes.geojson", GEODATA / "nc_communes.geojson"),
        (POPULATION, "nc_communes_population.csv", GEODATA / "nc_communes_population.csv"),
    ):
        url = download_url(client, page, name)
        response = client.get(url)
        assert_attachment(response, name)
        assert response.content == source.read_bytes()
        # the checksum shown on the page is the file's
        assert sha256(response.content).split(":")[1] in client.get(page).text


def test_download_paths_cannot_escape(client):
    url = download_url(client, COMMUNES, "nc_communes.geojson")
    base = url.rsplit("/", 2)[0]
    for bad in (
        f"{base}/../../etc/passwd",
        f"{base}/1/..%2f..%2fniaouli.sqlite",
        f"{base}/%2e%2e/nc_communes.geojson",
        f"{base}/abc/nc_communes.geojson",
        f"{url}x",  # another file name under the same id
        url.replace("nc_communes.geojson", "..%5c..%5cx.shp"),
        f"{base}/{'9' * 10_000}/x",
        f"{POPULATION}/ressources/{url.rsplit('/', 2)[1]}/nc_communes.geojson",  # other dataset
    ):
        response = client.get(bad)
        assert response.status_code in (404, 400), (bad, response.status_code)
        assert b"FeatureCollection" not in response.content


def export_links(client: TestClient, page: str) -> list[str]:
    return [h for h in links(client.get(page).text) if "/couches/" in h]


def read_export(content: bytes, suffix: str, tmp_path: Path) -> dict:
    path = tmp_path / f"export{suffix}"
    path.write_bytes(content)
    if suffix == ".shp.zip":
        with zipfile.ZipFile(io.BytesIO(content)) as bundle:
            assert {Path(n).suffix for n in bundle.namelist()} >= {".shp", ".dbf", ".prj", ".shx"}
        return pyogrio.read_info(f"/vsizip/{path}")
    return pyogrio.read_info(path)


def test_layer_exports_open_with_the_right_feature_count(client, tmp_path):
    urls = export_links(client, COMMUNES)
    suffixes = sorted("." + u.rsplit("/", 1)[1].split(".", 1)[1] for u in urls)
    assert suffixes == [".csv", ".geojson", ".gpkg", ".shp.zip"]
    for url in urls:
        suffix = "." + url.rsplit("/", 1)[1].split(".", 1)[1]
        response = client.get(url)
        assert_attachment(response, "communes-nc" + suffix)
        info = read_export(response.content, suffix, tmp_path)
        assert info["features"] == 33, url
        fields = list(info["fields"])
        assert "LIBGEO" in fields or "LIBGEO"[:10] in fields, fields
        if suffix != ".csv":
            assert info["crs"] == "EPSG:4326"
            assert "Polygon" in info["geometry_type"]
        # served again from the cache, identical
        assert client.get(url).content == response.content

    (csv_url,) = export_links(client, POPULATION)
    assert csv_url.endswith("/population-communes-nc.csv")
    response = client.get(csv_url)
    assert_attachment(response, "population-communes-nc.csv")
    text = response.content.decode("utf-8")
    assert text.splitlines()[0].startswith("fid,code_commune,nom_commune")
    assert "Hienghène" in text and len(text.splitlines()) == 34
    assert not [u for u in export_links(client, POPULATION) if not u.endswith(".csv")]
    bad = csv_url.replace(".csv", ".gpkg")
    assert client.get(bad).status_code == 404  # no GeoPackage of a table without geometry
    assert client.get(csv_url.replace("population-communes-nc.csv", "x.csv")).status_code == 404


def test_reingest_invalidates_cached_exports(client, backend, tmp_path):
    (gpkg,) = [u for u in export_links(client, COMMUNES) if u.endswith(".gpkg")]
    assert read_export(client.get(gpkg).content, ".gpkg", tmp_path)["features"] == 33
    source = FIXTURES / "grand_noumea.kml"
    expected = pyogrio.read_info(source)["features"]
    report = ingest_file(
        source,
        organisation="gouvernement-nc",
        dataset="communes-nc",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    (new_gpkg,) = [u for u in export_links(client, COMMUNES) if u.endswith(".gpkg")][:1]
    info = read_export(client.get(new_gpkg).content, ".gpkg", tmp_path)
    assert info["features"] == report.layers[0].feature_count
    assert expected >= 1 and info["features"] != 33
    # the exports of the replaced table are removed by `niaouli db cleanup`
    from niaouli.catalogue.lifecycle import cleanup

    cache = backend.settings.data_dir / "exports"
    assert len(list(cache.iterdir())) == 2
    report = cleanup(backend.engine, backend.settings, min_age_seconds=0)
    assert len(report.exports) == 1 and len(list(cache.iterdir())) == 1


def test_map_preview_geojson(client):
    html = client.get(COMMUNES).text
    (preview,) = [h for h in html.split('"') if h.endswith("/apercu.geojson")]
    response = client.get(preview)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    data = json.loads(response.content)
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 33
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in data["features"])
    population_preview = preview.replace("communes-nc", "population-communes-nc")
    assert client.get(population_preview).status_code == 404
