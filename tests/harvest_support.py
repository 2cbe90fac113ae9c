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

from sqlalchemy import inspect, select

from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import Base, Dataset
from niaouli.ingest.harvest import harvest_tables as _harvest_models  # noqa: F401 - tables in Base.metadata
from niaouli.ingest.harvest.fetch import Limits
from niaouli.ingest.harvest.runner import run_source
from niaouli.ingest.harvest.service import add_source

HARVEST_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "harvest"
# Short enough for the timeout tests, long enough for a loaded CI machine to serve the
# fake remotes' real answers (a hang is injected for `read_timeout` + 4 s).
FAST_LIMITS = Limits(connect_timeout=5, read_timeout=3.0, total_timeout=60)


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
            time.sleep(float(arg or 3) + 4)
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


# --- OAI-PMH ---------------------------------------------------------------------------


@dataclass
class FakeOai:
    """An OAI-PMH 2.0 repository over commune records (oai_dc and oai_datacite)."""

    records: list[dict] = field(default_factory=list)  # id, title, datestamp, deleted
    page_size: int = 10

    @staticmethod
    def communes() -> list[dict]:
        import json

        collection = json.loads(COMMUNES.read_text(encoding="utf-8"))
        return [
            {
                "id": f"oai:ird.nc:commune-{f['properties']['CODGEO']}",
                "code": f["properties"]["CODGEO"],
                "title": f"Inventaire floristique — {f['properties']['LIBGEO']}",
                "datestamp": "2024-03-01",
                "deleted": False,
            }
            for f in collection["features"]
        ]

    def _metadata(self, rec: dict, prefix: str) -> str:
        from xml.sax.saxutils import escape

        title = escape(rec["title"])
        if prefix == "oai_datacite":
            return (
                '<oai_datacite xmlns="http://schema.datacite.org/oai/oai-1.1/">'
                '<payload><resource xmlns="http://datacite.org/schema/kernel-4">'
                f'<identifier identifierType="DOI">10.23708/{rec["code"]}</identifier>'
                "<creators><creator><creatorName>IRD Nouméa</creatorName></creator></creators>"
                f"<titles><title>{title}</title></titles>"
                "<publisher>IRD</publisher>"
                "<subjects><subject>botanique</subject><subject>endémisme</subject></subjects>"
                "<rightsList><rights rightsURI='https://creativecommons.org/licenses/by/4.0/'>"
                "CC BY 4.0</rights></rightsList>"
                f"<descriptions><description>Relevés de la commune {rec['code']}.</description>"
                "</descriptions><geoLocations><geoLocation><geoLocationBox>"
                "<westBoundLongitude>163.5</westBoundLongitude>"
                "<eastBoundLongitude>168.2</eastBoundLongitude>"
                "<southBoundLatitude>-22.8</southBoundLatitude>"
                "<northBoundLatitude>-19.5</northBoundLatitude>"
                "</geoLocationBox></geoLocation></geoLocations></resource></payload>"
                "</oai_datacite>"
            )
        return (
            '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{title}</dc:title><dc:creator>IRD Nouméa</dc:creator>"
            "<dc:subject>botanique</dc:subject><dc:subject>Nouvelle-Calédonie</dc:subject>"
            f"<dc:description>Relevés de la commune {rec['code']}.</dc:description>"
            "<dc:publisher>Institut de recherche pour le développement</dc:publisher>"
            f"<dc:date>{rec['datestamp']}</dc:date><dc:type>Dataset</dc:type>"
            f"<dc:identifier>https://dataverse.ird.fr/dataset/{rec['code']}</dc:identifier>"
            "<dc:rights>Licence Ouverte 2.0</dc:rights></oai_dc:dc>"
        )

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            "<responseDate>2026-11-26T00:00:00Z</responseDate>"
            '<request verb="ListRecords">http://oai.example/oai</request>'
        )
        if "resumptionToken" in query:
            offset_text, _, state = query["resumptionToken"].partition("|")
            prefix, _, since = state.partition("|")
            offset = int(offset_text)
        else:
            offset, prefix, since = 0, query.get("metadataPrefix", ""), query.get("from", "")
        chosen = [r for r in self.records if not since or r["datestamp"] >= since]
        if not chosen:
            body = head + '<error code="noRecordsMatch">aucune fiche</error></OAI-PMH>'
            return Reply(body.encode("utf-8"), "text/xml")
        page = chosen[offset : offset + self.page_size]
        parts = []
        for rec in page:
            status = ' status="deleted"' if rec["deleted"] else ""
            header = (
                f"<header{status}><identifier>{rec['id']}</identifier>"
                f"<datestamp>{rec['datestamp']}</datestamp><setSpec>flore</setSpec></header>"
            )
            metadata = (
                "" if rec["deleted"] else f"<metadata>{self._metadata(rec, prefix)}</metadata>"
            )
            parts.append(f"<record>{header}{metadata}</record>")
        next_offset = offset + self.page_size
        token = f"{next_offset}|{prefix}|{since}" if next_offset < len(chosen) else ""
        body = (
            head
            + "<ListRecords>"
            + "".join(parts)
            + f'<resumptionToken completeListSize="{len(chosen)}" cursor="{offset}">'
            + f"{token}</resumptionToken></ListRecords></OAI-PMH>"
        )
        return Reply(body.encode("utf-8"), "text/xml")


