"""`ogcapi` (OGC API Features) and `wfs` (WFS 2.0): one dataset per collection/feature type.

Metadata come from `/collections` (title, description, keywords, extent, licence link)
or from GetCapabilities (Title, Abstract, Keywords, DefaultCRS, WGS84BoundingBox). With
`data=true` the features are copied through the ingestion: OGC API `items` pages
followed by their `next` link, or WFS 2.0 GetFeature paged with startIndex/count when the
server offers a GeoJSON output format (the ingestion does not read GML).

Options: `data`, `page_size` (features per page, default 1000), `collections`
(comma-separated ids or names to keep).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from niaouli import safexml
from niaouli.ingest.harvest.base import (
    DataSource,
    EnumerationError,
    Harvester,
    RecordFailure,
    RemoteRecord,
)
from niaouli.ingest.harvest.licence_names import choose_licence

MAX_PAGES = 100_000
JSON_FORMATS = ("application/geo+json", "application/json", "geojson", "json")
NS = {
    "wfs": "http://www.opengis.net/wfs/2.0",
    "ows": "http://www.opengis.net/ows/1.1",
}


def _wanted(option: Any) -> set[str]:
    return {w.strip() for w in str(option or "").split(",") if w.strip()}


def _write(features: list[dict[str, Any]], workdir: Path) -> Path:
    path = workdir / "donnees.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    return path


def _crs_code(text: str | None) -> str | None:
    """ "EPSG:n" from urn:ogc:def:crs:EPSG::n, http://www.opengis.net/def/crs/EPSG/0/n..."""
    if not text:
        return None
    tail = text.rstrip("/").replace("::", ":").rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    if "CRS84" in text:
        return "EPSG:4326"
    return f"EPSG:{tail}" if tail.isdigit() else None


