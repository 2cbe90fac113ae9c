"""RDF serialisations of the catalogue and content negotiation between them."""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph

from niaouli.dcat.vocabularies import PREFIXES


@dataclass(frozen=True)
class RdfFormat:
    extension: str
    rdflib_name: str
    media_type: str


FORMATS: dict[str, RdfFormat] = {
    f.extension: f
    for f in (
        RdfFormat("ttl", "turtle", "text/turtle"),
        RdfFormat("jsonld", "json-ld", "application/ld+json"),
        RdfFormat("rdf", "pretty-xml", "application/rdf+xml"),
        RdfFormat("nt", "nt", "application/n-triples"),
    )
}
ALIASES = {"application/xml": "rdf", "text/xml": "rdf", "application/json": "jsonld"}
DEFAULT = "ttl"


def serialise(graph: Graph, fmt: RdfFormat) -> bytes:
    if fmt.extension == "jsonld":
        context = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
        return graph.serialize(format="json-ld", context=context, indent=2, encoding="utf-8")
    return graph.serialize(format=fmt.rdflib_name, encoding="utf-8")


def negotiate(accept: str | None) -> RdfFormat:
    """The best serialisation for an `Accept` header (Turtle when nothing matches)."""
    by_type = {f.media_type: f.extension for f in FORMATS.values()} | ALIASES
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept or "").split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        extension = by_type.get(media.lower())
        if extension and quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, extension)
    return FORMATS[best[2] if best else DEFAULT]
