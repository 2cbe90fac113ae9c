"""Mapping a CSW record (ISO 19139 or Dublin Core `csw:Record`) to a `RemoteRecord`.

Apart from `sources/csw.py` because a large harvest maps its records in a process of its
own (`csw.MAP_APART_FROM`), which imports this module only: no HTTP client, settings,
projections nor geometry library (≈ 0.5 s of CPU a run for that process, half a
millisecond a record at 1,000 records).
"""

from __future__ import annotations

import re

from lxml import etree

from niaouli import metadata_parse, safexml
from niaouli.ingest.harvest import repairs
from niaouli.ingest.harvest.base import DataSource, RecordFailure, RemoteRecord
from niaouli.ingest.harvest.licence_names import choose_licence
from niaouli.ingest.harvest.sources.esri_links import layer_link

NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "ows": "http://www.opengis.net/ows",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dct": "http://purl.org/dc/terms/",
}


def iso_links(root: etree._Element) -> list[dict[str, str]]:
    """Online resources of an ISO record (http/https only)."""
    links = []
    for online in root.iterfind(".//gmd:CI_OnlineResource", NS):
        url = (online.findtext("gmd:linkage/gmd:URL", namespaces=NS) or "").strip()
        if not url.startswith(("http://", "https://")):
            continue
        protocol = online.findtext("gmd:protocol/gco:CharacterString", namespaces=NS) or ""
        protocol = protocol.strip()
        name = (online.findtext("gmd:name/gco:CharacterString", namespaces=NS) or "").strip()
        links.append({"url": url, "title": name or url, "format": protocol})
    return links


def dc_links(root: etree._Element) -> list[dict[str, str]]:
    links = []
    for node in [*root.iterfind("dct:references", NS), *root.iterfind("dc:URI", NS)]:
        url = (node.text or "").strip()
        if url.startswith(("http://", "https://")):
            links.append(
                {"url": url, "title": node.get("name") or url, "format": node.get("scheme") or ""}
            )
    return links


_DECLARED = re.compile(rb"""xmlns:([^\s=/>]+)\s*=""")


def standalone(element: etree._Element, raw: bytes | None = None) -> etree._Element:
    """The element as its own document, as the producer wrote it.

    lxml serialises a child with every namespace in scope, so the response's own
    declarations (csw:, ows:...) would be added to the record; they are removed unless
    the record declared them itself (prefixes used in attribute values such as
    `xsi:type="gmd:..."` are declared on the record by the producers). `raw`: the
    element already serialised (`etree.tostring(element)`).

    The record's own declarations are those of its root that its parent does not have,
    and every declaration written below its root (read from the serialised text: asking
    lxml for each node's namespaces cost more than parsing the record)."""
    raw = etree.tostring(element) if raw is None else raw
    parent = element.getparent()
    return standalone_raw(raw, parent.nsmap if parent is not None else {})


def standalone_raw(raw: bytes, inherited: dict[str | None, str]) -> etree._Element:
    """`standalone` from the element's serialised text and its parent's namespaces."""
    copy = etree.fromstring(raw, safexml._parser())
    own = {p for p, uri in copy.nsmap.items() if p and inherited.get(p) != uri}
    end_of_root = raw.find(b">")
    own.update(m.decode() for m in _DECLARED.findall(raw, end_of_root + 1))
    etree.cleanup_namespaces(copy, keep_ns_prefixes=sorted(own))
    return copy


def standalone_xml(element: etree._Element) -> str:
    """`standalone`, as text."""
    return etree.tostring(standalone(element), encoding="unicode")


def record_from_xml(
    root: etree._Element,
    record_url: str | None,
    derived_id: str | None = None,
    raw: bytes | None = None,
) -> RemoteRecord:
    """A catalogue record from one ISO 19139 or csw:Record element.

    `derived_id`: the identifier given to a record that has none (see `content_id`);
    `raw`: the element serialised, when the caller has it.
    """
    mapped, parsed = _map(standalone(root, raw), record_url, derived_id)
    if parsed is not None:  # the CSW records sync reads this XML again: parsed once
        metadata_parse.keep_parsed(mapped.metadata_xml or "", parsed)
    return mapped


def map_raw(
    raw: bytes, inherited: dict[str | None, str], record_url: str | None, derived_id: str | None
) -> tuple[RemoteRecord | RecordFailure, metadata_parse.ParsedRecord | None]:
    """`record_from_xml` from the record's serialised text (in a mapping process): the
    record, and its parse for the CSW records sync (None for a derived identifier)."""
    try:
        return _map(standalone_raw(raw, inherited), record_url, derived_id)
    except (metadata_parse.RecordError, safexml.UnsafeXMLError) as exc:
        return RecordFailure(derived_id or "", str(exc)), None


