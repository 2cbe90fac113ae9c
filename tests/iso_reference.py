"""The ISO 19139 mapping as it was before `niaouli.metadata_parse.parse_iso` read the record
straight with lxml: built on OWSLib's `MD_Metadata`, kept here only as the reference the
tests compare the fast mapping with (`test_metadata_parse_iso.py`)."""

from __future__ import annotations

from typing import Any

from lxml import etree
from owslib.iso import MD_Metadata

from niaouli.metadata_parse import (
    NS,
    NS_GMD,
    ParsedRecord,
    RecordError,
    _parse_date,
    anytext,
    bbox_wkt,
    iso_keywords,
    now_iso,
    repair_bbox,
    serialise,
)


def _orgs(parties: list[Any]) -> str | None:
    names = sorted({p.organization for p in parties if getattr(p, "organization", None)})
    return ";".join(names) or None


def parse_iso_owslib(root: etree._Element, default_identifier: str | None = None) -> ParsedRecord:
    md = MD_Metadata(root)
    md.identifier = md.identifier or default_identifier
    if not md.identifier:
        raise RecordError("fiche ISO 19139 sans identifiant (gmd:fileIdentifier)")
    ident = md.identification[0] if md.identification else None
    c: dict[str, Any] = {
        "identifier": md.identifier,
        "typename": "gmd:MD_Metadata",
        "schema": NS_GMD,
        "mdsource": "local",
        "insert_date": now_iso(),
        "xml": serialise(root),
        "anytext": anytext(root),
        "language": md.language or md.languagecode,
        "type": md.hierarchy,
        "parentidentifier": md.parentidentifier,
        "date": md.datestamp,
        "date_modified": md.datestamp,
        "source": md.dataseturi,
    }
    if md.referencesystem is not None and md.referencesystem.code:
        code = md.referencesystem.code
        c["crs"] = f"urn:ogc:def:crs:EPSG::{int(code)}" if str(code).isdigit() else code
    bbox = None
    bbox_repairs: list[str] = []
    keywords: list[str] = []
    themes: list[str] = []
    if ident is not None:
        c["title"] = ident.title
        c["title_alternate"] = ident.alternatetitle
        c["abstract"] = ident.abstract
        c["time_begin"] = getattr(ident, "temporalextent_start", None)
        c["time_end"] = getattr(ident, "temporalextent_end", None)
        if ident.topiccategory:
            c["topicategory"] = ident.topiccategory[0]
        if ident.resourcelanguage:
            c["resourcelanguage"] = ident.resourcelanguage[0]
        box = getattr(ident, "bbox", None)
        if box is not None:
            bbox, bbox_repairs = repair_bbox((box.minx, box.miny, box.maxx, box.maxy))
        keywords, themes = iso_keywords(root)
        if keywords:
            c["keywords"] = ",".join(keywords)
            first = ident.keywords[0]
            c["keywordstype"] = getattr(first, "type", None)
        c["creator"] = _orgs(getattr(ident, "creator", []) or [])
        c["publisher"] = _orgs(getattr(ident, "publisher", []) or [])
        c["contributor"] = _orgs(getattr(ident, "contributor", []) or [])
        c["organization"] = _orgs(getattr(ident, "contact", []) or [])
        for name in ("securityconstraints", "accessconstraints", "otherconstraints"):
            values = getattr(ident, name, []) or []
            if values:
                c[name] = values[0]
        for node in getattr(ident, "date", []) or []:
            column = {
                "revision": "date_revision",
                "creation": "date_creation",
                "publication": "date_publication",
            }.get(node.type)
            if column:
                c[column] = node.date
        if ident.denominators:
            c["denominator"] = ident.denominators[0]
        if ident.uselimitation:
            c["conditionapplyingtoaccessanduse"] = ident.uselimitation[0]
    if md.distribution is not None:
        c["format"] = md.distribution.format
    if md.dataquality is not None:
        c["lineage"] = md.dataquality.lineage
        c["degree"] = md.dataquality.conformancedegree
    if md.contact:
        c["responsiblepartyrole"] = md.contact[0].role
    link_strings = []
    if md.distribution is not None:
        online = list(md.distribution.online or [])
        for distributor in md.distribution.distributor or []:
            online.extend(distributor.online or [])
        for link in online:
            link_strings.append(f"{link.name},{link.description},{link.protocol},{link.url}")
    if link_strings:
        c["links"] = "^".join(link_strings)
    if bbox:
        c["wkt_geometry"] = bbox_wkt(*bbox)
    contact = (getattr(ident, "contact", None) or md.contact or [None])[0]
    licence = None
    if ident is not None and ident.otherconstraints:
        licence = str(ident.otherconstraints[0])[:200]
    frequency = root.xpath(
        "gmd:identificationInfo/*/gmd:resourceMaintenance//gmd:MD_MaintenanceFrequencyCode"
        "/@codeListValue",
        namespaces=NS,
    )
    return ParsedRecord(
        identifier=md.identifier,
        kind="iso19139",
        columns=c,
        title=(ident.title if ident is not None else None) or md.identifier,
        description=(ident.abstract if ident is not None else None) or "",
        keywords=keywords,
        themes=themes,
        title_alternate=(ident.alternatetitle if ident is not None else None) or None,
        update_frequency=(str(frequency[0]).strip() or None) if frequency else None,
        bbox_repairs=bbox_repairs,
        bbox=bbox,
        temporal_start=_parse_date(c.get("time_begin")),
        temporal_end=_parse_date(c.get("time_end")),
        contact_name=getattr(contact, "name", None),
        contact_email=getattr(contact, "email", None),
        producer=getattr(contact, "organization", None),
        licence=licence,
        lineage=c.get("lineage") or "",
    )
