"""Make `relief_synthetique_nc.tif`, the demo's raster: a SYNTHETIC elevation grid.

No real elevation model of New Caledonia is in the project's data (BDALTI-NC is not
shipped), so the demo shows a made-up one, labelled as such everywhere (file name,
band description, dataset title and description, geodata/README.md). Only its outline
is real: the land is the communes of `nc_communes.geojson` (Géorep's simplified
boundaries), rasterised at 500 m in EPSG:3163; the heights are invented — rising with
the distance to the coast (a central chain) with smooth seeded undulations — and mean
nothing. Same bytes on every run:

    .venv/bin/python geodata/make_relief_synthetique.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.transform import from_origin
from shapely.geometry import shape

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "relief_synthetique_nc.tif"
CELL = 500.0  # metres
NODATA = -32768
SEED = 19  # issue 19


def _projected(transformer: Transformer):  # noqa: ANN202 - shapely's callback
    def project(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return transformer.transform(x, y)

    return project


def land(cell: float = CELL) -> tuple[np.ndarray, rasterio.Affine]:
    """The communes rasterised in EPSG:3163 (1 on land), with the grid's transform."""
    features = json.loads((HERE / "nc_communes.geojson").read_text(encoding="utf-8"))
    lambert = Transformer.from_crs("EPSG:4326", "EPSG:3163", always_xy=True)
    shapes = [
        shapely.transform(shape(f["geometry"]).buffer(0), _projected(lambert), interleaved=False)
        for f in features["features"]
    ]
    west, south, east, north = np.array([s.bounds for s in shapes]).T
    left = float(np.floor(west.min() / cell) * cell) - cell
    top = float(np.ceil(north.max() / cell) * cell) + cell
    width = int(np.ceil((east.max() - left) / cell)) + 1
    height = int(np.ceil((top - south.min()) / cell)) + 1
    transform = from_origin(left, top, cell, cell)
    mask = rasterize(
        ((s, 1) for s in shapes), out_shape=(height, width), transform=transform, dtype="uint8"
    )
    return mask, transform


def distance_inland(mask: np.ndarray) -> np.ndarray:
    """Cells from the coast (chessboard distance), by repeated erosion."""
    distance = np.zeros(mask.shape, dtype="float32")
    current = mask.astype(bool)
    while current.any():
        distance += current
        padded = np.pad(current, 1)
        eroded = current.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                eroded &= padded[1 + dy : 1 + dy + mask.shape[0], 1 + dx : 1 + dx + mask.shape[1]]
        current = eroded
    return distance


def heights(mask: np.ndarray) -> np.ndarray:
    """Invented heights (metres): higher inland, with smooth undulations; nodata at sea."""
    rng = np.random.default_rng(SEED)
    inland = distance_inland(mask) * CELL / 1000  # km
    rows, cols = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype("float32")
    waves = np.zeros(mask.shape, dtype="float32")
    for _ in range(6):
        fy, fx = rng.uniform(0.01, 0.06, 2)
        phase = rng.uniform(0, 2 * np.pi)
        waves += np.sin(rows * fy + cols * fx + phase).astype("float32")
    relief = 1400 * (1 - np.exp(-inland / 12)) * (1 + 0.12 * waves) + 5 * inland
    out = np.where(mask == 1, np.clip(relief, 1, 1700), NODATA).astype("int16")
    return out


def main() -> None:
    mask, transform = land()
    data = heights(mask)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "int16",
        "crs": "EPSG:3163",
        "transform": transform,
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
    }
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(OUTPUT, "w", **profile) as out:
        out.write(data, 1)
        out.set_band_description(1, "altitude synthétique (non réelle)")
        out.set_band_unit(1, "m")
        out.update_tags(
            TIFFTAG_IMAGEDESCRIPTION=(
                "Relief SYNTHETIQUE de demonstration (hauteurs inventees) sur le contour "
                "des communes de Nouvelle-Caledonie (Georep, limites simplifiees)."
            ),
            TIFFTAG_DATETIME="2026:12:07 00:00:00",
        )
    print(f"{OUTPUT.name}: {data.shape[1]} x {data.shape[0]}, {OUTPUT.stat().st_size} octets")


if __name__ == "__main__":
    main()
