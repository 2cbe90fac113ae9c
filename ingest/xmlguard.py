"""XML from users is parsed with DTDs, entities and network access forbidden.

GDAL's KML and GPX drivers use expat; we first check the document ourselves so that a
`<!DOCTYPE>` with external entities (XXE, SECURITY-CASES S6) or nested entities
(billion laughs, S9) never reaches a parser that might expand it.
"""

from __future__ import annotations

from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from niaouli.i18n import _
from niaouli.ingest.errors import IngestError


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def root_element(path: Path) -> str:
    """The local name of the root element, refusing any DTD."""
    try:
        for _event, element in iterparse(
            str(path),
            events=("start",),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            return _local(element.tag)
    except DefusedXmlException:
        raise IngestError(
            _("document XML avec DTD ou entités refusé (risque XXE / « billion laughs »)"),
            file=path.name,
        ) from None
    except SyntaxError as exc:  # ParseError subclasses SyntaxError
        raise IngestError(_("XML mal formé : %(error)s") % {"error": exc}, file=path.name) from None
    raise IngestError(_("document XML vide"), file=path.name)


def check_document(path: Path) -> None:
    """Parse the whole document once with the guards on (cheap next to GDAL's read)."""
    try:
        for _event, element in iterparse(
            str(path),
            events=("end",),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            element.clear()
    except DefusedXmlException:
        raise IngestError(
            _("document XML avec DTD ou entités refusé (risque XXE / « billion laughs »)"),
            file=path.name,
        ) from None
    except SyntaxError as exc:
        raise IngestError(
            _("XML mal formé ou tronqué : %(error)s") % {"error": exc}, file=path.name
        ) from None
