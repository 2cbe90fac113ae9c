"""What every reader hands the loader: layers as streams of attribute/geometry batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import shapely
from pyproj import CRS

BATCH_SIZE = 65_536


class SourceBatch:
    """A batch of features: attributes, geometries in the source CRS, first row number.

    Readers give either shapely `geometries` or the `wkb` they read (GDAL's), which is
    decoded into shapely geometries only when asked: point layers are loaded from the
    WKB itself (`niaouli.ingest.wkb`).
    """

    def __init__(
        self,
        attributes: pa.Table,
        geometries: np.ndarray | None = None,
        first_row: int = 1,
        *,
        wkb: pa.Array | pa.ChunkedArray | None = None,
    ) -> None:
        self.attributes = attributes
        self.first_row = first_row  # row number (as people count it in the file)
        self.wkb = wkb
        self._geometries = geometries

    @property
    def has_geometries(self) -> bool:
        """False for tables without geometry."""
        return self._geometries is not None or self.wkb is not None

    @property
    def geometries(self) -> np.ndarray | None:
        """Shapely geometries (None where missing or unreadable), or None for tables."""
        if self._geometries is None and self.wkb is not None:
            values = self.wkb.to_numpy(zero_copy_only=False)
            self._geometries = shapely.from_wkb(values, on_invalid="ignore")
        return self._geometries


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
