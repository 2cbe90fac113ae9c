"""Small Cloud Optimized GeoTIFFs made for the raster serving tests (rio-cogeo, seconds).

- `dem`: float32 elevation in EPSG:3163 (Lambert New Caledonia) over Nouméa, a hill
  and a valley, nodata -9999 in one corner;
- `ortho`: RGB uint8 orthophoto in UTM 58S (EPSG:32758), JPEG-compressed COG with a mask;
- `classes`: uint8 land cover with a colour table, in EPSG:3163, nodata 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

# Nouméa, in EPSG:3163 metres and in UTM 58S.
DEM_ORIGIN = (445000.0, 215000.0)
ORTHO_ORIGIN = (655000.0, 7540000.0)
CLASS_COLOURS = {
    0: (0, 0, 0, 0),
    1: (34, 139, 34, 255),  # forest
    2: (255, 215, 0, 255),  # savannah
    3: (30, 144, 255, 255),  # water
    4: (178, 34, 34, 255),  # built
}


def _cog(path: Path, array: np.ndarray, profile: dict, cog: str, colormap: dict | None = None):
    profile = {**profile, "driver": "GTiff", "count": array.shape[0]}
    with MemoryFile() as memory:
        with memory.open(**profile) as source:
            source.write(array)
            if colormap:
                source.write_colormap(1, colormap)
            source.set_band_description(1, "B1" if array.shape[0] > 1 else "valeur")
        with memory.open() as source:
            cog_translate(
                source,
                str(path),
                {**cog_profiles.get(cog), "blockxsize": 256, "blockysize": 256},
                quiet=True,
                in_memory=True,
                overview_resampling="nearest" if colormap else "average",
            )
    return path


def dem(path: Path, size: int = 512, cell: float = 10.0) -> Path:
    """An elevation model: a Gaussian hill (about 0 to 800 m) with a slope."""
    y, x = np.mgrid[0:size, 0:size].astype("float32")
    centre = size / 2
    hill = 800 * np.exp(-((x - centre) ** 2 + (y - centre) ** 2) / (2 * (size / 5) ** 2))
    data = (hill + x * 0.2).astype("float32")
    data[: size // 8, : size // 8] = -9999  # nodata corner (north-west)
    profile = {
        "width": size,
        "height": size,
        "dtype": "float32",
        "crs": "EPSG:3163",
        "transform": from_origin(DEM_ORIGIN[0], DEM_ORIGIN[1], cell, cell),
        "nodata": -9999,
    }
    return _cog(path, data[np.newaxis], profile, "deflate")


def ortho(path: Path, size: int = 512, cell: float = 0.5) -> Path:
    """An RGB orthophoto: stripes of colour, so tiles differ from place to place."""
    y, x = np.mgrid[0:size, 0:size]
    red = (x * 255 // size).astype("uint8")
    green = (y * 255 // size).astype("uint8")
    blue = ((x + y) % 256).astype("uint8")
    profile = {
        "width": size,
        "height": size,
        "dtype": "uint8",
        "crs": "EPSG:32758",
        "transform": from_origin(ORTHO_ORIGIN[0], ORTHO_ORIGIN[1], cell, cell),
    }
    return _cog(path, np.stack([red, green, blue]), profile, "deflate")


def classes(path: Path, size: int = 512, cell: float = 20.0) -> Path:
    """Land cover classes 1-4 in quarters, nodata 0 on the first rows."""
    data = np.ones((size, size), dtype="uint8")
    half = size // 2
    data[:half, half:] = 2
    data[half:, :half] = 3
    data[half:, half:] = 4
    data[:8, :] = 0
    profile = {
        "width": size,
        "height": size,
        "dtype": "uint8",
        "crs": "EPSG:3163",
        "transform": from_origin(DEM_ORIGIN[0], DEM_ORIGIN[1], cell, cell),
        "nodata": 0,
    }
    return _cog(path, data[np.newaxis], profile, "deflate", CLASS_COLOURS)


def lonlat(path: Path, col: float, row: float) -> tuple[float, float]:
    """WGS 84 longitude and latitude of a pixel's centre of the COG at `path`."""
    from rasterio.warp import transform

    with rasterio.open(path) as dataset:
        x, y = dataset.xy(row, col)
        xs, ys = transform(dataset.crs, "EPSG:4326", [x], [y])
    return xs[0], ys[0]


