"""Coverages and map tiles over generated COGs, without the web (services/ogc/coverage.py,
niaouli/rasterview/): windows, axes, scaling, bands, formats, limits, colours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile

from niaouli.rasterview import style as styles
from niaouli.rasterview import tiles
from niaouli.services.ogc import coverage
from tests import raster_cogs as raster_support

CAP = 4_000_000


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cogs")
    return {
        "dem": raster_support.dem(folder / "dem.tif"),
        "ortho": raster_support.ortho(folder / "ortho.tif"),
        "classes": raster_support.classes(folder / "classes.tif"),
    }


def _answer(path: Path, query: dict[str, str], accept: str | None = None) -> bytes:
    with rasterio.open(path) as dataset:
        plan = coverage.plan(dataset, query, accept, CAP)
        return coverage.read(dataset, plan)


@contextmanager
def _opened(path: Path, query: dict[str, str]) -> Iterator[Any]:
    """The answer to `query`, opened by GDAL."""
    with MemoryFile(_answer(path, query)) as memory, memory.open() as dataset:
        yield dataset


def test_subset_in_native_axes_reads_that_window_georeferenced(cogs):
    x0, y0 = raster_support.DEM_ORIGIN
    # Columns 100-149, rows 200-239 of the 10 m grid.
    subset = f"E({x0 + 1000}:{x0 + 1500}),N({y0 - 2400}:{y0 - 2000})"
    with _opened(cogs["dem"], {"subset": subset}) as out, rasterio.open(cogs["dem"]) as src:
        assert out.crs.to_epsg() == 3163
        assert (out.width, out.height) == (50, 40)
        assert out.bounds == pytest.approx((x0 + 1000, y0 - 2400, x0 + 1500, y0 - 2000))
        expected = src.read(1, window=((200, 240), (100, 150)))
        assert np.array_equal(out.read(1), expected)
        assert out.nodata == -9999


def test_lon_lat_subset_and_bbox_crs_name_the_same_place(cogs):
    lon0, lat0 = raster_support.lonlat(cogs["dem"], 100, 100)
    lon1, lat1 = raster_support.lonlat(cogs["dem"], 140, 140)
    subset = f"Lat({lat1}:{lat0}),Lon({lon0}:{lon1})"
    bbox = f"{lon0},{lat1},{lon1},{lat0}"
    with _opened(cogs["dem"], {"subset": subset}) as a, _opened(cogs["dem"], {"bbox": bbox}) as b:
        assert a.bounds == b.bounds and a.shape == b.shape
        assert 38 <= a.width <= 44 and 38 <= a.height <= 44
    x0, y0 = raster_support.DEM_ORIGIN
    epsg = "http://www.opengis.net/def/crs/EPSG/0/3163"
    query = {"bbox": f"{x0},{y0 - 100},{x0 + 100},{y0}", "bbox-crs": epsg}
    with _opened(cogs["dem"], query) as c:
        assert c.shape == (10, 10)


def test_scaling_and_band_selection(cogs):
    with _opened(cogs["dem"], {"scale-size": "E(128)"}) as out:
        assert out.shape == (128, 128)  # the other axis follows the aspect
        assert out.bounds == pytest.approx(rasterio.open(cogs["dem"]).bounds)
    with _opened(cogs["dem"], {"scale-factor": "4"}) as out:
        assert out.shape == (128, 128)
    with _opened(cogs["ortho"], {"properties": "3,1", "scale-size": "i(64),j(32)"}) as out:
        assert out.count == 2 and out.shape == (32, 64)
    with _opened(cogs["ortho"], {"properties": "B1"}) as out:
        assert out.count == 1


def test_png_for_bytes_and_accept(cogs):
    png = _answer(cogs["ortho"], {"scale-size": "E(100)"}, accept="image/png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = _rgba(_answer(cogs["ortho"], {"f": "png"}))
    assert image.shape == (512, 512, 4)
    with (
        rasterio.open(cogs["dem"]) as dataset,
        pytest.raises(coverage.CoverageError, match="uint8"),
    ):
        coverage.plan(dataset, {"f": "png"}, None, CAP)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"subset": "Foo(1:2)"}, "axes inconnus"),
        ({"subset": "E(10:5)"}, "borne basse"),
        ({"subset": "E(1:2"}, "illisible"),
        ({"subset": "E(0:10),N(0:10)"}, "hors de l'étendue"),
        ({"bbox": "1,2,3"}, "quatre nombres"),
        ({"bbox": "166,-22,167,-21", "bbox-crs": "EPSG:999999"}, "bbox-crs inconnu"),
        ({"properties": "7"}, "bande inconnue"),
        ({"scale-size": "E(0)"}, "entier positif"),
        ({"scale-factor": "-1"}, "nombre positif"),
        ({"scale-size": "E(9000),N(9000)"}, "trop grande"),
        ({"f": "jpeg"}, "format inconnu"),
    ],
)
def test_refusals_say_why(cogs, query, message):
    with rasterio.open(cogs["dem"]) as dataset, pytest.raises(coverage.CoverageError) as caught:
        coverage.plan(dataset, query, None, CAP)
    assert message in str(caught.value)


def test_domain_set_and_range_type(cogs):
    with rasterio.open(cogs["dem"]) as dataset:
        grid = coverage.domain_set(dataset)["generalGrid"]
        fields = coverage.range_type(dataset)["field"]
    assert grid["srsName"].endswith("/EPSG/0/3163")
    assert grid["axisLabels"] == ["X", "Y"] or grid["axisLabels"] == ["E", "N"]
    assert grid["gridLimits"]["axis"][0]["upperBound"] == 511
    assert grid["axis"][0]["resolution"] == 10.0
    assert fields[0]["nodata"] == -9999 and fields[0]["encodingInfo"]["dataType"].endswith(
        "float32"
    )


def _tile_of(path: Path, col: float, row: float, z: int) -> tuple[int, int, int]:
    """(z, x, y) of the tile holding pixel (col, row) of the COG at `path`."""
    import morecantile

    lon, lat = raster_support.lonlat(path, col, row)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return z, tile.x, tile.y


def _rgba(image: bytes) -> np.ndarray:
    """Decoded PNG or WebP as height × width × RGBA (GDAL reads both)."""
    with MemoryFile(image) as memory, memory.open() as decoded:
        bands = decoded.read()
    if bands.shape[0] == 2:  # grey and alpha
        bands = np.stack([bands[0], bands[0], bands[0], bands[1]])
    if bands.shape[0] == 3:
        bands = np.concatenate([bands, np.full_like(bands[:1], 255)])
    return np.moveaxis(bands, 0, -1)


def test_ramp_tiles_follow_the_statistics_and_hide_nodata(cogs):
    with rasterio.open(cogs["dem"]) as dataset:
        style = styles.choose(dataset)
        assert style.kind == "ramp"
        low, high = style.stretch
        assert low < 10 and 800 < high < 900
        ramp = styles.ramp_colours()
        # The hill's top is the ramp's top colour; the nodata rows are transparent (a
        # tile over the top edge, well inside left and right: tiles are drawn from a
        # Web Mercator view whose edges may differ from the raster's by a sub-pixel).
        top = _rgba(tiles.render_tile(dataset, style, *_tile_of(cogs["dem"], 256, 256, 14)))
        corner = _rgba(tiles.render_tile(dataset, style, *_tile_of(cogs["dem"], 256, 8, 14)))
        legend = style.legend()
    brightest = top[..., :3].reshape(-1, 3)[top[..., 3].reshape(-1) == 255]
    assert any(np.abs(brightest - ramp[255][:3]).sum(axis=1) < 40)
    assert (corner[..., 3] == 0).any() and (corner[..., 3] == 255).any()
    assert legend["kind"] == "ramp" and legend["stops"][0]["value"] == low


def test_classified_tiles_use_the_colour_table(cogs):
    with rasterio.open(cogs["classes"]) as dataset:
        style = styles.choose(dataset)
        assert style.kind == "colortable"
        image = _rgba(tiles.render_tile(dataset, style, *_tile_of(cogs["classes"], 400, 400, 13)))
        legend = style.legend()
    colours = {tuple(c) for c in image[image[..., 3] == 255][:, :3]}
    assert colours and colours <= {c[:3] for c in raster_support.CLASS_COLOURS.values()}
    assert [c["value"] for c in legend["classes"]] == [1, 2, 3, 4]


def test_orthophoto_tiles_hillshade_webp_and_outside(cogs):
    with rasterio.open(cogs["ortho"]) as dataset:
        style = styles.choose(dataset)
        assert style.kind == "rgb"
        image = _rgba(tiles.render_tile(dataset, style, *_tile_of(cogs["ortho"], 256, 256, 18)))
        assert image.shape == (256, 256, 4) and (image[..., 3] == 255).any()
        with pytest.raises(styles.StyleError):
            styles.choose(dataset, "hillshade")
        with pytest.raises(tiles.OutsideError):
            tiles.render_tile(dataset, style, 0, 0, 5)
    with rasterio.open(cogs["dem"]) as dataset:
        shade = styles.choose(dataset, "hillshade")
        where = _tile_of(cogs["dem"], 200, 200, 14)
        webp = tiles.render_tile(dataset, shade, *where, fmt="webp")
        assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
        grey = _rgba(tiles.render_tile(dataset, shade, *where))
    lit = grey[grey[..., 3] == 255]
    assert (lit[:, 0] == lit[:, 1]).all() and lit[:, 0].std() > 3  # grey, with relief


def test_point_values_and_preview(cogs):
    with rasterio.open(cogs["dem"]) as dataset:
        expected = float(dataset.read(1, window=((300, 301), (200, 201)))[0, 0])
        lon, lat = raster_support.lonlat(cogs["dem"], 200, 300)
        assert tiles.point_values(dataset, lon, lat) == [pytest.approx(expected)]
        lon, lat = raster_support.lonlat(cogs["dem"], 3, 3)
        assert tiles.point_values(dataset, lon, lat) == [None]  # nodata
        preview = _rgba(tiles.render_preview(dataset, styles.choose(dataset), 128))
    assert max(preview.shape[:2]) == 128


def test_tiles_of_a_lambert_raster_read_one_kept_web_mercator_view(cogs):
    """Map tiles of a raster in EPSG:3163 are read from one Web Mercator view kept with
    the dataset (not a new reprojection per tile), and show the same pixels as reading
    the native raster tile by tile: same coverage inside, same values."""
    with rasterio.open(cogs["dem"]) as dataset:
        assert dataset.crs.to_epsg() == 3163
        view = tiles.reader_of(dataset, warp="nearest")
        assert view is tiles.reader_of(dataset, warp="nearest")
        assert view.dataset.crs.to_epsg() == 3857 and view.dataset is not dataset
        native = tiles.reader_of(dataset)
        assert native.dataset is dataset  # points, previews and coverages stay native
        z, x, y = _tile_of(cogs["dem"], 256, 256, 14)  # a tile well inside the raster
        through_view = view.tile(x, y, z).array
        direct = native.tile(x, y, z).array
        source = dataset.read(1)
    assert not np.ma.getmaskarray(through_view).any()
    assert not np.ma.getmaskarray(direct).any()
    # Nearest neighbour: every value is one of the source's pixels; both grids pick the
    # same source pixel mostly, a neighbour elsewhere (the grids differ by a sub-pixel).
    assert np.isin(through_view.data, source).all()
    assert (through_view.data == direct.data).mean() > 0.5
