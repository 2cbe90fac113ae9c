"""What an ingestion did: one report per layer, one for the file (returned and stored)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerReport:
    name: str
    collection_id: str
    table_name: str
    feature_count: int
    geometry_type: str | None
    native_crs: str | None
    extent: tuple[float, float, float, float] | None
    repaired: int = 0
    repaired_rows: list[int] = field(default_factory=list)
    z_dropped: int = 0
    empty_geometries: int = 0
    axes_swapped: bool = False
    notes: list[str] = field(default_factory=list)
    added: int = 0  # rows read from this file (`feature_count` is the layer's total)


@dataclass
class RasterReport:
    """A raster layer as ingested: sizes before/after, grid, bands and their statistics."""

    name: str
    collection_id: str
    kind: str
    format: str
    size_before: int
    size_after: int
    width: int
    height: int
    band_count: int
    crs: str | None
    resolution: tuple[float, float]
    extent: tuple[float, float, float, float]
    native_bounds: tuple[float, float, float, float]
    bands: list[dict[str, Any]]
    compression: str | None
    overview_levels: list[int]
    convert_seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    dataset: str
    created: bool
    file: str
    format: str
    size: int
    checksum: str
    layers: list[LayerReport]
    seconds: float
    # A raster file's layer (`niaouli.ingest.raster`): then `layers` is empty.
    rasters: list[RasterReport] = field(default_factory=list)
    # Personal data found in a dataset that was to be visible: it was kept as a draft
    # (niaouli.privacy.guard.hold); one finding each, without the values.
    privacy: list[dict[str, Any]] = field(default_factory=list)
    # The file checked against its dataset's Table Schema (niaouli.tableschema): one
    # report per table, `Report.as_dict()`; empty when the dataset has no schema.
    validation: list[dict[str, Any]] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.privacy)

    @property
    def feature_count(self) -> int:
        return sum(layer.feature_count for layer in self.layers)

    @property
    def added_count(self) -> int:
        """Rows read from this file (an append's new rows, not the layers' totals)."""
        return sum(layer.added for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
