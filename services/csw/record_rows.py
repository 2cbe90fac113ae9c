"""One dataset -> its `csw_records` row, tagged with its access level and organisation.

A dataset imported from a metadata record is served with the producer's own XML (kept in
`Dataset.original_metadata`); any other dataset gets ISO 19139 generated from the
catalogue. Either way the row's columns are read back from that XML the way pycsw's loader
reads it, so pycsw's Dublin Core view and its queries agree with the document it serves.
Every dataset gets a row; who may see it is decided per request by pycsw's repository
filter, built from `access_level` and `organisation_id` (see `pycsw/niaouli_csw.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree

from niaouli import metadata_parse, safexml
from niaouli.catalogue.csw_table import COLUMNS
from niaouli.services.csw import iso
from niaouli.services.csw.view import DatasetView

LOGGER = logging.getLogger(__name__)


def _generated(view: DatasetView) -> metadata_parse.ParsedRecord:
    xml = iso.render(view)
    return metadata_parse.parse_iso(etree.fromstring(xml.encode("utf-8"), safexml._parser()))


def parsed_record(view: DatasetView) -> metadata_parse.ParsedRecord:
    """The record as served: the producer's XML when there is one, else generated ISO."""
    if view.original_metadata:
        kept = metadata_parse.take_parsed(view.original_metadata)
        if kept is not None:  # a harvest parsed this very XML a moment ago
            return kept
        try:
            return metadata_parse.parse_record(
                safexml.parse(view.original_metadata.encode("utf-8"))
            )
        except (safexml.UnsafeXMLError, metadata_parse.RecordError) as exc:
            # Checked at import time; if it no longer parses, publish the catalogue's view.
            LOGGER.warning("fiche d'origine illisible pour %s : %s", view.slug, exc)
    return _generated(view)


def record_row(view: DatasetView) -> dict[str, Any]:
    """The row for `view`; the per-request filter keeps it from those who may not see it."""
    return row_of(parsed_record(view), view.id, view.access_level.value, view.organisation_id)


def row_of(
    record: metadata_parse.ParsedRecord,
    dataset_id: int,
    access_level: str,
    organisation_id: int | None,
) -> dict[str, Any]:
    """The row of a dataset served as `record`."""
    # Every column, so that rows of different kinds insert together in one statement.
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        (name, None if value is None else str(value))
        for name, value in record.columns.items()
        if name in COLUMNS
    )
    row["identifier"] = record.identifier
    row["dataset_id"] = dataset_id
    row["access_level"] = access_level
    row["organisation_id"] = organisation_id
    return row
