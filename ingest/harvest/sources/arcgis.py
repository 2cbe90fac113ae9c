"""`arcgis`: ArcGIS Server REST and ArcGIS Online (Géorep), one dataset per layer.

The URL is a services directory (`.../arcgis/rest/services`: every folder and every
MapServer/FeatureServer in it), one service (`.../FeatureServer`) or one layer
(`.../FeatureServer/3`). Metadata come from the layer description (`?f=json`: name,
description, copyright, extent and its spatialReference — wkid/latestWkid, EPSG:3163 for
Géorep — geometry type, fields, last edit date). With `data=true` the features are
copied: `query` paged with resultOffset/resultRecordCount until the server stops saying
`exceededTransferLimit`, esriJSON converted to GeoJSON (`niaouli.ingest.harvest.esri`) in the
layer's own CRS, then the ingestion (which reprojects and repairs).

A service published with feature access appears twice in a directory, as `MapServer` and
`FeatureServer`, with the same layer ids: each such layer is harvested once, from the
FeatureServer (its remote id, the data copy), the MapServer address kept as a link and
named in the record's report line.

Options: `data`, `page_size` (features per query, default: the layer's maxRecordCount,
at most 2000), `licence` (the licence of every layer of the source), `layers` (comma-
separated layer names or ids to keep).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyproj import Transformer

from niaouli.ingest.harvest import esri, repairs
from niaouli.ingest.harvest.base import (
    DataSource,
    EnumerationError,
    Harvester,
    RecordFailure,
    RemoteRecord,
    SourceConfig,
)
from niaouli.ingest.harvest.fetch import Fetcher
from niaouli.ingest.harvest.sources.esri_links import LAYER_LINK, layer_link  # noqa: F401

SERVICE_TYPES = ("MapServer", "FeatureServer")
MAX_PAGES = 100_000
GEOMETRY_LABELS = {
    "esriGeometryPoint": "points",
    "esriGeometryMultipoint": "multipoints",
    "esriGeometryPolyline": "lignes",
    "esriGeometryPolygon": "polygones",
}


def _bbox_4326(extent: dict[str, Any] | None) -> tuple[float, float, float, float] | None:
    if not extent:
        return None
    crs = esri.crs_of(extent.get("spatialReference"))
    try:
        w, s, e, n = (float(extent[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
    except (KeyError, TypeError, ValueError):
        return None
    if crs and crs != "EPSG:4326":
        try:
            transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            w, s, e, n = transformer.transform_bounds(w, s, e, n)
        except Exception:  # noqa: BLE001 - unknown CRS: no coverage rather than a wrong one
            return None
    return (w, s, e, n)


def _is_layer(url: str) -> bool:
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last.isdigit()


def copy_layer(fetcher: Fetcher, layer_url: str, workdir: Path) -> tuple[Path, str | None]:
    """Copy an ArcGIS REST layer's features (what a `layer_link` data source names)."""
    harvester = ArcGisHarvester(SourceConfig(layer_url, {}), fetcher)
    info = harvester.fetch_json(layer_url, f"couche {layer_url}", params={"f": "json"})
    if not isinstance(info, dict) or "error" in info:
        raise EnumerationError(f"couche {layer_url} : {harvester._error(info)}")
    record = harvester._record(layer_url, info)
    if record.data is None:
        raise EnumerationError(f"couche {layer_url} : pas d'interrogation (Query) possible")
    return harvester.fetch_data(record, workdir)


def _merge_map_servers(layer_urls: list[str]) -> tuple[list[str], dict[str, str]]:
    """One URL per layer of a service published as both MapServer and FeatureServer.

    ArcGIS Server with feature access publishes the same layers (same ids) under both:
    the FeatureServer one is kept (it is the one meant for data access); the answer
    also maps each kept FeatureServer layer to the MapServer layer merged into it.
    """
    feature = {}
    for url in layer_urls:
        base, kind, layer = url.rsplit("/", 2)
        if kind == "FeatureServer":
            feature[(base, layer)] = url
    kept, merged = [], {}
    for url in layer_urls:
        base, kind, layer = url.rsplit("/", 2)
        if kind == "MapServer" and (base, layer) in feature:
            merged[feature[(base, layer)]] = url
            continue
        kept.append(url)
    return kept, merged


