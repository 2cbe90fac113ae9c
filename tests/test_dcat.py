"""DCAT-AP catalogue, schema.org JSON-LD, Atom feed and sitemap, on both backends.

- `/catalog.{ttl,jsonld,rdf}` is validated with pyshacl against the official SHACL
  shapes of DCAT-AP 3.0.0 (`tests/fixtures/dcat-ap-3/`, with RDFS inference: no
  violation at all) and of GeoDCAT-AP 2.0.0 (`tests/fixtures/geodcat-ap/`) together with
  DCAT-AP 2.1.1's (`tests/fixtures/dcat-ap/`: no violation but the two places where 3.0.0
  changed 2.1.1's rule, see `DCAT_AP_2_DEVIATIONS`), for a catalogue holding the demo
  data, a dataset with every field filled, non-spatial datasets (a table, a metadata-only
  dataset with hostile text), an imported ISO record, harvested datasets (spatial and
  not) and restricted ones (ingested and harvested) that must be absent.
- Content: only public datasets, the catalogue's values mapped to the EU vocabularies,
  checksums and sizes equal to the files served, Hydra paging a harvester can follow.
- Against a live `niaouli serve`: CSW GetRecords and DCAT list the same identifiers,
  titles and bounding boxes; a dataset made non-public, then one deleted, disappears from
  DCAT, CSW, Atom, the sitemap and its page.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import date

import feedparser
import httpx
import pytest
import shapely
from lxml import etree
from owslib.catalogue.csw2 import CatalogueServiceWeb
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SH, XSD
from starlette.testclient import TestClient

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.dcat.vocabularies import HYDRA, LOCN, SPDX, VCARD
from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from niaouli.portal import syndication
from niaouli.portal.app import create_app
from niaouli.services.csw.importer import import_records
from tests.conftest import FIXTURES, GEODATA, Backend
from tests.csw_support import ISO_RECORD, serve, wait_for
from tests.demo_support import DEMO_HARVESTED, DEMO_HARVESTED_IDS, DEMO_PUBLIC
from tests.harvest_support import FakeDcat, FakeRemote, add_source_for, commune_items, harvest
from tests.portal_support import PRIVATE, XSS_TITLE, populate

EU = "http://publications.europa.eu/resource/authority/"
FULL = "communes-complet"
BRETAGNE = "955c3e47-411e-4969-b61b-3556d1b9f879"  # imported ISO record: its own identifier
# Harvested from a DCAT catalogue (slugs made from the remote titles): a spatial dataset
# with links, a non-spatial one, a spatial one without distribution; and one harvested
# by a source whose datasets are restricted to the organisation (never published).
HARVESTED = {
    "limites-des-communes-de-nouvelle-caledonie",
    "population-des-communes",
    "commune-de-noumea",
}
HARVESTED_PRIVATE = "commune-de-poya"
PUBLIC_SLUGS = {"tribus-hienghene", FULL} | HARVESTED | DEMO_PUBLIC
# dct:identifier values: the imported record's and the demo's CSW-harvested records' own
# identifiers (as in CSW), the slug for the others.
PUBLIC = PUBLIC_SLUGS - set(DEMO_HARVESTED) | {BRETAGNE, *DEMO_HARVESTED_IDS}
RDF_FORMATS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}

# SHACL shapes: DCAT-AP 3.0.0 (checked with RDFS inference, as its shapes need), and
# GeoDCAT-AP 2.0.0 with the DCAT-AP 2.1.1 shapes it extends (GeoDCAT-AP's date shapes
# point to 2.x's `:DateOrDateTimeDataType_Shape`).
DCAT_AP_3 = "dcat-ap-3.0.0"
GEODCAT_AP = "geodcat-ap-2.0.0+dcat-ap-2.1.1"
SHAPES = {
    DCAT_AP_3: (
        FIXTURES / "dcat-ap-3" / "dcat-ap-3.0.0-SHACL.ttl",
        FIXTURES / "dcat-ap-3" / "dcat-ap-3.0.0-range.ttl",
    ),
    GEODCAT_AP: (
        FIXTURES / "geodcat-ap" / "geodcat-ap-2.0.0.shacl.ttl",
        FIXTURES / "dcat-ap" / "dcat-ap_2.1.1_shacl_shapes.ttl",
        FIXTURES / "dcat-ap" / "dcat-ap_2.1.1_shacl_range.ttl",
    ),
}
INFERENCE = {DCAT_AP_3: "rdfs", GEODCAT_AP: "none"}

# The DCAT-AP 2.1.1 constraints the catalogue does not meet, deliberately: both are
# where DCAT-AP 3.0.0 changed the rule, and the catalogue follows 3.0.0.
# - `:Checksum_Shape` requires `spdx:algorithm` to be `spdx:checksumAlgorithm_sha1` (SHA-1
#   is the only algorithm 2.1.1 names; 3.0.0 accepts any SPDX algorithm). Niaouli stores
#   and serves SHA-256 checksums of every file (SHA-1 is broken for integrity); publishing
#   a SHA-1 would mean hashing every file again, for a weaker checksum.
# - `dcat:byteSize` is an `xsd:decimal` in 2.1.1, an `xsd:nonNegativeInteger` in 3.0.0
#   (one literal cannot be both; a harvester reads the same number either way).
# Every such result is checked to be about a SHA-256 checksum, or a size, that is present.
DCAT_AP_2_DEVIATIONS = {
    (SH.HasValueConstraintComponent, SPDX.algorithm),
    (SH.DatatypeConstraintComponent, DCAT.byteSize),
}


@functools.cache
def shapes_graph(profile: str) -> Graph:
    graph = Graph()
    for path in SHAPES[profile]:
        graph.parse(path, format="turtle")
    return graph


def shacl_results(data: Graph, profile: str) -> list[dict]:
    """Every validation result against `profile`, as dicts (component, path, focus...)."""
    _conforms, report, _text = validate(
        data,
        shacl_graph=shapes_graph(profile),
        inference=INFERENCE[profile],
        allow_warnings=False,
    )
    results = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        results.append(
            {
                "component": report.value(result, SH.sourceConstraintComponent),
                "path": report.value(result, SH.resultPath),
                "focus": report.value(result, SH.focusNode),
                "message": str(report.value(result, SH.resultMessage)),
            }
        )
    return results


def unexpected_violations(data: Graph, profile: str) -> list[dict]:
    """The results of `profile` but the documented DCAT-AP 2.1.1 deviations."""
    unexpected = []
    for result in shacl_results(data, profile):
        key = (result["component"], result["path"])
        if profile == GEODCAT_AP and key == (SH.HasValueConstraintComponent, SPDX.algorithm):
            assert data.value(result["focus"], SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
            assert len(str(data.value(result["focus"], SPDX.checksumValue))) == 64
            continue
        if profile == GEODCAT_AP and key == (SH.DatatypeConstraintComponent, DCAT.byteSize):
            size = data.value(result["focus"], DCAT.byteSize)
            assert size.datatype == XSD.nonNegativeInteger and size.toPython() > 0
            continue
        unexpected.append(result)
    return unexpected


def add_full_dataset(backend: Backend) -> None:
    """A spatial dataset with every catalogue field filled."""
    ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation="province-nord",
        dataset=FULL,
        title="Communes — jeu complet",
        description="Toutes les métadonnées renseignées.\n\nDeuxième paragraphe.",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, FULL)
        service.update_dataset(
            session,
            dataset,
            themes=["Environnement", "Thème local sans équivalent"],
            keywords=["communes", "limites"],
            licence="ODbL",
            producer="Service de la géomatique",
            contact_name="Cellule SIG",
            contact_email="sig@province-nord.nc",
            update_frequency="monthly",
            temporal_start=date(2019, 1, 1),
            temporal_end=date(2024, 12, 31),
            lineage="Numérisation au 1:10 000 puis simplification.",
            provenance={"source_url": "https://georep.nc/communes"},
        )
        dataset.resources.append(
            Resource(
                title="Notice",
                kind=ResourceKind.LINK,
                url="https://example.nc/notice.pdf",
                format="PDF",
                media_type="application/pdf",
            )
        )


def imported_slug(backend: Backend) -> str:
    with backend.session() as session:
        (slug,) = [
            d.slug for d in service.list_datasets(session, ANONYMOUS) if d.slug not in PUBLIC_SLUGS
        ]
        return slug


def add_harvested_datasets(backend: Backend) -> None:
    """Datasets harvested from a DCAT catalogue on 127.0.0.1 (metadata and links only).

    Two sources of the same organisation: a public one (a spatial dataset with links, a
    table, a commune without distribution) and one whose datasets are restricted to the
    organisation (`access=organisation`: harvested, never published).
    """
    for slug, wanted, options in (
        ("geo-public", {"georep-communes", "isee-population", "commune-98818"}, {}),
        ("geo-interne", {"commune-98827"}, {"access": "organisation"}),
    ):
        remote = FakeRemote(FakeDcat())
        try:
            remote.handler.base = remote.url
            remote.handler.items = [i for i in commune_items(remote.url) if i["id"] in wanted]
            add_source_for(
                backend, "province-nord", remote.url + "/catalog.ttl", slug, "dcat", **options
            )
            report = harvest(backend, slug)
            assert report.counts["created"] == len(wanted), report.message
        finally:
            remote.close()


@pytest.fixture
def site(backend: Backend):
    populate(backend)
    add_full_dataset(backend)
    add_harvested_datasets(backend)
    # An imported ISO 19139 record: metadata only, its producer's identifier, bbox and
    # licence text (no known licence IRI).
    import_records(backend.engine, [ISO_RECORD], "gouvernement-nc")
    with backend.session() as session, session.begin():
        hostile = service.find_dataset(session, "tribus-hienghene")
        service.update_dataset(session, hostile, licence="Licence <b>maison</b>")
    client = TestClient(create_app(backend.settings), raise_server_exceptions=True)
    yield client
    client.close()


def fetch_graph(client, url: str, rdf_format: str = "turtle") -> Graph:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    return Graph().parse(data=response.content, format=rdf_format)


def dataset_nodes(graph: Graph) -> dict[str, URIRef]:
    """identifier -> dataset node."""
    return {
        str(graph.value(node, DCTERMS.identifier)): node
        for node in graph.subjects(RDF.type, DCAT.Dataset)
    }


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize("extension", list(RDF_FORMATS))
def test_catalogue_conforms_to_dcat_ap_3_and_geodcat_ap(site, extension):
    graph = fetch_graph(site, f"/catalog.{extension}", RDF_FORMATS[extension])
    assert set(dataset_nodes(graph)) == PUBLIC
    assert shacl_results(graph, DCAT_AP_3) == []
    assert unexpected_violations(graph, GEODCAT_AP) == []
    # The documented DCAT-AP 2.1.1 deviations are really exercised (files carry their
    # size and SHA-256), and they are the only results.
    reported = {(r["component"], r["path"]) for r in shacl_results(graph, GEODCAT_AP)}
    assert reported == DCAT_AP_2_DEVIATIONS


def test_dcat_ap_shapes_bite(site):
    """The shapes used above do find what they are meant to find (in a broken copy)."""
    graph = fetch_graph(site, "/catalog.ttl")
    broken = Graph()
    for triple in graph:
        broken.add(triple)
    full = dataset_nodes(graph)[FULL]
    broken.remove((full, DCTERMS.title, None))
    licence = graph.value(full, DCTERMS.license) or next(
        graph.objects(next(graph.objects(full, DCAT.distribution)), DCTERMS.license)
    )
    broken.remove((licence, RDF.type, None))
    broken.set((full, DCTERMS.modified, Literal("hier")))
    # What the catalogue published before it followed DCAT-AP 3.0.0:
    location = graph.value(full, DCTERMS.spatial)
    broken.add((location, LOCN.geometry, Literal('{"type":"Point","coordinates":[166,-22]}')))
    checksum = next(graph.subjects(RDF.type, SPDX.Checksum))
    broken.remove((graph.value(checksum, SPDX.algorithm), RDF.type, SPDX.ChecksumAlgorithm))
    sized = next(graph.subjects(DCAT.byteSize, None))
    size = graph.value(sized, DCAT.byteSize).toPython()
    broken.set((sized, DCAT.byteSize, Literal(str(size), datatype=XSD.decimal)))
    # A GeoDCAT-AP constraint: a dataset's creation date is a date.
    broken.add((full, DCTERMS.created, Literal("hier")))

    found = {(r["component"], r["path"]) for r in shacl_results(broken, DCAT_AP_3)}
    assert {
        (SH.MinCountConstraintComponent, DCTERMS.title),
        (SH.ClassConstraintComponent, DCTERMS.license),
        (SH.ClassConstraintComponent, LOCN.geometry),
        (SH.NodeKindConstraintComponent, LOCN.geometry),
        (SH.ClassConstraintComponent, SPDX.algorithm),
        (SH.DatatypeConstraintComponent, DCAT.byteSize),
    } <= found, found
    # (DCAT-AP 3.0.0's shapes only ask a date to be a literal; the 2.1.1 ones check it.)
    found = {(r["component"], r["path"]) for r in unexpected_violations(broken, GEODCAT_AP)}
    assert {
        (SH.MinCountConstraintComponent, DCTERMS.title),
        (SH.ClassConstraintComponent, DCTERMS.license),
        (SH.NodeConstraintComponent, DCTERMS.modified),
        (SH.NodeConstraintComponent, DCTERMS.created),
    } <= found, found


def test_serialisations_carry_the_same_graph(site):
    graphs = [fetch_graph(site, f"/catalog.{ext}", name) for ext, name in RDF_FORMATS.items()]
    sizes = {len(g) for g in graphs}
    assert len(sizes) == 1 and sizes.pop() > 200
    titles = [
        sorted(str(t) for t in g.objects(None, DCTERMS.title) if "Calédonie" in str(t))
        for g in graphs
    ]
    assert titles[0] == titles[1] == titles[2]
    # /catalog.xml is udata's name for RDF/XML; unknown extensions are a 404.
    assert site.get("/catalog.xml").headers["content-type"].startswith("application/rdf+xml")
    assert site.get("/catalog.exe").status_code == 404


# --- content ----------------------------------------------------------------------------


def test_catalogue_content_maps_every_field(site, backend):
    graph = fetch_graph(site, "/catalog.ttl")
    catalog = next(graph.subjects(RDF.type, DCAT.Catalog))
    assert graph.value(catalog, DCTERMS.title).language == "fr"
    assert graph.value(catalog, DCTERMS.language) == URIRef(EU + "language/FRA")
    assert graph.value(catalog, DCTERMS.publisher) is not None
    assert len(list(graph.objects(catalog, DCAT.dataset))) == len(PUBLIC)
    services = {str(graph.value(s, DCAT.endpointURL)) for s in graph.objects(catalog, DCAT.service)}
    assert services == {"http://testserver/ogc", "http://testserver/csw"}

    nodes = dataset_nodes(graph)
    full = nodes[FULL]
    value = functools.partial(graph.value, full)
    assert str(value(predicate=DCTERMS.title)) == "Communes — jeu complet"
    assert str(value(predicate=DCAT.landingPage)) == f"http://testserver/jeux-de-donnees/{FULL}"
    keywords = {str(k) for k in graph.objects(full, DCAT.keyword)}
    assert {"communes", "limites", "Thème local sans équivalent"} <= keywords
    assert set(graph.objects(full, DCAT.theme)) == {URIRef(EU + "data-theme/ENVI")}
    assert value(predicate=DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/MONTHLY")
    period = value(predicate=DCTERMS.temporal)
    assert graph.value(period, DCAT.startDate) == Literal(date(2019, 1, 1), datatype=XSD.date)
    assert graph.value(period, DCAT.endDate) == Literal(date(2024, 12, 31), datatype=XSD.date)
    publisher = value(predicate=DCTERMS.publisher)
    assert str(graph.value(publisher, FOAF.name)) == "Province Nord"
    assert graph.value(publisher, DCTERMS.type) == URIRef(
        "http://purl.org/adms/publishertype/RegionalAuthority"
    )
    contact = value(predicate=DCAT.contactPoint)
    assert str(graph.value(contact, VCARD.fn)) == "Cellule SIG"
    assert graph.value(contact, VCARD.hasEmail) == URIRef("mailto:sig@province-nord.nc")
    provenance = value(predicate=DCTERMS.provenance)
    assert "Numérisation" in str(graph.value(provenance, RDFS.label))
    creator = value(predicate=DCTERMS.creator)
    assert str(graph.value(creator, FOAF.name)) == "Service de la géomatique"

    # Spatial: the box as WKT (dcat:bbox); no locn:geometry (DCAT-AP 2.1.1 and 3.0.0
    # disagree on its form, dcat:bbox says the same).
    location = value(predicate=DCTERMS.spatial)
    wkt = graph.value(location, DCAT.bbox)
    assert wkt.datatype == URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")
    assert shapely.from_wkt(str(wkt)).bounds == pytest.approx(
        (163.57, -22.7, 168.14, -19.54), abs=0.05
    )
    assert graph.value(location, LOCN.geometry) is None

    distributions = list(graph.objects(full, DCAT.distribution))
    by_title = {str(graph.value(d, DCTERMS.title)): d for d in distributions}
    # the original file: size and checksum equal what the download serves
    original = next(d for t, d in by_title.items() if "fichier d'origine" in t)
    download = site.get(
        str(graph.value(original, DCAT.downloadURL)).replace("http://testserver", "")
    )
    assert download.status_code == 200
    size = graph.value(original, DCAT.byteSize)
    assert size.datatype == XSD.nonNegativeInteger and size.toPython() == len(download.content)
    checksum = graph.value(original, SPDX.checksum)
    algorithm = graph.value(checksum, SPDX.algorithm)
    assert algorithm == SPDX.checksumAlgorithm_sha256
    assert (algorithm, RDF.type, SPDX.ChecksumAlgorithm) in graph
    assert (
        str(graph.value(checksum, SPDX.checksumValue))
        == hashlib.sha256(download.content).hexdigest()
    )
    assert graph.value(original, DCTERMS.format) == URIRef(EU + "file-type/GEOJSON")
    assert graph.value(original, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/application/geo+json"
    )
    assert graph.value(original, DCTERMS.license) == URIRef(
        "https://opendatacommons.org/licenses/odbl/1-0/"
    )
    # the four exports, each downloadable, and the OGC API collection
    formats = {
        str(graph.value(d, DCTERMS.format)).rsplit("/", 1)[1]
        for d in distributions
        if "export" in str(graph.value(d, DCTERMS.title))
    }
    assert formats == {"GPKG", "GEOJSON", "CSV", "SHP"}
    geojson_export = next(t for t in by_title if t.endswith("export GeoJSON"))
    url = str(graph.value(by_title[geojson_export], DCAT.downloadURL))
    exported = site.get(url.replace("http://testserver", ""))
    assert exported.status_code == 200 and len(exported.json()["features"]) == 33
    ogc = next(d for t, d in by_title.items() if t.endswith("API OGC Features"))
    assert graph.value(ogc, DCAT.accessService) == URIRef("http://testserver/ogc#service")
    assert str(graph.value(ogc, DCAT.accessURL)).startswith("http://testserver/ogc/collections/")
    assert "https://example.nc/notice.pdf" in {
        str(graph.value(d, DCAT.accessURL)) for d in distributions
    }

    # The non-spatial table: no dct:spatial, only a CSV export, no OGC API collection.
    table = nodes["population-communes-nc"]
    assert graph.value(table, DCTERMS.spatial) is None
    table_titles = [
        str(graph.value(d, DCTERMS.title)) for d in graph.objects(table, DCAT.distribution)
    ]
    assert not any("OGC" in t for t in table_titles)
    assert sorted(t.rsplit(" ", 1)[1] for t in table_titles if "export" in t) == ["CSV"]

    # The hostile metadata-only dataset: its title round-trips exactly, no unsafe link.
    hostile = nodes["tribus-hienghene"]
    assert str(graph.value(hostile, DCTERMS.title)) == XSS_TITLE
    assert graph.value(hostile, DCTERMS.spatial) is None
    iris = {str(o) for o in graph.objects() if isinstance(o, URIRef)}
    assert not [i for i in iris if i.lower().startswith(("javascript:", "data:"))]
    # Organisation without e-mail nor safe website, dataset without contact: no contact
    # point invented (its `javascript:` website is not published either).
    assert graph.value(hostile, DCAT.contactPoint) is None
    # The imported record: the producer's identifier, its box, its licence as text.
    record = nodes[BRETAGNE]
    box = shapely.from_wkt(str(graph.value(graph.value(record, DCTERMS.spatial), DCAT.bbox)))
    assert box.bounds == pytest.approx((-5.2352, 46.7559, -1.1922, 49.3047), abs=1e-3)
    assert str(graph.value(record, DCTERMS.title)).strip()
    assert list(graph.objects(record, DCAT.distribution)) == []  # metadata only
    # A licence known by its name only: a licence document labelled with that name.
    (fiche,) = graph.objects(hostile, DCAT.distribution)
    licence = graph.value(fiche, DCTERMS.license)
    assert not isinstance(licence, URIRef)
    assert (licence, RDF.type, DCTERMS.LicenseDocument) in graph
    assert str(graph.value(licence, RDFS.label)) == "Licence <b>maison</b>"
    # Harvested datasets: the remote's box, links as distributions; a table has no box.
    harvested_communes = nodes["limites-des-communes-de-nouvelle-caledonie"]
    box = graph.value(graph.value(harvested_communes, DCTERMS.spatial), DCAT.bbox)
    assert shapely.from_wkt(str(box)).bounds == pytest.approx((163.5, -22.8, 168.2, -19.5))
    assert len(list(graph.objects(harvested_communes, DCAT.distribution))) == 2
    assert graph.value(nodes["population-des-communes"], DCTERMS.spatial) is None
    # Nothing private, whatever the field (ingested or harvested).
    text = site.get("/catalog.ttl").text
    for slug in (*PRIVATE, HARVESTED_PRIVATE):
        assert slug not in text
    assert "Païta" not in text and "Poya" not in text
    assert "Secret" not in text and "Ne doit jamais" not in text


def test_hydra_paging_can_be_followed(site):
    seen: list[str] = []
    url = "/catalog.ttl?page_size=3"
    pages = 0
    while url:
        graph = fetch_graph(site, url)
        pages += 1
        view = next(graph.subjects(RDF.type, HYDRA.PartialCollectionView))
        assert (view, RDF.type, HYDRA.PagedCollection) in graph  # udata's older term
        # 8 before issue 15 §8, and the demo's 3 bathing-water datasets and 2 harvested.
        assert int(graph.value(view, HYDRA.totalItems)) == len(PUBLIC) == 13
        assert int(graph.value(view, HYDRA.itemsPerPage)) == 3
        assert str(graph.value(view, HYDRA.last)).endswith("page=5&page_size=3")
        assert graph.value(view, HYDRA.first) == graph.value(view, HYDRA.firstPage)
        seen += list(dataset_nodes(graph))
        following = graph.value(view, HYDRA.next)
        assert following == graph.value(view, HYDRA.nextPage)
        url = str(following).replace("http://testserver", "") if following else ""
    assert pages == 5
    assert sorted(seen) == sorted(PUBLIC)
    # Past the end: a valid, empty page; nonsense parameters fall back to defaults.
    graph = fetch_graph(site, "/catalog.ttl?page=9&page_size=3")
    assert dataset_nodes(graph) == {}
    graph = fetch_graph(site, "/catalog.ttl?page=-1&page_size=abc")
    assert set(dataset_nodes(graph)) == PUBLIC


def test_negotiation_and_conditional_requests(site, backend):
    expectations = {
        "text/turtle": "text/turtle",
        "application/ld+json": "application/ld+json",
        "application/rdf+xml": "application/rdf+xml",
        "text/html;q=0.9, application/rdf+xml;q=0.5, application/ld+json;q=0.8": (
            "application/ld+json"
        ),
        "*/*": "text/turtle",
    }
    for accept, expected in expectations.items():
        response = site.get("/catalog", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(expected), accept
        assert response.headers["vary"] == "Accept"
    for url in ("/catalog.ttl", "/feeds/datasets.atom", "/sitemap.xml"):
        first = site.get(url)
        etag = first.headers["etag"]
        again = site.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    # Any catalogue change moves the ETag (the catalogue version is part of it).
    etag = site.get("/catalog.ttl").headers["etag"]
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(session, dataset, keywords=["nouveau"])
    response = site.get("/catalog.ttl", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["etag"] != etag
    assert '"nouveau"@fr' in response.text


# --- schema.org, links in pages ---------------------------------------------------------


def jsonld_blocks(html: str) -> list[str]:
    return re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)


def test_dataset_pages_embed_schema_org_dataset(site):
    html = site.get(f"/jeux-de-donnees/{FULL}").text
    blocks = jsonld_blocks(html)
    assert len(blocks) == 1
    data = json.loads(blocks[0])
    assert data["@type"] == "Dataset" and data["@context"] == "https://schema.org/"
    assert data["name"] == "Communes — jeu complet"
    assert data["url"] == f"http://testserver/jeux-de-donnees/{FULL}"
    assert data["license"] == "https://opendatacommons.org/licenses/odbl/1-0/"
    assert data["temporalCoverage"] == "2019-01-01/2024-12-31"
    south, west, north, east = map(float, data["spatialCoverage"]["geo"]["box"].split())
    assert (west, south, east, north) == pytest.approx((163.57, -22.7, 168.14, -19.54), abs=0.05)
    assert data["publisher"]["name"] == "Province Nord"
    assert data["creator"]["name"] == "Service de la géomatique"
    downloads = {d.get("encodingFormat") for d in data["distribution"]}
    assert {"application/geo+json", "application/geopackage+sqlite3", "text/csv"} <= downloads
    assert "application/pdf" in downloads  # the link resource
    assert all(d["@type"] == "DataDownload" for d in data["distribution"])
    for rel in (
        'type="text/turtle" href="/catalog.ttl"',
        'type="application/atom+xml" href="/feeds/datasets.atom"',
    ):
        assert f'<link rel="alternate" {rel}' in html


def test_schema_org_block_cannot_be_broken_out_of(site):
    html = site.get("/jeux-de-donnees/tribus-hienghene").text
    (block,) = jsonld_blocks(html)
    # The title holds `<script>alert(2)</script>`: inside the block, no `<` at all, so
    # the HTML parser cannot see a `</script>` before ours.
    assert "<" not in block and ">" not in block
    assert "\\u003c/script\\u003e" in block
    data = json.loads(block)
    assert data["name"] == XSS_TITLE
    # The description mentions `javascript:alert(3)` as text; no URL is unsafe.
    urls = [data["url"], *(d["contentUrl"] for d in data["distribution"])]
    assert urls and all(u.startswith("http") for u in urls), urls
    assert "https://example.nc/fiche" in urls
    # Every `</script>` closes one of the page's own script elements (the JSON-LD block
    # and the static scripts): none comes from the data.
    assert html.count("</script>") == html.count("<script") >= 1


# --- Atom and sitemap -------------------------------------------------------------------


def test_atom_feed_lists_new_and_updated_datasets(site, backend):
    public_slugs = PUBLIC_SLUGS | {imported_slug(backend)}
    response = site.get("/feeds/datasets.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Niaouli — jeux de données nouveaux et mis à jour"
    slugs = [entry.link.rsplit("/", 1)[1] for entry in feed.entries]
    assert set(slugs) == public_slugs
    assert any(entry.title == XSS_TITLE for entry in feed.entries)
    updated = [entry.updated_parsed for entry in feed.entries]
    assert updated == sorted(updated, reverse=True)
    # An update puts the dataset first.
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "population-communes-nc")
        service.update_dataset(session, dataset, description="Description révisée.")
    feed = feedparser.parse(site.get("/feeds/datasets.atom").content)
    assert feed.entries[0].link.endswith("/population-communes-nc")
    assert feed.entries[0].summary == "Description révisée."
    # Well-formed for a strict XML parser too, in the Atom namespace.
    root = etree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"


def test_sitemap_and_robots(site, backend):
    public_slugs = PUBLIC_SLUGS | {imported_slug(backend)}
    root = etree.fromstring(site.get("/sitemap.xml").content)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [e.text for e in root.iterfind("s:url/s:loc", ns)]
    expected = {
        "http://testserver/",
        "http://testserver/jeux-de-donnees",
        "http://testserver/organisations",
        "http://testserver/organisations/gouvernement-nc",
        "http://testserver/organisations/province-nord",
        # the demo's other publishers (issue 15 §8)
        "http://testserver/organisations/province-sud",
        "http://testserver/organisations/ville-de-noumea",
    } | {f"http://testserver/jeux-de-donnees/{slug}" for slug in public_slugs}
    assert set(locs) == expected and len(locs) == len(expected)
    lastmods = root.findall("s:url/s:lastmod", ns)
    assert len(lastmods) >= 6
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.text) for e in lastmods)
    robots = site.get("/robots.txt").text
    assert "Sitemap: http://testserver/sitemap.xml" in robots
    assert "/catalog.ttl" in robots and "/feeds/datasets.atom" in robots


def test_sitemap_index_past_the_limit(site, backend, monkeypatch):
    """Past `MAX_SITEMAP_URLS` URLs (50,000 in the protocol; 4 here) /sitemap.xml is a
    sitemap index of files that together hold every URL of the single file, once."""
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    whole = etree.fromstring(site.get("/sitemap.xml").content)
    assert whole.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
    expected = [e.text for e in whole.iterfind("s:url/s:loc", ns)]
    monkeypatch.setattr(syndication, "MAX_SITEMAP_URLS", 4)
    index = etree.fromstring(site.get("/sitemap.xml").content)
    assert index.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}sitemapindex"
    files = [e.text for e in index.iterfind("s:sitemap/s:loc", ns)]
    assert len(files) == -(-len(expected) // 4) >= 3
    assert files[0] == "http://testserver/sitemap.xml?page=1"
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.text)
        for e in index.iterfind("s:sitemap/s:lastmod", ns)
    )
    found = []
    for url in files:
        part = etree.fromstring(site.get(url.removeprefix("http://testserver")).content)
        assert part.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
        locs = [e.text for e in part.iterfind("s:url/s:loc", ns)]
        assert 1 <= len(locs) <= 4
        found += locs
    assert found == expected
    for page in (0, len(files) + 1, "x"):
        assert site.get(f"/sitemap.xml?page={page}").status_code == 404
    # Exactly at the limit: still one file.
    monkeypatch.setattr(syndication, "MAX_SITEMAP_URLS", len(expected))
    root = etree.fromstring(site.get("/sitemap.xml").content)
    assert [e.text for e in root.iterfind("s:url/s:loc", ns)] == expected


# --- live: CSW and DCAT agree; removals show everywhere ---------------------------------


def csw_records(base: str) -> dict[str, tuple[str, tuple[float, ...] | None]]:
    csw = CatalogueServiceWeb(f"{base}/csw", timeout=30)
    csw.getrecords2(esn="full", maxrecords=100)
    assert csw.results["matches"] == csw.results["returned"]
    records = {}
    for identifier, record in csw.records.items():
        bbox = None
        if record.bbox is not None:
            bbox = tuple(
                float(v)
                for v in (record.bbox.minx, record.bbox.miny, record.bbox.maxx, record.bbox.maxy)
            )
        records[identifier] = (record.title, bbox)
    return records


def dcat_records(base: str) -> dict[str, tuple[str, tuple[float, ...] | None]]:
    response = httpx.get(f"{base}/catalog.ttl", params={"page_size": 1000}, timeout=30)
    assert response.status_code == 200
    graph = Graph().parse(data=response.content, format="turtle")
    records = {}
    for identifier, node in dataset_nodes(graph).items():
        location = graph.value(node, DCTERMS.spatial)
        bbox = None
        if location is not None:
            bbox = shapely.from_wkt(str(graph.value(location, DCAT.bbox))).bounds
        records[identifier] = (str(graph.value(node, DCTERMS.title)), bbox)
    return records


def assert_agree(base: str) -> set[str]:
    csw, dcat = csw_records(base), dcat_records(base)
    assert set(csw) == set(dcat)
    for identifier, (title, bbox) in dcat.items():
        assert csw[identifier][0] == title, identifier
        if bbox is None:
            assert csw[identifier][1] is None, identifier
        else:
            # pycsw keeps a record's box as WKT rounded to 0.01° (`util.bbox2wktpolygon`)
            # and answers Dublin Core from it: equal up to that rounding.
            assert csw[identifier][1] == pytest.approx(bbox, abs=0.00501), identifier
    return set(dcat)


def everywhere(base: str, slug: str) -> dict[str, bool]:
    """Where `slug` can be seen: page, DCAT, Atom, sitemap."""
    page = f"{base}/jeux-de-donnees/{slug}"
    return {
        "page": httpx.get(page, timeout=30).status_code == 200,
        "dcat": page in httpx.get(f"{base}/catalog.ttl", timeout=30).text,
        "atom": page in httpx.get(f"{base}/feeds/datasets.atom", timeout=30).text,
        "sitemap": page in httpx.get(f"{base}/sitemap.xml", timeout=30).text,
    }


def test_live_dcat_and_csw_agree_and_follow_access_changes(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    backend.run("records", "import", "--org", "gouvernement-nc", str(ISO_RECORD))
    backend.run("org", "create", "province-nord", "--name", "Province Nord", "--kind", "province")
    add_full_dataset(backend)
    ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation="gouvernement-nc",
        dataset="prive-kouaoua",
        title="Limites confidentielles de Kouaoua",
        access_level="organisation",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    with serve(backend) as server:
        base = server.base
        expected = DEMO_PUBLIC - set(DEMO_HARVESTED) | {FULL, BRETAGNE, *DEMO_HARVESTED_IDS}
        assert assert_agree(base) == expected
        assert all(everywhere(base, FULL).values())

        # Made non-public: gone from CSW and from every public feed, at once.
        with backend.session() as session, session.begin():
            service.update_dataset(
                session, service.find_dataset(session, FULL), access_level="registered"
            )
        assert wait_for(lambda: not any(everywhere(base, FULL).values()), timeout=10), everywhere(
            base, FULL
        )
        assert assert_agree(base) == expected - {FULL}

        # Deleted with the command line: gone too.
        backend.run("dataset", "delete", "communes-nc")
        assert wait_for(lambda: not any(everywhere(base, "communes-nc").values()), timeout=10)
        assert assert_agree(base) == expected - {FULL, "communes-nc"}
