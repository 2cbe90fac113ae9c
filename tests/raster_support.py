"""Generated rasters for the raster tests (and bench/raster.py): written band by band in
windows, so that a large one never sits in memory, with the CRSs used in New Caledonia."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

# Nouméa in RGNC91-93 / Lambert New Caledonia (EPSG:3163) and in UTM 58S / 59S
ORIGINS = {
    "EPSG:3163": (440000.0, 220000.0),
    "EPSG:32758": (640000.0, 7545000.0),
    "EPSG:32759": (-20000.0, 7545000.0),
}
NODATA = -9999.0


def dem(
    path: Path,
    size: int = 512,
    *,
    dtype: str = "float32",
    crs: str = "EPSG:3163",
    nodata: float | None = NODATA,
    pixel: float = 10.0,
    driver: str = "GTiff",
    rows_per_write: int = 512,
    **options: object,
) -> Path:
    """A smooth elevation model (metres) whose first 16 rows are nodata."""
    west, north = ORIGINS[crs]
    profile = {
        "driver": driver,
        "width": size,
        "height": size,
        "count": 1,
        "dtype": dtype,
        "crs": crs,
        "transform": from_origin(west, north, pixel, pixel),
        **({"nodata": nodata} if nodata is not None else {}),
        **({"tiled": True, "compress": "deflate"} if driver == "GTiff" else {}),
        **options,
    }
    x = np.linspace(0, 6 * np.pi, size, dtype="float64")
    with rasterio.open(path, "w", **profile) as out:
        for top in range(0, size, rows_per_write):
            rows = min(rows_per_write, size - top)
            y = np.linspace(top, top + rows - 1, rows)[:, None] / size * 4 * np.pi
            values = 600 + 500 * np.sin(x)[None, :] * np.cos(y)
            if nodata is not None and top == 0:
                values[: min(16, rows)] = nodata
            out.write(values.astype(dtype), 1, window=Window(0, top, size, rows))
    return path


def orthophoto(
    path: Path,
    size: int = 512,
    *,
    bands: int = 3,
    crs: str = "EPSG:32758",
    pixel: float = 0.5,
    rows_per_write: int = 512,
    grain: int = 0,
) -> Path:
    """An RGB(A) picture of gradients and squares; `grain` adds that much seeded noise to
    each colour (a real photograph's texture: without it the file compresses a hundred
    times better than an orthophoto does, and its conversion costs nothing)."""
    west, north = ORIGINS[crs]
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": bands,
        "dtype": "uint8",
        "crs": crs,
        "transform": from_origin(west, north, pixel, pixel),
        "tiled": True,
        "compress": "deflate",
        "photometric": "RGB",
    }
    if bands == 4:
        profile["alpha"] = "YES"
    xs = np.arange(size)
    with rasterio.open(path, "w", **profile) as out:
        for top in range(0, size, rows_per_write):
            rows = min(rows_per_write, size - top)
            ys = np.arange(top, top + rows)[:, None]
            red = (xs[None, :] * 255 // max(size - 1, 1)) * np.ones_like(ys)
            green = (ys * 255 // max(size - 1, 1)) * np.ones_like(xs)[None, :]
            blue = (((xs[None, :] // 32) + (ys // 32)) % 2) * 200
            planes = [red, green, blue] + ([np.full((rows, size), 255)] if bands == 4 else [])
            picture = np.stack(planes).astype("int16")
            if grain:
                noise = np.random.default_rng(top).integers(-grain, grain + 1, (3, rows, size))
                picture[:3] = np.clip(picture[:3] + noise, 0, 255)
            out.write(picture.astype("uint8"), window=Window(0, top, size, rows))
    return path


def classified(path: Path, size: int = 256, crs: str = "EPSG:3163") -> Path:
    """Land cover: five classes with a colour table, 0 as nodata."""
    west, north = ORIGINS[crs]
    data = (np.add.outer(np.arange(size), np.arange(size)) // (size // 3) % 5).astype("uint8")
    data[:8] = 0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="uint8",
        crs=crs,
        transform=from_origin(west, north, 20, 20),
        nodata=0,
    ) as out:
        out.write(data, 1)
        out.write_colormap(
            1,
            {
                1: (34, 139, 34, 255),
                2: (255, 215, 0, 255),
                3: (30, 144, 255, 255),
                4: (139, 69, 19, 255),
            },
        )
    return path
