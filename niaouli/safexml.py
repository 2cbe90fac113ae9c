"""Parse untrusted metadata XML safely (rows S6, S7 and S9 of SECURITY-CASES.md).

Metadata records come from producers and harvested catalogues: they are untrusted. The
parser resolves no entity, loads no DTD, never touches the network (so neither an
external entity nor an `xsi:schemaLocation` is ever fetched) and refuses huge trees; a
document that declares a DOCTYPE at all is rejected, since no metadata record needs one
and that is where XXE and billion-laughs payloads live.
"""

from __future__ import annotations

from lxml import etree

MAX_BYTES = 20 * 1024 * 1024


class UnsafeXMLError(ValueError):
    """The document is not well-formed, too big, or declares a DOCTYPE."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse(data: bytes) -> etree._Element:
    """The root element of `data`, or `UnsafeXMLError` with a French message."""
    if len(data) > MAX_BYTES:
        raise UnsafeXMLError(f"document trop volumineux (plus de {MAX_BYTES // 1024 // 1024} Mo)")
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise UnsafeXMLError("DOCTYPE ou entité XML interdits dans une fiche de métadonnées")
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise UnsafeXMLError(f"XML mal formé : {exc}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXMLError("DOCTYPE interdit dans une fiche de métadonnées")
    return tree.getroot()
