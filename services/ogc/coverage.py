"""OGC API - Coverages over a COG: parameters, the window read, the encoded answer.

Only the window a request names is read, through the overview closest to the asked
output size (GDAL picks it for a decimated read), so a small subset of a 40,000-pixel
elevation model costs a few hundred kilobytes, locally or through HTTP ranges on S3
(pygeoapi's rasterio provider read and returned the whole file when no subset was
given). An answer larger than `NIAOULI_COVERAGE_MAX_PIXELS` (pixels × bands) is
refused with a 400 that says how to ask for less.

Axes: `subset` takes the native CRS's axis abbreviations (`E`/`N` for UTM, `X`/`Y` for
the Lambert of New Caledonia) in native coordinates, or `Lon`/`Lat` in WGS 84
degrees; `bbox` is in `bbox-crs` (CRS84 by default). `scale-size` names the same axes
(or `i`/`j`); `scale-factor` divides both sizes; `properties` picks bands by number or
name. Output: GeoTIFF (default) or PNG (byte data only), by `f` or `Accept`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReaderBase, MemoryFile
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOTIFF = "image/tiff; application=geotiff"
PNG = "image/png"
FORMATS = {"geotiff": GEOTIFF, "tif": GEOTIFF, "tiff": GEOTIFF, "png": PNG}
LON_NAMES = frozenset({"lon", "long", "longitude"})
LAT_NAMES = frozenset({"lat", "latitude"})
SUBSET_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\(([^()]*)\)\s*")
MAX_PARAMETER = 2000


class CoverageError(ValueError):
    """A request the coverage cannot answer: a 400 with this message (French)."""

    def __init__(self, message: str, code: str = "InvalidParameterValue") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Axes:
    """The native CRS's two horizontal axis names (x first), as clients must spell them."""

    x: str
    y: str
    geographic: bool

    @classmethod
    def of(cls, crs: CRS) -> Axes:
        if crs.is_geographic:
            return cls("Lon", "Lat", True)
        x, y = "E", "N"
        try:
            info = pyproj.CRS.from_user_input(crs.to_wkt()).axis_info
        except pyproj.exceptions.CRSError:  # unusual CRS: keep E/N
            return cls(x, y, False)
        east = next((a for a in info if a.direction.lower() == "east"), None)
        north = next((a for a in info if a.direction.lower() == "north"), None)
        if east is not None and north is not None and east.abbrev and north.abbrev:
            x, y = east.abbrev, north.abbrev
        return cls(x, y, False)


@dataclass(frozen=True)
class CoverageRequest:
    """What to read and how to answer, in the dataset's own terms."""

    window: Window
    width: int
    height: int
    indexes: tuple[int, ...]
    media_type: str


def crs_uri(crs: CRS) -> str:
    epsg = crs.to_epsg()
    if epsg == 4326:
        return "http://www.opengis.net/def/crs/EPSG/0/4326"
    if epsg:
        return f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    return crs.to_wkt()


def _crs_from_uri(text: str) -> CRS:
    value = text.strip()
    if value in (CRS84, "CRS84", "OGC:CRS84"):
        return CRS.from_epsg(4326)
    match = re.fullmatch(r"https?://www\.opengis\.net/def/crs/EPSG/0/([0-9]{1,6})", value)
    if match is None:
        match = re.fullmatch(r"(?:EPSG:)?([0-9]{1,6})", value, re.IGNORECASE)
    if match is None:
        raise CoverageError(f"bbox-crs inconnu : « {value[:100]} » (une URI EPSG ou CRS84)")
    try:
        return CRS.from_epsg(int(match.group(1)))
    except Exception:  # noqa: BLE001 - rasterio's CRSError
        raise CoverageError(f"bbox-crs inconnu : « {value[:100]} »") from None


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise CoverageError(f"{what} : nombre attendu, pas « {text.strip()[:40]} »") from None
    if not math.isfinite(value):
        raise CoverageError(f"{what} : nombre fini attendu")
    return value


