"""Ingestion: untrusted files in, catalogue layers out, all-or-nothing.

Flow: `sniff` identifies the real format (never trusting the name), `archive` unpacks
zips safely, `sources` opens the allowed formats as streams of batches, `geometry` and
`crs` normalise them to EPSG:4326, `loader` writes a staging table and swaps it in with
the catalogue rows in one transaction.
"""

from niaouli.ingest.errors import IngestError
from niaouli.ingest.loader import IngestReport, ingest_file, ingest_stored

__all__ = ["IngestError", "IngestReport", "ingest_file", "ingest_stored"]
