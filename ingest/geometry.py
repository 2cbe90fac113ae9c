"""Geometry normalisation: 2D, valid, and of the layer's one declared type.

Polygons and lines are stored as their Multi type (shapefiles and GeoJSON mix single and
multi parts); invalid geometries are repaired with GEOS `make_valid` and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from niaouli.geometry_kinds import FAMILY_OF
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError

TARGET_OF_FAMILY = {"point": "Point", "line": "MultiLineString", "polygon": "MultiPolygon"}
TYPE_IDS = {
    "Point": 0,
    "LineString": 1,
    "LinearRing": 2,
    "Polygon": 3,
    "MultiPoint": 4,
    "MultiLineString": 5,
    "MultiPolygon": 6,
    "GeometryCollection": 7,
}
GENERIC = "Geometry"


def base_type(declared: str | None) -> str | None:
    """'Polygon Z', '3D Polygon', 'Unknown' ... -> 'Polygon' / None."""
    if not declared:
        return None
    name = declared.replace("3D ", "").replace("2.5D ", "").split(" ")[0]
    return None if name in ("Unknown", "None", "") else name


def target_type(declared: str | None) -> str:
    """The column type for a layer whose source declares `declared`."""
    name = base_type(declared)
    if name == "MultiPoint":
        return "MultiPoint"
    family = FAMILY_OF.get(name or "")
    return TARGET_OF_FAMILY[family] if family else GENERIC


def target_from_types(type_names: set[str]) -> str:
    """The column type fitting every geometry type seen (for sources read whole)."""
    families = {FAMILY_OF.get(t) for t in type_names}
    if len(families) != 1 or None in families:
        return GENERIC
    if type_names == {"Point"}:
        return "Point"
    if families == {"point"}:
        return "MultiPoint"
    return TARGET_OF_FAMILY[families.pop()]


@dataclass
class GeometryStats:
    repaired: int = 0
    z_dropped: int = 0
    empty: int = 0
    repaired_rows: list[int] = field(default_factory=list)


def _parts_of_family(geom: shapely.Geometry, family: str) -> list[shapely.Geometry]:
    parts = shapely.get_parts(geom)
    out: list[shapely.Geometry] = []
    for part in parts:
        kind = part.geom_type
        if kind == "GeometryCollection" or kind.startswith("Multi"):
            out.extend(_parts_of_family(part, family))
        elif FAMILY_OF.get(kind) == family:
            out.append(part)
    return out


def _as_target(geom: shapely.Geometry, target: str) -> shapely.Geometry | None:
    family = FAMILY_OF.get(target)
    if family is None:
        return geom
    parts = _parts_of_family(geom, family)
    if not parts:
        return None
    if target == "MultiPolygon":
        return shapely.MultiPolygon(parts)
    if target == "MultiLineString":
        return shapely.MultiLineString(parts)
    if target == "MultiPoint":
        return shapely.MultiPoint(parts)
    return parts[0] if len(parts) == 1 else None


def normalise(
    geoms: np.ndarray,
    target: str,
    first_row: int,
    stats: GeometryStats,
    *,
    file: str,
    layer: str,
) -> np.ndarray:
    """2D, valid geometries of type `target` (None stays None, empty becomes None)."""
    geoms = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    if empty.any():
        stats.empty += int(empty.sum())
        geoms = geoms.copy()
        geoms[empty] = None
        missing = missing | empty
    has_z = shapely.has_z(geoms)
    if has_z.any():
        stats.z_dropped += int(has_z.sum())
        geoms = shapely.force_2d(geoms)

    invalid = ~missing & ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        idx = np.flatnonzero(invalid)
        geoms[idx] = shapely.make_valid(geoms[idx])
        stats.repaired += len(idx)
        stats.repaired_rows.extend(int(first_row + i) for i in idx[:20])

    if target == GENERIC:
        return geoms
    type_ids = shapely.get_type_id(geoms)
    wanted = TYPE_IDS[target]
    misfit = ~missing & (type_ids != wanted)
    if misfit.any():
        geoms = geoms.copy()
        single = TYPE_IDS.get(target.removeprefix("Multi"), -1)
        to_promote = misfit & (type_ids == single) & target.startswith("Multi")
        if to_promote.any():
            idx = np.flatnonzero(to_promote)
            builder = {
                "MultiPolygon": shapely.multipolygons,
                "MultiLineString": shapely.multilinestrings,
                "MultiPoint": shapely.multipoints,
            }[target]
            geoms[idx] = builder(geoms[idx], indices=np.arange(len(idx)))
        for i in np.flatnonzero(misfit & ~to_promote):
            fixed = _as_target(geoms[i], target)
            if fixed is None:
                raise IngestError(
                    _("géométrie %(kind)s incompatible avec le type de la couche (%(target)s)")
                    % {"kind": geoms[i].geom_type, "target": target},
                    file=file,
                    layer=layer,
                    row=int(first_row + i),
                )
            geoms[i] = fixed
    return geoms
