"""WebMercatorQuad map tiles, previews and point values from a COG (rio-tiler).

rio-tiler reads only the part of the COG under the tile, through the overview whose
resolution is closest (HTTP range requests on S3); the colours come from
`style.choose`. Tiles are 256 × 256 PNG (with transparency where there is no data)
or WebP. Nothing here knows the catalogue: callers pass the opened dataset and have
checked the viewer's access already.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.io import DatasetReaderBase

from niaouli.rasterview.style import Style, ramp_colours

if TYPE_CHECKING:
    from rio_tiler.models import ImageData

# rio-tiler is imported where it is used: its import builds CRS objects through GDAL and
# PROJ, which importing the web application (`niaouli.web`) must not do in a process whose
# PROJ was set up otherwise first (an in-process test server crashed there).

TILE_SIZE = 256
PNG_ZLEVEL = 3
FORMATS = {"png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
EARTH_CIRCUMFERENCE = 2 * math.pi * 6378137.0
SUN_AZIMUTH = 315.0
SUN_ALTITUDE = 45.0


READERS_KEPT = 64
_readers: dict[tuple[int, str], tuple[DatasetReaderBase, Any]] = {}
_readers_lock = threading.Lock()
TILE_CRS_EPSG = 3857


def reader_of(dataset: DatasetReaderBase, warp: str | None = None) -> Any:
    """rio-tiler's `Reader` over `dataset`, kept while the dataset stays open: making one
    reprojects the bounds and reads the overviews' sizes, on every tile otherwise (the
    datasets are kept open per process, `niaouli.rasters.handles`). The caller holds the
    dataset alone (a handle is lent to one request at a time), so its reader too.

    With `warp` (a resampling name), the reader reads the dataset through a kept
    WarpedVRT in Web Mercator instead of the native CRS: map tiles of a raster in
    another CRS (EPSG:3163, UTM) then cost a window read, while rio-tiler's own path
    builds a new WarpedVRT for every tile, and with it three PROJ transformations, each
    about 4 ms for RGNC91-93 — half of a 256-pixel tile's time (docs/raster.md). Values
    are the same source pixels up to the nearest neighbour's sub-pixel choice; point
    values, previews and coverages keep the native reader."""
    from rio_tiler.io import Reader

    key = (id(dataset), warp or "native")
    with _readers_lock:
        kept = _readers.get(key)
    if kept is not None and kept[0] is dataset and not dataset.closed:
        return kept[1]
    native = warp is None or dataset.crs is None or dataset.crs.to_epsg() == TILE_CRS_EPSG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = dataset if native else _web_mercator_view(dataset, str(warp))
        reader = Reader(None, dataset=source)
    with _readers_lock:
        for known in [k for k, (d, _r) in _readers.items() if d.closed]:
            del _readers[known]
        if len(_readers) >= READERS_KEPT:
            _readers.pop(next(iter(_readers)))
        _readers[key] = (dataset, reader)
    return reader


def _web_mercator_view(dataset: DatasetReaderBase, resampling: str) -> Any:
    """A WarpedVRT of `dataset` in Web Mercator, with the options rio-tiler gives its
    own per-tile VRT (`rio_tiler.reader.read`): nodata carried over, else an alpha band
    from the dataset's mask. GDAL keeps the source open as long as the VRT (reference
    counted), so dropping the VRT after the dataset closed is safe."""
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_tiler.utils import has_alpha_band

    options: dict[str, Any] = {
        "crs": CRS.from_epsg(TILE_CRS_EPSG),
        "add_alpha": True,
        "resampling": Resampling[resampling],
        "dtype": dataset.dtypes[0],
    }
    if dataset.nodata is not None:
        options.update(nodata=dataset.nodata, src_nodata=dataset.nodata, add_alpha=False)
    if has_alpha_band(dataset):
        options["add_alpha"] = False
    return WarpedVRT(dataset, **options)


class OutsideError(LookupError):
    """The tile or point is outside the raster."""


@dataclass(frozen=True)
class Zooms:
    minzoom: int
    maxzoom: int


def zooms(dataset: DatasetReaderBase) -> Zooms:
    """The zoom levels worth asking (rio-tiler's from the resolution and overviews)."""
    reader = reader_of(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Zooms(int(reader.minzoom), int(reader.maxzoom))


def _hillshade(elevation: np.ndarray, cell: float) -> np.ndarray:
    """Shaded relief (0-255) of a buffered elevation array; `cell` is the ground size of
    one pixel in the elevation's unit (metres). Horn's method, like `gdaldem hillshade`."""
    z = elevation.astype("float64")
    dzdx = (
        (z[:-2, 2:] + 2 * z[1:-1, 2:] + z[2:, 2:]) - (z[:-2, :-2] + 2 * z[1:-1, :-2] + z[2:, :-2])
    ) / (8 * cell)
    dzdy = (
        (z[2:, :-2] + 2 * z[2:, 1:-1] + z[2:, 2:]) - (z[:-2, :-2] + 2 * z[:-2, 1:-1] + z[:-2, 2:])
    ) / (8 * cell)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(dzdy, -dzdx)
    zenith = math.radians(90 - SUN_ALTITUDE)
    azimuth = math.radians((360 - SUN_AZIMUTH + 90) % 360)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(
        azimuth - aspect
    )
    return np.clip(shade * 255, 0, 255).astype("uint8")


def _alpha(image: ImageData) -> np.ndarray:
    """255 where every band has data, 0 elsewhere (rio-tiler's `mask` takes the data's
    type, useless for float elevations)."""
    valid = ~np.ma.getmaskarray(image.array).any(axis=0)
    return np.where(valid, 255, 0).astype("uint8")


def _ground_cell(z: int, y: int) -> float:
    """Ground size (metres) of a pixel of tile row `y` at zoom `z` (at its centre)."""
    n = 2**z
    latitude = math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n)))
    return EARTH_CIRCUMFERENCE * math.cos(latitude) / (TILE_SIZE * n)


