"""Metadata records (ISO 19139, Dublin Core `csw:Record`) -> CSW columns and dataset fields.

The columns mirror what pycsw 2.6's own loader (`pycsw.core.metadata._parse_iso` and
`_parse_dc`, built on OWSLib) writes, so pycsw answers about our rows exactly as it would
about records it had loaded itself: brief and summary records, Dublin Core views of ISO
records, queryables and the CITE conformance answers all come from these columns.
Callers hand in an element already parsed by `safexml` (untrusted input).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree

from niaouli.marks import strip_marks

NS_GMD = "http://www.isotc211.org/2005/gmd"
NS_CSW = "http://www.opengis.net/cat/csw/2.0.2"
NS_GMI = "http://www.isotc211.org/2005/gmi"
ISO_ROOT = f"{{{NS_GMD}}}MD_Metadata"
# ISO 19115-2 (imagery, gridded data): GeoNetwork serves `gmi:MI_Metadata` records, whose
# content is `gmd:MD_Metadata`'s plus acquisition information; they are read the same way.
ISO_ROOTS = (ISO_ROOT, f"{{{NS_GMI}}}MI_Metadata")
DC_ROOT = f"{{{NS_CSW}}}Record"
NS = {
    "gmd": NS_GMD,
    "gco": "http://www.isotc211.org/2005/gco",
    "gmx": "http://www.isotc211.org/2005/gmx",
    "xlink": "http://www.w3.org/1999/xlink",
}
# A keyword group whose thesaurus is one of these (title or address, lower case) holds
# INSPIRE themes (GEMET's "INSPIRE themes", the INSPIRE registry, GeoNetwork's copy).
INSPIRE_THESAURI = (
    "inspire theme",
    "inspire-theme",
    "thèmes inspire",
    "inspire.ec.europa.eu/theme",
)


class RecordError(ValueError):
    """A document that is not a metadata record we can load (French message)."""


@dataclass
class ParsedRecord:
    """One record: its CSW columns, and what the catalogue keeps as dataset fields."""

    identifier: str
    kind: str  # "iso19139" or "dublin-core"
    columns: dict[str, Any]
    title: str
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    # INSPIRE themes (keywords of an INSPIRE themes thesaurus), also among `keywords`.
    themes: list[str] = field(default_factory=list)
    title_alternate: str | None = None
    # ISO MD_MaintenanceFrequencyCode value, as written ("annually", "asNeeded"...).
    update_frequency: str | None = None
    # What reading the bounding box repaired: "commas" (decimal commas), "swapped"
    # (inverted corners or axes), "unreadable" (a box was there, none could be read).
    bbox_repairs: list[str] = field(default_factory=list)
    bbox: tuple[float, float, float, float] | None = None
    temporal_start: date | None = None
    temporal_end: date | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    producer: str | None = None
    licence: str | None = None
    lineage: str = ""


def now_iso() -> str:
    """pycsw's insert_date format (`util.get_today_and_now`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def bbox_wkt(minx: float, miny: float, maxx: float, maxy: float) -> str:
    """pycsw's `util.bbox2wktpolygon`, same rounding, so spatial answers match pycsw's."""
    return "POLYGON((%.2f %.2f, %.2f %.2f, %.2f %.2f, %.2f %.2f, %.2f %.2f))" % (  # noqa: UP031
        minx,
        miny,
        minx,
        maxy,
        maxx,
        maxy,
        maxx,
        miny,
        minx,
        miny,
    )


# Plain strings: lxml's default "smart" strings (each knows its parent) made this query
# cost more than OWSLib's whole parse of the record.
_TEXT_NODES = etree.XPath("//text()", smart_strings=False)


