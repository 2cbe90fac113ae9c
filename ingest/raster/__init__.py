"""Raster ingestion (issue 19): GeoTIFF, JPEG 2000, PNG/JPEG with a world file, zipped or
not, converted to a Cloud Optimized GeoTIFF and published as a dataset's raster layer.

`sniff` says whether a file is a raster and extracts it from a zip; `checks` reads its
header and refuses hostile or unplaceable files; `cog` picks the kind and the COG
options; `gdal` runs GDAL's translate with progress; `describe` reads the COG back;
`swap` is the transaction; `pipeline.ingest_raster` runs them all or nothing.
"""

from __future__ import annotations

from niaouli.ingest.raster.pipeline import ingest_raster
from niaouli.ingest.raster.sniff import is_raster

__all__ = ["ingest_raster", "is_raster"]
