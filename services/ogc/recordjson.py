"""One dataset as an OGC API Records core record (GeoJSON), from the CSW's dataset view.

The catalogue is read once, by `niaouli.services.csw.view.load_views` (the same view the
ISO 19139 records are generated from), so CSW and Records describe a dataset alike. Only
the organisation's public address is published as a contact e-mail: a dataset's
`contact_email` may be a person's and stays out of machine-readable records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from niaouli.services.csw import stored_urls as csw_links
from niaouli.services.csw.iso import record_identifier
from niaouli.services.csw.view import DatasetView, RasterView

RECORD_CORE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"
ISO_19139 = "http://www.isotc211.org/2005/gmd"
THEMES_SCHEME = "https://data.gouv.nc/themes"


@dataclass(frozen=True)
class Urls:
    """Absolute bases of the links: the OGC API (…/ogc) and the platform's root."""

    ogc: str
    root: str

    @classmethod
    def for_ogc(cls, ogc_url: str, portal_url: str | None = None) -> Urls:
        ogc = ogc_url.rstrip("/")
        root = portal_url.rstrip("/") if portal_url else ogc.removesuffix("/ogc")
        return cls(ogc, root)

    def dataset_page(self, slug: str) -> str:
        return f"{self.root}/jeux-de-donnees/{quote(slug)}"

    def csw_record(self, identifier: str) -> str:
        query = urlencode(
            {
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": identifier,
                "outputSchema": ISO_19139,
            }
        )
        return f"{self.root}/csw?{query}"


def _timestamp(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # SQLite gives back naive datetimes; the catalogue writes them in UTC (utcnow).
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _time(view: DatasetView) -> dict[str, Any] | None:
    if view.temporal_start is None and view.temporal_end is None:
        return None
    start, end = _timestamp(view.temporal_start), _timestamp(view.temporal_end)
    if start == end:
        return {"date": start}
    return {"interval": [start or "..", end or ".."]}


def _geometry(view: DatasetView) -> dict[str, Any] | None:
    bbox = view.bbox
    if bbox is None:
        return None
    west, south, east, north = (round(float(v), 7) for v in bbox)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _contacts(view: DatasetView) -> list[dict[str, Any]]:
    publisher: dict[str, Any] = {"organization": view.organisation_name, "roles": ["publisher"]}
    if view.organisation_email:
        publisher["emails"] = [{"value": view.organisation_email}]
    website = csw_links.safe_url(view.organisation_website)
    if website:
        publisher["links"] = [{"href": website, "rel": "about", "type": "text/html"}]
    contacts = [publisher]
    if view.producer and view.producer != view.organisation_name:
        contacts.append({"organization": view.producer, "roles": ["originator"]})
    return contacts


def _formats(view: DatasetView) -> list[dict[str, str]]:
    names: dict[str, dict[str, str]] = {}
    if view.layers:
        names["GeoJSON"] = {"name": "GeoJSON", "mediaType": "application/geo+json"}
    if view.rasters:
        names["COG"] = {"name": "COG", "mediaType": "image/tiff; application=geotiff"}
    for resource in view.resources:
        if resource.format and resource.format.upper() not in {n.upper() for n in names}:
            entry = {"name": resource.format}
            if resource.media_type:
                entry["mediaType"] = resource.media_type
            names[resource.format] = entry
    return list(names.values())


def _links(view: DatasetView, urls: Urls) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = [
        {
            "rel": "alternate",
            "type": "text/html",
            "title": "Fiche du jeu de données sur le portail",
            "href": urls.dataset_page(view.slug),
            "hreflang": "fr",
        }
    ]
    for layer in view.layers:
        collection = f"{urls.ogc}/collections/{quote(layer.collection_id)}"
        links.append(
            {
                "rel": "item",
                "type": "application/geo+json",
                "title": f"Données en OGC API Features : {layer.collection_id}",
                "href": f"{collection}/items",
            }
        )
        links.append(
            {
                "rel": "related",
                "type": "application/json",
                "title": f"Collection OGC API Features {layer.collection_id}",
                "href": collection,
            }
        )
    for raster in view.rasters:
        collection = f"{urls.ogc}/collections/{quote(raster.collection_id)}"
        links.append(
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/coverage",
                "type": "image/tiff; application=geotiff",
                "title": f"Données en OGC API Coverages : {raster.collection_id}",
                "href": f"{collection}/coverage",
            }
        )
        links.append(
            {
                "rel": "related",
                "type": "application/json",
                "title": f"Collection raster {raster.collection_id}",
                "href": collection,
            }
        )
    for resource in view.resources:
        if resource.kind == "file" and resource.id is not None and resource.filename:
            href = (
                f"{urls.dataset_page(view.slug)}/ressources/{resource.id}/"
                f"{quote(resource.filename)}"
            )
            links.append(
                {
                    "rel": "enclosure",
                    "type": resource.media_type or "application/octet-stream",
                    "title": resource.title,
                    "href": href,
                }
            )
        elif resource.kind == "link":
            href = csw_links.safe_url(resource.url)
            if href:
                link = {"rel": "related", "title": resource.title, "href": href}
                if resource.media_type:
                    link["type"] = resource.media_type
                links.append(link)
    # /csw serves the record to whoever may see this one (same access rule).
    links.append(
        {
            "rel": "describedby",
            "type": "application/xml",
            "title": "Fiche ISO 19139 (CSW GetRecordById)",
            "href": urls.csw_record(record_identifier(view)),
        }
    )
    return links


def _raster(raster: RasterView) -> dict[str, Any]:
    return {
        "collection": raster.collection_id,
        "kind": raster.kind,
        "crs": raster.crs_code,
        "width": raster.width,
        "height": raster.height,
        "resolution": list(raster.resolution),
        "bands": [
            {
                "name": band.get("name"),
                "dataType": band.get("data_type"),
                "nodata": band.get("nodata"),
                "unit": band.get("unit"),
                "statistics": band.get("statistics"),
            }
            for band in raster.bands
        ],
    }


def to_record(view: DatasetView, urls: Urls) -> dict[str, Any]:
    """The OGC API Records core GeoJSON record of one dataset (id = dataset slug)."""
    properties: dict[str, Any] = {
        "type": "dataset",
        "title": view.title,
        "description": view.description,
        "keywords": [str(k) for k in view.keywords if k is not None],
        "themes": (
            [{"concepts": [{"id": str(t)} for t in view.themes], "scheme": THEMES_SCHEME}]
            if view.themes
            else []
        ),
        "language": {"code": "fr", "name": "français"},
        "created": _timestamp(view.published_at or view.created_at),
        "updated": _timestamp(view.updated_at),
        "contacts": _contacts(view),
        "license": view.licence,
        "formats": _formats(view),
    }
    if view.rasters:  # the grid of each raster layer (ISO: MD_GridSpatialRepresentation)
        properties["rasters"] = [_raster(raster) for raster in view.rasters]
    identifier = view.provenance.get("record_identifier")
    if identifier:
        properties["externalIds"] = [{"scheme": "csw", "value": str(identifier)}]
    return {
        "id": view.slug,
        "type": "Feature",
        "conformsTo": [RECORD_CORE],
        "time": _time(view),
        "geometry": _geometry(view),
        "properties": properties,
        "links": _links(view, urls),
    }
