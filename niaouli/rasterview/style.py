"""How a raster is drawn: its bands' colour table, a colour ramp, RGB, or a hillshade.

Decided from the dataset alone, once per request (cheap: header and tags only):
- a single band with a colour table (classified maps) is drawn with that table;
- three or four bands of bytes (orthophotos) are drawn as they are;
- any other single band gets a colour ramp stretched over its statistics (the 2nd and
  98th percentiles when the COG carries them, else min and max), and may be asked as a
  hillshade instead (elevation models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rasterio.io import DatasetReaderBase

RAMP = "viridis"
"""The colour ramp of single-band data (readable by colour-blind people, printable)."""
STYLES = ("auto", "ramp", "hillshade")


class StyleError(ValueError):
    """An unknown style, or one the raster cannot take (hillshade of an orthophoto)."""


@dataclass(frozen=True)
class Style:
    """What `tiles.render` needs to colour a tile."""

    kind: str  # "colortable", "rgb", "ramp", "hillshade"
    indexes: tuple[int, ...]
    stretch: tuple[float, float] | None = None
    colormap: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)

    def legend(self) -> dict[str, Any]:
        """The legend the map shows: the ramp's stops with their values, or the classes."""
        if self.kind == "ramp" and self.stretch is not None:
            low, high = self.stretch
            colours = ramp_colours()
            stops = []
            for position in (0, 64, 128, 192, 255):
                r, g, b, _a = colours[position]
                stops.append(
                    {"value": low + (high - low) * position / 255, "colour": _hex(r, g, b)}
                )
            return {"kind": "ramp", "stops": stops}
        if self.kind == "colortable":
            classes = [
                {"value": value, "colour": _hex(*rgba[:3])}
                for value, rgba in sorted(self.colormap.items())
                if rgba[3] > 0
            ]
            return {"kind": "classes", "classes": classes[:64]}
        return {"kind": self.kind}


def _hex(r: int, g: int, b: int) -> str:
    return f"#{r:02x}{g:02x}{b:02x}"


def ramp_colours() -> dict[int, tuple[int, int, int, int]]:
    """The 256 colours of the ramp (rio-tiler's matplotlib-derived table)."""
    from rio_tiler.colormap import cmap

    return cmap.get(RAMP)


def _colour_table(dataset: DatasetReaderBase) -> dict[int, tuple[int, int, int, int]]:
    try:
        table = dataset.colormap(1)
    except ValueError:  # no colour table
        return {}
    nodata = dataset.nodata
    entries = {
        int(k): (int(v[0]), int(v[1]), int(v[2]), 0 if nodata == k else int(v[3]))
        for k, v in table.items()
    }
    # GDAL pads a table to 256 entries of opaque black: the classes end before them.
    last = max((k for k, v in entries.items() if v[:3] != (0, 0, 0)), default=-1)
    return {k: v for k, v in entries.items() if k <= last or v[3] == 0}


def band_stretch(dataset: DatasetReaderBase, index: int = 1) -> tuple[float, float]:
    """The range the ramp covers: the COG's own statistics tags when present (written at
    ingestion), else GDAL's approximate statistics (computed from the smallest overview,
    a few kilobytes read)."""
    tags = dataset.tags(index)
    for low_key, high_key in (
        ("STATISTICS_P2", "STATISTICS_P98"),
        ("STATISTICS_MINIMUM", "STATISTICS_MAXIMUM"),
    ):
        if low_key in tags and high_key in tags:
            try:
                low, high = float(tags[low_key]), float(tags[high_key])
            except ValueError:
                continue
            if np.isfinite(low) and np.isfinite(high) and high > low:
                return low, high
    stats = dataset.stats(indexes=[index], approx=True)[0]
    low, high = float(stats.min), float(stats.max)
    if not high > low:
        high = low + 1
    return low, high


def choose(dataset: DatasetReaderBase, asked: str = "auto") -> Style:
    """The style of this dataset for `asked` (one of `STYLES`)."""
    if asked not in STYLES:
        raise StyleError(f"style inconnu : « {asked[:40]} » (auto, ramp ou hillshade)")
    bands = dataset.count
    byte = all(dtype == "uint8" for dtype in dataset.dtypes)
    table = _colour_table(dataset) if bands == 1 else {}
    if asked == "hillshade":
        if bands != 1 or table:
            raise StyleError("l'ombrage (hillshade) ne s'applique qu'à un modèle d'élévation")
        return Style("hillshade", (1,))
    if asked == "auto":
        if table:
            return Style("colortable", (1,), colormap=table)
        if bands >= 3 and byte:
            return Style("rgb", (1, 2, 3))
    if bands >= 3 and asked == "ramp":
        raise StyleError("une rampe de couleurs ne s'applique qu'à une seule bande")
    return Style("ramp", (1,), stretch=band_stretch(dataset, 1))
