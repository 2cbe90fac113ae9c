"""Where a dataset's data is: the links `/api/datasets/{slug}` gives a client to follow.

A developer reading the API must get from the record to the data without knowing the
portal's URL layout: each stored file's download address, and for the dataset its page,
its layers' OGC API collections, items and vector tiles, the exports in every format,
and the metadata records (CSW, and for public datasets the DCAT catalogue and the OGC
API Records item). Every link is absolute, built from the platform's public root
(`NIAOULI_PUBLIC_URL`, else the request's plausible Host), as the portal's snippets are.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request

from niaouli import exports
from niaouli.catalogue import models
from niaouli.publicurl import public_root
from niaouli.services.api import schemas

ISO_19139 = "http://www.isotc211.org/2005/gmd"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
RECORDS_COLLECTION = "catalogue"  # services/ogc/records_collection.py


def root_of(request: Request) -> str:
    """The platform's public root for absolute links (the portal's own rule)."""
    return public_root(request)


def page(root: str, slug: str) -> str:
    return f"{root}/jeux-de-donnees/{quote(slug, safe='')}"


def download(root: str, slug: str, resource: models.Resource) -> str | None:
    """A stored file's download address; None for a row without a stored file."""
    if not (resource.storage_key and resource.filename):
        return None
    filename = quote(resource.filename, safe="")
    return f"{page(root, slug)}/ressources/{resource.id}/{filename}"


def dataset_links(root: str, dataset: models.Dataset) -> list[schemas.Link]:
    """Every address a client may follow from this dataset (see the module's docstring)."""
    here = page(root, dataset.slug)
    links = [
        schemas.Link(rel="alternate", type="text/html", href=here, title="Page du jeu de données"),
        schemas.Link(
            rel="describedby",
            type="application/xml",
            href=f"{root}/csw?"
            + urlencode(
                {
                    "service": "CSW",
                    "version": "2.0.2",
                    "request": "GetRecordById",
                    "id": str((dataset.provenance or {}).get("record_identifier") or dataset.slug),
                    "outputSchema": ISO_19139,
                }
            ),
            title="Fiche de métadonnées ISO 19139 (CSW)",
        ),
    ]
    if dataset.access_level == models.AccessLevel.PUBLIC:  # what DCAT and Records publish
        links += [
            schemas.Link(
                rel="describedby",
                type="application/geo+json",
                href=f"{root}/ogc/collections/{RECORDS_COLLECTION}/items/"
                f"{quote(dataset.slug, safe='')}?f=json",
                title="Fiche OGC API Records",
            ),
            schemas.Link(
                rel="describedby",
                type="application/ld+json",
                href=f"{root}/catalog.jsonld",
                title="Catalogue DCAT-AP de la plateforme (JSON-LD)",
            ),
        ]
    for layer in dataset.layers:
        links += layer_links(root, dataset.slug, layer)
    return links


def layer_links(root: str, slug: str, layer: models.Layer) -> list[schemas.Link]:
    cid = layer.collection_id
    collection = f"{root}/ogc/collections/{quote(cid, safe='')}"
    info = exports.LayerInfo.from_layer(layer)
    links = [
        schemas.Link(
            rel="collection",
            type="application/json",
            href=f"{collection}?f=json",
            title=f"Collection OGC API Features « {layer.name} »",
            layer=cid,
        ),
        schemas.Link(
            rel="items",
            type="application/geo+json",
            href=f"{collection}/items?f=json",
            title=f"Objets de « {layer.name} » (GeoJSON, par pages)",
            layer=cid,
        ),
    ]
    if info.has_geometry:
        links.append(
            schemas.Link(
                rel=REL_TILESETS,
                type="application/json",
                href=f"{collection}/tiles/WebMercatorQuad?f=json",
                title=f"Tuiles vectorielles de « {layer.name} » (modèle d'URL dans la réponse)",
                layer=cid,
            )
        )
    base = f"{page(root, slug)}/couches/{quote(layer.name, safe='')}"
    for fmt in exports.formats_for(info):
        links.append(
            schemas.Link(
                rel="enclosure",
                type=fmt.media_type,
                href=f"{base}/{quote(cid, safe='')}.{fmt.key}",
                title=f"Export {fmt.label} de « {layer.name} »",
                layer=cid,
            )
        )
    return links
