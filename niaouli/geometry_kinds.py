"""Geometry type names grouped by family (point, line, polygon).

Shared by the ingestion (which normalises a layer to one family) and the exports (a
Shapefile holds one family), so it lives in the core.
"""

from __future__ import annotations

FAMILY_OF = {
    "Point": "point",
    "MultiPoint": "point",
    "LineString": "line",
    "MultiLineString": "line",
    "LinearRing": "line",
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
}
