"""The dataset page's raster part: a preview, the downloads, and how to use each raster.

For each raster layer of the dataset: its preview image (`/ogc/collections/{id}/map`),
the COG and the original file (the dataset's resources, with range requests), and ready-to-paste
snippets — QGIS reading the COG by URL through GDAL's `/vsicurl/` (range requests, no
full download) or the map tiles as an XYZ layer, GDAL and rasterio (the COG or a part of
it through OGC API Coverages), MapLibre GL JS over the tiles' TileJSON. Every URL is
written as a JSON / Python / shell literal (SECURITY-CASES S20-S22).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from urllib.parse import quote

from niaouli.catalogue.models import Dataset, RasterLayer
from niaouli.i18n import _
from niaouli.portal.dataset_page import MAPLIBRE, Snippet
from niaouli.portal.files import raster_resource, resource_path

PREVIEW_WIDTH = 640


@dataclass(frozen=True)
class RasterUse:
    collection_id: str
    name: str
    preview_url: str
    cog_url: str
    cog_size: int
    original_url: str | None
    original_size: int | None
    tiles_url: str
    tilejson_url: str
    coverage_url: str
    snippets: list[Snippet]


def _centre(layer: RasterLayer) -> list[float]:
    extent = layer.extent or (165.5, -21.3, 165.5, -21.3)
    return [round((extent[0] + extent[2]) / 2, 5), round((extent[1] + extent[3]) / 2, 5)]


def _small_window(layer: RasterLayer) -> str:
    """A `subset` of about 512 pixels square at the raster's centre, in native axes."""
    cx = (layer.native_west + layer.native_east) / 2
    cy = (layer.native_south + layer.native_north) / 2
    half_x = min(256 * layer.resolution_x, (layer.native_east - layer.native_west) / 2)
    half_y = min(256 * layer.resolution_y, (layer.native_north - layer.native_south) / 2)
    x_axis, y_axis = ("Lon", "Lat") if "GEOGCS" in (layer.crs_wkt or "")[:10] else ("E", "N")
    x_range = f"{cx - half_x:.6g}:{cx + half_x:.6g}"
    y_range = f"{cy - half_y:.6g}:{cy + half_y:.6g}"
    return f"{x_axis}({x_range}),{y_axis}({y_range})"


def _download(root: str, dataset: Dataset, layer: RasterLayer, key: str | None) -> str | None:
    """The file's download address: its resource's (`files.resource`, ranges and the
    access rule), the one way to the COG and the original; the raster route's address
    (a redirect there) only if the resource is missing."""
    resource = raster_resource(dataset, key)
    if resource is not None:
        return root + resource_path(dataset.slug, resource)
    if not key:
        return None
    filename = layer.cog_filename if key == layer.cog_key else layer.original_filename
    cid = quote(layer.collection_id, safe="")
    return (
        f"{root}/jeux-de-donnees/{quote(dataset.slug, safe='')}/rasters/{cid}/"
        f"{quote(filename or '', safe='')}"
    )


def raster_use(root: str, dataset: Dataset, layer: RasterLayer) -> RasterUse:
    cid = quote(layer.collection_id, safe="")
    collection = f"{root}/ogc/collections/{cid}"
    cog = _download(root, dataset, layer, layer.cog_key) or ""
    original = _download(root, dataset, layer, layer.original_key)
    tiles = f"{collection}/map/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=png"
    tilejson = f"{collection}/map/tiles/WebMercatorQuad?f=tilejson"
    coverage = f"{collection}/coverage?subset={quote(_small_window(layer), safe='(),:')}"
    vsicurl = f"/vsicurl/{cog}"
    by_url = _("Console Python de QGIS : le COG par son adresse, lu par morceaux (HTTP Range)")
    qgis = (
        f"# {by_url}\n"
        f"iface.addRasterLayer({json.dumps(vsicurl)}, {json.dumps(layer.collection_id)})\n\n"
        f"# {_('ou les tuiles de carte, comme une couche XYZ')}\n"
        f"uri = {json.dumps('type=xyz&zmin=0&zmax=22&url=' + quote(tiles, safe=':/'))}\n"
        f'iface.addRasterLayer(uri, {json.dumps(layer.collection_id + " (tuiles)")}, "wms")'
    )
    gdal = (
        f"# {_('Informations, sans rien télécharger d’autre que l’en-tête')}\n"
        f"gdalinfo {shlex.quote(vsicurl)}\n\n"
        f"# {_('Une partie seulement (GDAL ne lit que les blocs utiles)')}\n"
        f"gdal_translate -srcwin 0 0 512 512 {shlex.quote(vsicurl)} extrait.tif\n\n"
        f"# {_('Une partie découpée et rééchantillonnée par le serveur (OGC API Coverages)')}\n"
        f"curl -L -o extrait.tif {shlex.quote(coverage + '&scale-size=E(256)')}"
    )
    python = (
        "# pip install rasterio\n"
        "import rasterio\n"
        "from rasterio.windows import Window\n\n"
        f"with rasterio.open({json.dumps(cog)}) as cog:\n"
        "    print(cog.crs, cog.shape, cog.overviews(1))\n"
        "    block = cog.read(1, window=Window(0, 0, 512, 512))  # "
        + _("quelques requêtes HTTP Range")
        + "\n\n"
        f"with rasterio.open({json.dumps(coverage)}) as part:\n"
        "    print(part.bounds, part.read(1).shape)"
    )
    source = {"type": "raster", "url": tilejson, "tileSize": 256}
    maplibre = (
        f'<link rel="stylesheet" href="{MAPLIBRE}/maplibre-gl.css">\n'
        '<div id="carte" style="height: 400px"></div>\n'
        '<script type="module">\n'
        f'  import {{ Map }} from "{MAPLIBRE}/maplibre-gl.mjs";\n\n'
        "  const map = new Map({\n"
        '    container: "carte",\n'
        "    style: { version: 8, sources: {}, layers: [] },\n"
        f"    center: {json.dumps(_centre(layer))},\n"
        "    zoom: 12,\n"
        "  });\n"
        '  map.on("load", () => {\n'
        f'    map.addSource("niaouli", {json.dumps(source)});\n'
        '    map.addLayer({ id: "raster", type: "raster", source: "niaouli" });\n'
        "  });\n"
        "</script>"
    )
    return RasterUse(
        collection_id=layer.collection_id,
        name=layer.name,
        preview_url=f"/ogc/collections/{cid}/map?f=png&width={PREVIEW_WIDTH}",
        cog_url=cog,
        cog_size=layer.cog_size,
        original_url=original,
        original_size=layer.original_size,
        tiles_url=tiles,
        tilejson_url=tilejson,
        coverage_url=coverage,
        snippets=[
            Snippet("qgis", "QGIS", "python", qgis),
            Snippet("gdal", "GDAL", "shell", gdal),
            Snippet("python", "Python (rasterio)", "python", python),
            Snippet("web", "Web (MapLibre GL JS)", "html", maplibre),
        ],
    )


def raster_uses(root: str, dataset: Dataset) -> list[RasterUse]:
    return [raster_use(root, dataset, layer) for layer in dataset.raster_layers]
