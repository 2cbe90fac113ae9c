"""What the catalogue records of a converted raster, read back from the COG itself.

The COG is our own output, so it is opened without the source's precautions. Statistics
were computed by GDAL during the conversion (`STATISTICS=YES`) over every pixel and
stored in the file; they are read here, not recomputed. The colour table is kept as
{"<value>": [r, g, b, a]} for the values used (at most 256).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform_bounds


@dataclass
class RasterDescription:
    width: int
    height: int
    band_count: int
    crs_code: str | None
    crs_wkt: str
    resolution: tuple[float, float]
    native_bounds: tuple[float, float, float, float]
    extent: tuple[float, float, float, float]
    bands: list[dict[str, Any]]
    colour_table: dict[str, list[int]] | None
    overview_levels: list[int]
    compression: str | None


def crs_code(crs: CRS) -> str | None:
    """`EPSG:<code>` when the CRS is one (`AUTHORITY:<code>` for other authorities)."""
    found = crs.to_authority(confidence_threshold=90) if crs else None
    return f"{found[0]}:{found[1]}" if found else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _statistics(src: Any, band: int) -> dict[str, float | None]:
    tags = src.tags(band)
    keys = {"min": "MINIMUM", "max": "MAXIMUM", "mean": "MEAN", "stddev": "STDDEV"}
    found = {k: _number(tags.get(f"STATISTICS_{v}")) for k, v in keys.items()}
    if found["min"] is None:  # not stored (an empty raster): computed from the overviews
        stats = src.stats(indexes=[band], approx=True)[0]
        found = {"min": stats.min, "max": stats.max, "mean": stats.mean, "stddev": stats.std}
        found = {k: _number(v) for k, v in found.items()}
    return found


def describe(path: Path) -> RasterDescription:
    with rasterio.open(path) as src:
        bands = []
        for index in src.indexes:
            bands.append(
                {
                    "name": src.descriptions[index - 1] or f"bande {index}",
                    "data_type": src.dtypes[index - 1],
                    "nodata": _number(src.nodatavals[index - 1]),
                    "unit": src.units[index - 1] or None,
                    "colour_interp": src.colorinterp[index - 1].name,
                    "statistics": _statistics(src, index),
                }
            )
        colour_table = None
        try:
            palette = src.colormap(1)
        except ValueError:
            palette = None
        if palette:
            colour_table = {str(k): list(v) for k, v in sorted(palette.items()) if any(v)}
        west, south, east, north = src.bounds
        extent = transform_bounds(src.crs, "EPSG:4326", west, south, east, north, densify_pts=21)
        return RasterDescription(
            width=src.width,
            height=src.height,
            band_count=src.count,
            crs_code=crs_code(src.crs),
            crs_wkt=src.crs.to_wkt(),
            resolution=(abs(src.res[0]), abs(src.res[1])),
            native_bounds=(west, south, east, north),
            extent=tuple(round(v, 7) for v in extent),
            bands=bands,
            colour_table=colour_table,
            overview_levels=src.overviews(1),
            compression=src.compression.name if src.compression else None,
        )
