"""Raster layers in the catalogue (issue 19 §2) through a real `niaouli serve`, on both
backends: the dataset page (CRS, extent, resolution, bands with statistics, sizes, COG
and original downloads answering Range), the API upload (and a hostile file refused in
French with nothing changed), the command line, the CSW's ISO 19139 record
(MD_GridSpatialRepresentation, MD_CoverageDescription/MD_Band, the native CRS), OGC API
Records, DCAT (valid against DCAT-AP 3 SHACL), and the search facet `donnees=raster`
— a draft raster stays hidden from anonymous readers everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from lxml import etree
from rdflib.namespace import DCAT

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from tests.api_support import snapshot
from tests.conftest import Backend
from tests.ingest_support import ORG, ingest
from tests.portal_support import LiveServer
from tests.raster_support import dem, orthophoto
from tests.test_dcat import DCAT_AP_3, dataset_nodes, fetch_graph, shacl_results

GMD = {"gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco"}


@pytest.fixture
def site(backend: Backend, org: str, tmp_path: Path):
    ingest(
        backend, dem(tmp_path / "mnt_noumea.tif", 600), dataset="mnt-noumea", title="MNT de Nouméa"
    )
    ingest(
        backend,
        orthophoto(tmp_path / "ortho_secret.tif", 256),
        dataset="ortho-secret",
        title="Orthophoto secrète",
        access_level="draft",
    )
    with backend.session() as session, session.begin():
        user = users.create_user(session, "editrice@example.nc", "Éditrice", "lagon-bleu-2025")
        users.set_membership(session, service.get_organisation(session, ORG), user, "editor")
        _token, secret = tokens.create_token(session, user, "envoi", "write")
    with (
        LiveServer(backend, tmp_path / "serve.log") as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        http.headers["x-token"] = secret  # read by the test, not sent: see `_api`
        yield http


def _api(http: httpx.Client) -> httpx.Client:
    return httpx.Client(
        base_url=str(http.base_url),
        timeout=120,
        headers={"Authorization": f"Bearer {http.headers['x-token']}"},
    )


def test_the_raster_in_page_api_csw_records_dcat_and_search(site, backend, tmp_path):
    """One server per backend: its start and the ingestions are the cost."""
    _page(site)
    _records(site)
    _search(site)
    _api_upload(site, backend, tmp_path)


def _page(site):
    page = site.get("/jeux-de-donnees/mnt-noumea")
    assert page.status_code == 200
    html = page.text
    assert "Raster « mnt-noumea »" in html and "modèle d'élévation" in html
    assert "<code>EPSG:3163</code>" in html and "600 × 600 pixels" in html.replace("\u202f", " ")
    assert "-9999" in html  # the nodata value in the bands table
    cog = re.search(
        r'href="(/jeux-de-donnees/mnt-noumea/ressources/\d+/[^"]+)" download>Cloud Optimized', html
    ).group(1)
    whole = site.get(cog)
    assert whole.status_code == 200 and whole.content[:4] in (b"II*\x00", b"II+\x00")
    part = site.get(cog, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == whole.content[100:300]
    assert site.get("/jeux-de-donnees/ortho-secret").status_code == 404


def _api_upload(site, backend, tmp_path):
    with _api(site) as api:
        created = api.post(
            "/api/datasets",
            json={"organisation": ORG, "title": "Relief envoyé", "slug": "relief-envoye"},
        )
        assert created.status_code in (200, 201), created.text
        slug = created.json()["slug"]  # namespaced by the organisation
        data = dem(tmp_path / "relief.tif", 200, crs="EPSG:32758").read_bytes()
        sent = api.post(
            f"/api/datasets/{slug}/layers", files={"file": ("relief.tif", data, "image/tiff")}
        )
        assert sent.status_code == 200, sent.text
        raster = sent.json()["rasters"][0]
        assert raster["crs"] == "EPSG:32758" and raster["kind"] == "elevation"
        before = snapshot(backend)
        bomb = data[:8] + b"\x00" * 64
        refused = api.post(
            f"/api/datasets/{slug}/layers", files={"file": ("bombe.tif", bomb, "image/tiff")}
        )
        assert refused.status_code == 422 and "illisible" in refused.json()["description"]
        assert snapshot(backend) == before


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_command_line_reports_the_raster(backend, org, tmp_path):
    source = orthophoto(tmp_path / "ortho_cli.tif", 300)
    result = backend.run(
        "ingest", str(source), "--org", ORG, "--dataset", "ortho-cli", "--progress", "none"
    )
    assert "raster ortho-cli (orthophoto) : 300 × 300 px, 3 bande(s), SCR EPSG:32758" in (
        result.stdout
    ), result.stdout


def _records(site):
    answer = site.get(
        "/csw",
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": "mnt-noumea",
            "elementsetname": "full",
            "outputschema": GMD["gmd"],
        },
    )
    assert answer.status_code == 200, answer.text[:500]
    root = etree.fromstring(answer.content)
    grid = root.find(".//gmd:MD_GridSpatialRepresentation", GMD)
    assert grid is not None
    sizes = grid.findall(".//gmd:dimensionSize/gco:Integer", GMD)
    assert [s.text for s in sizes] == ["600", "600"]
    assert "http://www.opengis.net/def/crs/EPSG/0/3163" in answer.text
    band = root.find(".//gmd:MD_CoverageDescription/gmd:dimension/gmd:MD_Band", GMD)
    assert 1099 < float(band.find("gmd:maxValue/gco:Real", GMD).text) < 1101
    hidden = site.get(
        "/csw",
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": "ortho-secret",
        },
    )
    assert "ortho-secret" not in hidden.text

    record = site.get("/ogc/collections/catalogue/items/mnt-noumea", params={"f": "json"})
    assert record.status_code == 200
    properties = record.json()["properties"]
    assert properties["rasters"][0]["crs"] == "EPSG:3163"
    assert properties["rasters"][0]["bands"][0]["nodata"] == -9999.0
    rels = {link["rel"] for link in record.json()["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/coverage" in rels
    assert site.get("/ogc/collections/catalogue/items/ortho-secret").status_code == 404

    graph = fetch_graph(site, "/catalog.ttl")
    node = dataset_nodes(graph)["mnt-noumea"]
    assert float(graph.value(node, DCAT.spatialResolutionInMeters)) == 10.0
    assert "ortho-secret" not in dataset_nodes(graph)
    assert shacl_results(graph, DCAT_AP_3) == []


def _search(site):
    found = site.get("/jeux-de-donnees", params={"donnees": "raster"})
    assert found.status_code == 200
    assert "MNT de Nouméa" in found.text and "Orthophoto secrète" not in found.text
    assert "Raster (image, grille)" in found.text
    none = site.get("/jeux-de-donnees", params={"donnees": "vecteur"})
    assert "MNT de Nouméa" not in none.text