def anytext(root: etree._Element) -> str:
    """pycsw's `util.get_anytext`, plus unaccented copies of the words with accents.

    pycsw matches full text with `LIKE '%word%'` on this column: adding "Hienghene" next
    to "Hienghène" lets a query typed without accents find the record (the accented
    query still matches the original words).
    """
    text = " ".join(map(str.strip, _TEXT_NODES(root)))
    # Only words with non-ASCII letters can change (an ASCII word is its own unaccented
    # form, already in the text): the substring test runs for those few words only, not
    # for every word of a 40 kB record (that was quadratic, ~25 ms a record).
    words = set(text.split())
    accented = [w for w in words if not w.isascii()]
    if not accented:
        return text
    # The marks stripped from all the accented words at once (one call, not one a word);
    # a word whose unaccented form holds a space (a spacing mark such as "¨" decomposes
    # so) breaks the alignment: then word by word.
    stripped = strip_marks(" ".join(accented)).split(" ")
    if len(stripped) != len(accented):
        stripped = [strip_marks(w) for w in accented]
    unaccented = set(stripped) - words  # (a word of the text is in `text`)
    # A word without whitespace is in the text when it is in one of its distinct words:
    # searched in those, joined (a fraction of the text), unless it holds whitespace.
    distinct = " ".join(words)
    extra = sorted(u for u in unaccented if u not in (text if _has_space(u) else distinct))
    return f"{text} {' '.join(extra)}".strip() if extra else text


def _has_space(word: str) -> bool:
    return word.split() != [word]


def serialise(root: etree._Element) -> str:
    """The record's XML as pycsw stores it: the element, without an XML declaration."""
    return etree.tostring(root, encoding="unicode")


def _number(value: Any, repairs: list[str]) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("\u2212", "-")
    if re.fullmatch(r"[-+]?\d+,\d+", text):  # a decimal comma, as French tools write it
        text = text.replace(",", ".")
        if "commas" not in repairs:
            repairs.append("commas")
    return float(text)


def repair_bbox(values: Any) -> tuple[tuple[float, float, float, float] | None, list[str]]:
    """(west, south, east, north) in WGS 84 from what a record wrote, and what was repaired.

    Read: decimal commas; south above north (swapped); latitudes out of range with
    longitudes that fit (axes swapped); west east of east when going eastwards would
    cover more than half the globe (swapped: a real antimeridian box is narrower).
    A box that is still out of range is unreadable (None), never guessed further.
    """
    repairs: list[str] = []
    if values is None or all(v is None or str(v).strip() == "" for v in values):
        return None, repairs
    try:
        west, south, east, north = (_number(v, repairs) for v in values)
    except (TypeError, ValueError):
        return None, ["unreadable"]
    if max(abs(south), abs(north)) > 90 and max(abs(west), abs(east)) <= 90:
        west, south, east, north = south, west, north, east
        repairs.append("swapped")
    if south > north:
        south, north = north, south
        repairs.append("swapped")
    if west > east and (east + 360 - west) > 180:
        west, east = east, west
        repairs.append("swapped")
    if max(abs(west), abs(east)) > 180 or max(abs(south), abs(north)) > 90:
        return None, ["unreadable"]
    return (west, south, east, north), list(dict.fromkeys(repairs))


_CITATION_TEXTS = etree.XPath(".//text()", smart_strings=False)
_CITATION_HREFS = etree.XPath(".//@xlink:href", namespaces=NS, smart_strings=False)


def _thesaurus(group: etree._Element) -> str:
    """The thesaurus of a keyword group: its title and addresses, lower case."""
    citation = group.find("gmd:thesaurusName/gmd:CI_Citation", NS)
    if citation is None:
        return ""
    parts = [" ".join(t.split()) for t in _CITATION_TEXTS(citation)]
    parts += _CITATION_HREFS(citation)
    return " ".join(p for p in parts if p).lower()


def iso_keywords(root: etree._Element) -> tuple[list[str], list[str]]:
    """(keywords, INSPIRE themes) of an ISO record, in document order.

    Read from the XML: OWSLib keeps only the `gco:CharacterString` keywords of a group
    that mixes them with `gmx:Anchor` ones (GeoNetwork writes both in one group).
    """
    keywords: list[str] = []
    themes: list[str] = []
    path = "gmd:identificationInfo/*/gmd:descriptiveKeywords/gmd:MD_Keywords"
    for group in root.iterfind(path, NS):
        thesaurus = _thesaurus(group)
        inspire = any(name in thesaurus for name in INSPIRE_THESAURI)
        for keyword in group.iterfind("gmd:keyword", NS):
            node = keyword.find("gco:CharacterString", NS)
            node = keyword.find("gmx:Anchor", NS) if node is None else node
            if node is None:
                continue
            text = " ".join("".join(node.itertext()).split())
            href = node.get(f"{{{NS['xlink']}}}href") or ""
            if not text:
                continue
            keywords.append(text)
            if inspire or "inspire.ec.europa.eu/theme/" in href:
                themes.append(text)
    return keywords, themes


