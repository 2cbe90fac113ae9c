"""Fake remote servers on 127.0.0.1 for the harvest tests, with failures injected.

A `FakeRemote` serves whatever its `handler(path, query)` answers; `inject()` replaces
the answer of requests matching a predicate by a failure: HTTP 500, an empty 200, the
body cut in half (truncated XML/JSON), a hang longer than the client's read timeout, or
a redirect. Requests are recorded so tests can assert what was asked.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from niaouli.services.csw.table import csw_records
from sqlalchemy import inspect, select

from niaouli.catalogue.models import Base, Dataset
from niaouli.harvest import models as _harvest_models  # noqa: F401 - tables in Base.metadata
from niaouli.harvest.fetch import Limits
from niaouli.harvest.runner import run_source
from niaouli.harvest.service import add_source

HARVEST_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "harvest"
FAST_LIMITS = Limits(connect_timeout=2, read_timeout=1.0, total_timeout=20)


@dataclass
class Reply:
    body: bytes
    content_type: str = "application/xml"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[str, dict[str, str]], Reply]
Predicate = Callable[[str, dict[str, str]], bool]


class FakeRemote:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.failures: list[tuple[Predicate, str, str]] = []
        remote = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                remote.requests.append((parts.path, query))
                reply = remote.handler(parts.path, query)
                for predicate, kind, arg in remote.failures:
                    if predicate(parts.path, query):
                        reply = remote._fail(kind, arg, reply)
                        break
                if reply is None:
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def inject(self, kind: str, when: Predicate, arg: str = "") -> None:
        """kind: "500", "empty", "truncated", "timeout" or "redirect" (arg: Location)."""
        self.failures.append((when, kind, arg))

    def clear(self) -> None:
        self.failures.clear()
        self.requests.clear()

    def _fail(self, kind: str, arg: str, reply: Reply) -> Reply | None:
        if kind == "500":
            return Reply(b"<html>Internal Server Error</html>", "text/html", 500)
        if kind == "empty":
            return Reply(b"", reply.content_type)
        if kind == "truncated":
            return Reply(reply.body[: len(reply.body) // 2], reply.content_type)
        if kind == "timeout":
            time.sleep(float(arg or 3))
            return reply
        if kind == "redirect":
            return Reply(b"", "text/plain", 302, {"Location": arg})
        if kind == "entity":
            return Reply(arg.encode(), reply.content_type)
        raise ValueError(kind)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- runs against a backend ----------------------------------------------------------


def add_source_for(backend, org, url, slug, kind, **options):
    """Register a source on the fake remote (loopback: private network allowed)."""
    with backend.session() as session, session.begin():
        add_source(session, org, kind, url, slug=slug, allow_private_network=True, options=options)
    return slug


def harvest(backend, slug, **kwargs):
    return run_source(
        slug, engine=backend.engine, settings=backend.settings, limits=FAST_LIMITS, **kwargs
    )


def snapshot(backend) -> dict[str, list]:
    """Every row of every catalogue and harvest table (what a dry run must not touch)."""
    tables = {}
    with backend.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for table in [*Base.metadata.sorted_tables, csw_records]:
            if table.name in tables or table.name not in present:
                continue
            columns = [c for c in table.columns if c.name not in ("spatial_coverage",)]
            rows = conn.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            tables[table.name] = [tuple(r) for r in rows]
        tables["_version"] = conn.exec_driver_sql("SELECT version FROM catalogue_state").all()
    return tables


def harvested(backend) -> dict[str, Dataset]:
    with backend.session() as session:
        return {
            d.provenance.get("remote_id"): d
            for d in session.scalars(select(Dataset)).all()
            if d.provenance
        }


# --- CSW -------------------------------------------------------------------------------

CSW_NS = "http://www.opengis.net/cat/csw/2.0.2"


def real_iso_records() -> list[str]:
    """The three real ISO 19139 records of the fixtures, as XML strings."""
    from lxml import etree

    records = []
    page = etree.parse(str(HARVEST_FIXTURES / "csw_getrecords_geonetwork_inspire.xml"))
    for node in page.getroot().iter("{http://www.isotc211.org/2005/gmd}MD_Metadata"):
        records.append(etree.tostring(node, encoding="unicode"))
    single = (HARVEST_FIXTURES / "iso19139_geonetwork_record.xml").read_text(encoding="utf-8")
    records.append(re.sub(r"^<\?xml[^>]*>\s*", "", single))
    return records


def iso_variant(template: str, identifier: str, title: str) -> str:
    """The real GeoNetwork record with another identifier and title (for many pages)."""
    old_id = "955c3e47-411e-4969-b61b-3556d1b9f879"
    assert old_id in template
    return template.replace(old_id, identifier).replace("Cadastre 2018 en Bretagne", title)


@dataclass
class FakeCsw:
    """A CSW 2.0.2 GetRecords endpoint over a list of record XML strings."""

    records: list[str]
    matched_offset: int = 0  # announce more records than there are (a lying server)

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        if query.get("request") != "GetRecords":
            return Reply(b"<error/>", status=400)
        start = int(query.get("startPosition", 1))
        size = int(query.get("maxRecords", 10))
        chunk = self.records[start - 1 : start - 1 + size]
        matched = len(self.records) + self.matched_offset
        next_record = start + len(chunk)
        if next_record > matched:
            next_record = 0
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<csw:GetRecordsResponse xmlns:csw="{CSW_NS}" version="2.0.2">'
            f'<csw:SearchStatus timestamp="2026-11-26T00:00:00Z"/>'
            f'<csw:SearchResults numberOfRecordsMatched="{matched}" '
            f'numberOfRecordsReturned="{len(chunk)}" elementSet="full" '
            f'nextRecord="{next_record}">' + "".join(chunk) + "</csw:SearchResults>"
            "</csw:GetRecordsResponse>"
        )
        return Reply(body.encode("utf-8"))


# --- DCAT ------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
COMMUNES = REPO / "geodata" / "nc_communes.geojson"
POPULATION = REPO / "geodata" / "nc_communes_population.csv"
ETALAB = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"


def commune_items(base: str) -> list[dict]:
    """A Géorep-like catalogue built from the communes: 2 datasets with data, 33 without."""
    import json

    import shapely

    collection = json.loads(COMMUNES.read_text(encoding="utf-8"))
    items = [
        {
            "id": "georep-communes",
            "title": "Limites des communes de Nouvelle-Calédonie",
            "description": "Limites terrestres simplifiées des 33 communes (Géorep).",
            "keywords": ["communes", "limites administratives"],
            "bbox": (163.5, -22.8, 168.2, -19.5),
            "modified": "2024-05-02",
            "distributions": [
                ("GeoJSON", "application/geo+json", f"{base}/donnees/communes.geojson"),
                ("Page Géorep", "text/html", f"{base}/datasets/communes"),
            ],
        },
        {
            "id": "isee-population",
            "title": "Population des communes",
            "description": "Population légale des communes de Nouvelle-Calédonie.",
            "keywords": ["population", "recensement"],
            "bbox": None,
            "modified": "2023-12-31",
            "distributions": [("CSV", "text/csv", f"{base}/donnees/population.csv")],
        },
    ]
    for feature in collection["features"]:
        props = feature["properties"]
        bounds = shapely.geometry.shape(feature["geometry"]).bounds
        items.append(
            {
                "id": f"commune-{props['CODGEO']}",
                "title": f"Commune de {props['LIBGEO']}",
                "description": f"Limite de la commune de {props['LIBGEO']} ({props['CODGEO']}).",
                "keywords": ["commune", props["LIBGEO"]],
                "bbox": tuple(round(v, 4) for v in bounds),
                "modified": "2024-01-15",
                "distributions": [],
            }
        )
    return items


def dcat_graph(items: list[dict], base: str, page: int | None = None, size: int = 10):
    """DCAT-AP of `items` (one Hydra page of `size` when `page` is given)."""
    from rdflib import BNode, Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

    hydra = Namespace("http://www.w3.org/ns/hydra/core#")
    vcard = Namespace("http://www.w3.org/2006/vcard/ns#")
    graph = Graph()
    graph.bind("dcat", DCAT)
    graph.bind("dct", DCTERMS)
    catalogue = URIRef(f"{base}/catalogue")
    graph.add((catalogue, RDF.type, DCAT.Catalog))
    graph.add((catalogue, DCTERMS.title, Literal("Géorep — données ouvertes", lang="fr")))
    chosen = items
    if page is not None:
        chosen = items[(page - 1) * size : page * size]
        view = URIRef(f"{base}/catalog.ttl?page={page}")
        graph.add((view, RDF.type, hydra.PartialCollectionView))
        graph.add((view, hydra.totalItems, Literal(len(items), datatype=XSD.integer)))
        if page * size < len(items):
            graph.add((view, hydra.next, URIRef(f"{base}/catalog.ttl?page={page + 1}")))
    publisher = URIRef(f"{base}/organisation/georep")
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal("Gouvernement de la Nouvelle-Calédonie — Géorep")))
    for item in chosen:
        node = URIRef(f"{base}/datasets/{item['id']}")
        graph.add((catalogue, DCAT.dataset, node))
        graph.add((node, RDF.type, DCAT.Dataset))
        graph.add((node, DCTERMS.identifier, Literal(item["id"])))
        graph.add((node, DCTERMS.title, Literal(item["title"], lang="fr")))
        graph.add((node, DCTERMS.description, Literal(item["description"], lang="fr")))
        graph.add((node, DCTERMS.modified, Literal(item["modified"], datatype=XSD.date)))
        graph.add((node, DCTERMS.publisher, publisher))
        graph.add((node, DCTERMS.license, URIRef(ETALAB)))
        graph.add((node, DCAT.landingPage, URIRef(f"{base}/datasets/{item['id']}/page")))
        for keyword in item["keywords"]:
            graph.add((node, DCAT.keyword, Literal(keyword, lang="fr")))
        contact = BNode()
        graph.add((node, DCAT.contactPoint, contact))
        graph.add((contact, RDF.type, vcard.Kind))
        graph.add((contact, vcard.fn, Literal("Service de la géomatique")))
        graph.add((contact, vcard.hasEmail, URIRef("mailto:georep@gouv.nc")))
        if item["bbox"]:
            w, s, e, n = item["bbox"]
            place = BNode()
            wkt = f"POLYGON(({w} {s}, {w} {n}, {e} {n}, {e} {s}, {w} {s}))"
            graph.add((node, DCTERMS.spatial, place))
            graph.add((place, RDF.type, DCTERMS.Location))
            graph.add((place, DCAT.bbox, Literal(wkt)))
        for n, (title, media, url) in enumerate(item["distributions"]):
            dist = URIRef(f"{base}/datasets/{item['id']}/distributions/{n}")
            graph.add((node, DCAT.distribution, dist))
            graph.add((dist, RDF.type, DCAT.Distribution))
            graph.add((dist, DCTERMS.title, Literal(title)))
            graph.add((dist, DCAT.downloadURL, URIRef(url)))
            graph.add((dist, DCAT.accessURL, URIRef(url)))
            graph.add(
                (
                    dist,
                    DCAT.mediaType,
                    URIRef("https://www.iana.org/assignments/media-types/" + media),
                )
            )
    return graph


def data_json(items: list[dict]) -> dict:
    """The same catalogue as DCAT-US 1.1 (ArcGIS Hub's legacy /data.json)."""
    datasets = []
    for item in items:
        entry = {
            "identifier": item["id"],
            "title": item["title"],
            "description": item["description"],
            "keyword": item["keywords"],
            "modified": item["modified"],
            "publisher": {"name": "Gouvernement de la Nouvelle-Calédonie — Géorep"},
            "contactPoint": {"fn": "Service de la géomatique", "hasEmail": "mailto:georep@gouv.nc"},
            "license": ETALAB,
            "distribution": [
                {"title": t, "mediaType": m, "downloadURL": u} for t, m, u in item["distributions"]
            ],
        }
        if item["bbox"]:
            entry["spatial"] = ",".join(str(v) for v in item["bbox"])
        datasets.append(entry)
    return {
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "@type": "dcat:Catalog",
        "dataset": datasets,
    }


@dataclass
class FakeDcat:
    """Géorep's Hub feeds and data files: JSON-LD, Turtle pages, RDF/XML, data.json."""

    base: str = ""
    items: list[dict] = field(default_factory=list)

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import json

        if path == "/donnees/communes.geojson":
            return Reply(COMMUNES.read_bytes(), "application/geo+json")
        if path == "/donnees/population.csv":
            return Reply(POPULATION.read_bytes(), "text/csv")
        if path == "/api/feed/dcat-ap/2.1.1.json":
            graph = dcat_graph(self.items, self.base)
            return Reply(graph.serialize(format="json-ld").encode(), "application/ld+json")
        if path == "/catalog.ttl":
            graph = dcat_graph(self.items, self.base, page=int(query.get("page", 1)))
            return Reply(graph.serialize(format="turtle").encode(), "text/turtle")
        if path == "/api/explore/v2.1/catalog/exports/dcat":
            graph = dcat_graph(self.items, self.base)
            return Reply(graph.serialize(format="xml").encode(), "application/rdf+xml")
        if path == "/data.json":
            return Reply(json.dumps(data_json(self.items)).encode(), "application/json")
        return Reply(b"not found", "text/plain", 404)
