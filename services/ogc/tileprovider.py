"""pygeoapi tile provider of a layer: what pygeoapi needs to *describe* its tiles.

Declaring a `tile` provider on a collection is what makes pygeoapi add the
`tilesets-vector` links to the collection, the OGC API Tiles conformance classes, the
OpenAPI paths, and answer the tilesets list and tileset metadata. The tiles themselves
are not made here but by `tile_routes.py` (our own handler over `niaouli.db.tiles`): see
docs/ogc.md for why.

Only WebMercatorQuad is offered (the tile grid of MapLibre, OpenLayers, Leaflet, QGIS).
"""

from __future__ import annotations

from typing import Any

from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.tile import ProviderTilesetIdNotFoundError

from niaouli.db.tiles import MAX_ZOOM

PROVIDER = "niaouli.services.ogc.tileprovider.LayerTileProvider"
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TILESET = TileMatrixSetEnum.WEBMERCATORQUAD.value
TILESET_ID = TILESET.tileMatrixSet  # "WebMercatorQuad"
TILING_SCHEME_REL = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
# Attribute schema type -> (TileJSON field type, JSON Schema type) of the tile values.
VALUE_TYPES = {
    "integer": ("Number", "integer"),
    "number": ("Number", "number"),
    "boolean": ("Boolean", "boolean"),
    "string": ("String", "string"),
    "date": ("String", "string"),
    "datetime": ("String", "string"),
    "time": ("String", "string"),
    "json": ("String", "string"),
}


def tile_provider(
    collection_id: str,
    table: str,
    attribute_schema: list[dict[str, str]],
    bbox: list[float] | None,
) -> dict[str, Any]:
    """The `tile` provider definition of a layer with geometry."""
    fields = {"fid": "integer"}
    fields.update((a["name"], a["type"]) for a in attribute_schema if a["type"] in VALUE_TYPES)
    return {
        "type": "tile",
        "name": PROVIDER,
        "data": table,
        "collection": collection_id,
        "fields": fields,
        "bbox": list(bbox) if bbox else None,
        "format": {"name": "mvt", "mimetype": MVT_MEDIA_TYPE},
        "options": {"zoom": {"min": 0, "max": MAX_ZOOM}, "schemes": [TILESET_ID]},
    }


def tile_url(collections_url: str, collection_id: str) -> str:
    """URL template of the tiles ({tileMatrix}/{tileRow}/{tileCol}, OGC names)."""
    return (
        f"{collections_url}/{collection_id}/tiles/{TILESET_ID}"
        "/{tileMatrix}/{tileRow}/{tileCol}?f=mvt"
    )