def _parse_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# --- ISO 19139 read straight from the tree -------------------------------------------
# What OWSLib's `MD_Metadata` read for the columns and fields below, and only that: OWSLib
# built every part of the record (contents, acquisition, services' operations...) and
# serialised it again, ≈ 2.5 ms a record, most of a harvest's mapping. Each path is the
# one OWSLib followed, with its rules: a value is the element's own text stripped (None
# when it has none), a code list value its `codeListValue` attribute (stripped) else its
# text, "character string or anchor" the `gco:CharacterString` unless it is missing or
# empty, then the `gmx:Anchor`. `tests/iso_reference.py` keeps the OWSLib mapping: the
# tests compare both on real, generated and mutated records.
_NS_ALL = {
    **NS,
    "gml": "http://www.opengis.net/gml",
    "gml32": "http://www.opengis.net/gml/3.2",
    "srv": "http://www.isotc211.org/2005/srv",
}
_CLARK = re.compile(r"(\w+):")


def _path(path: str) -> str:
    """`gmd:a/gco:b` in Clark notation (`{uri}a/{uri}b`), which `find` reads from its cache."""
    return _CLARK.sub(lambda m: "{" + _NS_ALL[m.group(1)] + "}", path)


_P = _path
_CHAR = "/" + _P("gco:CharacterString")
_ANCHOR = "/" + _P("gmx:Anchor")
_CODE = "codeListValue"
_IDENTIFICATIONS = {"MD_DataIdentification", "MD_ServiceIdentification", "SV_ServiceIdentification"}
_DATE_COLUMNS = {
    "revision": "date_revision",
    "creation": "date_creation",
    "publication": "date_publication",
}
_ISO = {
    name: _P(path)
    for name, path in {
        "identifier": "gmd:fileIdentifier/gco:CharacterString",
        "parent": "gmd:parentIdentifier/gco:CharacterString",
        "language": "gmd:language/gco:CharacterString",
        "languagecode": "gmd:language/gmd:LanguageCode",
        "dataseturi": "gmd:dataSetURI/gco:CharacterString",
        "date": "gmd:dateStamp/gco:Date",
        "datetime": "gmd:dateStamp/gco:DateTime",
        "hierarchy": "gmd:hierarchyLevel/gmd:MD_ScopeCode",
        "contact": "gmd:contact/gmd:CI_ResponsibleParty",
        "crs": "gmd:referenceSystemInfo/gmd:MD_ReferenceSystem",
        "crs_code": "gmd:referenceSystemIdentifier/gmd:RS_Identifier/gmd:code",
        "identification": "gmd:identificationInfo",
        "distribution": "gmd:distributionInfo/gmd:MD_Distribution",
        "quality": "gmd:dataQualityInfo/gmd:DQ_DataQuality",
        # identification
        "title": "gmd:citation/gmd:CI_Citation/gmd:title/gco:CharacterString",
        "alternate": "gmd:citation/gmd:CI_Citation/gmd:alternateTitle/gco:CharacterString",
        "abstract": "gmd:abstract/gco:CharacterString",
        "abstract_anchor": "gmd:abstract/gmx:Anchor",
        "ci_date": "gmd:citation/gmd:CI_Citation/gmd:date/gmd:CI_Date",
        "ci_date_date": "gmd:date/gco:Date",
        "ci_date_datetime": "gmd:date/gco:DateTime",
        "ci_date_type": "gmd:dateType/gmd:CI_DateTypeCode",
        "use_limitations": "gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:useLimitation"
        "/gco:CharacterString"
        "|gmd:resourceConstraints/gmd:MD_Constraints/gmd:useLimitation/gco:CharacterString"
        "|gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:useLimitation/gmx:Anchor"
        "|gmd:resourceConstraints/gmd:MD_Constraints/gmd:useLimitation/gmx:Anchor",
        "access": "gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:accessConstraints"
        "/gmd:MD_RestrictionCode",
        "other": "gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:otherConstraints",
        "security": "gmd:resourceConstraints/gmd:MD_SecurityConstraints/gmd:classification"
        "/gmd:MD_ClassificationCode",
        "denominator": "gmd:spatialResolution/gmd:MD_Resolution/gmd:equivalentScale"
        "/gmd:MD_RepresentativeFraction/gmd:denominator/gco:Integer",
        "resource_language": "gmd:language/gco:CharacterString",
        "point_of_contact": "gmd:pointOfContact/gmd:CI_ResponsibleParty",
        "keywords": "gmd:descriptiveKeywords/gmd:MD_Keywords",
        "keywords_type": "gmd:type/gmd:MD_KeywordTypeCode",
        "topic": "gmd:topicCategory/gmd:MD_TopicCategoryCode",
        "extent": "gmd:extent",
        "srv_extent": "srv:extent",
        "geographic": "gmd:EX_Extent/gmd:geographicElement",
        "box": "gmd:EX_GeographicBoundingBox",
        "polygon": "gmd:EX_BoundingPolygon",
        "west": "gmd:westBoundLongitude/gco:Decimal",
        "east": "gmd:eastBoundLongitude/gco:Decimal",
        "south": "gmd:southBoundLatitude/gco:Decimal",
        "north": "gmd:northBoundLatitude/gco:Decimal",
        "begin": "gmd:EX_Extent/gmd:temporalElement/gmd:EX_TemporalExtent/gmd:extent"
        "/gml:TimePeriod/gml:beginPosition",
        "begin32": "gmd:EX_Extent/gmd:temporalElement/gmd:EX_TemporalExtent/gmd:extent"
        "/gml32:TimePeriod/gml32:beginPosition",
        "end": "gmd:EX_Extent/gmd:temporalElement/gmd:EX_TemporalExtent/gmd:extent"
        "/gml:TimePeriod/gml:endPosition",
        "end32": "gmd:EX_Extent/gmd:temporalElement/gmd:EX_TemporalExtent/gmd:extent"
        "/gml32:TimePeriod/gml32:endPosition",
        # responsible party
        "individual": "gmd:individualName",
        "organisation": "gmd:organisationName",
        "email": "gmd:contactInfo/gmd:CI_Contact/gmd:address/gmd:CI_Address"
        "/gmd:electronicMailAddress/gco:CharacterString",
        "role": "gmd:role/gmd:CI_RoleCode",
        # distribution, quality
        "format": "gmd:distributionFormat/gmd:MD_Format/gmd:name",
        "online": "gmd:transferOptions/gmd:MD_DigitalTransferOptions/gmd:onLine"
        "/gmd:CI_OnlineResource",
        "distributor": "gmd:distributor",
        "distributor_online": "gmd:MD_Distributor/gmd:distributorTransferOptions"
        "/gmd:MD_DigitalTransferOptions/gmd:onLine/gmd:CI_OnlineResource",
        "link_name": "gmd:name",
        "link_description": "gmd:description/gco:CharacterString",
        "link_protocol": "gmd:protocol",
        "link_url": "gmd:linkage/gmd:URL",
        "lineage": "gmd:lineage/gmd:LI_Lineage/gmd:statement",
        "degree": "gmd:report/gmd:DQ_DomainConsistency/gmd:result/gmd:DQ_ConformanceResult"
        "/gmd:pass/gco:Boolean",
    }.items()
}
_ISO_USE_LIMITATIONS = _ISO.pop("use_limitations").split("|")


