"""esriJSON features -> GeoJSON features (ArcGIS Server / ArcGIS Online `query` answers).

Geometries keep their coordinates (in the layer's CRS; the ingestion reprojects):
points, multipoints, polylines (one path: LineString, more: MultiLineString) and
polygons, whose rings Esri orders by orientation: clockwise rings are outer rings,
counter-clockwise ones are holes of the outer ring that contains them. Z and M values
are dropped (the catalogue stores 2D). Date fields (milliseconds since 1970) become ISO
8601 text.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import Point, Polygon


def _xy(coords: list[Any]) -> list[float]:
    return [float(coords[0]), float(coords[1])]


def _signed_area(ring: list[list[float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return total / 2


def _polygon(rings: list[list[list[float]]]) -> dict[str, Any] | None:
    rings = [[_xy(c) for c in ring] for ring in rings if len(ring) >= 4]
    outers: list[list[list[list[float]]]] = []
    holes: list[list[list[float]]] = []
    for ring in rings:
        # Esri: clockwise = outer ring (negative signed area in x-right/y-up axes).
        if _signed_area(ring) <= 0:
            outers.append([ring])
        else:
            holes.append(ring)
    if not outers and holes:  # counter-clockwise only: a producer that ignored the rule
        outers, holes = [[h] for h in holes], []
    shells = [Polygon(p[0]) for p in outers]
    for hole in holes:
        probe = Point(hole[0])
        for polygon, shell in zip(outers, shells, strict=True):
            if shell.covers(probe):
                polygon.append(hole)
                break
        else:
            outers[-1].append(hole)
    if not outers:
        return None
    if len(outers) == 1:
        return {"type": "Polygon", "coordinates": outers[0]}
    return {"type": "MultiPolygon", "coordinates": outers}


def geometry(esri: dict[str, Any] | None) -> dict[str, Any] | None:
    """The GeoJSON geometry of an esriJSON geometry (None when empty or absent)."""
    if not esri:
        return None
    if "x" in esri:
        x, y = esri.get("x"), esri.get("y")
        if x is None or y is None or (isinstance(x, float) and math.isnan(x)):
            return None
        return {"type": "Point", "coordinates": [float(x), float(y)]}
    if "points" in esri:
        points = [_xy(p) for p in esri["points"]]
        return {"type": "MultiPoint", "coordinates": points} if points else None
    if "paths" in esri:
        paths = [[_xy(c) for c in path] for path in esri["paths"] if len(path) >= 2]
        if not paths:
            return None
        if len(paths) == 1:
            return {"type": "LineString", "coordinates": paths[0]}
        return {"type": "MultiLineString", "coordinates": paths}
    if "rings" in esri:
        return _polygon(esri["rings"])
    if {"xmin", "ymin", "xmax", "ymax"} <= set(esri):
        w, s, e, n = (float(esri[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        return {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]}
    raise ValueError(f"géométrie esriJSON inconnue : {sorted(esri)[:5]}")


def _value(value: Any, field_type: str | None) -> Any:
    if field_type == "esriFieldTypeDate" and isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).isoformat()
    return value


def features(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The GeoJSON features of one `query?f=json` answer."""
    types = {f.get("name"): f.get("type") for f in answer.get("fields") or []}
    out = []
    for feature in answer.get("features") or []:
        attributes = feature.get("attributes") or {}
        out.append(
            {
                "type": "Feature",
                "properties": {k: _value(v, types.get(k)) for k, v in attributes.items()},
                "geometry": geometry(feature.get("geometry")),
            }
        )
    return out


def crs_of(spatial_reference: dict[str, Any] | None) -> str | None:
    """ "EPSG:n" from a spatialReference (latestWkid first: 102100 is 3857)."""
    if not spatial_reference:
        return None
    wkid = spatial_reference.get("latestWkid") or spatial_reference.get("wkid")
    if wkid in (102100, 102113):
        wkid = 3857
    return f"EPSG:{int(wkid)}" if wkid else None
