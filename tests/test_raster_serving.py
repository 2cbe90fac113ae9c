"""Rasters served by a live `niaouli serve`, on both backends: OGC API Coverages, map tiles
(metadata, TileJSON, ETag/304), previews, point values, COG downloads with ranges, the
access rule on all of them, and GDAL reading the COG and the coverage over HTTP."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from niaouli.catalogue import service
from niaouli.catalogue.models import RasterLayer
from tests import raster_cogs as raster_support
from tests.browser_support import Site, chromium, visit  # noqa: F401 - the fixture
from tests.conftest import fresh_backend
from tests.ogc_support import OgcServer, serve
from tests.test_qgis_clients import drive, qgis  # noqa: F401 - the fixture

ORG = "gouvernement-nc"
COVERAGES = "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/"


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, str]]:
    """The COGs, made once for both backends: (path, kind, access level) by slug."""
    folder = tmp_path_factory.mktemp("raster-cogs")
    return {
        "mnt-noumea": (raster_support.dem(folder / "mnt.tif"), "elevation", "public"),
        "ortho-noumea": (raster_support.ortho(folder / "ortho.tif"), "orthophoto", "public"),
        "occupation-sol": (raster_support.classes(folder / "classes.tif"), "classified", "public"),
        "mnt-grand": (
            raster_support.dem(folder / "grand.tif", size=2048, cell=10.0),
            "elevation",
            "public",
        ),
        "mnt-brouillon": (raster_support.dem(folder / "brouillon.tif"), "elevation", "draft"),
    }


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def rsite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cogs):
    """Public DEM, orthophoto, land cover and a larger DEM; a draft DEM that must never show."""
    root = tmp_path_factory.mktemp(f"rasters-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        with backend.session() as session, session.begin():
            service.create_organisation(session, ORG, "Gouvernement", "government")
        for slug, (path, kind, level) in cogs.items():
            raster_support.publish_raster(backend, path, ORG, slug, f"Raster {slug}", kind, level)
        with serve(backend) as server:
            server.cogs = {slug: path for slug, (path, _k, _l) in cogs.items()}  # type: ignore[attr-defined]
            yield server


def _site(server: OgcServer) -> str:
    return server.url.removesuffix("/ogc")


def _cog_url(server: OgcServer, slug: str) -> str:
    """The COG's download address: its `raster-cog` resource's."""
    with server.backend.session() as session:
        layer = session.query(RasterLayer).filter_by(collection_id=slug).one()
        cog = next(r for r in layer.dataset.resources if r.storage_key == layer.cog_key)
        return f"{_site(server)}/jeux-de-donnees/{slug}/ressources/{cog.id}/{cog.filename}"


def _legacy_cog_url(server: OgcServer, slug: str) -> str:
    with server.backend.session() as session:
        layer = session.query(RasterLayer).filter_by(collection_id=slug).one()
        return f"{_site(server)}/jeux-de-donnees/{slug}/rasters/{slug}/{layer.cog_filename}"


def _geotiff(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("image/tiff")
    with MemoryFile(response.content) as memory, memory.open() as out:
        return {"shape": out.shape, "count": out.count, "bounds": out.bounds, "data": out.read()}


def test_collections_coverage_and_the_access_rule(rsite):
    listed = {c["id"]: c for c in rsite.get("/collections").json()["collections"]}
    assert {"mnt-noumea", "ortho-noumea", "occupation-sol", "mnt-grand"} <= set(listed)
    assert "mnt-brouillon" not in listed
    dem = listed["mnt-noumea"]
    assert dem["itemType"] == "coverage"
    west, south, east, north = dem["extent"]["spatial"]["bbox"][0]
    assert 166 < west < east < 167 and -23 < south < north < -22
    rels = {link["rel"] for link in dem["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/coverage" in rels
    described = rsite.get("/collections/mnt-noumea").json()
    assert described["storageCrs"].endswith("/EPSG/0/3163")
    assert described["domainSet"]["generalGrid"]["gridLimits"]["axis"][0]["upperBound"] == 511
    classes = rsite.get("/conformance").json()["conformsTo"]
    assert COVERAGES + "core" in classes and COVERAGES + "scaling" in classes
    # A subset in native axes, scaled: the answer is that window, georeferenced.
    x0, y0 = raster_support.DEM_ORIGIN
    part = _geotiff(
        rsite.get(
            "/collections/mnt-noumea/coverage",
            subset=f"E({x0 + 1000}:{x0 + 2000}),N({y0 - 2000}:{y0 - 1000})",
            **{"scale-size": "E(50)"},
        )
    )
    assert part["shape"] == (50, 50)
    assert part["bounds"] == pytest.approx((x0 + 1000, y0 - 2000, x0 + 2000, y0 - 1000))
    png = rsite.get("/collections/ortho-noumea/coverage", f="png", properties="1,2,3")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    too_big = rsite.get("/collections/mnt-grand/coverage", **{"scale-size": "E(9000),N(9000)"})
    assert too_big.status_code == 400 and "trop grande" in too_big.json()["description"]
    bad = rsite.get("/collections/mnt-noumea/coverage", subset="Foo(1:2)")
    assert bad.status_code == 400 and "axes" in bad.json()["description"]
    assert rsite.get("/collections/mnt-noumea/coverage", pirate="1").status_code == 400
    # The draft raster: absent everywhere, like a vector draft.
    hidden = "/collections/mnt-brouillon"
    for path in (
        hidden,
        hidden + "/coverage",
        hidden + "/coverage/domainset",
        hidden + "/coverage/rangetype",
        hidden + "/map",
        hidden + "/map/tiles",
        hidden + "/map/tiles/WebMercatorQuad",
        hidden + "/map/tiles/WebMercatorQuad/14/9232/15767",
        hidden + "/value?lon=166.45&lat=-22.27",
    ):
        assert httpx.get(rsite.url + path, timeout=30).status_code == 404, path
    for download in (_cog_url(rsite, "mnt-brouillon"), _legacy_cog_url(rsite, "mnt-brouillon")):
        assert httpx.get(download, timeout=30).status_code == 404


def test_clients_discover_the_rasters(rsite):
    """The rasters are in what clients read to find collections: /collections as JSON and
    HTML, each raster's HTML page, and the OpenAPI document (coverage, tiles, preview and
    point paths); the draft raster in none of them."""
    listed = {c["id"] for c in rsite.get("/collections", f="json").json()["collections"]}
    assert {"mnt-noumea", "ortho-noumea"} <= listed and "mnt-brouillon" not in listed
    page = rsite.get("/collections", f="html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/collections/mnt-noumea/coverage?f=geotiff" in page.text
    assert "/collections/mnt-noumea/map/tiles/WebMercatorQuad?f=tilejson" in page.text
    assert "mnt-brouillon" not in page.text
    one = rsite.get("/collections/mnt-noumea", f="html")
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/html")
    assert "/collections/mnt-noumea/coverage/domainset?f=json" in one.text
    assert "EPSG/0/3163" in one.text
    browser = httpx.get(
        rsite.url + "/collections/ortho-noumea", headers={"Accept": "text/html"}, timeout=30
    )
    assert browser.headers["content-type"].startswith("text/html")
    assert rsite.get("/collections/mnt-noumea").json()["itemType"] == "coverage"
    openapi = rsite.get("/openapi", f="json")
    assert openapi.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    paths = openapi.json()["paths"]
    here = "/collections/mnt-noumea"
    for suffix in (
        "",
        "/coverage",
        "/coverage/domainset",
        "/coverage/rangetype",
        "/map",
        "/map/tiles",
        "/map/tiles/{tileMatrixSetId}",
        "/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        "/value",
    ):
        assert "get" in paths[here + suffix], suffix
    coverage_parameters = {p["name"] for p in paths[here + "/coverage"]["get"]["parameters"]}
    assert {"subset", "bbox", "bbox-crs", "scale-size", "properties"} <= coverage_parameters
    assert not any(path.startswith("/collections/mnt-brouillon") for path in paths)


def test_map_tiles_metadata_etag_styles_and_values(rsite):
    tileset = rsite.get("/collections/mnt-noumea/map/tiles/WebMercatorQuad").json()
    limits = {int(m["tileMatrix"]): m for m in tileset["tileMatrixSetLimits"]}
    deepest = limits[max(limits)]
    tilejson = rsite.get("/collections/mnt-noumea/map/tiles/WebMercatorQuad", f="tilejson").json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["legend"]["kind"] == "ramp"
    assert tilejson["maxzoom"] == max(limits)
    z, x, y = max(limits), deepest["minTileCol"] + 1, deepest["minTileRow"] + 1
    url = f"{rsite.url}/collections/mnt-noumea/map/tiles/WebMercatorQuad/{z}/{y}/{x}"
    first = httpx.get(url, timeout=30)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    shaded = httpx.get(url, params={"style": "hillshade"}, timeout=30)
    assert shaded.status_code == 200 and shaded.headers["etag"] != first.headers["etag"]
    webp = httpx.get(url, params={"f": "webp"}, timeout=30)
    assert webp.content[8:12] == b"WEBP"
    classes = rsite.get("/collections/occupation-sol/map/tiles/WebMercatorQuad", f="tilejson")
    assert [c["value"] for c in classes.json()["legend"]["classes"]] == [1, 2, 3, 4]
    outside = f"{rsite.url}/collections/mnt-noumea/map/tiles/WebMercatorQuad/{z}/0/0"
    assert httpx.get(outside, timeout=30).status_code == 404
    assert httpx.get(url.replace(f"/{z}/", "/99/"), timeout=30).status_code == 400
    # The value at a pixel is the COG's value there; nodata is null.
    lon, lat = raster_support.lonlat(rsite.cogs["mnt-noumea"], 200, 300)
    with rasterio.open(rsite.cogs["mnt-noumea"]) as dataset:
        expected = float(dataset.read(1, window=((300, 301), (200, 201)))[0, 0])
    value = rsite.get("/collections/mnt-noumea/value", lon=lon, lat=lat).json()
    assert value["bands"][0]["value"] == pytest.approx(expected, rel=1e-5)
    lon, lat = raster_support.lonlat(rsite.cogs["mnt-noumea"], 2, 2)
    assert (
        rsite.get("/collections/mnt-noumea/value", lon=lon, lat=lat).json()["bands"][0]["value"]
        is None
    )
    preview = rsite.get("/collections/ortho-noumea/map", width=200)
    assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"


def test_gdal_reads_a_window_of_the_cog_and_the_coverage_over_http(rsite, gdal_client):
    """GDAL's /vsicurl/ reads a 256-pixel window of the 16 MB COG with a few range requests
    (bytes counted by a proxy), and opens a coverage answer as a GeoTIFF."""
    big = rsite.cogs["mnt-grand"]
    size = big.stat().st_size
    with rasterio.open(big) as source:
        expected = source.read(1, window=((1024, 1280), (512, 768)))
    with raster_support.CountingProxy(_site(rsite)) as proxy:
        url = _cog_url(rsite, "mnt-grand").replace(_site(rsite), proxy.url)
        options = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_CACHE_SIZE": "0"}
        with rasterio.Env(**options), rasterio.open(f"/vsicurl/{url}") as remote:
            assert remote.shape == (2048, 2048) and remote.overviews(1)
            window = remote.read(1, window=((1024, 1280), (512, 768)))
        assert np.array_equal(window, expected)
        ranged = [r for r in proxy.requests if r[1]]
        assert ranged and all(status == 206 for _m, _r, status in ranged)
        assert proxy.bytes < 600_000 < size / 20, (proxy.bytes, size)
        # The coverage endpoint, opened by GDAL like a file.
        proxy.reset()
        x0, y0 = raster_support.DEM_ORIGIN
        coverage = (
            f"{proxy.url}/ogc/collections/mnt-grand/coverage?"
            f"subset=E({x0 + 5120}:{x0 + 7680}),N({y0 - 12800}:{y0 - 10240})"
        )
        with rasterio.Env(**options), rasterio.open(f"/vsicurl/{coverage}") as part:
            assert part.shape == (256, 256) and part.crs.to_epsg() == 3163
            assert np.array_equal(part.read(1), expected)


def test_portal_downloads_preview_snippets_and_map_list(rsite):
    site = _site(rsite)
    cog = _cog_url(rsite, "mnt-noumea")
    whole = httpx.get(cog, timeout=30)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    head = httpx.get(cog, headers={"Range": "bytes=0-99"}, timeout=30)
    assert head.status_code == 206 and head.content == whole.content[:100]
    assert httpx.get(cog, headers={"Range": "bytes=999999999-"}, timeout=30).status_code == 416
    assert whole.headers["content-type"] == "image/tiff"
    # One way to the file: the raster route's address redirects to the resource's.
    legacy = httpx.get(_legacy_cog_url(rsite, "mnt-noumea"), timeout=30)
    assert legacy.status_code == 308 and site + legacy.headers["location"] == cog
    followed = httpx.get(
        _legacy_cog_url(rsite, "mnt-noumea"),
        headers={"Range": "bytes=0-99"},
        follow_redirects=True,
        timeout=30,
    )
    assert followed.status_code == 206 and followed.content == whole.content[:100]
    page = httpx.get(f"{site}/jeux-de-donnees/mnt-noumea", timeout=30).text
    # The page's buttons and every snippet name that one address.
    assert "/rasters/mnt-noumea/" not in page
    assert f"/vsicurl/{cog}" in page and f"rasterio.open(&#34;{cog}&#34;)" in page.replace(
        "&quot;", "&#34;"
    )
    assert page.count(cog.removeprefix(site)) >= 3
    assert "/ogc/collections/mnt-noumea/map?f=png" in page
    assert "/vsicurl/" in page and "map/tiles/WebMercatorQuad/{z}/{y}/{x}" in page
    carte = httpx.get(f"{site}/carte", timeout=30).text
    assert 'data-collection="ortho-noumea" data-kind="raster"' in carte
    assert "mnt-brouillon" not in carte
    config = json.loads(carte.split('id="carte-config">', 1)[1].split("</script>", 1)[0])
    assert config["rasterValue"] == "/ogc/collections/{collection}/value"


def test_qgis_draws_the_raster_tiles_as_an_xyz_layer(rsite, qgis):  # noqa: F811
    """QGIS (Debian's, headless) draws the XYZ template of the dataset page: the land
    cover's four classes, in their colours; the same template on a hidden raster, nothing."""
    page = httpx.get(f"{_site(rsite)}/jeux-de-donnees/occupation-sol", timeout=30).text
    template = next(
        value
        for value in re.findall(r'value="([^"]+)"', page)
        if "/map/tiles/WebMercatorQuad/" in value
    ).replace("&amp;", "&")
    with rasterio.open(rsite.cogs["occupation-sol"]) as dataset:
        from rasterio.warp import transform_bounds

        extent = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    job = {"kind": "xyzraster", "extent": list(extent), "zmin": 0, "zmax": 13}
    drawn, hidden = drive(
        [
            job | {"url": template},
            job | {"url": template.replace("/occupation-sol/", "/mnt-brouillon/")},
        ],
        qgis,
    )
    assert drawn["valid"] and drawn["errors"] == [], drawn
    assert drawn["pixels"] > 30_000 and drawn["colours"] >= 4, drawn
    assert any("/occupation-sol/map/tiles/" in r["url"] for r in drawn["requests"])
    assert hidden["pixels"] == 0


def _pixels(png: bytes) -> np.ndarray:
    """A screenshot's pixels as (n, 3) RGB rows (GDAL decodes the PNG)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(png) as memory, memory.open() as image:
            return np.moveaxis(image.read()[:3], 0, -1).reshape(-1, 3).astype(int)


def test_maplibre_draws_the_raster_on_the_map(rsite, chromium):  # noqa: F811
    """/carte in headless Chromium: the land cover drawn from its map tiles in its
    classes' colours (opacity set to 100 % with the slider), the legend's four classes
    from the TileJSON, and a click showing the class value at that point."""
    site = Site(_site(rsite), rsite.backend.name, background=True)
    lon, lat = raster_support.lonlat(rsite.cogs["occupation-sol"], 256, 256)
    with visit(chromium, site, "desktop") as v:
        tiles: list[int] = []
        v.page.on(
            "response",
            lambda r: tiles.append(r.status) if "/occupation-sol/map/tiles/" in r.url else None,
        )
        v.open(f"/carte#map=13/{lat}/{lon}&layers=occupation-sol")
        v.wait_for_map()
        item = v.page.locator('.carte-couche[data-collection="occupation-sol"]')
        item.locator("[data-opacite]").fill("100")
        v.page.wait_for_function(
            "() => window.niaouliMap.getPaintProperty('occupation-sol:raster',"
            " 'raster-opacity') === 1"
        )
        v.wait_for_map()
        assert tiles and all(status == 200 for status in tiles), tiles
        assert item.locator(".carte-classes li").count() == 4
        pixels = _pixels(v.page.locator("#carte").screenshot())
        for value in (1, 2, 3, 4):
            colour = np.array(raster_support.CLASS_COLOURS[value][:3])
            near = int((np.abs(pixels - colour).sum(axis=1) < 24).sum())
            assert near > 2000, (value, near)
        lon, lat = raster_support.lonlat(rsite.cogs["occupation-sol"], 400, 100)  # class 2
        x, y = v.page.evaluate(
            "([lon, lat]) => { const m = window.niaouliMap; const p = m.project([lon, lat]);"
            " const r = m.getCanvas().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; }",
            [lon, lat],
        )
        v.page.mouse.click(x, y)
        popup = v.page.locator(".maplibregl-popup")
        popup.wait_for(timeout=10_000)
        assert "Raster occupation-sol" in popup.inner_text()
        assert popup.locator("td").first.inner_text() == "2"
        assert v.errors == []
