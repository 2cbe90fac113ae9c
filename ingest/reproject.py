"""Coordinate reference systems: identify the source's, reproject to EPSG:4326.

Real files come without `.prj` or with lat/lon swapped. A missing CRS is guessed only
when the coordinates fit New Caledonia in degrees or in RGNC91-93 / Lambert NC
(EPSG:3163), and the guess is reported; anything else is refused with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from niaouli.i18n import _
from niaouli.ingest import notes as ingest_notes
from niaouli.ingest.errors import IngestError

WGS84 = CRS.from_epsg(4326)
LAMBERT_NC = CRS.from_epsg(3163)

# Generous boxes around the territory (Chesterfield and Matthew/Hunter included).
NC_LONLAT = (155.0, -27.0, 175.0, -14.0)
NC_LAMBERT = (-700_000.0, -200_000.0, 1_500_000.0, 1_300_000.0)

Bounds = tuple[float, float, float, float]


def crs_label(crs: CRS) -> str:
    """`EPSG:nnnn` when the CRS is identifiable, else its WKT."""
    epsg = crs.to_epsg(min_confidence=70)
    if epsg:
        return f"EPSG:{epsg}"
    authority = crs.to_authority(min_confidence=70)
    if authority:
        return f"{authority[0]}:{authority[1]}"
    return crs.to_wkt()


def parse_crs(value: str, *, file: str | None = None) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError:
        raise IngestError(
            _("système de coordonnées inconnu : « %(value)s »") % {"value": value[:200]}, file=file
        ) from None


def _inside(bounds: Bounds, box: Bounds) -> bool:
    return (
        bounds[0] >= box[0] and bounds[1] >= box[1] and bounds[2] <= box[2] and bounds[3] <= box[3]
    )


def _is_lonlat(bounds: Bounds) -> bool:
    return -180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90


def guess_crs(bounds: Bounds | None, *, file: str, layer: str) -> tuple[CRS, str]:
    """A CRS for a source that declares none, with the note that says so."""
    if bounds is None:
        return WGS84, ingest_notes.note(ingest_notes.CRS_NO_GEOMETRY)
    swapped = (bounds[1], bounds[0], bounds[3], bounds[2])
    if _is_lonlat(bounds) or _is_lonlat(swapped):
        # Degrees with latitude first also fit the Lambert box (a few metres around its
        # origin, at sea): they are degrees, and `should_swap_axes` puts them in order.
        return WGS84, ingest_notes.note(ingest_notes.CRS_DEGREES)
    if _inside(bounds, NC_LAMBERT):
        return LAMBERT_NC, ingest_notes.note(ingest_notes.CRS_LAMBERT)
    raise IngestError(
        _(
            "système de coordonnées inconnu : aucun .prj et des coordonnées ni en degrés ni "
            "en Lambert NC (EPSG:3163) ; précisez-le avec --crs EPSG:xxxx"
        ),
        file=file,
        layer=layer,
    )


def should_swap_axes(bounds: Bounds) -> bool:
    """True when lon/lat look swapped: impossible latitudes, or NC found only once swapped."""
    swapped = (bounds[1], bounds[0], bounds[3], bounds[2])
    if not _is_lonlat(bounds) and _is_lonlat(swapped):
        return True
    return _inside(swapped, NC_LONLAT) and not _inside(bounds, NC_LONLAT)


@dataclass
class Reprojector:
    """Moves geometries from the source CRS to EPSG:4326 (x = longitude)."""

    source: CRS
    swap_axes: bool = False

    def __post_init__(self) -> None:
        self.is_identity = self.source.equals(WGS84, ignore_axis_order=True)
        self._transformer = (
            None if self.is_identity else Transformer.from_crs(self.source, WGS84, always_xy=True)
        )

    def __call__(self, geoms: np.ndarray) -> np.ndarray:
        if self.swap_axes:
            geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
        if self._transformer is None:
            return geoms
        transformer = self._transformer

        def _apply(xy: np.ndarray) -> np.ndarray:
            x, y = transformer.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, _apply)

    def coordinates(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same move for bare coordinates (points read without GEOS)."""
        if self.swap_axes:
            x, y = y, x
        if self._transformer is None:
            return x, y
        return self._transformer.transform(x, y)