def _pairs(text: str, what: str) -> dict[str, str]:
    """`A(x:y),B(z)` → {"A": "x:y", "B": "z"} (the axis syntax of subset and scale-size)."""
    if len(text) > MAX_PARAMETER:
        raise CoverageError(f"{what} trop long")
    found: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = SUBSET_RE.match(text, position)
        if match is None:
            raise CoverageError(f"{what} illisible : attendu Axe(bas:haut),Axe(bas:haut)")
        name = match.group(1)
        if name.lower() in {k.lower() for k in found}:
            raise CoverageError(f"{what} : l'axe {name} est donné deux fois")
        found[name] = match.group(2)
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise CoverageError(f"{what} illisible : les axes sont séparés par des virgules")
            position += 1
    return found


def _interval(text: str, what: str) -> tuple[float, float]:
    if ":" in text:
        low_text, high_text = text.split(":", 1)
        low, high = _number(low_text, what), _number(high_text, what)
    else:
        low = high = _number(text, what)
    if low > high:
        raise CoverageError(f"{what} : la borne basse dépasse la borne haute")
    return low, high


def _bounds_from_subset(
    dataset: DatasetReaderBase, axes: Axes, text: str
) -> tuple[float, float, float, float]:
    """Native bounds (left, bottom, right, top) named by `subset`."""
    pairs = _pairs(text, "subset")
    native = {axes.x.lower(): "x", axes.y.lower(): "y"}
    geographic = {**{n: "x" for n in LON_NAMES}, **{n: "y" for n in LAT_NAMES}}
    names = {name.lower() for name in pairs}
    if names <= set(native):
        table, crs = native, dataset.crs
    elif names <= set(geographic):
        table, crs = geographic, CRS.from_epsg(4326)
    else:
        raise CoverageError(
            f"subset : axes inconnus ({', '.join(sorted(pairs))}) ; "
            f"axes de cette couverture : {axes.x}, {axes.y} (ou Lon, Lat en degrés WGS 84)"
        )
    left, bottom, right, top = transform_bounds(dataset.crs, crs, *dataset.bounds)
    for name, value in pairs.items():
        low, high = _interval(value, f"subset {name}")
        if table[name.lower()] == "x":
            left, right = low, high
        else:
            bottom, top = low, high
    if crs == dataset.crs:
        return left, bottom, right, top
    return transform_bounds(crs, dataset.crs, left, bottom, right, top, densify_pts=21)


def _bounds_from_bbox(
    dataset: DatasetReaderBase, text: str, bbox_crs: str | None
) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise CoverageError("bbox : quatre nombres attendus, minx,miny,maxx,maxy")
    left, bottom, right, top = (_number(p, "bbox") for p in parts)
    if left > right or bottom > top:
        raise CoverageError("bbox : minx,miny,maxx,maxy (le minimum d'abord)")
    crs = _crs_from_uri(bbox_crs) if bbox_crs else CRS.from_epsg(4326)
    if crs == dataset.crs:
        return left, bottom, right, top
    return transform_bounds(crs, dataset.crs, left, bottom, right, top, densify_pts=21)


