"""The public URLs that DCAT, schema.org, Atom and the sitemap write (one place).

They must be the URLs the portal serves (`niaouli.portal.app` routes) and the ones the
CSW records carry (`niaouli.services.csw.stored_urls`), so that a harvester reading both finds
the same landing pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class PublicUrls:
    """URL builder over the site's public root (no trailing slash)."""

    base: str

    def home(self) -> str:
        return f"{self.base}/"

    def datasets(self) -> str:
        return f"{self.base}/jeux-de-donnees"

    def dataset_page(self, slug: str) -> str:
        return f"{self.base}/jeux-de-donnees/{quote(slug)}"

    def organisations(self) -> str:
        return f"{self.base}/organisations"

    def organisation_page(self, slug: str) -> str:
        return f"{self.base}/organisations/{quote(slug)}"

    def resource(self, slug: str, resource_id: int, filename: str) -> str:
        return f"{self.dataset_page(slug)}/ressources/{resource_id}/{quote(filename)}"

    def export(self, slug: str, layer_name: str, collection_id: str, key: str) -> str:
        return f"{self.dataset_page(slug)}/couches/{quote(layer_name)}/{quote(collection_id)}.{key}"

    def ogc(self) -> str:
        return f"{self.base}/ogc"

    def collection(self, collection_id: str) -> str:
        return f"{self.base}/ogc/collections/{quote(collection_id)}"

    def csw(self) -> str:
        return f"{self.base}/csw"

    def catalog(self) -> str:
        """The catalogue's IRI (content-negotiated)."""
        return f"{self.base}/catalog"

    def catalog_page(self, extension: str, page: int, page_size: int) -> str:
        query = urlencode({"page": page, "page_size": page_size})
        return f"{self.base}/catalog.{extension}?{query}"

    def atom(self) -> str:
        return f"{self.base}/feeds/datasets.atom"

    def sitemap(self) -> str:
        return f"{self.base}/sitemap.xml"

    def sitemap_page(self, number: int) -> str:
        """One file of the sitemap, when `/sitemap.xml` is an index of them."""
        return f"{self.base}/sitemap.xml?page={number}"
