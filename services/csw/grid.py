"""The raster parts of an ISO 19139 record, which pygeometa's template does not write.

For each raster layer: `gmd:spatialRepresentationInfo/gmd:MD_GridSpatialRepresentation`
(two axes with their sizes and resolutions, cell geometry "area"), a
`gmd:referenceSystemInfo` naming its native CRS (EPSG code), and
`gmd:contentInfo/gmd:MD_CoverageDescription` with one `gmd:MD_Band` per band (name, data
type and unit in the descriptor, minimum and maximum). The elements go where the
MD_Metadata sequence of ISO 19139 puts them; an empty `spatialRepresentationInfo` left by
the template (no vector layer) is replaced.
"""

from __future__ import annotations

from lxml import etree

from niaouli.services.csw.view import RasterView

GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
CODELISTS = "http://www.isotc211.org/2005/resources/Codelist/gmxCodelists.xml"
CONTENT_TYPES = {
    "orthophoto": "image",
    "classified": "thematicClassification",
    "elevation": "physicalMeasurement",
    "other": "physicalMeasurement",
}


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        element.text = text
    return element


def _code(parent: etree._Element, code: str, value: str) -> None:
    _el(
        parent,
        GMD,
        code,
        value,
        codeList=f"{CODELISTS}#{code}",
        codeListValue=value,
        codeSpace="ISOTC211/19115",
    )


def _grid(raster: RasterView) -> etree._Element:
    info = etree.Element(f"{{{GMD}}}spatialRepresentationInfo")
    grid = _el(info, GMD, "MD_GridSpatialRepresentation")
    _el(_el(grid, GMD, "numberOfDimensions"), GCO, "Integer", "2")
    for name, size, resolution in (
        ("row", raster.height, raster.resolution[1]),
        ("column", raster.width, raster.resolution[0]),
    ):
        dimension = _el(_el(grid, GMD, "axisDimensionProperties"), GMD, "MD_Dimension")
        _code(_el(dimension, GMD, "dimensionName"), "MD_DimensionNameTypeCode", name)
        _el(_el(dimension, GMD, "dimensionSize"), GCO, "Integer", str(size))
        measure = _el(_el(dimension, GMD, "resolution"), GCO, "Measure", f"{resolution:g}")
        measure.set("uom", "m" if resolution > 0.01 else "deg")
    _code(_el(grid, GMD, "cellGeometry"), "MD_CellGeometryCode", "area")
    _el(_el(grid, GMD, "transformationParameterAvailability"), GCO, "Boolean", "true")
    return info


def _reference_system(code: str) -> etree._Element:
    info = etree.Element(f"{{{GMD}}}referenceSystemInfo")
    identifier = _el(
        _el(
            _el(_el(info, GMD, "MD_ReferenceSystem"), GMD, "referenceSystemIdentifier"),
            GMD,
            "RS_Identifier",
        ),
        GMD,
        "code",
    )
    authority, _, number = code.partition(":")
    _el(
        identifier, GCO, "CharacterString", f"http://www.opengis.net/def/crs/{authority}/0/{number}"
    )
    return info


def _coverage(raster: RasterView) -> etree._Element:
    info = etree.Element(f"{{{GMD}}}contentInfo")
    description = _el(info, GMD, "MD_CoverageDescription")
    _el(_el(description, GMD, "attributeDescription"), GCO, "RecordType", raster.collection_id)
    _code(
        _el(description, GMD, "contentType"),
        "MD_CoverageContentTypeCode",
        CONTENT_TYPES.get(raster.kind, "physicalMeasurement"),
    )
    for band in raster.bands:
        item = _el(_el(description, GMD, "dimension"), GMD, "MD_Band")
        words = [str(band.get("name") or ""), str(band.get("data_type") or "")]
        if band.get("unit"):
            words.append(str(band["unit"]))
        if band.get("nodata") is not None:
            words.append(f"nodata {band['nodata']:g}")
        _el(_el(item, GMD, "descriptor"), GCO, "CharacterString", " — ".join(w for w in words if w))
        stats = band.get("statistics") or {}
        if stats.get("max") is not None:
            _el(_el(item, GMD, "maxValue"), GCO, "Real", repr(float(stats["max"])))
        if stats.get("min") is not None:
            _el(_el(item, GMD, "minValue"), GCO, "Real", repr(float(stats["min"])))
    return info


def add_grids(root: etree._Element, rasters: list[RasterView]) -> None:
    """Write the rasters' grid, CRS and content information into an MD_Metadata tree."""
    if not rasters:
        return
    representations = root.findall(f"{{{GMD}}}spatialRepresentationInfo")
    for empty in [r for r in representations if len(r) == 0]:
        root.remove(empty)
    anchor = next(
        (
            root.find(f"{{{GMD}}}{tag}")
            for tag in ("referenceSystemInfo", "identificationInfo")
            if root.find(f"{{{GMD}}}{tag}") is not None
        ),
    )
    for raster in rasters:
        anchor.addprevious(_grid(raster))
    identification = root.find(f"{{{GMD}}}identificationInfo")
    codes = list(dict.fromkeys(r.crs_code for r in rasters if r.crs_code))
    for code in codes:
        identification.addprevious(_reference_system(code))
    contents = root.findall(f"{{{GMD}}}contentInfo")
    after = contents[-1] if contents else identification
    for raster in reversed(rasters):
        after.addnext(_coverage(raster))