def _value(node: etree._Element | None) -> str | None:
    """OWSLib's `testXMLValue`: the element's own text, stripped; None without text."""
    if node is None:
        return None
    text = node.text
    return text.strip() if text else None


def _code(node: etree._Element | None) -> str | None:
    """OWSLib's `_testCodeListValue`: the code list value, else the element's text."""
    if node is None:
        return None
    value = node.get(_CODE)
    return value.strip() if value is not None else _value(node)


def _char_or_anchor(node: etree._Element, path: str) -> str | None:
    """OWSLib's `testFirstCharOrAnchor`: the character string, else (missing or empty)
    the anchor's text."""
    name = _value(node.find(path + _CHAR))
    if not name:  # None or ""
        anchor = node.find(path + _ANCHOR)
        if anchor is not None:
            name = _value(anchor)
    return name


def _first(values: Any) -> Any:
    """The first value that is not None (OWSLib's lists skip None), else None."""
    return next((v for v in values if v is not None), None)


def _identification(root: etree._Element) -> etree._Element | None:
    """OWSLib's `identification[0]`: the first `gmd:identificationInfo` whose first child
    (a comment counts, and then it is skipped) is a data or service identification."""
    for info in root.iterfind(_ISO["identification"]):
        if len(info):
            tag = info[0].tag
            if isinstance(tag, str) and tag.rpartition("}")[2] in _IDENTIFICATIONS:
                return info[0]
    return None


