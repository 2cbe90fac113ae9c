"""OGC API Tiles: vector tiles (MVT) of the published layers, on both backends.

Tiles are decoded with `mapbox-vector-tile` (and read back by GDAL's MVT driver) and
checked against the features the same server gives as GeoJSON: the expected communes are
computed here, independently of the server's tile code, from the tile's own bounds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import box, shape

from tests.ogc_support import ORG, ogc  # noqa: F401 - fixture

MVT = "application/vnd.mapbox-vector-tile"
TILES_REL = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
EXTENT = 4096
BUFFER = 64 / 4096  # the tile margin the server includes, in tile sides
NOUMEA = (166.4580, -22.2758)  # the city centre, in the Nouméa commune
OPEN_OCEAN = (170.5, -25.5)  # south-east of the Loyalty Islands: no land
HALF_WORLD = math.pi * 6378137.0


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """(z, y, x) of the WebMercatorQuad tile holding a point (the usual XYZ formula)."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, y, x


def tile_box(z: int, y: int, x: int, margin: float = 0.0):  # noqa: ANN201
    """The tile's lon/lat box, widened by `margin` tile sides."""
    n = 2**z

    def lon(col: float) -> float:
        return col / n * 360.0 - 180.0

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return box(lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin))


def to_lonlat(z: int, y: int, x: int):  # noqa: ANN201
    """Tile units (y up, as mapbox-vector-tile decodes them) -> lon/lat, for shapely."""
    span = 2 * HALF_WORLD / 2**z
    west = -HALF_WORLD + x * span
    south = HALF_WORLD - (y + 1) * span

    def convert(coords: np.ndarray) -> np.ndarray:
        mx = west + coords[:, 0] / EXTENT * span
        my = south + coords[:, 1] / EXTENT * span
        lon = mx / HALF_WORLD * 180.0
        lat = np.degrees(2 * np.arctan(np.exp(my / 6378137.0)) - np.pi / 2)
        return np.column_stack((lon, lat))

    return convert


def get_tile(server, collection: str, z: int, y: int, x: int, **params) -> httpx.Response:  # noqa: ANN001, ANN003
    path = f"/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}"
    return server.get(path, **params)


def decode(response: httpx.Response, collection: str) -> list[dict]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(response.content)
    if not layers:
        return []
    assert set(layers) == {collection}
    assert layers[collection]["extent"] == EXTENT
    return layers[collection]["features"]


@pytest.fixture(scope="module")
def communes(ogc) -> dict[str, dict]:  # noqa: ANN001, F811
    """The communes as the server gives them in GeoJSON, by name."""
    body = ogc.get("/collections/communes-nc/items", limit=100).json()
    assert len(body["features"]) == 33
    return {f["properties"]["LIBGEO"]: f for f in body["features"]}


def test_noumea_tile_holds_the_commune_with_its_attributes(ogc, communes):  # noqa: ANN001, F811
    z, y, x = tile_of(*NOUMEA, 12)
    response = get_tile(ogc, "communes-nc", z, y, x)
    features = decode(response, "communes-nc")
    by_name = {f["properties"]["LIBGEO"]: f for f in features}
    assert "Nouméa" in by_name
    noumea = by_name["Nouméa"]
    source = communes["Nouméa"]
    assert noumea["id"] == source["id"]
    assert noumea["properties"] == {"fid": source["id"], **source["properties"]}
    # The geometry is the commune clipped to the tile, to a pixel or so.
    decoded = shapely.transform(shape(noumea["geometry"]), to_lonlat(z, y, x))
    expected = shape(source["geometry"]).intersection(tile_box(z, y, x, BUFFER))
    overlap = decoded.intersection(expected).area / decoded.union(expected).area
    assert overlap > 0.97, overlap
    # Every feature in the tile really meets it (nothing from elsewhere).
    for name in by_name:
        assert shape(communes[name]["geometry"]).intersects(tile_box(z, y, x, BUFFER)), name


def test_point_attributes_match_the_features(ogc):  # noqa: F811
    """Dates, numbers and text (HTML included, as data) arrive as /items gives them."""
    items = ogc.get("/collections/sites-visites/items", limit=100).json()["features"]
    assert len(items) == 12
    lons = [f["geometry"]["coordinates"][0] for f in items]
    lats = [f["geometry"]["coordinates"][1] for f in items]
    z = 8
    tiles = {tile_of(lon, lat, z) for lon, lat in zip(lons, lats, strict=True)}
    served = {}
    for tile in tiles:
        for feature in decode(get_tile(ogc, "sites-visites", *tile), "sites-visites"):
            served[feature["id"]] = feature["properties"]
    assert served == {f["id"]: {"fid": f["id"], **f["properties"]} for f in items}


