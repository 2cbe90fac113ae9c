"""The quality score in DCAT: W3C DQV measurements on each dataset.

`dqv:hasQualityMeasurement` links the dataset to one `dqv:QualityMeasurement` for its
score (`xsd:decimal`, percent) and one per criterion that counts (`xsd:boolean`: met or
not), each `dqv:isMeasurementOf` a `dqv:Metric` of the platform's quality page
(`/qualite#<criterion>`, typed and labelled here since harvesters do not load it), in
the dimension "qualité des métadonnées et des données". The rules are
`niaouli.catalogue.quality`; the values are the stored scores (`quality_store`).
"""

from __future__ import annotations

from typing import Any

from rdflib import BNode, Literal, Namespace, URIRef
from rdflib.namespace import RDF, SKOS, XSD

from niaouli.catalogue import quality

DQV = Namespace("http://www.w3.org/ns/dqv#")
PROV = Namespace("http://www.w3.org/ns/prov#")
SCORE_LABEL = "Score de qualité (part des critères applicables remplis, en %)"


def metric(home: str, key: str) -> URIRef:
    """The metric of criterion `key` (or "score"): an anchor of the public quality page."""
    return URIRef(f"{home.rstrip('/')}/qualite#{key}")


def add_measurements(builder: Any, node: URIRef, stored: dict[str, Any] | None) -> None:  # noqa: ANN401 - a GraphBuilder
    """Add the dataset's measurements to the builder's graph (nothing when unscored)."""
    if not stored or stored.get("score") is None:
        return
    g = builder.graph
    home = builder.urls.home()
    dimension = builder.typed(metric(home, "dimension"), DQV.Dimension, label="Qualité")

    def measure(key: str, label: str, value: Literal, datatype: URIRef) -> None:
        iri = metric(home, key)
        if (iri, RDF.type, DQV.Metric) not in g:
            g.add((iri, RDF.type, DQV.Metric))
            g.add((iri, SKOS.definition, Literal(label, lang="fr")))
            g.add((iri, DQV.expectedDataType, datatype))
            g.add((iri, DQV.inDimension, dimension))
        measurement = BNode()
        g.add((measurement, RDF.type, DQV.QualityMeasurement))
        g.add((measurement, DQV.isMeasurementOf, iri))
        g.add((measurement, DQV.computedOn, node))
        g.add((measurement, DQV.value, value))
        computed = stored.get("computed_at")
        if computed is not None and hasattr(computed, "isoformat"):
            g.add((measurement, PROV.generatedAtTime, Literal(computed, datatype=XSD.dateTime)))
        g.add((node, DQV.hasQualityMeasurement, measurement))

    measure("score", SCORE_LABEL, Literal(str(stored["score"]), datatype=XSD.decimal), XSD.decimal)
    for entry in stored.get("criteria") or ():
        criterion = quality.BY_KEY.get(entry.get("key"))
        if criterion is None or entry.get("status") not in quality.COUNTED:
            continue
        met = Literal(entry["status"] == quality.OK, datatype=XSD.boolean)
        measure(criterion.key, criterion.label, met, XSD.boolean)