def _extents(ident: etree._Element) -> tuple[etree._Element | None, Any, Any]:
    """(bounding box element, temporal start, temporal end) as OWSLib reads
    them: the box of the first geographic element holding a box or a polygon (none if
    that one holds only a polygon), the first begin/end position found."""
    extents = ident.findall(_ISO["extent"]) + ident.findall(_ISO["srv_extent"])
    element = box = begin = end = None
    for extent in extents:
        if element is None:
            for geographic in extent.iterfind(_ISO["geographic"]):
                found = geographic.find(_ISO["box"])
                if found is not None or geographic.find(_ISO["polygon"]) is not None:
                    element, box = geographic, found
                    break
        if begin is None:
            begin = extent.find(_ISO["begin"])
            begin = extent.find(_ISO["begin32"]) if begin is None else begin
        if end is None:
            end = extent.find(_ISO["end"])
            end = extent.find(_ISO["end32"]) if end is None else end
    return box, _value(begin), _value(end)


def _organisations(parties: list[etree._Element]) -> str | None:
    names = {_char_or_anchor(p, _ISO["organisation"]) for p in parties}
    return ";".join(sorted(n for n in names if n)) or None


def parse_iso(root: etree._Element, default_identifier: str | None = None) -> ParsedRecord:
    """An ISO 19139 (or 19115-2) record's columns and fields, read with compiled paths."""
    find, P = root.find, _ISO  # noqa: N806 - the paths, read often
    identifier = _value(find(P["identifier"])) or default_identifier
    if not identifier:
        raise RecordError("fiche ISO 19139 sans identifiant (gmd:fileIdentifier)")
    languagecode = find(P["languagecode"])
    datestamp = _value(find(P["date"])) or _value(find(P["datetime"]))
    c: dict[str, Any] = {
        "identifier": identifier,
        "typename": "gmd:MD_Metadata",
        "schema": NS_GMD,
        "mdsource": "local",
        "insert_date": now_iso(),
        "xml": serialise(root),
        "anytext": anytext(root),
        "language": _value(find(P["language"]))
        or (languagecode.get(_CODE) if languagecode is not None else None),
        "type": _code(find(P["hierarchy"])),
        "parentidentifier": _value(find(P["parent"])),
        "date": datestamp,
        "date_modified": datestamp,
        "source": _value(find(P["dataseturi"])),
    }
    system = find(P["crs"])
    code = _char_or_anchor(system, P["crs_code"]) if system is not None else None
    if code:
        c["crs"] = f"urn:ogc:def:crs:EPSG::{int(code)}" if str(code).isdigit() else code
    ident = _identification(root)
    bbox = None
    bbox_repairs: list[str] = []
    keywords: list[str] = []
    themes: list[str] = []
    parties: list[etree._Element] = []
    title = alternate = abstract = licence = None
    if ident is not None:
        get = ident.find
        title, alternate = _value(get(P["title"])), _value(get(P["alternate"]))
        abstract = _value(get(P["abstract"]))
        anchor = get(P["abstract_anchor"])
        abstract = _value(anchor) if anchor is not None else abstract
        c["title"], c["title_alternate"], c["abstract"] = title, alternate, abstract
        box, c["time_begin"], c["time_end"] = _extents(ident)
        topic = _first(_value(n) for n in ident.iterfind(P["topic"]))
        if topic is not None:
            c["topicategory"] = topic
        language = _first(_value(n) for n in ident.iterfind(P["resource_language"]))
        if language is not None:
            c["resourcelanguage"] = language
        if box is not None:
            corners = (_value(box.find(P[k])) for k in ("west", "south", "east", "north"))
            bbox, bbox_repairs = repair_bbox(tuple(corners))
        keywords, themes = iso_keywords(root)
        if keywords:
            c["keywords"] = ",".join(keywords)
            group = get(P["keywords"])
            kind = group.find(P["keywords_type"]) if group is not None else None
            c["keywordstype"] = kind.get(_CODE) if kind is not None else None
        parties = ident.findall(P["point_of_contact"])
        roles: dict[str, list[etree._Element]] = {"originator": [], "publisher": [], "author": []}
        for party in parties:
            role = party.find(P["role"])
            if role is not None:
                roles.get(_code(role) or "", []).append(party)
        c["creator"] = _organisations(roles["originator"])
        c["publisher"] = _organisations(roles["publisher"])
        c["contributor"] = _organisations(roles["author"])
        c["organization"] = _organisations(parties)
        security = _first(_code(n) for n in ident.iterfind(P["security"]))
        if security is not None:
            c["securityconstraints"] = security
        access = _first(_code(n) for n in ident.iterfind(P["access"]))
        if access is not None:
            c["accessconstraints"] = access
        other = ident.findall(P["other"] + _CHAR) + ident.findall(P["other"] + _ANCHOR)
        if other:  # the first may be None (an empty element), then the licence is "None"
            c["otherconstraints"] = _value(other[0])
            licence = str(_value(other[0]))[:200]
        for node in ident.iterfind(P["ci_date"]):
            column = _DATE_COLUMNS.get(_code(node.find(P["ci_date_type"])) or "")
            if column:
                day = node.find(P["ci_date_date"])
                day = node.find(P["ci_date_datetime"]) if day is None else day
                c[column] = _value(day)
        denominator = _first(_value(n) for n in ident.iterfind(P["denominator"]))
        if denominator is not None:
            c["denominator"] = denominator
        limitation = _first(_value(n) for p in _ISO_USE_LIMITATIONS for n in ident.iterfind(p))
        if limitation is not None:
            c["conditionapplyingtoaccessanduse"] = limitation
    distribution = find(P["distribution"])
    if distribution is not None:
        c["format"] = _char_or_anchor(distribution, P["format"])
    quality = find(P["quality"])
    if quality is not None:
        c["lineage"] = _char_or_anchor(quality, P["lineage"])
        c["degree"] = [v for v in map(_value, quality.iterfind(P["degree"])) if v is not None]
    contacts = root.findall(P["contact"])
    if contacts:
        c["responsiblepartyrole"] = _code(contacts[0].find(P["role"]))
    if distribution is not None:
        online = distribution.findall(P["online"])
        for distributor in distribution.iterfind(P["distributor"]):
            online += distributor.findall(P["distributor_online"])
        link_strings = [
            f"{_char_or_anchor(link, P['link_name'])},"
            f"{_value(link.find(P['link_description']))},"
            f"{_char_or_anchor(link, P['link_protocol'])},{_value(link.find(P['link_url']))}"
            for link in online
        ]
        if link_strings:
            c["links"] = "^".join(link_strings)
    if bbox:
        c["wkt_geometry"] = bbox_wkt(*bbox)
    contact = (parties or contacts or [None])[0]
    frequency = root.xpath(
        "gmd:identificationInfo/*/gmd:resourceMaintenance//gmd:MD_MaintenanceFrequencyCode"
        "/@codeListValue",
        namespaces=NS,
    )
    return ParsedRecord(
        identifier=identifier,
        kind="iso19139",
        columns=c,
        title=title or identifier,
        description=abstract or "",
        keywords=keywords,
        themes=themes,
        title_alternate=alternate or None,
        update_frequency=(str(frequency[0]).strip() or None) if frequency else None,
        bbox_repairs=bbox_repairs,
        bbox=bbox,
        temporal_start=_parse_date(c.get("time_begin")),
        temporal_end=_parse_date(c.get("time_end")),
        contact_name=_char_or_anchor(contact, P["individual"]) if contact is not None else None,
        contact_email=_value(contact.find(P["email"])) if contact is not None else None,
        producer=_char_or_anchor(contact, P["organisation"]) if contact is not None else None,
        licence=licence,
        lineage=c.get("lineage") or "",
    )