def test_extreme_levels(ogc, communes):  # noqa: ANN001, F811
    """z0 (the whole world in one tile, a pixel ~10 km wide) holds the communes, except
    those that shrink below a pixel (Nouméa: 46 km2), as any MVT server drops them; z24
    in the middle of Nouméa holds Nouméa alone, as the whole tile."""
    world = decode(get_tile(ogc, "communes-nc", 0, 0, 0), "communes-nc")
    names = {f["properties"]["LIBGEO"] for f in world}
    assert names <= set(communes) and len(names) >= 30
    deepest = decode(get_tile(ogc, "communes-nc", *tile_of(*NOUMEA, 24)), "communes-nc")
    assert [f["properties"]["LIBGEO"] for f in deepest] == ["Nouméa"]
    assert shape(deepest[0]["geometry"]).contains(box(0, 0, EXTENT, EXTENT))


def test_open_ocean_tile_is_empty(ogc):  # noqa: F811
    response = get_tile(ogc, "communes-nc", *tile_of(*OPEN_OCEAN, 12))
    assert response.status_code == 200
    assert response.content == b""  # an empty MVT: no layer at all
    assert decode(response, "communes-nc") == []


def test_z8_tile_over_grande_terre_has_every_commune_it_should(ogc, communes):  # noqa: ANN001, F811
    z, y, x = tile_of(165.9, -21.5, 8)  # the middle of Grande Terre
    inner = tile_box(z, y, x)
    outer = tile_box(z, y, x, BUFFER)
    pixel = (inner.bounds[2] - inner.bounds[0]) / EXTENT
    # Surely visible: more than 10 x 10 pixels inside the tile. Possibly there: meets the
    # tile or its margin.
    must = {
        name
        for name, f in communes.items()
        if shape(f["geometry"]).intersection(inner).area > 100 * pixel**2
    }
    may = {name for name, f in communes.items() if shape(f["geometry"]).intersects(outer)}
    assert len(must) >= 10  # a real test: most of Grande Terre's communes
    served = [
        f["properties"]["LIBGEO"]
        for f in decode(get_tile(ogc, "communes-nc", z, y, x), "communes-nc")
    ]
    assert len(served) == len(set(served))
    assert must <= set(served) <= may, (must - set(served), set(served) - may)


def test_tile_read_by_gdal(ogc, tmp_path: Path):  # noqa: F811
    z, y, x = tile_of(*NOUMEA, 10)
    response = get_tile(ogc, "communes-nc", z, y, x, f="mvt")
    assert response.status_code == 200
    # GDAL's MVT driver georeferences a tile from a {z}/{x}/{y}.pbf path.
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(response.content)
    assert [name for name, _kind in pyogrio.list_layers(path)] == ["communes-nc"]
    frame = pyogrio.read_dataframe(path, layer="communes-nc")
    assert frame.crs.to_epsg() == 3857
    assert "Nouméa" in set(frame["LIBGEO"])
    noumea = frame[frame["LIBGEO"] == "Nouméa"].to_crs(4326).geometry.iloc[0]
    assert noumea.buffer(0.01).contains(shape({"type": "Point", "coordinates": NOUMEA}))


def test_point_layer_with_12000_points_in_one_tile_is_complete(ogc, tmp_path: Path):  # noqa: F811
    z, y, x = tile_of(*NOUMEA, 12)
    west, south, east, north = tile_box(z, y, x).bounds
    side = 120  # 120 x 100 = 12,000 points, all strictly inside the one tile
    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        west + (east - west) * (0.05 + 0.9 * (i % side) / side),
                        south + (north - south) * (0.05 + 0.9 * (i // side) / 100),
                    ],
                },
                "properties": {"n": i, "label": f"p{i}"},
            }
            for i in range(side * 100)
        ],
    }
    source = tmp_path / "points-denses.geojson"
    source.write_text(json.dumps(points), encoding="utf-8")
    ogc.backend.run(
        "ingest", str(source), "--org", ORG, "--dataset", "points-denses", "--progress", "none"
    )
    try:
        # Live publication: tiles of a dataset ingested while serving.
        deadline = time.monotonic() + 10
        while get_tile(ogc, "points-denses", z, y, x).status_code != 200:
            assert time.monotonic() < deadline, "no tiles for the new dataset"
            time.sleep(0.2)
        features = decode(get_tile(ogc, "points-denses", z, y, x), "points-denses")
        assert len(features) == 12_000
        assert {f["properties"]["n"] for f in features} == set(range(12_000))
        assert {f["id"] for f in features} == set(range(1, 12_001))
        assert all(f["properties"]["label"] == f"p{f['properties']['n']}" for f in features)
        # Its four children (z13) share the points out, all of them again.
        children = [
            decode(get_tile(ogc, "points-denses", z + 1, 2 * y + dy, 2 * x + dx), "points-denses")
            for dy in (0, 1)
            for dx in (0, 1)
        ]
        ids = {f["id"] for child in children for f in child}
        assert ids == set(range(1, 12_001))
        # This large tile is now in the server's tile cache; replaced data must show at
        # once all the same (a new table and a new catalogue version).
        assert len(get_tile(ogc, "points-denses", z, y, x).content) > 32 * 1024
        points["features"] = points["features"][:11_000]
        source.write_text(json.dumps(points), encoding="utf-8")
        ogc.backend.run(
            "ingest", str(source), "--org", ORG, "--dataset", "points-denses", "--progress", "none"
        )
        deadline = time.monotonic() + 10
        while len(decode(get_tile(ogc, "points-denses", z, y, x), "points-denses")) != 11_000:
            assert time.monotonic() < deadline, "the cached tile outlived its data"
            time.sleep(0.2)
    finally:
        ogc.backend.run("dataset", "delete", "points-denses")
    # Removed: its tiles go with it.
    deadline = time.monotonic() + 10
    while get_tile(ogc, "points-denses", z, y, x).status_code != 404:
        assert time.monotonic() < deadline, "tiles still served after removal"
        time.sleep(0.2)


