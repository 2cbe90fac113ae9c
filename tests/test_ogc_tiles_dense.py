"""Low-zoom tiles of a dense point layer: complete, bounded, and made a few at a time.

A layer of 60,000 points around Nouméa (issue 13: 150,000 points once took a server
from 313 MB to 1.5 GB with six z0-z4 tiles of 6.7 MB). At z0-z3 they fall on a few
thousand cells of the 4096 grid: a heavy tile (HEAVY_CANDIDATES features or more) must
show every occupied cell — one point per cell, the lowest fid, with its attributes —
and stay small; a light one holds every point. The expected cells are
computed here from how the points were made, independently of the server's code: each
point is placed at a known position of the z8 tile grid, `integer + [0.1, 0.4]`, so that
no coordinate is ever close to a rounding tie at z0-z8.

The server is started with one heavy-tile slot, no wait and no tile cache: concurrent
heavy tiles beyond that slot must get a clean `503` with `Retry-After`. Heavy low-zoom
tiles, once made, are stored in the database (`niaouli.db.tile_overviews`): the last
tests check that the stored tiles are the very tiles made on request, and that tiles
never fail while the layer is replaced.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pyarrow as pa
import pyogrio
import pytest
import shapely
import sqlalchemy as sa

from niaouli import export_jobs, tile_warm
from niaouli.catalogue import service
from niaouli.db import tile_overviews
from niaouli.db.features import LayerTable
from niaouli.db.tiles import HEAVY_CANDIDATES, MAX_SHIFT, POINT_BUDGET, Tile
from niaouli.ingest import ingest_file
from tests.conftest import Backend, fresh_backend
from tests.ogc_support import ORG, serve

MVT = "application/vnd.mapbox-vector-tile"
COLLECTION = "points-nombreux"
POINTS = 60_000
Z8 = 8  # the grid the points are placed on
TILE8 = (246, 144)  # (x, y) of the z8 tile holding Nouméa
SIDE = 2048  # the points fill the central 2048 x 2048 units of that tile
WORLD8 = 4096 << Z8  # world size in z8 grid units


def _placed_points() -> tuple[np.ndarray, np.ndarray]:
    """World positions of the points on the z8 grid (x right, y down), fid order."""
    rng = np.random.default_rng(13)
    x0, y0 = TILE8[0] * 4096 + 1024, TILE8[1] * 4096 + 1024
    px = x0 + rng.integers(0, SIDE, POINTS) + rng.uniform(0.1, 0.4, POINTS)
    py = y0 + rng.integers(0, SIDE, POINTS) + rng.uniform(0.1, 0.4, POINTS)
    return px, py


PX, PY = _placed_points()


def write_points(path: Path) -> None:
    """The points as a GeoPackage (lon/lat), with their index `n` and a label."""
    lon = PX / WORLD8 * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * PY / WORLD8))))
    table = pa.table(
        {
            "n": pa.array(np.arange(POINTS), type=pa.int32()),
            "label": pa.array([f"p{n}" for n in range(POINTS)]),
            "geom": pa.array(shapely.to_wkb(shapely.points(lon, lat)), type=pa.binary()),
        }
    )
    pyogrio.write_arrow(
        table,
        path,
        layer="points",
        driver="GPKG",
        geometry_name="geom",
        geometry_type="Point",
        crs="EPSG:4326",
    )


NOUMEA_LONLAT = (166.4416, -22.2758)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * n)
    return x, y


def tile_at(z: int) -> tuple[int, int, int]:
    """(z, x, y) of the tile holding the whole cluster (the z8 tile's ancestor)."""
    return z, TILE8[0] >> (Z8 - z), TILE8[1] >> (Z8 - z)


@functools.cache
def expected(z: int, x: int, y: int) -> tuple[int, dict[tuple[int, int], int]]:
    """The grid shift the tile must use and, for each point it keeps inside the tile
    proper, its tile pixel -> the index (n) of the point: the lowest n per cell, at its
    own pixel of the 4096 grid. (Low-zoom tiles hold the whole cluster: their shift
    counts every point.)"""
    scale = 2.0 ** (z - Z8)
    # Round half up; no point is near a tie (see the module docstring).
    tx = np.floor(PX * scale - x * 4096 + 0.5).astype(np.int64)
    ty = np.floor(PY * scale - y * 4096 + 0.5).astype(np.int64)
    inside = np.flatnonzero((tx >= 0) & (ty >= 0) & (tx < 4096) & (ty < 4096))
    for shift in range(MAX_SHIFT + 1):
        cells: dict[tuple[int, int], int] = {}
        for n in inside[::-1].tolist():  # lowest n written last: it stays
            cells[(int(tx[n]) >> shift, int(ty[n]) >> shift)] = n
        if len(cells) <= POINT_BUDGET or shift == MAX_SHIFT:
            return shift, {(int(tx[n]), int(ty[n])): n for n in cells.values()}
    raise AssertionError("unreachable")


class DenseBackend(Backend):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["NIAOULI_TILE_HEAVY_SLOTS"] = "1"
        env["NIAOULI_TILE_HEAVY_WAIT"] = "0"
        env["NIAOULI_TILE_CACHE_MB"] = "0"  # every request makes its tile
        return env


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def dense(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    root = tmp_path_factory.mktemp(f"dense-{request.param}")
    with fresh_backend(request, request.param, root, DenseBackend) as backend:
        source = root / "points.gpkg"
        write_points(source)
        with backend.session() as session, session.begin():
            service.create_organisation(session, ORG, "Gouvernement", "government")
        # As `niaouli ingest` would: no warming thread after the commit. An app built
        # in this worker by an earlier test marks the process as a lasting server
        # (`export_jobs.serve_inline`), and the thread would then store z9-z10 tiles
        # behind the tests' backs.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(export_jobs, "_serving", False)
            ingest_file(
                source,
                organisation=ORG,
                dataset=COLLECTION,
                title="Points nombreux",
                settings=backend.settings,
                engine=backend.engine,
                progress="none",
            )
        with serve(backend, timeout=90) as server:  # slow to start on a loaded machine
            yield server


def get_tile(server, z: int, x: int, y: int) -> httpx.Response:  # noqa: ANN001
    url = f"{server.url}/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{y}/{x}"
    return httpx.get(url, timeout=120)


def check_complete(response: httpx.Response, z: int, x: int, y: int) -> int:
    """Inside the tile proper, the tile holds exactly the expected points (pixels, ids,
    attributes); its size in bytes."""
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    features = layers[COLLECTION]["features"]
    _shift, want = expected(z, x, y)
    served = {}
    for feature in features:
        assert feature["geometry"]["type"] == "Point"
        pixel = tuple(feature["geometry"]["coordinates"])
        assert min(pixel) >= -64 and max(pixel) <= 4096 + 64, pixel
        if min(pixel) >= 0 and max(pixel) < 4096:
            assert pixel not in served, f"two features on pixel {pixel}"
            served[pixel] = feature
    assert set(served) == set(want), (len(served), len(want))
    for pixel, feature in served.items():
        n = want[pixel]
        assert feature["properties"] == {"fid": feature["id"], "n": n, "label": f"p{n}"}
    return len(response.content)


@pytest.mark.parametrize("z", [0, 1, 2, 3])
def test_low_zoom_tiles_show_every_occupied_pixel_and_stay_small(dense, z: int):  # noqa: ANN001
    """z1-z3 are also the antimeridian tiles (x = 2**z - 1) that PostGIS once served
    empty: their margin wrapped to -179.3 degrees."""
    shift, want = expected(*tile_at(z))
    assert shift == 0  # the 4096 grid itself
    assert len(want) < POINTS / 10  # a real thinning: points share pixels here
    size = check_complete(get_tile(dense, *tile_at(z)), *tile_at(z))
    assert size < 512 * 1024, size


def test_dense_tile_thins_on_a_coarser_grid_and_stays_bounded(dense):  # noqa: ANN001
    """At z5 the points occupy more than POINT_BUDGET cells of the 4096 grid: one point
    per cell of 2x2 units, still each at its own pixel."""
    shift, want = expected(*tile_at(5))
    assert shift >= 1 and len(want) <= POINT_BUDGET
    size = check_complete(get_tile(dense, *tile_at(5)), *tile_at(5))
    assert size < 2 * 1024 * 1024, size


def test_light_tile_is_sent_whole(dense):  # noqa: ANN001
    """A tile that meets fewer than HEAVY_CANDIDATES features holds every one of them,
    as before thinning existed (two points on one pixel included)."""
    z, x, y = 12, TILE8[0] << 4 | 7, TILE8[1] << 4 | 7  # inside the cluster
    response = get_tile(dense, z, x, y)
    assert response.status_code == 200
    layers = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    served = sorted(
        f["properties"]["n"]
        for f in layers[COLLECTION]["features"]
        if min(f["geometry"]["coordinates"]) >= 0 and max(f["geometry"]["coordinates"]) < 4096
    )
    scale = 2.0 ** (z - Z8)
    tx = np.floor(PX * scale - x * 4096 + 0.5)
    ty = np.floor(PY * scale - y * 4096 + 0.5)
    inside = np.flatnonzero((tx >= 0) & (ty >= 0) & (tx < 4096) & (ty < 4096))
    assert 500 < len(inside) < HEAVY_CANDIDATES
    assert served == inside.tolist()


def at_once(server, zooms: list[int]) -> list[httpx.Response]:  # noqa: ANN001
    """The cluster's tile at each of `zooms`, all asked at the same moment."""
    answers: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(len(zooms))

    def ask(i: int, z: int) -> None:
        barrier.wait()
        answers[i] = get_tile(server, *tile_at(z))

    threads = [threading.Thread(target=ask, args=(i, z)) for i, z in enumerate(zooms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [answers[i] for i in range(len(zooms))]


def test_concurrent_heavy_tiles_beyond_the_slots_are_refused_cleanly(dense):  # noqa: ANN001
    """One heavy slot, no wait: of heavy tiles asked at once, those that find the slot
    taken get 503 + Retry-After and a French message; the others are complete."""
    # Tiles not asked before: those already made are stored (`tile_overviews`) and
    # served without a slot.
    zooms = [4, 5, 6, 7, 8, 4, 5, 6]
    statuses: list[int] = []
    for _round in range(3):  # overlapping is all but certain; asked again if not
        for z, response in zip(zooms, at_once(dense, zooms), strict=True):
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.headers["retry-after"].isdigit()
                assert "occupé" in response.json()["description"]
            else:
                check_complete(response, *tile_at(z))
        if 503 in statuses:
            break
    assert 200 in statuses and 503 in statuses, statuses
    # Once alone again, every tile is made.
    check_complete(get_tile(dense, *tile_at(4)), *tile_at(4))


def test_thinned_tile_read_by_gdal(dense, tmp_path: Path):  # noqa: ANN001
    """GDAL reads a thinned low-zoom tile like any other (the MVT stays valid)."""
    z, x, y = tile_at(2)
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(get_tile(dense, z, x, y).content)
    frame = pyogrio.read_dataframe(path, layer=COLLECTION)
    assert len(frame) == len(expected(z, x, y)[1])


def test_point_fast_path_snaps_exactly_as_geos():
    """SpatiaLite reads plain points straight from their WKB (numpy, no GEOS object per
    point); their pixels must be those of the GEOS path, ties and negatives included."""
    from niaouli.db.tiles import Tile, _pixel_geometries, _plain_points

    rng = np.random.default_rng(5)
    tile = Tile(12, 3941, 2298)
    west, south, east, north = tile.lonlat_bounds(margin=0.1)  # the margin and beyond
    lon, lat = rng.uniform(west, east, 20_000), rng.uniform(south, north, 20_000)
    wkb = list(shapely.to_wkb(shapely.points(lon, lat)))
    fast = _plain_points(wkb, tile)
    geometries, _dimensions = _pixel_geometries(wkb, tile)
    assert fast is not None and (fast < 0).any()
    assert (fast == shapely.get_coordinates(geometries)).all()
    # Anything but plain 2D points goes the GEOS way.
    assert _plain_points([*wkb[:5], shapely.to_wkb(shapely.Point(1, 2, 3))], tile) is None
    assert _plain_points([*wkb[:5], shapely.to_wkb(shapely.Point())], tile) is None
    assert _plain_points([*wkb[:5], None], tile) is None


def _stored(server) -> dict[tuple[int, int, int], tuple[str, bytes]]:  # noqa: ANN001
    """(z, x, y) -> (table, body) of every stored tile."""
    with server.backend.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                tile_overviews.TABLE.c.z,
                tile_overviews.TABLE.c.x,
                tile_overviews.TABLE.c.y,
                tile_overviews.TABLE.c.table_name,
                tile_overviews.TABLE.c.body,
            )
        ).all()
    return {(z, x, y): (table, bytes(body)) for z, x, y, table, body in rows}


def _table(server) -> str:  # noqa: ANN001
    with server.backend.session() as session:
        return service.find_dataset(session, COLLECTION).layers[0].table_name


def test_heavy_low_zoom_tiles_are_stored_and_served_as_made(dense):  # noqa: ANN001
    """A heavy tile made on request is stored, and the stored tiles — those warmed after
    publication included — are byte for byte what the server makes and sends."""
    z, x, y = tile_at(6)
    made = get_tile(dense, z, x, y)
    check_complete(made, z, x, y)
    assert _stored(dense)[(z, x, y)][1] == made.content
    table = _table(dense)
    # The warming after publication, down to z8 here (z9 and z10 would be stored too:
    # 15,000 points each; z11, 3,750, not); one tile forgotten first, to be made again.
    with dense.backend.engine.begin() as conn:
        conn.execute(sa.delete(tile_overviews.TABLE).where(tile_overviews.TABLE.c.z == 7))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tile_overviews, "MAX_STORED_ZOOM", 8)
        tile_warm.warm_tables(dense.backend.engine, [table])
    stored = _stored(dense)
    assert sorted(stored) == [tile_at(z) for z in range(9)]
    for (z, x, y), (owner, body) in stored.items():
        assert owner == table
        again = get_tile(dense, z, x, y)
        assert again.status_code == 200 and again.content == body, (z, x, y)


def test_tiles_never_fail_while_the_layer_is_replaced(dense, tmp_path: Path):  # noqa: ANN001
    """Tiles asked without pause while a layer is re-ingested twice (a new table each
    time, the old one dropped in the same commit) are all answered, complete; the old
    tables' stored tiles go with them."""
    slug, count = "points-remplaces", 400
    source = tmp_path / "few.geojson"
    lon0, lat0 = NOUMEA_LONLAT
    source.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [lon0 + (i % 20) * 0.002, lat0 + (i // 20) * 0.002],
                        },
                        "properties": {"n": i},
                    }
                    for i in range(count)
                ],
            }
        )
    )
    engine, settings = dense.backend.engine, dense.backend.settings

    def publish() -> str:
        report = ingest_file(
            source,
            organisation=ORG,
            dataset=slug,
            settings=settings,
            engine=engine,
            progress="none",
        )
        return report.layers[0].table_name

    tables = [publish()]
    z8 = (8, *_tile_of(lon0, lat0, 8))
    url = f"{dense.url}/collections/{slug}/tiles/WebMercatorQuad/{z8[0]}/{z8[2]}/{z8[1]}"
    layer = LayerTable.from_schema(
        tables[0],
        [],
        has_geometry=True,
        feature_count=count,
        postgis=engine.dialect.name == "postgresql",
    )
    tile_overviews.store(engine, layer, "stale-tag", Tile(*z8), b"old")  # goes with its table
    done = threading.Event()
    answers: list[tuple[int, int]] = []

    def ask() -> None:
        with httpx.Client(timeout=60) as client:
            while not done.is_set():
                response = client.get(url)
                found = -1
                if response.status_code == 200:
                    decoded = mapbox_vector_tile.decode(response.content)
                    found = len(decoded[slug]["features"]) if decoded else 0
                answers.append((response.status_code, found))

    def answered(more: int) -> None:
        wanted = len(answers) + more
        deadline = time.monotonic() + 60
        while len(answers) < wanted and time.monotonic() < deadline:
            time.sleep(0.05)

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for thread in askers:
        thread.start()
    try:
        answered(2)
        tables += [publish(), publish()]
        answered(3)  # and after the last swap
    finally:
        done.set()
        for thread in askers:
            thread.join()
    assert len(set(tables)) == 3 and len(answers) >= 5
    assert [a for a in answers if a != (200, count)] == []
    assert all(owner not in tables[:2] for owner, _ in _stored(dense).values())
