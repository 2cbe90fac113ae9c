"""The quality score in the ISO 19139 record: `gmd:report`s of its `gmd:DQ_DataQuality`.

pygeometa's template writes the data quality section with its scope and lineage only.
Here, between the two (ISO 19139's order), go one `gmd:DQ_DomainConsistency` for the
score (a `gmd:DQ_QuantitativeResult` in percent) and one per criterion that counts (a
`gmd:DQ_ConformanceResult`: met or not, with the French advice), all citing the same
specification: the platform's quality rules (`niaouli.catalogue.quality`,
docs/quality.md). Criteria not applicable or not judged yet are left out, as they are
left out of the score.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from niaouli.catalogue import quality
from niaouli.services.csw.grid import CODELISTS, GCO, GMD

XLINK = "http://www.w3.org/1999/xlink"
SPECIFICATION = "Niaouli — critères de qualité des jeux de données (docs/quality.md)"
SPECIFICATION_DATE = "2026-12-07"
PERCENT = "http://www.opengis.net/def/uom/UCUM/0/%25"
MEASURE_PREFIX = "niaouli-qualite:"


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    if text is not None:
        element.text = text
    return element


def _text(parent: etree._Element, tag: str, value: str) -> None:
    _el(_el(parent, GMD, tag), GCO, "CharacterString", value)


def _specification(parent: etree._Element) -> None:
    citation = _el(_el(parent, GMD, "specification"), GMD, "CI_Citation")
    _text(citation, "title", SPECIFICATION)
    date = _el(_el(citation, GMD, "date"), GMD, "CI_Date")
    _el(_el(date, GMD, "date"), GCO, "Date", SPECIFICATION_DATE)
    _el(
        _el(date, GMD, "dateType"),
        GMD,
        "CI_DateTypeCode",
        "publication",
        codeList=f"{CODELISTS}#CI_DateTypeCode",
        codeListValue="publication",
    )


def _element(name: str, key: str, description: str, when: str | None) -> etree._Element:
    report = etree.Element(f"{{{GMD}}}report")
    element = _el(report, GMD, "DQ_DomainConsistency")
    _text(element, "nameOfMeasure", name)
    identifier = _el(_el(element, GMD, "measureIdentification"), GMD, "MD_Identifier")
    _text(identifier, "code", MEASURE_PREFIX + key)
    _text(element, "measureDescription", description)
    if when:
        _el(_el(element, GMD, "dateTime"), GCO, "DateTime", when)
    return report


def reports(stored: dict[str, Any]) -> list[etree._Element]:
    """The `gmd:report` elements of a stored score (`quality_store.scores`)."""
    computed = stored.get("computed_at")
    when = computed.replace(microsecond=0).isoformat() if isinstance(computed, datetime) else None
    found: list[etree._Element] = []
    if stored.get("score") is not None:
        summary = _element(
            "Score de qualité",
            "score",
            f"{stored['passed']} critère(s) rempli(s) sur {stored['counted']} applicable(s)",
            when,
        )
        result = _el(_el(summary[0], GMD, "result"), GMD, "DQ_QuantitativeResult")
        _el(result, GMD, "valueUnit", **{f"{{{XLINK}}}href": PERCENT})
        _el(_el(result, GMD, "value"), GCO, "Record", str(stored["score"]))
        found.append(summary)
    for entry in stored.get("criteria") or ():
        criterion = quality.BY_KEY.get(entry.get("key"))
        if criterion is None or entry.get("status") not in quality.COUNTED:
            continue
        met = entry["status"] == quality.OK
        report = _element(criterion.label, criterion.key, criterion.advice, when)
        result = _el(_el(report[0], GMD, "result"), GMD, "DQ_ConformanceResult")
        _specification(result)
        _text(result, "explanation", "critère rempli" if met else "critère non rempli")
        _el(_el(result, GMD, "pass"), GCO, "Boolean", "true" if met else "false")
        found.append(report)
    return found


def add_reports(root: etree._Element, stored: dict[str, Any] | None) -> None:
    """Insert the reports after the `gmd:scope` of the record's `gmd:DQ_DataQuality`."""
    if not stored:
        return
    section = root.find(f"{{{GMD}}}dataQualityInfo/{{{GMD}}}DQ_DataQuality")
    if section is None:
        return
    scope = section.find(f"{{{GMD}}}scope")
    position = 0 if scope is None else list(section).index(scope) + 1
    for offset, report in enumerate(reports(stored)):
        section.insert(position + offset, report)
