"""`oaipmh`: research repositories (IRD Dataverse, GeoNetwork /srv/fre/oaipmh...).

ListRecords with `metadataPrefix` (`oai_dc` by default, `oai_datacite` where offered),
followed with `resumptionToken` until an empty token. Incremental by default: once a
run succeeded, the next asks only what changed since (`from`, day granularity) and then
deletes only the records the repository marks `status="deleted"` — absence from an
incremental list means nothing. `incremental=false` lists everything (and deletes on
absence, after a complete list).

Options: `metadata_prefix` (`oai_dc` | `oai_datacite`), `set`, `incremental`
(`true` default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from niaouli import safexml
from niaouli.ingest.harvest import repairs
from niaouli.ingest.harvest.base import (
    EnumerationError,
    Harvester,
    RecordDeleted,
    RecordFailure,
    RemoteRecord,
)
from niaouli.ingest.harvest.sources.csw import standalone_xml

NS = {
    "oai": "http://www.openarchives.org/OAI/2.0/",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "datacite": "http://datacite.org/schema/kernel-4",
}
MAX_PAGES = 100_000


def _texts(node: etree._Element, path: str, ns: dict[str, str] = NS) -> list[str]:
    return [t.strip() for t in node.xpath(f"{path}/text()", namespaces=ns) if t.strip()]


def _urls(values: list[str]) -> list[str]:
    urls = []
    for value in values:
        if value.startswith(("http://", "https://")):
            urls.append(value)
        elif value.lower().startswith("doi:"):
            urls.append("https://doi.org/" + value[4:])
        elif value.startswith("10.") and "/" in value:
            urls.append("https://doi.org/" + value)
    return urls


def map_oai_dc(metadata: etree._Element) -> dict[str, Any]:
    dc = metadata.find("oai_dc:dc", NS)
    if dc is None:
        raise ValueError("pas d'élément oai_dc:dc")
    links = _urls(_texts(dc, "dc:identifier"))
    fields: dict[str, Any] = {
        "description": "\n\n".join(_texts(dc, "dc:description")),
        "keywords": sorted(set(_texts(dc, "dc:subject")))[:100],
    }
    producer = (_texts(dc, "dc:publisher") or _texts(dc, "dc:creator") or [None])[0]
    if producer:
        fields["producer"] = producer[:300]
    rights = _texts(dc, "dc:rights")
    if rights:
        fields["licence"] = rights[0][:200]
    title = (_texts(dc, "dc:title") or [""])[0]
    return {"title": title, "fields": fields, "links": links}


def map_datacite(metadata: etree._Element) -> dict[str, Any]:
    resource = metadata.find(".//datacite:resource", NS)
    if resource is None:
        # Some servers use the kernel-3 namespace or none: match on local names.
        found = metadata.xpath(".//*[local-name()='resource']")
        if not found:
            raise ValueError("pas d'élément resource (DataCite)")
        resource = found[0]

    def texts(local_path: str) -> list[str]:
        steps = "/".join(f"*[local-name()='{s}']" for s in local_path.split("/"))
        return [t.strip() for t in resource.xpath(f"{steps}/text()") if t.strip()]

    identifier = texts("identifier")
    links = _urls([f"doi:{i}" if i.startswith("10.") else i for i in identifier])
    fields: dict[str, Any] = {
        "description": "\n\n".join(texts("descriptions/description")),
        "keywords": sorted(set(texts("subjects/subject")))[:100],
    }
    publisher = texts("publisher") or texts("creators/creator/creatorName")
    if publisher:
        fields["producer"] = publisher[0][:300]
    rights = resource.xpath("*[local-name()='rightsList']/*[local-name()='rights']")
    if rights:
        fields["licence"] = (rights[0].text or rights[0].get("rightsURI") or "").strip()[:200]
    bbox = None
    box = resource.xpath(".//*[local-name()='geoLocationBox']")
    if box:
        values = {
            etree.QName(child).localname: child.text
            for child in box[0]
            if isinstance(child.tag, str)
        }
        try:
            bbox = (
                float(values["westBoundLongitude"]),
                float(values["southBoundLatitude"]),
                float(values["eastBoundLongitude"]),
                float(values["northBoundLatitude"]),
            )
        except (KeyError, TypeError, ValueError):
            bbox = None
    title = (texts("titles/title") or [""])[0]
    return {"title": title, "fields": fields, "links": links, "bbox": bbox}


MAPPERS = {"oai_dc": map_oai_dc, "oai_datacite": map_datacite}


class OaiPmhHarvester(Harvester):
    type = "oaipmh"
    options = {
        "metadata_prefix": "oai_dc (par défaut) ou oai_datacite",
        "set": "ensemble OAI-PMH (setSpec) à moissonner",
        "incremental": "true (par défaut) : seulement ce qui a changé depuis la dernière moisson",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure | RecordDeleted]:
        prefix = str(self.option("metadata_prefix", "oai_dc"))
        if prefix not in MAPPERS:
            raise EnumerationError(f"metadata_prefix non pris en charge : {prefix}")
        base = self.config.url.split("?")[0]
        params: dict[str, str | int] = {"verb": "ListRecords", "metadataPrefix": prefix}
        if self.option("set"):
            params["set"] = str(self.option("set"))
        incremental = str(self.option("incremental", "true")).lower() in ("true", "1", "oui")
        if incremental and self.config.last_success:
            params["from"] = self.config.last_success[:10]
            self.complete_listing = False
        for page in range(1, MAX_PAGES):
            what = f"page {page} de ListRecords"
            root = self._page(base, params, what)
            errors = root.findall("oai:error", NS)
            if errors:
                code = errors[0].get("code", "")
                if code == "noRecordsMatch" and page == 1:
                    self.expected_total = 0 if self.complete_listing else None
                    return
                raise EnumerationError(f"{what} : erreur OAI-PMH {code} « {errors[0].text} »")
            listing = root.find("oai:ListRecords", NS)
            if listing is None:
                raise EnumerationError(f"{what} : pas d'élément ListRecords")
            for record in listing.iterfind("oai:record", NS):
                yield self._record(record, base, prefix)
            token = listing.find("oai:resumptionToken", NS)
            if page == 1 and token is not None and self.complete_listing:
                size = token.get("completeListSize")
                self.expected_total = int(size) if size and size.isdigit() else None
            if token is None or not (token.text or "").strip():
                return
            params = {"verb": "ListRecords", "resumptionToken": token.text.strip()}
        raise EnumerationError("trop de pages ListRecords")

    def _page(self, base: str, params: dict[str, str | int], what: str) -> etree._Element:
        content = self.fetch(base, what, params=params)
        try:
            return safexml.parse(content)
        except safexml.UnsafeXMLError as exc:
            raise EnumerationError(f"{what} : {exc}") from None

    def _record(
        self, record: etree._Element, base: str, prefix: str
    ) -> RemoteRecord | RecordFailure | RecordDeleted:
        header = record.find("oai:header", NS)
        identifier = (
            (header.findtext("oai:identifier", namespaces=NS) or "").strip()
            if header is not None
            else ""
        )
        if not identifier:
            return RecordFailure("(sans identifiant)", "enregistrement OAI-PMH sans identifiant")
        if header.get("status") == "deleted":
            return RecordDeleted(identifier)
        metadata = record.find("oai:metadata", NS)
        if metadata is None:
            return RecordFailure(identifier, "enregistrement OAI-PMH sans métadonnées")
        try:
            mapped = MAPPERS[prefix](metadata)
        except ValueError as exc:
            return RecordFailure(identifier, str(exc))
        links = [{"url": url, "title": url, "format": ""} for url in mapped["links"]]
        title, notes = repairs.title_of(
            mapped["title"],
            identifier,
            description=str(mapped["fields"].get("description") or ""),
        )
        record_url = f"{base}?" + urlencode(
            {"verb": "GetRecord", "identifier": identifier, "metadataPrefix": prefix}
        )
        return RemoteRecord(
            remote_id=identifier[:500],
            title=title,
            fields=mapped["fields"],
            bbox=mapped.get("bbox"),
            links=links,
            original=standalone_xml(record),
            original_media_type="application/xml",
            original_url=(mapped["links"] or [record_url])[0],
            remote_modified=(header.findtext("oai:datestamp", namespaces=NS) or "")[:64] or None,
            notes=notes,
        )