def map_many(
    work: list[tuple[bytes, dict[str | None, str], str | None, str | None]],
) -> list[tuple[RemoteRecord | RecordFailure, metadata_parse.ParsedRecord | None]]:
    """A page's records to map, in the mapping process (`CswHarvester.enumerate`)."""
    return [map_raw(*item) for item in work]


def _map(
    root: etree._Element, record_url: str | None, derived_id: str | None
) -> tuple[RemoteRecord, metadata_parse.ParsedRecord | None]:
    record = metadata_parse.parse_record(root, derived_id)
    # The parse serialised the record already (`metadata_parse.serialise`, the same text):
    # one string, kept once and sent once from a mapping process.
    xml = record.columns.get("xml") or etree.tostring(root, encoding="unicode")
    notes: list[str] = []
    if derived_id:
        notes.append(repairs.IDENTIFIER_DERIVED % {"identifier": derived_id})
    themes = list(dict.fromkeys(t for t in record.themes if t))
    fields = {
        "description": record.description or "",
        "keywords": list(dict.fromkeys(k for k in record.keywords if k and k not in themes))[:100],
        "themes": themes[:50],
        "producer": (record.producer or None) and record.producer[:300],
        "contact_name": (record.contact_name or None) and record.contact_name[:300],
        "contact_email": (record.contact_email or None) and record.contact_email[:300],
        "temporal_start": record.temporal_start,
        "temporal_end": record.temporal_end,
        "lineage": record.lineage or "",
    }
    if record.update_frequency:
        frequency, note = repairs.frequency_key(record.update_frequency)
        if frequency:
            fields["update_frequency"] = frequency
        notes += [note] if note else []
    licence, note = choose_licence(record.licence)
    if licence:
        fields["licence"] = licence
    notes += [note] if note else []
    if record.bbox_repairs:  # the box as written, for the note (a costly lookup)
        notes += repairs.bbox_notes(record.bbox_repairs, _bbox_text(root))
    title, title_notes = repairs.title_of(
        record.columns.get("title"),
        record.identifier,
        alternate=record.title_alternate,
        description=record.description or "",
    )
    notes += title_notes
    links = iso_links(root) if record.kind == "iso19139" else dc_links(root)
    modified = record.columns.get("date_modified") or record.columns.get("date")
    data = data_link(links)
    mapped = RemoteRecord(
        remote_id=record.identifier,
        title=title,
        fields=fields,
        bbox=record.bbox,
        links=links,
        original=xml,
        original_media_type="application/xml",
        original_url=record_url,
        remote_modified=str(modified)[:64] if modified else None,
        metadata_xml=xml,
        data=data,
        notes=notes,
    )
    return mapped, (None if derived_id else record)


def _bbox_text(root: etree._Element) -> str:
    """The bounding box as written (for the report of an unreadable one)."""
    box = root.find(".//gmd:EX_GeographicBoundingBox", NS)
    if box is None:
        box = root.find(".//{http://www.opengis.net/ows}BoundingBox")
    return " ".join(box.itertext()) if box is not None else ""


def content_id(element: etree._Element) -> str:
    """A stable identifier for a record without one: the hash of its canonical XML
    without its volatile parts (the metadata date stamp, rewritten by some catalogues
    on every export), so that it does not change with the remote's order."""
    copy = etree.fromstring(etree.tostring(element))
    for volatile in copy.xpath(".//gmd:dateStamp | .//dct:modified | .//dc:date", namespaces=NS):
        volatile.getparent().remove(volatile)
    return repairs.derived_identifier(etree.tostring(copy, method="c14n"))


def data_link(links: list[dict[str, str]]) -> DataSource | None:
    """The record's first OGC API Features or WFS link, where its data can be copied from,
    else its ArcGIS REST layer (FeatureServer first: one copy when it links both).

    The link's name is the collection / feature type (GeoNetwork's convention)."""
    for wanted, kind in (("API", "ogcapi-link"), ("WFS", "wfs-link")):
        for link in links:
            protocol = link.get("format", "").upper()
            if wanted in protocol and (wanted != "API" or "FEATURES" in protocol):
                name = link.get("title") if link.get("title") != link["url"] else None
                return DataSource(url=link["url"], format=kind, filename=name)
    return layer_link(links)
