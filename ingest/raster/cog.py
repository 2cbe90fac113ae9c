"""How a raster becomes a Cloud Optimized GeoTIFF: its kind, and the options that follow.

The kind (`RasterKind`) is the caller's, or guessed: 8-bit RGB(A) → orthophoto, one band
with a colour table → classified, one band of 16-bit integers or floats → elevation,
anything else → other. It decides the compression — JPEG (RGB) or WebP (RGBA) at quality
85 for orthophotos, lossless DEFLATE with the predictor for the rest — and the overview
resampling (nearest for classes, average otherwise). `BIGTIFF=IF_SAFER` lets GDAL go
beyond 4 GB; all cores compress.
"""

from __future__ import annotations

from niaouli.catalogue.models import RasterKind
from niaouli.ingest.raster.checks import SourceInfo

QUALITY = 85
BLOCKSIZE = 512


def guess_kind(info: SourceInfo) -> RasterKind:
    if info.dtype == "uint8" and info.count in (3, 4):
        return RasterKind.ORTHOPHOTO
    if info.count == 1 and info.has_colour_table:
        return RasterKind.CLASSIFIED
    if info.count == 1 and info.dtype in ("int16", "uint16", "int32", "float32", "float64"):
        return RasterKind.ELEVATION
    return RasterKind.OTHER


def compression(kind: RasterKind, info: SourceInfo) -> str:
    if kind == RasterKind.ORTHOPHOTO and info.dtype == "uint8" and info.count in (3, 4):
        return "WEBP" if info.count == 4 else "JPEG"
    return "DEFLATE"


def translate_arguments(kind: RasterKind, info: SourceInfo, crs: str | None) -> list[str]:
    """The `gdal_translate` arguments turning the source into the COG."""
    method = compression(kind, info)
    options = {
        "COMPRESS": method,
        "BLOCKSIZE": str(BLOCKSIZE),
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
        "OVERVIEWS": "IGNORE_EXISTING",
        "RESAMPLING": "NEAREST" if kind == RasterKind.CLASSIFIED else "AVERAGE",
        "STATISTICS": "YES",
    }
    if method in ("JPEG", "WEBP"):
        options["QUALITY"] = str(QUALITY)
    else:
        options["PREDICTOR"] = "NO" if kind == RasterKind.CLASSIFIED else "YES"
        options["LEVEL"] = "6"
    arguments = ["-of", "COG"]
    for key, value in options.items():
        arguments += ["-co", f"{key}={value}"]
    if crs:
        arguments += ["-a_srs", crs]
    return arguments