# --- CKAN ------------------------------------------------------------------------------


@dataclass
class FakeCkan:
    """CKAN's Action API `package_search` over the commune catalogue."""

    base: str = ""
    items: list[dict] = field(default_factory=list)

    def package(self, item: dict) -> dict:
        extras = []
        if item["bbox"]:
            w, s, e, n = item["bbox"]
            polygon = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
            import json

            extras.append({"key": "spatial", "value": json.dumps(polygon)})
        return {
            "id": f"0000-{item['id']}",
            "name": item["id"],
            "title": item["title"],
            "notes": item["description"],
            "license_id": "lov2",
            "license_title": "Licence Ouverte 2.0",
            "metadata_modified": item["modified"] + "T00:00:00",
            "organization": {"name": "province-sud", "title": "Province Sud"},
            "maintainer": "Service de la géomatique",
            "maintainer_email": "sig@province-sud.nc",
            "tags": [{"name": k, "display_name": k} for k in item["keywords"]],
            "groups": [{"name": "territoire", "title": "Territoire"}],
            "extras": extras,
            "resources": [
                {"id": f"r{n}", "name": t, "url": u, "format": t, "mimetype": m}
                for n, (t, m, u) in enumerate(item["distributions"])
            ],
        }

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import json

        if path.startswith("/donnees/"):
            return FakeDcat(self.base, self.items)(path, query)
        if path != "/api/3/action/package_search":
            return Reply(b'{"success": false}', "application/json", 404)
        ordered = sorted(self.items, key=lambda i: i["id"])
        start, rows = int(query.get("start", 0)), int(query.get("rows", 10))
        results = [self.package(i) for i in ordered[start : start + rows]]
        body = {"success": True, "result": {"count": len(ordered), "results": results}}
        return Reply(json.dumps(body).encode(), "application/json")


# --- ArcGIS Server ---------------------------------------------------------------------


def _esri_geometry(geometry, kind: str) -> dict:
    """esriJSON of a shapely geometry, Esri ring order (outer clockwise, holes not)."""
    from shapely.geometry import MultiPolygon, Polygon

    def xy(coords) -> list[list[float]]:
        return [[round(x, 2), round(y, 2)] for x, y, *_ in coords]

    def ring(coords, clockwise: bool) -> list[list[float]]:
        points = xy(coords)
        area = sum(
            x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False)
        )
        return points if (area < 0) == clockwise else points[::-1]

    polygons = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
    assert all(isinstance(p, Polygon) for p in polygons)
    if kind == "esriGeometryPolygon":
        rings = []
        for polygon in polygons:
            rings.append(ring(polygon.exterior.coords, clockwise=True))
            rings += [ring(hole.coords, clockwise=False) for hole in polygon.interiors]
        return {"rings": rings}
    if kind == "esriGeometryPolyline":
        return {"paths": [xy(p.exterior.coords) for p in polygons]}
    if kind == "esriGeometryMultipoint":
        return {"points": [xy(p.exterior.coords)[0] for p in polygons]}
    point = geometry.representative_point()
    return {"x": round(point.x, 2), "y": round(point.y, 2)}