def test_non_public_and_unknown_collections_have_no_tiles(ogc):  # noqa: F811
    for collection in ("brouillon-prive", "inconnue", "population-communes-nc"):
        for path in ("/tiles", "/tiles/WebMercatorQuad", "/tiles/WebMercatorQuad/0/0/0"):
            response = ogc.get(f"/collections/{collection}{path}")
            assert response.status_code == 404, (collection, path)
            assert "introuvable" in response.json()["description"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("WebMercatorQuad/a/0/0", 400),
        ("WebMercatorQuad/-1/0/0", 400),
        ("WebMercatorQuad/25/0/0", 400),
        ("WebMercatorQuad/1/2/0", 404),
        ("WebMercatorQuad/1/0/2", 404),
        ("WebMercatorQuad/3/0/99999999999", 400),
        ("WorldCRS84Quad/0/0/0", 404),
        ("WebMercatorQuad/0/0/0?f=png", 400),
    ],
)
def test_bad_tile_addresses_are_refused_in_french(ogc, path: str, status: int):  # noqa: F811
    response = httpx.get(f"{ogc.url}/collections/communes-nc/tiles/{path}", timeout=30)
    assert response.status_code == status, response.text
    description = response.json()["description"]
    assert any(word in description for word in ("tuile", "zoom", "entiers", "format")), description