class CountingProxy:
    """A loopback HTTP proxy in front of the server that counts the body bytes it relays:
    what a client really downloaded (GDAL's `/vsicurl/` asks ranges of the file)."""

    def __init__(self, target: str) -> None:
        import http.server
        import threading

        import httpx

        proxy = self
        self.target = target.rstrip("/")
        self.bytes = 0
        self.requests: list[tuple[str, str | None, int]] = []
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _relay(self, method: str) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("range",)}
                answer = httpx.request(
                    method, proxy.target + self.path, headers=headers, timeout=60
                )
                body = answer.content if method == "GET" else b""
                with proxy._lock:
                    proxy.bytes += len(body)
                    proxy.requests.append((method, headers.get("Range"), answer.status_code))
                self.send_response(answer.status_code)
                for name in ("content-type", "content-range", "accept-ranges", "etag"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                length = answer.headers.get("content-length", str(len(body)))
                self.send_header("content-length", length if method == "HEAD" else str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._relay("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._relay("HEAD")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.bytes = 0
            self.requests.clear()


def publish_raster(
    backend: Any,
    path: Path,
    organisation: str,
    slug: str,
    title: str,
    kind: str,
    access_level: str = "public",
) -> str:
    """A dataset holding the COG at `path` as its raster layer (stored like the ingestion
    stores it: file storage, a `raster_layers` row with the COG's facts); its collection id."""
    from rasterio.warp import transform_bounds

    from niaouli import storage
    from niaouli.catalogue import service
    from niaouli.catalogue.models import RasterKind, RasterLayer, Resource, ResourceKind

    stored = storage.store_file(path, backend.settings, path.name)
    with rasterio.open(path) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
        facts = {
            "crs_code": f"EPSG:{dataset.crs.to_epsg()}",
            "crs_wkt": dataset.crs.to_wkt(),
            "width": dataset.width,
            "height": dataset.height,
            "band_count": dataset.count,
            "resolution_x": abs(dataset.transform.a),
            "resolution_y": abs(dataset.transform.e),
            "native_west": dataset.bounds.left,
            "native_south": dataset.bounds.bottom,
            "native_east": dataset.bounds.right,
            "native_north": dataset.bounds.top,
            "extent_west": west,
            "extent_south": south,
            "extent_east": east,
            "extent_north": north,
            "bands": [
                {
                    "name": name or f"B{i}",
                    "data_type": dtype,
                    "nodata": dataset.nodata,
                    "unit": None,
                    "colour_interp": None,
                    "statistics": {
                        "min": stats.min,
                        "max": stats.max,
                        "mean": stats.mean,
                        "stddev": stats.std,
                    },
                }
                for i, (name, dtype, stats) in enumerate(
                    zip(
                        dataset.descriptions,
                        dataset.dtypes,
                        dataset.stats(approx=True),
                        strict=True,
                    ),
                    start=1,
                )
            ],
            "overview_levels": dataset.overviews(1),
        }
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, organisation)
        dataset_row = service.create_dataset(session, org, slug, title, access_level=access_level)
        original = storage.store_file(path, backend.settings, path.name)
        for role, title, kept in (
            ("raster-cog", "COG", stored),
            ("raster-source", "origine", original),
        ):
            dataset_row.resources.append(
                Resource(
                    title=f"{slug} ({title})",
                    kind=ResourceKind.FILE,
                    role=role,
                    storage_key=kept.key,
                    filename=kept.filename,
                    format="COG",
                    media_type="image/tiff",
                    size=path.stat().st_size,
                )
            )
        session.add(
            RasterLayer(
                dataset=dataset_row,
                name=slug,
                collection_id=slug,
                kind=RasterKind(kind),
                source_name=path.name,
                cog_key=stored.key,
                cog_filename=stored.filename,
                cog_size=path.stat().st_size,
                original_key=original.key,
                original_filename=original.filename,
                original_size=path.stat().st_size,
                **facts,
            )
        )
    return slug