@dataclass
class FakeArcGis:
    """An ArcGIS Server 10.x REST API: the real fixture service and Géorep-like layers.

    `Equipements/FeatureServer/0` replays the real layer description and its real page of
    1,000 features (paged here by 300); `Limites/Communes/FeatureServer/0..3` are the
    communes of New Caledonia in EPSG:3163 as polygons, points, polylines, multipoints.
    """

    layer_page: int = 10
    communes: list = field(default_factory=list)  # [(properties, shapely geometry 3163)]
    # Feature access: `Limites/Communes` also published as a MapServer (same layer ids),
    # listed before its FeatureServer as ArcGIS Server lists them.
    map_server: bool = False

    LAYERS = (
        (0, "Communes", "esriGeometryPolygon"),
        (1, "Chefs-lieux", "esriGeometryPoint"),
        (2, "Limites communales", "esriGeometryPolyline"),
        (3, "Sommets", "esriGeometryMultipoint"),
    )

    def __post_init__(self) -> None:
        import json

        import shapely
        from pyproj import Transformer
        from shapely.geometry import shape

        project = Transformer.from_crs("EPSG:4326", "EPSG:3163", always_xy=True).transform
        collection = json.loads(COMMUNES.read_text(encoding="utf-8"))
        self.communes = [
            (f["properties"], shapely.transform(shape(f["geometry"]), project, interleaved=False))
            for f in collection["features"]
        ]

    def _fixture(self, name: str) -> dict:
        import json

        return json.loads((HARVEST_FIXTURES / name).read_text(encoding="utf-8"))

    def _layer(self, layer_id: int) -> dict:
        _id, name, kind = self.LAYERS[layer_id]
        xs = [g.bounds for _p, g in self.communes]
        sr = {"wkid": 3163, "latestWkid": 3163}
        return {
            "currentVersion": 10.81,
            "id": layer_id,
            "name": name,
            "type": "Feature Layer",
            "description": f"{name} de Nouvelle-Calédonie (Géorep, DITTT).",
            "copyrightText": "Gouvernement de la Nouvelle-Calédonie — DITTT",
            "geometryType": kind,
            "extent": {
                "xmin": min(b[0] for b in xs),
                "ymin": min(b[1] for b in xs),
                "xmax": max(b[2] for b in xs),
                "ymax": max(b[3] for b in xs),
                "spatialReference": sr,
            },
            "editingInfo": {"lastEditDate": 1714608000000},
            "objectIdField": "OBJECTID",
            "maxRecordCount": self.layer_page,
            "advancedQueryCapabilities": {"supportsPagination": True},
            "capabilities": "Query",
            "fields": [
                {"name": "OBJECTID", "type": "esriFieldTypeOID"},
                {"name": "CODGEO", "type": "esriFieldTypeString"},
                {"name": "LIBGEO", "type": "esriFieldTypeString"},
                {"name": "MAJ", "type": "esriFieldTypeDate"},
            ],
        }

    def _query(self, layer_id: int, query: dict[str, str]) -> dict:
        _id, _name, kind = self.LAYERS[layer_id]
        offset = int(query.get("resultOffset", 0))
        count = int(query.get("resultRecordCount", self.layer_page))
        chunk = self.communes[offset : offset + count]
        features = [
            {
                "attributes": {
                    "OBJECTID": offset + n + 1,
                    "CODGEO": props["CODGEO"],
                    "LIBGEO": props["LIBGEO"],
                    "MAJ": 1714608000000,
                },
                "geometry": _esri_geometry(geometry, kind),
            }
            for n, (props, geometry) in enumerate(chunk)
        ]
        answer = {
            "objectIdFieldName": "OBJECTID",
            "geometryType": kind,
            "spatialReference": {"wkid": 3163, "latestWkid": 3163},
            "fields": self._layer(layer_id)["fields"],
            "features": features,
        }
        if offset + count < len(self.communes):
            answer["exceededTransferLimit"] = True
        return answer

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import json

        root = "/arcgis/rest/services"
        answers = {
            root: {
                "currentVersion": 10.81,
                "folders": ["Limites"],
                "services": [
                    {"name": "Equipements", "type": "FeatureServer"},
                    {"name": "Fonds", "type": "ImageServer"},
                ],
            },
            f"{root}/Limites": {
                "folders": [],
                "services": [
                    *(
                        [{"name": "Limites/Communes", "type": "MapServer"}]
                        if self.map_server
                        else []
                    ),
                    {"name": "Limites/Communes", "type": "FeatureServer"},
                ],
            },
            f"{root}/Limites/Communes/MapServer": {
                "layers": [{"id": i, "name": n} for i, n, _k in self.LAYERS]
            },
            f"{root}/Equipements/FeatureServer": {"layers": [{"id": 0, "name": "Facilities"}]},
            f"{root}/Limites/Communes/FeatureServer": {
                "layers": [{"id": i, "name": n} for i, n, _k in self.LAYERS]
            },
            f"{root}/Equipements/FeatureServer/0": self._fixture("arcgis_featureserver_layer.json"),
        }
        if path in answers:
            return Reply(json.dumps(answers[path]).encode(), "application/json")
        if path == f"{root}/Equipements/FeatureServer/0/query":
            page = self._fixture("arcgis_featureserver_query.json")
            offset = int(query.get("resultOffset", 0))
            count = int(query.get("resultRecordCount", 300))
            count = min(count, 300)  # the server's own cap
            all_features = page["features"]
            page["features"] = all_features[offset : offset + count]
            if offset + count < len(all_features):
                page["exceededTransferLimit"] = True
            return Reply(json.dumps(page).encode(), "application/json")
        services = ["FeatureServer", "MapServer"] if self.map_server else ["FeatureServer"]
        for service in services:
            prefix = f"{root}/Limites/Communes/{service}/"
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if rest.isdigit():
                return Reply(json.dumps(self._layer(int(rest))).encode(), "application/json")
            if rest.endswith("/query"):
                answer = self._query(int(rest.split("/")[0]), query)
                return Reply(json.dumps(answer).encode(), "application/json")
        error = {"error": {"code": 400, "message": "Invalid URL", "details": []}}
        return Reply(json.dumps(error).encode(), "application/json")