def _window(dataset: DatasetReaderBase, bounds: tuple[float, float, float, float]) -> Window:
    """The dataset's pixels under `bounds`, rounded outwards, cut to the dataset."""
    window = from_bounds(*bounds, transform=dataset.transform)
    col0 = max(0, math.floor(window.col_off + 1e-6))
    row0 = max(0, math.floor(window.row_off + 1e-6))
    col1 = min(dataset.width, math.ceil(window.col_off + window.width - 1e-6))
    row1 = min(dataset.height, math.ceil(window.row_off + window.height - 1e-6))
    if col1 <= col0 or row1 <= row0:
        raise CoverageError(
            "la zone demandée est hors de l'étendue de la couverture", code="InvalidSubsetting"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


def band_names(dataset: DatasetReaderBase) -> list[str]:
    return [
        (description or f"B{index}")
        for index, description in zip(dataset.indexes, dataset.descriptions, strict=True)
    ]


def _indexes(dataset: DatasetReaderBase, text: str | None) -> tuple[int, ...]:
    if not text:
        return tuple(dataset.indexes)
    names = band_names(dataset)
    chosen: list[int] = []
    for item in text.split(","):
        key = item.strip()
        if key.isdigit() and 1 <= int(key) <= dataset.count:
            index = int(key)
        elif key in names:
            index = names.index(key) + 1
        elif key.upper() in {n.upper() for n in names}:
            index = [n.upper() for n in names].index(key.upper()) + 1
        else:
            raise CoverageError(
                f"properties : bande inconnue « {key[:40]} » "
                f"(bandes : {', '.join(names[:20])} ou leurs numéros 1 à {dataset.count})"
            )
        if index not in chosen:
            chosen.append(index)
    return tuple(chosen)


def _size(window: Window, axes: Axes, query: dict[str, str]) -> tuple[int, int]:
    width, height = int(window.width), int(window.height)
    if query.get("scale-size") and query.get("scale-factor"):
        raise CoverageError("scale-size et scale-factor ne vont pas ensemble")
    if query.get("scale-size"):
        pairs = _pairs(query["scale-size"], "scale-size")
        x_names = {axes.x.lower(), "i", "lon", "long", "x", "e"}
        y_names = {axes.y.lower(), "j", "lat", "y", "n"}
        asked_w = asked_h = None
        for name, value in pairs.items():
            number = _number(value, f"scale-size {name}")
            if number < 1 or not number.is_integer():
                raise CoverageError(f"scale-size {name} : un entier positif")
            if name.lower() in x_names:
                asked_w = int(number)
            elif name.lower() in y_names:
                asked_h = int(number)
            else:
                raise CoverageError(f"scale-size : axe inconnu « {name[:40]} »")
        if asked_w and not asked_h:
            asked_h = max(1, round(height * asked_w / width))
        if asked_h and not asked_w:
            asked_w = max(1, round(width * asked_h / height))
        return int(asked_w or width), int(asked_h or height)
    if query.get("scale-factor"):
        factor = _number(query["scale-factor"], "scale-factor")
        if factor <= 0:
            raise CoverageError("scale-factor : un nombre positif")
        return max(1, round(width / factor)), max(1, round(height / factor))
    return width, height


def media_type(dataset: DatasetReaderBase, fmt: str | None, accept: str | None) -> str:
    """The answer's media type from `f` (first) or `Accept`."""
    if fmt:
        chosen = FORMATS.get(fmt.lower())
        if chosen is None:
            raise CoverageError("format inconnu : f vaut geotiff ou png")
    else:
        chosen = GEOTIFF
        for part in (accept or "").split(","):
            kind = part.split(";")[0].strip().lower()
            if kind in ("image/tiff", "image/geotiff"):
                break
            if kind == PNG:
                chosen = PNG
                break
    if chosen == PNG and any(dtype != "uint8" for dtype in dataset.dtypes):
        raise CoverageError("PNG seulement pour des données en octets (uint8) ; demandez f=geotiff")
    return chosen


def plan(
    dataset: DatasetReaderBase, query: dict[str, str], accept: str | None, max_pixels: int
) -> CoverageRequest:
    """Check a request's parameters against the dataset; `CoverageError` if refused."""
    axes = Axes.of(dataset.crs)
    if query.get("subset") and query.get("bbox"):
        raise CoverageError("subset et bbox ne vont pas ensemble")
    if query.get("bbox-crs") and not query.get("bbox"):
        raise CoverageError("bbox-crs sans bbox")
    if query.get("subset"):
        bounds = _bounds_from_subset(dataset, axes, query["subset"])
    elif query.get("bbox"):
        bounds = _bounds_from_bbox(dataset, query["bbox"], query.get("bbox-crs"))
    else:
        bounds = tuple(dataset.bounds)
    window = _window(dataset, bounds)
    indexes = _indexes(dataset, query.get("properties"))
    width, height = _size(window, axes, query)
    kind = media_type(dataset, query.get("f"), accept)
    pixels = width * height * len(indexes)
    if pixels > max_pixels:
        raise CoverageError(
            f"réponse trop grande : {width} × {height} pixels × {len(indexes)} bande(s), "
            f"au-delà de la limite de {max_pixels} ; demandez une partie (subset, bbox) "
            f"ou une taille réduite (scale-size, scale-factor)",
            code="ResponseTooLarge",
        )
    return CoverageRequest(window, width, height, indexes, kind)


def read(dataset: DatasetReaderBase, request: CoverageRequest) -> bytes:
    """The encoded answer: only `request.window` is read, at the asked size."""
    shrinking = request.width < request.window.width or request.height < request.window.height
    resampling = Resampling.nearest
    if shrinking and not _is_categorical(dataset):
        resampling = Resampling.average
    data = dataset.read(
        request.indexes,
        window=request.window,
        out_shape=(len(request.indexes), request.height, request.width),
        resampling=resampling,
    )
    transform = window_transform(request.window, dataset.transform) @ Affine.scale(
        request.window.width / request.width, request.window.height / request.height
    )
    profile: dict[str, Any] = {
        "count": len(request.indexes),
        "width": request.width,
        "height": request.height,
        "dtype": data.dtype.name,
        "crs": dataset.crs,
        "transform": transform,
        "nodata": dataset.nodata,
    }
    names = band_names(dataset)
    if request.media_type == PNG:
        profile.update(driver="PNG")
        profile.pop("transform")
        profile.pop("crs")
    else:
        profile.update(driver="GTiff", compress="deflate", tiled=request.width >= 256)
        if profile["tiled"]:
            profile.update(blockxsize=256, blockysize=256)
    with MemoryFile() as memory:
        with memory.open(**profile) as out:
            out.write(data)
            if request.media_type != PNG:
                for position, index in enumerate(request.indexes, start=1):
                    out.set_band_description(position, names[index - 1])
                if request.indexes == (1,) and _has_colour_table(dataset):
                    out.write_colormap(1, dataset.colormap(1))
        return memory.read()


def _has_colour_table(dataset: DatasetReaderBase) -> bool:
    try:
        dataset.colormap(1)
    except ValueError:
        return False
    return True


def _is_categorical(dataset: DatasetReaderBase) -> bool:
    return dataset.count == 1 and _has_colour_table(dataset)


DATA_TYPE = "http://www.opengis.net/def/dataType/OGC/0/"
DATA_TYPES = {
    "uint8": "uint8",
    "int8": "int8",
    "uint16": "uint16",
    "int16": "int16",
    "uint32": "uint32",
    "int32": "int32",
    "float32": "float32",
    "float64": "float64",
}


def domain_set(dataset: DatasetReaderBase) -> dict[str, Any]:
    """The CIS 1.1 JSON domain set: the grid's CRS, axes, bounds and resolution."""
    axes = Axes.of(dataset.crs)
    left, bottom, right, top = dataset.bounds
    unit = "deg" if axes.geographic else "m"
    return {
        "type": "DomainSet",
        "generalGrid": {
            "type": "GeneralGridCoverage",
            "srsName": crs_uri(dataset.crs),
            "axisLabels": [axes.x, axes.y],
            "axis": [
                {
                    "type": "RegularAxis",
                    "axisLabel": axes.x,
                    "lowerBound": left,
                    "upperBound": right,
                    "uomLabel": unit,
                    "resolution": abs(dataset.transform.a),
                },
                {
                    "type": "RegularAxis",
                    "axisLabel": axes.y,
                    "lowerBound": bottom,
                    "upperBound": top,
                    "uomLabel": unit,
                    "resolution": -abs(dataset.transform.e),
                },
            ],
            "gridLimits": {
                "type": "GridLimits",
                "srsName": "http://www.opengis.net/def/crs/OGC/0/Index2D",
                "axisLabels": ["i", "j"],
                "axis": [
                    {
                        "type": "IndexAxis",
                        "axisLabel": "i",
                        "lowerBound": 0,
                        "upperBound": dataset.width - 1,
                    },
                    {
                        "type": "IndexAxis",
                        "axisLabel": "j",
                        "lowerBound": 0,
                        "upperBound": dataset.height - 1,
                    },
                ],
            },
        },
    }


def range_type(dataset: DatasetReaderBase) -> dict[str, Any]:
    """The CIS 1.1 JSON range type: one field per band (name, data type, nodata, unit)."""
    fields = []
    for index, name in enumerate(band_names(dataset), start=1):
        dtype = dataset.dtypes[index - 1]
        entry: dict[str, Any] = {
            "type": "Quantity",
            "id": str(index),
            "name": name,
            "definition": DATA_TYPE + DATA_TYPES.get(dtype, dtype),
            "encodingInfo": {"dataType": DATA_TYPE + DATA_TYPES.get(dtype, dtype)},
        }
        if dataset.nodata is not None and np.isfinite(dataset.nodata):
            entry["nodata"] = dataset.nodata
        unit = dataset.units[index - 1] if dataset.units else None
        if unit:
            entry["uom"] = {"type": "UnitReference", "code": unit}
        fields.append(entry)
    return {"type": "DataRecord", "field": fields}