class LayerTileProvider(BaseMVTProvider):
    """Describes the WebMercatorQuad vector tiles of one layer (no database access)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.collection = provider_def["collection"]
        self.value_types = provider_def.get("fields") or {}
        self.bbox = provider_def.get("bbox")
        self._service_url = ""

    def __repr__(self) -> str:
        return f"<LayerTileProvider> {self.collection}"

    def get_layer(self) -> str:
        """The MVT layer inside each tile carries the collection id."""
        return self.collection

    def get_tiling_schemes(self) -> list[Any]:
        return [TILESET]

    def get_tiles_service(
        self,
        baseurl: str | None = None,
        servicepath: str | None = None,
        dirpath: str | None = None,
        tile_type: str | None = None,
    ) -> dict[str, Any]:
        collections_url = f"{(baseurl or '').rstrip('/')}/collections"
        self._service_url = tile_url(collections_url, self.collection)
        return {
            "links": [
                {
                    "type": MVT_MEDIA_TYPE,
                    "rel": "item",
                    "title": "Tuiles vectorielles (Mapbox Vector Tiles)",
                    "href": self._service_url,
                    "templated": True,
                }
            ]
        }

    def get_tiles(self, *_args: Any, **_kwargs: Any) -> bytes:
        raise NotImplementedError("tiles are served by niaouli.services.ogc.tile_routes")

    def get_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str | None = None,
        tileset: str | None = None,
        metadata_format: str | None = None,
        title: str | None = None,
        description: str | None = None,
        keywords: list[str] | None = None,
        **_kwargs: Any,
    ) -> dict[str, Any]:
        """Tileset metadata (OGC, default), TileJSON 3.0 (`f=tilejson`) or HTML data."""
        if tileset != TILESET_ID:
            raise ProviderTilesetIdNotFoundError(
                user_msg=f"jeu de tuiles inconnu : seul {TILESET_ID} est proposé"
            )
        kind = (metadata_format or "json").upper()
        fields, bbox = self.value_types, self.bbox
        tiles = tile_url(f"{server_url}/collections", dataset)
        if kind == "TILEJSON":
            return tilejson(dataset, title, description, tiles, fields, bbox)
        metadata = tileset_metadata(dataset, server_url, title, description, tiles, fields, bbox)
        if kind == "HTML":
            metadata["id"] = dataset
            metadata["tileset"] = TILESET_ID
            metadata["collections_path"] = f"{server_url}/collections"
            metadata["tile_url"] = tiles
            metadata["qgis_url"] = xyz_url(tiles)
        return metadata


def xyz_url(tiles: str) -> str:
    """The same template with {z}/{y}/{x} names, as MapLibre, QGIS and GDAL want them."""
    return (
        tiles.replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}").replace("{tileCol}", "{x}")
    )


def vector_layer(dataset: str, fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": dataset,
        "fields": {name: VALUE_TYPES[kind][0] for name, kind in fields.items()},
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
    }


def tilejson(
    dataset: str,
    title: str | None,
    description: str | None,
    tiles: str,
    fields: dict[str, str],
    bbox: list[float] | None,
) -> dict[str, Any]:
    """TileJSON 3.0.0: what MapLibre's `{"type": "vector", "url": ...}` source reads."""
    document: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": title or dataset,
        "description": description or "",
        "scheme": "xyz",
        "tiles": [xyz_url(tiles)],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "vector_layers": [vector_layer(dataset, fields)],
    }
    if bbox:
        document["bounds"] = list(bbox)
        document["center"] = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, 8]
    return document


def tileset_metadata(
    dataset: str,
    server_url: str,
    title: str | None,
    description: str | None,
    tiles: str,
    fields: dict[str, str],
    bbox: list[float] | None,
) -> dict[str, Any]:
    """OGC API Tiles tileset metadata (OGC 2D Tile Matrix Set and Tileset Metadata 2.0)."""
    own = f"{server_url}/collections/{dataset}/tiles/{TILESET_ID}"
    metadata: dict[str, Any] = {
        "title": title or dataset,
        "description": description or "",
        "dataType": "vector",
        "crs": TILESET.crs,
        "tileMatrixSetURI": TILESET.tileMatrixSetURI,
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{own}?f=json"},
            {"rel": "alternate", "type": "text/html", "href": f"{own}?f=html"},
            {
                "rel": "describedby",
                "type": "application/vnd.mapbox.tile+json",
                "title": "TileJSON",
                "href": f"{own}?f=tilejson",
            },
            {
                "rel": TILING_SCHEME_REL,
                "type": "application/json",
                "title": f"Définition de {TILESET_ID}",
                "href": f"{server_url}/tileMatrixSets/{TILESET_ID}",
            },
            {
                "rel": "item",
                "type": MVT_MEDIA_TYPE,
                "title": "Tuiles vectorielles (Mapbox Vector Tiles)",
                "href": tiles,
                "templated": True,
            },
        ],
        "layers": [
            {
                "id": dataset,
                "dataType": "vector",
                "minTileMatrix": "0",
                "maxTileMatrix": str(MAX_ZOOM),
                "propertiesSchema": {
                    "type": "object",
                    "properties": {
                        name: {"type": VALUE_TYPES[kind][1]} for name, kind in fields.items()
                    },
                },
            }
        ],
    }
    if bbox:
        metadata["boundingBox"] = {
            "lowerLeft": [bbox[0], bbox[1]],
            "upperRight": [bbox[2], bbox[3]],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        }
    return metadata