# --- OpenDataSoft ----------------------------------------------------------------------


@dataclass
class FakeOds:
    """data.gouv.nc-like Explore API v2.1: catalog/datasets paged, uncapped exports."""

    items: list[dict] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)

    def dataset(self, item: dict) -> dict:
        geo = item["id"] != "isee-population"
        return {
            "dataset_id": item["id"],
            "dataset_uid": "da_" + item["id"][:6],
            "has_records": True,
            "features": ["analyze", "geo"] if geo else ["analyze"],
            "metas": {
                "default": {
                    "title": item["title"],
                    "description": f"<p>{item['description']}</p><p>Source : Géorep.</p>",
                    "keyword": item["keywords"],
                    "theme": ["Aménagement du territoire"],
                    "license": "Licence Ouverte v2.0 (Etalab)",
                    "license_url": ETALAB,
                    "publisher": "DITTT",
                    "modified": item["modified"] + "T00:00:00+00:00",
                    "records_count": 33,
                }
            },
        }

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import csv
        import io
        import json

        catalog = "/api/explore/v2.1/catalog/datasets"
        if path == catalog:
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            if limit > 100:
                return Reply(
                    b'{"error_code": "InvalidRESTParameterError"}', "application/json", 400
                )
            chunk = self.items[offset : offset + limit]
            body = {"total_count": len(self.items), "results": [self.dataset(i) for i in chunk]}
            return Reply(json.dumps(body).encode(), "application/json; charset=utf-8")
        if path.startswith(catalog + "/") and "/exports/" in path:
            ident, fmt = path[len(catalog) + 1 :].split("/exports/")
            self.exports.append(f"{ident}.{fmt}")
            if fmt == "csv":
                rows = list(csv.reader(io.StringIO(POPULATION.read_text(encoding="utf-8"))))
                out = io.StringIO()
                csv.writer(out, delimiter=";").writerows(rows)
                return Reply(out.getvalue().encode(), "text/csv; charset=utf-8")
            collection = json.loads(COMMUNES.read_text(encoding="utf-8"))
            if ident.startswith("commune-"):
                code = ident.split("-")[1]
                collection["features"] = [
                    f for f in collection["features"] if f["properties"]["CODGEO"] == code
                ]
            return Reply(json.dumps(collection).encode(), "application/geo+json")
        return Reply(b'{"error_code": "NotFound"}', "application/json", 404)


# --- code forges -----------------------------------------------------------------------

