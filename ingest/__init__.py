"""Ingestion: untrusted files in, catalogue layers out, all-or-nothing.

Flow: `sniff` identifies the real format (never trusting the name), `archive` unpacks
zips safely, `sources` opens the allowed formats as streams of batches, `geometry` and
`reproject` normalise them to EPSG:4326; `pipeline.ingest_file` runs the three steps in one
transaction: `plan` (what and where), `load` (new tables), `swap` (catalogue rows
replaced, previous tables dropped or kept as a version). `ingest_report` holds what it returns.
"""

from niaouli.ingest.errors import IngestError
from niaouli.ingest.ingest_report import IngestReport
from niaouli.ingest.pipeline import ingest_file, ingest_stored

__all__ = ["IngestError", "IngestReport", "ingest_file", "ingest_stored"]
