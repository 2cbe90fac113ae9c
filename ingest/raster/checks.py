"""What a raster declares, read from its header only, and the refusals decided from it.

GDAL opens the file with the sniffed driver alone (a `.tif` that is VRT XML opens
nothing, S14) and sees no side-car file but the world file and `.prj` the archive gave
(`GDAL_DISABLE_READDIR_ON_OPEN`); no pixel is read here. Refused before any conversion:
dimensions beyond `MAX_PIXELS`, or out of all proportion to the file's size — a "TIFF
bomb", a few KB declaring billions of pixels (S17) —, a raster without georeferencing or
with a CRS that cannot be placed on the globe (unless the caller names one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform_bounds

from niaouli.i18n import _
from niaouli.ingest.errors import IngestError
from niaouli.ingest.raster.sniff import RasterFile

MAX_PIXELS = 10_000_000_000  # per band: 100,000 x 100,000
MAX_RATIO = 2000  # declared uncompressed bytes per byte of file...
RATIO_FLOOR = 1 << 30  # ...once the declared size passes 1 GiB


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    count: int
    dtypes: tuple[str, ...]
    colour_interp: tuple[str, ...]
    has_colour_table: bool
    nodata: float | None
    crs: CRS
    bounds: tuple[float, float, float, float]

    @property
    def dtype(self) -> str:
        return self.dtypes[0]


def environment(raster: RasterFile) -> dict[str, Any]:
    return {"GDAL_DISABLE_READDIR_ON_OPEN": "FALSE" if raster.siblings else "EMPTY_DIR"}


def read_header(raster: RasterFile, name: str, crs: str | None = None) -> SourceInfo:
    """Open `raster` (header only) and refuse what must not be converted."""
    size = raster.path.stat().st_size
    try:
        with (
            rasterio.Env(**environment(raster)),
            rasterio.open(raster.path, driver=raster.drivers[0]) as src,
        ):
            width, height, count = src.width, src.height, src.count
            dtypes = tuple(src.dtypes)
            check_dimensions(width, height, count, dtypes, size, name)
            info = SourceInfo(
                width=width,
                height=height,
                count=count,
                dtypes=dtypes,
                colour_interp=tuple(c.name for c in src.colorinterp),
                has_colour_table=_has_colour_table(src),
                nodata=src.nodata,
                crs=_crs(src, crs, name),
                bounds=tuple(src.bounds),
            )
    except RasterioError as exc:
        raise IngestError(
            _("fichier %(format)s illisible ou abîmé (%(error)s)")
            % {"format": raster.label, "error": _short(exc)},
            file=name,
        ) from None
    check_placement(info, name)
    return info


def check_dimensions(
    width: int, height: int, count: int, dtypes: tuple[str, ...], size: int, name: str
) -> None:
    """S17: a raster too big to serve, or a tiny file declaring a huge one."""
    if width <= 0 or height <= 0 or count <= 0:
        raise IngestError(_("raster sans pixel ni bande"), file=name)
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise IngestError(
            _("raster refusé : %(width)s × %(height)s pixels dépassent la limite de %(limit)s")
            % {"width": width, "height": height, "limit": f"{MAX_PIXELS:,}".replace(",", " ")},
            file=name,
        )
    declared = pixels * sum(np.dtype(d).itemsize for d in dtypes)
    if declared > RATIO_FLOOR and declared > size * MAX_RATIO:
        raise IngestError(
            _(
                "raster refusé : %(width)s × %(height)s pixels déclarés dans un fichier de "
                "%(size)s octets (bombe de décompression ?)"
            )
            % {"width": width, "height": height, "size": size},
            file=name,
        )


def _has_colour_table(src: Any) -> bool:
    try:
        return bool(src.colormap(1))
    except ValueError:
        return False


def _crs(src: Any, given: str | None, name: str) -> CRS:
    if src.transform.is_identity and not src.gcps[0]:
        raise IngestError(
            _("raster sans géoréférencement (ni GeoTIFF, ni fichier de calage)"), file=name
        )
    if given:
        try:
            return CRS.from_user_input(given)
        except CRSError:
            raise IngestError(
                _("système de coordonnées inconnu : « %(crs)s »") % {"crs": given}, file=name
            ) from None
    if src.crs is None:
        raise IngestError(
            _(
                "raster sans géoréférencement ou système de coordonnées inconnu : précisez-le "
                "(option --crs ou champ « crs », ex. EPSG:3163)"
            ),
            file=name,
        )
    return src.crs


def check_placement(info: SourceInfo, name: str) -> tuple[float, float, float, float]:
    """The WGS 84 extent; a CRS that cannot be transformed is refused."""
    try:
        extent = transform_bounds(info.crs, "EPSG:4326", *info.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - rasterio's CPLE_* errors too: no way to WGS 84
        extent = (math.nan,) * 4
    west, south, east, north = extent
    if not all(math.isfinite(v) for v in extent) or not (
        -180.5 <= west <= east <= 180.5 and -90.5 <= south <= north <= 90.5
    ):
        raise IngestError(
            _(
                "système de coordonnées inconnu ou sans lien avec le globe (%(crs)s) : "
                "précisez-le (option --crs ou champ « crs »)"
            )
            % {"crs": (info.crs.to_string() or "?")[:80]},
            file=name,
        )
    return extent


def _short(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0][:200]
