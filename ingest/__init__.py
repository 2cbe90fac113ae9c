"""Ingestion: untrusted files in, catalogue layers out, all-or-nothing.

Flow: `sniff` identifies the real format (never trusting the name), `archive` unpacks
zips safely, `sources` opens the allowed formats as streams of batches, `geometry` and
`reproject` normalise them to EPSG:4326; `pipeline.ingest_file` runs the three steps in one
transaction: `plan` (what and where), `load` (new tables), `swap` (catalogue rows
replaced, previous tables dropped or kept as a version). `ingest_report` holds what it returns.
"""

from typing import Any

from niaouli.ingest.errors import IngestError
from niaouli.ingest.ingest_report import IngestReport

__all__ = ["IngestError", "IngestReport", "ingest_file", "ingest_stored"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - the pipeline's functions
    """`ingest_file` and `ingest_stored`, imported when first asked for: the pipeline
    brings GDAL, pandas and rasterio (over a second of start-up), which a process that
    only needs a subpackage — a harvest's mapping process — never uses."""
    if name in ("ingest_file", "ingest_stored"):
        from niaouli.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
