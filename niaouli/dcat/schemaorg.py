"""schema.org `Dataset` JSON-LD for a dataset page (search engines, Google Dataset Search).

The JSON goes into a `<script type="application/ld+json">` data block. Such a block is
never executed (so the portal's CSP without inline scripts allows it), but the HTML
parser still ends it at the first `</script`: every `<`, `>` and `&` is written as a
JSON `\\u` escape, so a title containing `</script><script>...` stays a string.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from markupsafe import Markup

from niaouli import exports
from niaouli.catalogue.models import Dataset, ResourceKind
from niaouli.dcat import vocabularies as voc
from niaouli.dcat.mapping import (
    CATALOGUE_TITLE,
    SAFE_SCHEMES,
    dataset_bbox,
    dataset_identifier,
)
from niaouli.dcat.urls import PublicUrls

_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    return value.isoformat()


def _organisation(name: str, url: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "Organization", "name": name}
    if url:
        node["url"] = url
    return node


def dataset_jsonld(dataset: Dataset, urls: PublicUrls) -> dict[str, Any]:
    """The schema.org description of one dataset (what the page shows, nothing more)."""
    page = urls.dataset_page(dataset.slug)
    org = dataset.organisation
    publisher = _organisation(org.name, urls.organisation_page(org.slug))
    licence_iri, licence_label = voc.licence(dataset.licence)
    keywords = [str(k) for k in [*(dataset.keywords or []), *(dataset.themes or [])]]
    data: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": page + "#jeu-de-donnees",
        "url": page,
        "identifier": dataset_identifier(dataset),
        "name": dataset.title,
        "description": dataset.description or dataset.title,
        "inLanguage": "fr",
        "isAccessibleForFree": True,
        "license": licence_iri or licence_label,
        "keywords": list(dict.fromkeys(k for k in keywords if k.strip())),
        "publisher": publisher,
        "creator": _organisation(dataset.producer) if dataset.producer else publisher,
        "datePublished": _iso(dataset.published_at or dataset.created_at),
        "dateModified": _iso(dataset.updated_at),
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": CATALOGUE_TITLE,
            "url": urls.catalog(),
        },
    }
    if dataset.temporal_start or dataset.temporal_end:
        start = _iso(dataset.temporal_start) or ".."
        end = _iso(dataset.temporal_end) or ".."
        data["temporalCoverage"] = f"{start}/{end}"
    bbox = dataset_bbox(dataset)
    if bbox:
        west, south, east, north = bbox
        data["spatialCoverage"] = {
            "@type": "Place",
            "geo": {"@type": "GeoShape", "box": f"{south} {west} {north} {east}"},
        }
    distributions = []
    for resource in dataset.resources:
        if resource.kind == ResourceKind.FILE and resource.storage_key and resource.filename:
            item = {
                "@type": "DataDownload",
                "name": resource.title or resource.filename,
                "contentUrl": urls.resource(dataset.slug, resource.id, resource.filename),
                "encodingFormat": resource.media_type or resource.format,
            }
            if resource.size is not None:
                item["contentSize"] = f"{resource.size} B"
            distributions.append(item)
        elif resource.kind == ResourceKind.LINK and (resource.url or "").startswith(SAFE_SCHEMES):
            item = {"@type": "DataDownload", "name": resource.title, "contentUrl": resource.url}
            if resource.media_type or resource.format:
                item["encodingFormat"] = resource.media_type or resource.format
            distributions.append(item)
    for layer in dataset.layers:
        info = exports.LayerInfo.from_layer(layer)
        for fmt in exports.formats_for(info):
            distributions.append(
                {
                    "@type": "DataDownload",
                    "name": f"{layer.name} — export {fmt.label}",
                    "contentUrl": urls.export(
                        dataset.slug, layer.name, layer.collection_id, fmt.key
                    ),
                    "encodingFormat": fmt.media_type.split(";")[0],
                }
            )
    if distributions:
        data["distribution"] = distributions
    return {k: v for k, v in data.items() if v not in (None, "", [])}


def script_json(data: dict[str, Any]) -> Markup:
    """JSON safe inside a `<script type="application/ld+json">` element (see module doc)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _SCRIPT_ESCAPES.items():
        text = text.replace(raw, escaped)
    return Markup(text)  # noqa: S704 - every character that could end the element is escaped