PUBLICCODE = """publiccodeYmlVersion: "0.4"
name: Niaouli
url: https://github.com/gouv-nc/niaouli
releaseDate: "2026-11-01"
platforms: [web]
developmentStatus: beta
softwareType: standalone/web
legal:
  license: AGPL-3.0-or-later
description:
  fr:
    shortDescription: Plateforme des données ouvertes de Nouvelle-Calédonie
    longDescription: Catalogue, API OGC et CSW, portail en français.
    features: [catalogue, OGC API Features, CSW]
maintenance:
  type: internal
  contacts:
    - name: Service du numérique
"""


@dataclass
class FakeForge:
    """GitHub REST (orgs, repos, languages, releases, raw files) and GitLab API v4."""

    public_repos: int = 4

    REPOS = (
        ("niaouli", "main", False, False, "AGPL-3.0", {"Python": 90000, "JavaScript": 12000}),
        ("carto-communes", "master", False, False, "MIT", {"JavaScript": 5000}),
        ("vieux-site", "main", False, True, None, {"PHP": 100}),
        ("pygeoapi", "master", True, False, "MIT", {"Python": 1}),
    )

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import json

        def ok(data, headers=None) -> Reply:
            return Reply(json.dumps(data).encode(), "application/json", 200, headers or {})

        if path == "/orgs/gouv-nc":
            return ok({"login": "gouv-nc", "public_repos": self.public_repos})
        if path == "/orgs/gouv-nc/repos":
            repos = [
                {
                    "name": name,
                    "full_name": f"gouv-nc/{name}",
                    "description": f"Dépôt {name}",
                    "html_url": f"https://github.com/gouv-nc/{name}",
                    "default_branch": branch,
                    "fork": fork,
                    "archived": archived,
                    "license": {"spdx_id": licence} if licence else None,
                    "topics": ["nouvelle-caledonie", "open-data"],
                    "pushed_at": "2026-11-20T08:00:00Z",
                }
                for name, branch, fork, archived, licence, _l in self.REPOS
            ]
            return ok(repos if query.get("page") == "1" else [])
        for name, branch, _f, _a, _lic, languages in self.REPOS:
            if path == f"/repos/gouv-nc/{name}/languages":
                return ok(languages)
            if path == f"/repos/gouv-nc/{name}/releases":
                return ok(
                    [
                        {
                            "tag_name": "v0.3.0",
                            "name": "Cagou",
                            "published_at": "2026-11-01T00:00:00Z",
                            "html_url": f"https://github.com/gouv-nc/{name}/releases/v0.3.0",
                        }
                    ]
                    if name == "niaouli"
                    else []
                )
            if path == f"/raw/gouv-nc/{name}/{branch}/publiccode.yml" and name == "niaouli":
                return Reply(PUBLICCODE.encode(), "text/plain")
        # GitLab
        if path == "/api/v4/groups/province-sud/projects":
            projects = [
                {
                    "id": 11,
                    "name": "SIG Sud",
                    "path_with_namespace": "province-sud/sig-sud",
                    "description": "Outils SIG",
                    "web_url": "https://gitlab.example/province-sud/sig-sud",
                    "default_branch": "main",
                    "topics": ["sig"],
                    "last_activity_at": "2026-10-01T00:00:00Z",
                    "license": {"key": "eupl-1.2"},
                },
                {
                    "id": 12,
                    "name": "Horaires bus",
                    "path_with_namespace": "province-sud/transports/horaires",
                    "description": "GTFS des bus",
                    "web_url": "https://gitlab.example/province-sud/transports/horaires",
                    "default_branch": "main",
                    "topics": [],
                    "last_activity_at": "2026-09-01T00:00:00Z",
                    "license": None,
                },
            ]
            return ok(projects, {"X-Total": "2", "X-Next-Page": ""})
        if path in ("/api/v4/projects/11/languages", "/api/v4/projects/12/languages"):
            return ok({"Python": 70.5, "Shell": 29.5})
        if path.endswith("/releases") and path.startswith("/api/v4/projects/"):
            return ok([])
        if path == "/api/v4/projects/11/repository/files/publiccode.yml/raw":
            return Reply(PUBLICCODE.replace("Niaouli", "SIG Sud").encode(), "text/plain")
        return Reply(b'{"message": "Not Found"}', "application/json", 404)