class OgcApiHarvester(Harvester):
    type = "ogcapi"
    options = {
        "data": "true : copie les entités (items, pages suivies par leur lien next)",
        "page_size": "entités par page (1000 par défaut)",
        "collections": "identifiants de collections à garder, séparés par des virgules",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        base = self.config.url.split("?")[0].rstrip("/")
        base = base.removesuffix("/collections")
        self.base = base
        url: str | None = f"{base}/collections"
        params: dict[str, str | int] | None = {"f": "json"}
        wanted = _wanted(self.option("collections"))
        for page in range(1, 1000):
            if url is None:
                return
            what = f"page {page} de /collections"
            answer = self.fetch_json(url, what, params=params)
            if not isinstance(answer, dict) or not isinstance(answer.get("collections"), list):
                raise EnumerationError(f"{what} : pas de liste « collections »")
            for collection in answer["collections"]:
                ident = str(collection.get("id") or "") if isinstance(collection, dict) else ""
                if not ident:
                    yield RecordFailure("(sans identifiant)", "collection sans « id »")
                    continue
                if wanted and ident not in wanted:
                    continue
                try:
                    yield self._record(collection, ident)
                except (TypeError, ValueError, KeyError) as exc:
                    yield RecordFailure(ident, f"collection illisible : {exc}")
            url = self._next(answer)
            params = None
        raise EnumerationError("trop de pages de collections")

    @staticmethod
    def _next(answer: dict[str, Any]) -> str | None:
        for link in answer.get("links") or []:
            if link.get("rel") == "next" and link.get("href"):
                return str(link["href"])
        return None

    def _record(self, collection: dict[str, Any], ident: str) -> RemoteRecord:
        extent = collection.get("extent") or {}
        bbox = None
        boxes = (extent.get("spatial") or {}).get("bbox") or []
        if boxes and len(boxes[0]) >= 4:
            values = [float(v) for v in boxes[0]]
            bbox = (
                (values[0], values[1], values[-2], values[-1])
                if len(values) == 4
                else (
                    values[0],
                    values[1],
                    values[3],
                    values[4],
                )
            )
        fields: dict[str, Any] = {
            "description": str(collection.get("description") or ""),
            "keywords": sorted({str(k) for k in collection.get("keywords") or [] if k})[:100],
        }
        note = None
        for link in collection.get("links") or []:
            if link.get("rel") == "license":
                licence, note = choose_licence(link.get("href"), link.get("title"))
                if licence:
                    fields["licence"] = licence
        items = f"{self.base}/collections/{ident}/items"
        links = [
            {
                "url": f"{self.base}/collections/{ident}",
                "title": "Collection OGC API Features",
                "format": "OGC API Features",
            }
        ]
        return RemoteRecord(
            remote_id=ident[:500],
            title=str(collection.get("title") or ident),
            fields=fields,
            bbox=bbox,
            links=links,
            original=json.dumps(collection, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=f"{self.base}/collections/{ident}",
            data=DataSource(url=items, format="ogcapi-items", filename=f"{ident}.geojson"),
            notes=[note] if note else [],
        )

    def fetch_data(self, record: RemoteRecord, workdir: Path) -> tuple[Path, str | None]:
        assert record.data is not None
        size = int(self.option("page_size", 1000))
        url: str | None = f"{record.data.url}?{urlencode({'f': 'json', 'limit': size})}"
        features: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES):
            if url is None:
                break
            what = f"entités de {record.remote_id}, page {page}"
            answer = self.fetch_json(url, what)
            if not isinstance(answer, dict) or not isinstance(answer.get("features"), list):
                raise EnumerationError(f"{what} : pas de FeatureCollection")
            features.extend(answer["features"])
            url = self._next(answer)
            if url is not None and not answer["features"]:
                raise EnumerationError(f"{what} : page vide avec un lien next")
        else:
            raise EnumerationError(f"entités de {record.remote_id} : trop de pages")
        return _write(features, workdir), None


class WfsHarvester(Harvester):
    type = "wfs"
    options = {
        "data": "true : copie les entités (GetFeature paginé, si le WFS sait répondre en GeoJSON)",
        "page_size": "entités par page (1000 par défaut)",
        "collections": "noms de types d'entités à garder, séparés par des virgules",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        self.base = self.config.url.split("?")[0]
        what = "GetCapabilities"
        content = self.fetch(
            self.base,
            what,
            params={"service": "WFS", "version": "2.0.0", "request": "GetCapabilities"},
        )
        try:
            root = safexml.parse(content)
        except safexml.UnsafeXMLError as exc:
            raise EnumerationError(f"{what} : {exc}") from None
        if etree.QName(root).localname != "WFS_Capabilities":
            raise EnumerationError(
                f"{what} : pas de WFS_Capabilities ({etree.QName(root).localname})"
            )
        formats = [
            (v.text or "").strip()
            for v in root.xpath(
                "//ows:Operation[@name='GetFeature']/ows:Parameter[@name='outputFormat']//ows:Value",
                namespaces=NS,
            )
        ]
        self.json_format = next(
            (f for f in formats if any(f.lower().startswith(j) for j in JSON_FORMATS)), None
        )
        types = root.findall("wfs:FeatureTypeList/wfs:FeatureType", NS)
        listed = root.find("wfs:FeatureTypeList", NS)
        if listed is None:
            raise EnumerationError(f"{what} : pas de FeatureTypeList")
        wanted = _wanted(self.option("collections"))
        for node in types:
            name = (node.findtext("wfs:Name", namespaces=NS) or "").strip()
            if not name:
                yield RecordFailure("(sans nom)", "type d'entités sans wfs:Name")
                continue
            if wanted and name not in wanted:
                continue
            yield self._record(node, name)

    def _record(self, node: etree._Element, name: str) -> RemoteRecord:
        from niaouli.ingest.harvest.sources.csw import standalone_xml

        bbox = None
        lower = (node.findtext("ows:WGS84BoundingBox/ows:LowerCorner", namespaces=NS) or "").split()
        upper = (node.findtext("ows:WGS84BoundingBox/ows:UpperCorner", namespaces=NS) or "").split()
        if len(lower) == 2 and len(upper) == 2:
            try:
                bbox = (float(lower[0]), float(lower[1]), float(upper[0]), float(upper[1]))
            except ValueError:
                bbox = None
        crs = _crs_code(node.findtext("wfs:DefaultCRS", namespaces=NS))
        keywords = [k.strip() for k in node.xpath("ows:Keywords/ows:Keyword/text()", namespaces=NS)]
        fields = {
            "description": (node.findtext("wfs:Abstract", namespaces=NS) or "").strip(),
            "keywords": sorted({k for k in keywords if k})[:100],
            "lineage": f"Type d'entités {name} du WFS {self.base}"
            + (f", système de coordonnées {crs}" if crs else "")
            + ".",
        }
        feature_url = f"{self.base}?" + urlencode(
            {"service": "WFS", "version": "2.0.0", "request": "GetFeature", "typeNames": name}
        )
        data = None
        if self.json_format:
            data = DataSource(
                url=self.base, format="wfs-getfeature", crs=crs, filename=f"{name}.geojson"
            )
        return RemoteRecord(
            remote_id=name[:500],
            title=(node.findtext("wfs:Title", namespaces=NS) or name).strip(),
            fields=fields,
            bbox=bbox,
            links=[{"url": feature_url, "title": f"WFS — {name}", "format": "WFS"}],
            original=standalone_xml(node),
            original_media_type="application/xml",
            original_url=feature_url,
            data=data,
        )

    def fetch_data(self, record: RemoteRecord, workdir: Path) -> tuple[Path, str | None]:
        assert record.data is not None
        size = int(self.option("page_size", 1000))
        features: list[dict[str, Any]] = []
        start = 0
        crs = record.data.crs
        for page in range(1, MAX_PAGES):
            what = f"GetFeature {record.remote_id}, page {page}"
            answer = self.fetch_json(
                self.base,
                what,
                params={
                    "service": "WFS",
                    "version": "2.0.0",
                    "request": "GetFeature",
                    "typeNames": record.remote_id,
                    "outputFormat": self.json_format or "application/json",
                    "count": size,
                    "startIndex": start,
                },
            )
            if not isinstance(answer, dict) or not isinstance(answer.get("features"), list):
                raise EnumerationError(f"{what} : pas de FeatureCollection GeoJSON")
            batch = answer["features"]
            features.extend(batch)
            named = ((answer.get("crs") or {}).get("properties") or {}).get("name")
            crs = _crs_code(named) or crs
            matched = answer.get("numberMatched")
            start += len(batch)
            if len(batch) < size or (isinstance(matched, int) and start >= matched):
                break
        else:
            raise EnumerationError(f"GetFeature {record.remote_id} : trop de pages")
        return _write(features, workdir), crs
