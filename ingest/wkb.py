"""Point layers straight from the reader's WKB, without a round trip through GEOS.

A 2D point is valid as soon as its coordinates are finite, is never repaired nor
promoted, and its bounds are those of its coordinates: for a batch made only of
little-endian 2D WKB points (GDAL's output for point layers), the checks of
`geometry.normalise`, the reprojection and the bounds are a few numpy operations on the
coordinates, and the WKB is passed on as read when nothing moves. Any other batch
(other types, Z, big-endian, non-finite coordinates) returns None and takes the general
path, so the results are the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from niaouli.ingest import geometry
from niaouli.ingest.reproject import Reprojector

POINT_SIZE = 21  # byte order, uint32 type, two doubles
POINT_RECORD = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
POINT_TARGETS = ("Point", geometry.GENERIC)


@dataclass
class Points:
    """The coordinates of a batch of points; `present`: neither NULL nor empty."""

    x: np.ndarray
    y: np.ndarray
    present: np.ndarray
    empty: int

    def bounds(self) -> tuple[float, float, float, float] | None:
        if not self.present.any():
            return None
        x, y = self.x[self.present], self.y[self.present]
        return (float(x.min()), float(y.min()), float(x.max()), float(y.max()))


def _binary(wkb: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(wkb, pa.ChunkedArray):
        wkb = wkb.combine_chunks() if wkb.num_chunks != 1 else wkb.chunk(0)
    if isinstance(wkb, pa.ExtensionArray):  # geoarrow.wkb, when its package is installed
        wkb = wkb.storage
    if pa.types.is_large_binary(wkb.type):
        wkb = wkb.cast(pa.binary())
    return wkb


def read_points(wkb: pa.Array | pa.ChunkedArray) -> Points | None:
    """Coordinates when every value is NULL or a little-endian 2D WKB point, else None.

    Empty points (NaN, NaN) are counted and marked absent; a point with any other
    non-finite coordinate sends the batch to the general path.
    """
    wkb = _binary(wkb)
    if not pa.types.is_binary(wkb.type):
        return None
    n = len(wkb)
    valid = None if wkb.null_count == 0 else wkb.is_valid().to_numpy(zero_copy_only=False)
    values = wkb if valid is None else pc.drop_null(wkb)  # contiguous values
    m = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=values.offset + m + 1)
    offsets = offsets[values.offset :]
    if not (np.diff(offsets) == POINT_SIZE).all():
        return None
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if m:
        data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        records = data.view(POINT_RECORD)
        if not ((records["order"] == 1) & (records["type"] == 1)).all():
            return None
        if valid is None:
            x[:], y[:] = records["x"], records["y"]
        else:
            x[valid], y[valid] = records["x"], records["y"]
    null = np.zeros(n, dtype=bool) if valid is None else ~valid
    present = np.isfinite(x) & np.isfinite(y)  # NULL rows are NaN, hence not present
    empty = ~null & np.isnan(x) & np.isnan(y)
    if (~null & ~empty & ~present).any():
        return None  # inf, or a single NaN: left to GEOS's validity rules
    return Points(x, y, present, int(empty.sum()))


def write_points(points: Points) -> pa.Array:
    """Little-endian 2D WKB for the present points, NULL for the others."""
    n = len(points.x)
    records = np.empty(n, dtype=POINT_RECORD)
    records["order"], records["type"] = 1, 1
    records["x"], records["y"] = points.x, points.y
    mask = pa.py_buffer(np.packbits(points.present, bitorder="little"))
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(POINT_SIZE),
        n,
        [mask, pa.py_buffer(records.view(np.uint8))],
        null_count=int(n - points.present.sum()),
    )
    return fixed.cast(pa.binary())


def normalise_points(
    wkb: pa.Array | pa.ChunkedArray,
    target: str,
    reproject: Reprojector,
    stats: geometry.GeometryStats,
) -> tuple[pa.Array, tuple[float, float, float, float] | None] | None:
    """WKB in EPSG:4326 and bounds, as `normalise` would give; None: take the general path."""
    if target not in POINT_TARGETS:
        return None
    points = read_points(wkb)
    if points is None:
        return None
    moved = reproject.swap_axes or not reproject.is_identity
    if moved:
        x, y = reproject.coordinates(points.x[points.present], points.y[points.present])
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return None  # GEOS would call these invalid: let `normalise` decide
        points.x[points.present], points.y[points.present] = x, y
    stats.empty += points.empty
    out = write_points(points) if moved or points.empty else _binary(wkb)
    return out, points.bounds()
