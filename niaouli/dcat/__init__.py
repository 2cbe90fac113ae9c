"""DCAT-AP for the national networks: the catalogue as RDF (DCAT-AP 3.0.0), schema.org.

`vocabularies` holds the namespaces and the catalogue -> EU controlled vocabulary tables
(themes, licences, frequencies, file types, publisher types), meant to be shared with the
DCAT harvester (`niaouli.ingest.harvest`, the reverse mapping). `mapping` builds the graph of
one page of the catalogue, `serialise` writes it (Turtle, JSON-LD, RDF/XML) and
`schemaorg` makes the schema.org `Dataset` JSON-LD embedded in the dataset pages.
"""
