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
    text = " ".join(value.strip() for value in _TEXT_NODES(root))
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


def _thesaurus(group: etree._Element) -> str:
    """The thesaurus of a keyword group: its title and addresses, lower case."""
    citation = group.find("gmd:thesaurusName/gmd:CI_Citation", NS)
    if citation is None:
        return ""
    parts = [" ".join(t.split()) for t in citation.xpath(".//text()")]
    parts += citation.xpath(".//@xlink:href", namespaces=NS)
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


def _orgs(parties: list[Any]) -> str | None:
    names = sorted({p.organization for p in parties if getattr(p, "organization", None)})
    return ";".join(names) or None


def parse_iso(root: etree._Element, default_identifier: str | None = None) -> ParsedRecord:
    from owslib.iso import MD_Metadata  # OWSLib's import is 0.15 s: when first needed

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