# --- OGC API Features and WFS 2.0 ------------------------------------------------------

WFS_CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"
  xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <ows:OperationsMetadata>
    <ows:Operation name="GetFeature">
      <ows:Parameter name="outputFormat"><ows:AllowedValues>
        <ows:Value>application/gml+xml; version=3.2</ows:Value>
        <ows:Value>application/json</ows:Value>
      </ows:AllowedValues></ows:Parameter>
    </ows:Operation>
  </ows:OperationsMetadata>
  <wfs:FeatureTypeList>
    <wfs:FeatureType xmlns:nc="https://geoserver.gouv.nc/nc">
      <wfs:Name>nc:communes</wfs:Name>
      <wfs:Title>Communes de Nouvelle-Calédonie</wfs:Title>
      <wfs:Abstract>Limites communales (RGNC91-93 / Lambert NC).</wfs:Abstract>
      <ows:Keywords><ows:Keyword>communes</ows:Keyword><ows:Keyword>limites</ows:Keyword></ows:Keywords>
      <wfs:DefaultCRS>urn:ogc:def:crs:EPSG::3163</wfs:DefaultCRS>
      <ows:WGS84BoundingBox>
        <ows:LowerCorner>163.56 -22.72</ows:LowerCorner>
        <ows:UpperCorner>168.14 -19.53</ows:UpperCorner>
      </ows:WGS84BoundingBox>
    </wfs:FeatureType>
  </wfs:FeatureTypeList>
</wfs:WFS_Capabilities>
"""


@dataclass
class FakeOgc:
    """OGC API Features (/ogc) and a GeoServer-like WFS 2.0 (/wfs) over the communes."""

    base: str = ""
    arcgis: FakeArcGis = field(default_factory=FakeArcGis)
    real_capabilities: bool = False

    def _features(self, crs3163: bool) -> list[dict]:
        import json

        from shapely.geometry import mapping

        if crs3163:
            return [
                {"type": "Feature", "id": n + 1, "properties": props, "geometry": mapping(g)}
                for n, (props, g) in enumerate(self.arcgis.communes)
            ]
        collection = json.loads(COMMUNES.read_text(encoding="utf-8"))
        return [dict(f, id=n + 1) for n, f in enumerate(collection["features"])]

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        import json

        if path == "/ogc/collections":
            collections = [
                {
                    "id": "communes",
                    "title": "Communes de Nouvelle-Calédonie",
                    "description": "Limites communales simplifiées.",
                    "keywords": ["communes", "limites"],
                    "extent": {"spatial": {"bbox": [[163.56, -22.72, 168.14, -19.53]]}},
                    "links": [
                        {"rel": "license", "href": ETALAB, "title": "Licence Ouverte 2.0"},
                        {"rel": "items", "href": f"{self.base}/ogc/collections/communes/items"},
                    ],
                }
            ]
            return Reply(
                json.dumps({"collections": collections, "links": []}).encode(), "application/json"
            )
        if path == "/ogc/collections/communes/items":
            limit, offset = int(query.get("limit", 10)), int(query.get("offset", 0))
            features = self._features(False)
            page = features[offset : offset + limit]
            links = []
            if offset + limit < len(features):
                nxt = f"{self.base}/ogc/collections/communes/items?f=json&limit={limit}"
                nxt += f"&offset={offset + limit}"
                links.append({"rel": "next", "href": nxt, "type": "application/geo+json"})
            body = {
                "type": "FeatureCollection",
                "features": page,
                "links": links,
                "numberMatched": len(features),
            }
            return Reply(json.dumps(body).encode(), "application/geo+json")
        if path == "/wfs" and query.get("request") == "GetCapabilities":
            if self.real_capabilities:
                return Reply((HARVEST_FIXTURES / "wfs200_arcgis_getcapabilities.xml").read_bytes())
            return Reply(WFS_CAPABILITIES.encode())
        if path == "/wfs" and query.get("request") == "GetFeature":
            count, start = int(query.get("count", 10)), int(query.get("startIndex", 0))
            features = self._features(True)
            body = {
                "type": "FeatureCollection",
                "features": features[start : start + count],
                "numberMatched": len(features),
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3163"}},
            }
            return Reply(json.dumps(body).encode(), "application/json")
        return Reply(b"not found", "text/plain", 404)
