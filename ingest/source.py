"""What every reader hands the loader: layers as streams of attribute/geometry batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyproj import CRS

BATCH_SIZE = 65_536


@dataclass
class SourceBatch:
    attributes: pa.Table
    geometries: np.ndarray | None  # shapely geometries in the source CRS, or None for tables
    first_row: int  # row number (as people count it in the file) of the first feature


@dataclass
class LayerSource:
    name: str
    crs: CRS | None
    geometry_type: str | None  # declared type; None: a table without geometry
    feature_count: int | None
    fields: list[tuple[str, pa.DataType]]
    batches: Callable[[], Iterator[SourceBatch]]
    notes: list[str] = field(default_factory=list)
    # The column type when the reader already knows every geometry (CSV with WKT).
    known_target: str | None = None
    # Why a declared CRS could not be read (a garbage `.prj`): refused unless overridden.
    crs_problem: str | None = None