def parse_dc(root: etree._Element, default_identifier: str | None = None) -> ParsedRecord:
    from owslib.csw import CswRecord

    md = CswRecord(root)
    md.identifier = md.identifier or default_identifier
    if not md.identifier:
        raise RecordError("fiche Dublin Core sans identifiant (dc:identifier)")
    c: dict[str, Any] = {
        "identifier": md.identifier,
        "typename": "csw:Record",
        "schema": NS_CSW,
        "mdsource": "local",
        "insert_date": now_iso(),
        "xml": serialise(root),
        "anytext": anytext(root),
        "language": md.language,
        "type": md.type,
        "title": md.title,
        "title_alternate": md.alternative,
        "abstract": md.abstract,
        "parentidentifier": md.ispartof,
        "relation": md.relation,
        "time_begin": md.temporal,
        "time_end": md.temporal,
        "resourcelanguage": md.language,
        "creator": md.creator,
        "publisher": md.publisher,
        "contributor": md.contributor,
        "organization": md.rightsholder,
        "accessconstraints": md.accessrights,
        "otherconstraints": md.license,
        "date": md.date,
        "date_creation": md.created,
        "date_publication": md.issued,
        "date_modified": md.modified,
        "format": md.format,
        "source": md.source,
    }
    if md.subjects and None not in md.subjects:
        c["keywords"] = ",".join(md.subjects)
    link_strings = [f",,{ref['scheme']},{ref['url']}" for ref in md.references]
    link_strings += [
        f"{uri['name']},{uri['description']},{uri['protocol']},{uri['url']}" for uri in md.uris
    ]
    if link_strings:
        c["links"] = "^".join(link_strings)
    bbox, bbox_repairs = (None, [])
    if md.bbox is not None:
        bbox, bbox_repairs = repair_bbox((md.bbox.minx, md.bbox.miny, md.bbox.maxx, md.bbox.maxy))
    if bbox:
        c["wkt_geometry"] = bbox_wkt(*bbox)
    return ParsedRecord(
        identifier=md.identifier,
        kind="dublin-core",
        columns=c,
        title=md.title or md.identifier,
        title_alternate=md.alternative or None,
        bbox_repairs=bbox_repairs,
        description=md.abstract or "",
        keywords=[s for s in md.subjects if s],
        bbox=bbox,
        producer=md.publisher or md.creator,
        licence=(md.license or md.rights or None),
    )


