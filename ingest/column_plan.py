"""Attribute columns: names that are safe identifiers, and portable logical types.

Original attribute names are kept where they can be (QGIS users expect `CODGEO`, not
`codgeo_1`); they are only changed when they are not valid or collide, and the
attribute schema of the layer records both.
"""

from __future__ import annotations

import re

import pyarrow as pa

from niaouli.db.layers import ColumnSpec
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError

RESERVED = {"fid", "geom"}
MAX_IDENTIFIER_BYTES = 63
# PostgreSQL tables hold at most 1,600 columns (SQLite 2,000): with `fid` and `geom`,
# 1,598 attributes. One limit on both backends, so a file moves from one to the other.
MAX_ATTRIBUTES = 1598
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def logical_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date64(arrow_type):
        return "datetime"
    if pa.types.is_date32(arrow_type):
        return "date"
    if pa.types.is_time(arrow_type):
        return "time"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    if pa.types.is_null(arrow_type):
        return "string"
    return "json"


def _sanitise(name: str) -> str:
    cleaned = CONTROL.sub("", name).strip().replace('"', "")
    if not cleaned:
        cleaned = "champ"
    while len(cleaned.encode()) > MAX_IDENTIFIER_BYTES:
        cleaned = cleaned[:-1]
    return cleaned


def plan_columns(fields: list[tuple[str, pa.DataType]]) -> list[ColumnSpec]:
    """Database columns for the source fields, unique case-insensitively."""
    if len(fields) > MAX_ATTRIBUTES:
        raise IngestError(
            _("trop de colonnes : %(count)s (%(max)s au plus)")
            % {"count": len(fields), "max": MAX_ATTRIBUTES}
        )
    taken = set(RESERVED)
    specs = []
    for name, arrow_type in fields:
        base = _sanitise(name)
        column = base
        counter = 1
        while column.lower() in taken:
            counter += 1
            suffix = f"_{counter}"
            column = base[: MAX_IDENTIFIER_BYTES - len(suffix)] + suffix
        taken.add(column.lower())
        specs.append(ColumnSpec(name=name, column=column, type=logical_type(arrow_type)))
    return specs