class ArcGisHarvester(Harvester):
    type = "arcgis"
    options = {
        "data": "true : copie les entités (query paginé) via l'ingestion",
        "page_size": "entités par requête query (maxRecordCount de la couche par défaut)",
        "licence": "licence des couches de cette source (ex. Licence Ouverte 2.0)",
        "layers": "noms ou numéros de couches à garder, séparés par des virgules",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        url = self.config.url.split("?")[0].rstrip("/")
        if _is_layer(url):
            layer_urls = [url]
        elif url.endswith(SERVICE_TYPES):
            layer_urls = list(self._service_layers(url))
        else:
            layer_urls = [
                u for service in self._services(url, url) for u in self._service_layers(service)
            ]
        layer_urls, merged = _merge_map_servers(layer_urls)
        wanted = {w.strip() for w in str(self.option("layers", "")).split(",") if w.strip()}
        self.expected_total = None
        for layer_url in layer_urls:
            info = self.fetch_json(layer_url, f"couche {layer_url}", params={"f": "json"})
            if not isinstance(info, dict) or "error" in info:
                raise EnumerationError(f"couche {layer_url} : {self._error(info)}")
            if wanted and str(info.get("name")) not in wanted and str(info.get("id")) not in wanted:
                continue
            try:
                record = self._record(layer_url, info)
            except (TypeError, ValueError, KeyError) as exc:
                yield RecordFailure(self._remote_id(layer_url), f"couche illisible : {exc}")
                continue
            if layer_url in merged:
                map_url = merged[layer_url]
                name = record.title
                record.links.append(
                    {
                        "url": map_url,
                        "title": f"Service ArcGIS REST (MapServer) — {name}",
                        "format": "ArcGIS REST",
                    }
                )
                record.notes.append(repairs.MERGED_MAPSERVER % {"path": self._remote_id(map_url)})
            yield record

    @staticmethod
    def _error(info: Any) -> str:
        if isinstance(info, dict) and isinstance(info.get("error"), dict):
            error = info["error"]
            return f"erreur ArcGIS {error.get('code')} « {error.get('message')} »"
        return "réponse ArcGIS inattendue"

    def _services(self, root: str, url: str, depth: int = 0) -> Iterator[str]:
        directory = self.fetch_json(url, f"répertoire {url}", params={"f": "json"})
        if not isinstance(directory, dict) or "error" in directory:
            raise EnumerationError(f"répertoire {url} : {self._error(directory)}")
        if "services" not in directory and "folders" not in directory:
            raise EnumerationError(f"répertoire {url} : ni services ni dossiers")
        for service in directory.get("services") or []:
            if service.get("type") in SERVICE_TYPES:
                yield f"{root}/{service['name']}/{service['type']}"
        if depth < 3:
            for folder in directory.get("folders") or []:
                yield from self._services(root, f"{root}/{folder}", depth + 1)

    def _service_layers(self, service: str) -> Iterator[str]:
        info = self.fetch_json(service, f"service {service}", params={"f": "json"})
        if not isinstance(info, dict) or "error" in info:
            raise EnumerationError(f"service {service} : {self._error(info)}")
        for layer in [*(info.get("layers") or []), *(info.get("tables") or [])]:
            if layer.get("subLayerIds"):  # group layer: its sublayers are listed too
                continue
            yield f"{service}/{int(layer['id'])}"

    def _remote_id(self, layer_url: str) -> str:
        """The layer's path from `/rest/services/` (stable across hosts and http/https)."""
        path = urlsplit(layer_url).path
        marker = "/rest/services/"
        return path.split(marker, 1)[1] if marker in path else path.strip("/")

    def _record(self, layer_url: str, info: dict[str, Any]) -> RemoteRecord:
        service_path = self._remote_id(layer_url).rsplit("/", 2)[0]
        name = str(info.get("name") or info.get("id"))
        description = str(info.get("description") or "").strip()
        crs = esri.crs_of((info.get("extent") or {}).get("spatialReference"))
        fields: dict[str, Any] = {
            "description": description,
            "keywords": sorted({name, service_path.split("/")[-1]}),
            "lineage": f"Couche {name} du service ArcGIS {service_path}"
            + (
                f" ({GEOMETRY_LABELS[info['geometryType']]})"
                if info.get("geometryType") in GEOMETRY_LABELS
                else ""
            )
            + (f", système de coordonnées {crs}" if crs else "")
            + ".",
        }
        if info.get("copyrightText"):
            fields["producer"] = str(info["copyrightText"])[:300]
        if self.option("licence"):
            fields["licence"] = str(self.option("licence"))[:200]
        edited = (info.get("editingInfo") or {}).get("lastEditDate")
        modified = (
            datetime.fromtimestamp(edited / 1000, tz=UTC).isoformat()
            if isinstance(edited, int | float)
            else None
        )
        queryable = "Query" in str(info.get("capabilities") or "Query")
        data = (
            DataSource(url=layer_url, format="esri-query", crs=crs, filename=f"{name}.geojson")
            if queryable
            else None
        )
        return RemoteRecord(
            remote_id=self._remote_id(layer_url)[:500],
            title=name,
            fields=fields,
            bbox=_bbox_4326(info.get("extent")),
            links=[
                {
                    "url": layer_url,
                    "title": f"Service ArcGIS REST — {name}",
                    "format": "ArcGIS REST",
                }
            ],
            original=json.dumps(info, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=layer_url,
            remote_modified=modified,
            data=data,
        )

    # --- data ------------------------------------------------------------------------

    def fetch_data(self, record: RemoteRecord, workdir: Path) -> tuple[Path, str | None]:
        assert record.data is not None
        layer = record.data.url
        info = json.loads(record.original or "{}")
        capabilities = info.get("advancedQueryCapabilities") or {}
        paging = capabilities.get("supportsPagination", info.get("supportsPagination", True))
        size = int(self.option("page_size", 0)) or min(
            int(info.get("maxRecordCount") or 1000), 2000
        )
        order = info.get("objectIdField") or "OBJECTID"
        collected: list[dict[str, Any]] = []
        crs = record.data.crs
        offset = 0
        for page in range(1, MAX_PAGES):
            params: dict[str, str | int] = {
                "where": "1=1",
                "outFields": "*",
                "returnGeometry": "true",
                "f": "json",
            }
            if paging:
                params.update(
                    {"resultOffset": offset, "resultRecordCount": size, "orderByFields": order}
                )
            answer = self.fetch_json(
                f"{layer}/query", f"entités de {layer}, page {page}", params=params
            )
            if not isinstance(answer, dict) or "error" in answer or "features" not in answer:
                raise EnumerationError(f"entités de {layer}, page {page} : {self._error(answer)}")
            crs = esri.crs_of(answer.get("spatialReference")) or crs
            batch = esri.features(answer)
            collected.extend(batch)
            if not answer.get("exceededTransferLimit"):
                break
            if not paging:
                raise EnumerationError(
                    f"entités de {layer} : la couche dépasse {len(batch)} entités et ne "
                    "permet pas la pagination"
                )
            if not batch:
                raise EnumerationError(f"entités de {layer}, page {page} : page vide")
            offset += len(batch)
        else:
            raise EnumerationError(f"entités de {layer} : trop de pages")
        path = workdir / "donnees.geojson"
        path.write_text(
            json.dumps({"type": "FeatureCollection", "features": collected}), encoding="utf-8"
        )
        return path, crs
