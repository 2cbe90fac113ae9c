"""Coordinate reference systems offered by /ogc (OGC API Features Part 2).

Layers are stored in EPSG:4326 with longitude first, so the storage CRS is declared as
CRS84 (lon/lat): declaring EPSG:4326 would make pygeoapi swap the axes of every
response. A request for EPSG:4326 gets latitude first, as that CRS defines it; any other
CRS gets the axis order of its definition. The database reprojects with an integer SRID.
"""

from __future__ import annotations

import functools

import pyproj

from niaouli.db.features import OutputCrs

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
OFFERED_EPSG = (4326, 3163, 3857)
"""WGS 84, RGNC91-93 / Lambert Nouvelle-Calédonie, Web Mercator."""


def epsg_uri(code: int) -> str:
    return EPSG_URI.format(code)


def supported_crs(native_crs: str | None = None) -> list[str]:
    """CRS84 first (the default), then the offered EPSG codes and the layer's own."""
    codes = list(OFFERED_EPSG)
    native = native_epsg(native_crs)
    if native is not None and native not in codes:
        codes.append(native)
    return [CRS84, *(epsg_uri(code) for code in codes)]


def native_epsg(label: str | None) -> int | None:
    """The EPSG code of a layer's source CRS label (e.g. 'EPSG:3163'), if it has one."""
    if not label:
        return None
    try:
        code = pyproj.CRS.from_user_input(label).to_epsg()
    except pyproj.exceptions.CRSError:
        return None
    return int(code) if code else None


@functools.lru_cache(maxsize=64)
def output_for(uri: str | None) -> OutputCrs:
    """How to write geometries for the CRS `uri` (already checked against the list)."""
    if not uri or uri == CRS84:
        return OutputCrs()
    code = int(uri.rstrip("/").rsplit("/", 1)[1])
    axis = pyproj.CRS.from_epsg(code).axis_info
    north_first = bool(axis) and axis[0].direction.lower() in ("north", "south")
    return OutputCrs(srid=code, swap_axes=north_first)
