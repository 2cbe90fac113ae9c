"""Download a record's data file (GeoJSON, zipped Shapefile, CSV) for the ingestion."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from niaouli.ingest.harvest.base import DataSource
from niaouli.ingest.harvest.fetch import Fetcher

EXTENSIONS = {"geojson": ".geojson", "shapefile": ".zip", "csv": ".csv", "gpkg": ".gpkg"}


def download(fetcher: Fetcher, data: DataSource, workdir: Path) -> Path:
    """The file, saved under a safe name in `workdir` (FetchError on failure).

    Copied from the fetcher's spool file in blocks: a data file of up to the byte cap
    (200 MB) is never held in memory."""
    suffix = EXTENSIONS.get(data.format.lower())
    if suffix is None:
        suffix = Path(urlsplit(data.url).path).suffix.lower()[:8] or ".bin"
    with fetcher.get(data.url) as response:
        return response.save(workdir / f"donnees{suffix}")