def _coloured(image: ImageData, style: Style) -> tuple[np.ndarray, np.ndarray, Any]:
    """(data, mask, colormap) ready for rio-tiler's encoder."""
    alpha = _alpha(image)
    if style.kind == "colortable":
        return image.array.data, alpha, style.colormap
    if style.kind == "rgb":
        return image.array.data[:3].astype("uint8"), alpha, None
    assert style.stretch is not None
    image.rescale(in_range=(style.stretch,))
    return image.array.data, alpha, ramp_colours()


def encode(data: np.ndarray, mask: np.ndarray, fmt: str, colormap: Any = None) -> bytes:
    """PNG at zlib level 3 (GDAL's default is 6): encoding took a third of a tile's time
    at 6 and takes 2.5 times less at 3, for tiles 8 to 27 % larger (docs/raster.md)."""
    from rio_tiler.utils import render

    driver = FORMATS[fmt][0]
    options = {"ZLEVEL": PNG_ZLEVEL} if fmt == "png" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render(data, mask, img_format=driver, colormap=colormap or None, **options)


def render_tile(
    dataset: DatasetReaderBase, style: Style, z: int, x: int, y: int, fmt: str = "png"
) -> bytes:
    """One 256 × 256 tile, or `OutsideError` when it does not meet the raster."""
    from rio_tiler.errors import TileOutsideBounds

    # Nearest neighbour (rio-tiler's and titiler's default): the overviews already
    # average imagery and elevations; only the hillshade, computed from neighbouring
    # pixels, needs a smooth surface.
    resampling = "bilinear" if style.kind == "hillshade" else "nearest"
    reader = reader_of(dataset, warp=resampling)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if style.kind == "hillshade":
                image = reader.tile(
                    x, y, z, indexes=style.indexes, buffer=1, resampling_method=resampling
                )
            else:
                image = reader.tile(x, y, z, indexes=style.indexes, resampling_method=resampling)
        except TileOutsideBounds as exc:
            raise OutsideError(str(exc)) from None
    if style.kind == "hillshade":
        shade = _hillshade(image.array.data[0], _ground_cell(z, y))
        return encode(shade[np.newaxis], _alpha(image)[1:-1, 1:-1], fmt)
    data, mask, colormap = _coloured(image, style)
    return encode(data, mask, fmt, colormap)


def render_preview(
    dataset: DatasetReaderBase, style: Style, max_size: int = 512, fmt: str = "png"
) -> bytes:
    """The whole raster, at most `max_size` pixels wide or high, from its overviews."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = reader_of(dataset).preview(indexes=style.indexes, max_size=max_size)
    if style.kind == "hillshade":
        cell = abs(dataset.transform.a) * dataset.width / image.width
        padded = np.pad(image.array.data[0], 1, mode="edge")
        return encode(_hillshade(padded, cell)[np.newaxis], _alpha(image), fmt)
    data, mask, colormap = _coloured(image, style)
    return encode(data, mask, fmt, colormap)


def point_values(dataset: DatasetReaderBase, lon: float, lat: float) -> list[float | None]:
    """Every band's value at (lon, lat) in WGS 84; None where there is no data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            point = reader_of(dataset).point(lon, lat)
        except Exception as exc:  # rio-tiler's PointOutsideBounds
            if type(exc).__name__ == "PointOutsideBounds":
                raise OutsideError(str(exc)) from None
            raise
    values: list[float | None] = []
    for value, masked in zip(point.array.data, np.ma.getmaskarray(point.array), strict=True):
        values.append(
            None if masked else (int(value) if float(value).is_integer() else float(value))
        )
    return values


def tile_matrix_limits(dataset: DatasetReaderBase, zoom_range: Zooms) -> list[dict[str, Any]]:
    """OGC API Tiles `tileMatrixSetLimits`: the tiles that meet the raster, per zoom."""
    import morecantile
    from rasterio.warp import transform_bounds

    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = transform_bounds(
        dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21
    )
    limits = []
    for z in range(zoom_range.minzoom, zoom_range.maxzoom + 1):
        top_left = tms.tile(west, north, z)
        bottom_right = tms.tile(east, south, z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": top_left.y,
                "maxTileRow": bottom_right.y,
                "minTileCol": top_left.x,
                "maxTileCol": bottom_right.x,
            }
        )
    return limits