def test_tile_caching_headers(ogc):  # noqa: F811
    z, y, x = tile_of(*NOUMEA, 12)
    first = get_tile(ogc, "communes-nc", z, y, x)
    assert first.status_code == 200
    assert "max-age" in first.headers["cache-control"]
    assert first.headers["access-control-allow-origin"] == "*"
    etag = first.headers["etag"]
    again = httpx.get(str(first.url), headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert again.content == b""
    other = httpx.get(str(first.url), headers={"If-None-Match": '"autre"'}, timeout=30)
    assert other.status_code == 200 and other.content == first.content
    # Gzipped (above 1 KiB) for clients that accept it (httpx does, and decodes).
    big = get_tile(ogc, "communes-nc", *tile_of(165.9, -21.5, 8))
    assert big.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in big.headers["vary"].lower()
    plain = httpx.get(str(big.url), headers={"Accept-Encoding": "identity"}, timeout=30)
    assert "content-encoding" not in plain.headers
    assert plain.content == big.content and len(plain.content) > 1024
    assert plain.headers["etag"] != big.headers["etag"]
    revalidated = httpx.get(str(big.url), headers={"If-None-Match": big.headers["etag"]})
    assert revalidated.status_code == 304


def test_collection_links_lead_to_tiles(ogc):  # noqa: F811
    collection = ogc.get("/collections/communes-nc").json()
    tilesets_links = [link for link in collection["links"] if link["rel"] == TILES_REL]
    assert {link["type"] for link in tilesets_links} >= {"application/json", "text/html"}
    json_link = next(link for link in tilesets_links if link["type"] == "application/json")
    tilesets = httpx.get(json_link["href"], timeout=30).json()
    assert [t["tileMatrixSetURI"] for t in tilesets["tilesets"]] == [
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    ]
    assert tilesets["tilesets"][0]["dataType"] == "vector"
    # The tileset's templated tile link, filled in, gives the Nouméa tile.
    tileset_href = next(
        link["href"] for link in tilesets["tilesets"][0]["links"] if link["rel"] == "self"
    )
    tileset = httpx.get(tileset_href, timeout=30).json()
    assert tileset["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    assert tileset["layers"][0]["id"] == "communes-nc"
    assert set(tileset["layers"][0]["propertiesSchema"]["properties"]) == {
        "fid",
        "CODGEO",
        "LIBGEO",
        "INSEE_DEP",
    }
    template = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    z, y, x = tile_of(*NOUMEA, 12)
    url = (
        template.replace("{tileMatrix}", str(z))
        .replace("{tileRow}", str(y))
        .replace("{tileCol}", str(x))
    )
    names = {f["properties"]["LIBGEO"] for f in decode(httpx.get(url, timeout=30), "communes-nc")}
    assert "Nouméa" in names
    # A layer without geometry has no tiles and no tiles link.
    population = ogc.get("/collections/population-communes-nc").json()
    assert not [link for link in population["links"] if link["rel"] == TILES_REL]


def test_tilejson_for_maplibre(ogc):  # noqa: F811
    response = ogc.get("/collections/communes-nc/tiles/WebMercatorQuad", f="tilejson")
    assert response.status_code == 200
    tilejson = response.json()
    assert tilejson["tilejson"] == "3.0.0"
    assert tilejson["vector_layers"][0]["id"] == "communes-nc"
    assert tilejson["bounds"][0] == pytest.approx(163.57, abs=0.01)
    z, y, x = tile_of(*NOUMEA, 12)
    url = tilejson["tiles"][0].format(z=z, y=y, x=x)
    assert "Nouméa" in {
        f["properties"]["LIBGEO"] for f in decode(httpx.get(url, timeout=30), "communes-nc")
    }


def test_tile_matrix_sets_and_conformance(ogc):  # noqa: F811
    listing = ogc.get("/tileMatrixSets").json()
    assert "WebMercatorQuad" in {t["id"] for t in listing["tileMatrixSets"]}
    for path in ("/tileMatrixSets/WebMercatorQuad", "/TileMatrixSets/WebMercatorQuad"):
        tms = ogc.get(path).json()
        assert tms["id"] == "WebMercatorQuad"
        assert tms["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
        matrices = tms["tileMatrices"]
        assert [m["id"] for m in matrices] == [str(z) for z in range(25)]
        for z, matrix in enumerate(matrices):
            assert matrix["matrixWidth"] == matrix["matrixHeight"] == 2**z
            assert matrix["tileWidth"] == matrix["tileHeight"] == 256
            assert matrix["pointOfOrigin"] == pytest.approx([-HALF_WORLD, HALF_WORLD])
            assert matrix["cellSize"] == pytest.approx(2 * HALF_WORLD / 256 / 2**z)
    assert ogc.get("/tileMatrixSets/Inconnue").status_code == 404
    conformance = ogc.get("/conformance").json()["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
    for part in ("core", "mvt", "tileset", "tilesets-list", "geodata-tilesets"):
        assert base + part in conformance, part


def test_tiles_pages_are_french_and_script_free(ogc):  # noqa: F811
    for path in (
        "/collections/communes-nc/tiles",
        "/collections/communes-nc/tiles/WebMercatorQuad",
        "/tileMatrixSets",
        "/tileMatrixSets/WebMercatorQuad",
    ):
        response = ogc.get(path, f="html")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        page = response.text
        assert "<script" not in page, path
        assert "unpkg.com" not in page and "cdnjs" not in page, path
        assert 'lang="fr"' in page and ("tuiles" in page.lower()), path


def test_tiles_follow_each_viewers_access(ogc, tmp_path: Path):  # noqa: F811
    """S23: organisation A's restricted layers, as anonymous, as other users (org B,
    no organisation) and as A's members, with their API tokens: tiles exactly where the
    viewer may see the dataset, 404 elsewhere, and never publicly cacheable when signed in."""
    from tests.accounts_support import LEVELS, SEES, VIEWERS, build_matrix

    matrix = build_matrix(ogc.backend, tmp_path)
    z, y, x = tile_of(166.43, -22.2, 10)  # the matrix's seven points
    deadline = time.monotonic() + 10
    while get_tile(ogc, matrix.collections["public"], z, y, x).status_code != 200:
        assert time.monotonic() < deadline, "matrix layers not published"
        time.sleep(0.2)
    for level in LEVELS:
        collection = matrix.collections[level]
        path = f"/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}"
        for viewer in VIEWERS:
            headers = {}
            if viewer != "anonymous":
                headers["Authorization"] = f"Bearer {matrix.tokens[viewer]}"
            response = httpx.get(ogc.url + path, headers=headers, timeout=30)
            if viewer in SEES[level]:
                assert len(decode(response, collection)) == 7, (level, viewer)
                if viewer != "anonymous":
                    assert "private" in response.headers["cache-control"], (level, viewer)
            else:
                assert response.status_code == 404, (level, viewer)
            metadata = httpx.get(
                ogc.url + f"/collections/{collection}/tiles", headers=headers, timeout=30
            )
            assert metadata.status_code == (200 if viewer in SEES[level] else 404)