def parse_record(root: etree._Element, default_identifier: str | None = None) -> ParsedRecord:
    """Dispatch on the root element: `gmd:MD_Metadata` or `csw:Record`.

    `default_identifier`: the identifier of a record that has none (the harvester's,
    derived from the content); without it such a record is a `RecordError`."""
    if root.tag in ISO_ROOTS:
        return parse_iso(root, default_identifier)
    if root.tag == DC_ROOT:
        return parse_dc(root, default_identifier)
    raise RecordError(
        f"type de fiche non pris en charge : {etree.QName(root).localname} "
        "(attendu : gmd:MD_Metadata, gmi:MI_Metadata ou csw:Record)"
    )


# --- parsed once -----------------------------------------------------------------------
# A harvest parses each record to map it; the CSW records sync, run when the batch is
# written, needs the same parse of the same XML. The harvest hands it over here rather
# than having it parsed a second time (that was 40 % of a harvest's time). Each entry is
# taken once; the bound keeps a batch's worth.
MAX_KEPT = 1000
_kept: OrderedDict[str, ParsedRecord] = OrderedDict()
_kept_lock = threading.Lock()


def keep_parsed(xml: str, record: ParsedRecord) -> None:
    """Hand `record`, parsed from exactly `xml`, to the next `take_parsed(xml)`."""
    with _kept_lock:
        _kept[xml] = record
        _kept.move_to_end(xml)
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)


def has_kept() -> bool:
    """Whether any parse waits to be taken (else `take_parsed` is not worth a query)."""
    return bool(_kept)


def take_parsed(xml: str) -> ParsedRecord | None:
    """The record kept for `xml` by `keep_parsed` (once), else None: parse it."""
    with _kept_lock:
        return _kept.pop(xml, None)
