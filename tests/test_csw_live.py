"""CSW through a live `niaouli serve` (both backends), with the clients GIS users have.

OWSLib's CatalogueServiceWeb and GDAL's CSW driver (`ogrinfo CSW:...`) find datasets by
full text and bbox and read ISO 19139; GetCapabilities, DescribeRecord, GetRecords with
OGC filters and CQL, GetRecordById and GetDomain answer; OpenSearch and OAI-PMH respond;
a non-public dataset appears in none of them (row S23); an ingest while serving shows up
within seconds; hostile requests get exception reports and change nothing (S4, S6, S10).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from owslib.catalogue.csw2 import CatalogueServiceWeb
from owslib.fes import BBox, PropertyIsLike
from sqlalchemy import text

from niaouli.catalogue import service
from niaouli.demo import load_demo
from niaouli.ingest import ingest_file
from tests.conftest import GEODATA, Backend
from tests.csw_support import ISO_RECORD, NS, CswServer, canary, identifiers, serve, wait_for
from tests.demo_support import BATHING, DEMO_HARVESTED, DEMO_HARVESTED_IDS, DEMO_PUBLIC

BRETAGNE = "955c3e47-411e-4969-b61b-3556d1b9f879"
PRIVATE_TITLE = "Limites confidentielles de Kouaoua"
GMD = "http://www.isotc211.org/2005/gmd"


def _load(backend: Backend) -> None:
    load_demo(backend.settings, echo=lambda _m: None)
    backend.run("records", "import", "--org", "gouvernement-nc", str(ISO_RECORD))
    ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation="gouvernement-nc",
        dataset="prive-kouaoua",
        title=PRIVATE_TITLE,
        access_level="organisation",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )


@pytest.fixture
def live(backend: Backend) -> Iterator[CswServer]:
    _load(backend)
    with serve(backend) as server:
        yield server


def _ogrinfo(*args: str) -> str:
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-geom=NO", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GDAL_HTTP_TIMEOUT": "60"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_owslib_and_gdal_find_and_read_records(live: CswServer):
    csw = CatalogueServiceWeb(live.csw, timeout=30)
    assert csw.version == "2.0.2"
    assert {"GetRecords", "GetRecordById", "GetDomain", "DescribeRecord"} <= {
        op.name for op in csw.operations
    }

    # Full text, accent-insensitive: "caledonie" finds "Calédonie".
    csw.getrecords2(
        constraints=[PropertyIsLike("csw:AnyText", "%caledonie%")], esn="brief", maxrecords=50
    )
    # The demo's bathing-water datasets say « Nouvelle-Calédonie » too (issue 15 §8).
    assert set(csw.records) == {"communes-nc", "population-communes-nc", *BATHING}
    # Bbox over New Caledonia: the communes and Nouméa's sampling points, not the
    # (metadata-only) Bretagne record nor the tables.
    # EPSG:4326 as an OGC URN is latitude first (what QGIS MetaSearch sends too).
    csw.getrecords2(constraints=[BBox([-23, 163, -19, 169])], esn="brief")
    assert set(csw.records) == {"communes-nc", "baignade-noumea-points"}
    # ISO 19139: generated from the catalogue, and the producer's own record as written.
    csw.getrecords2(
        constraints=[PropertyIsLike("csw:AnyText", "%cadastre%")], outputschema=GMD, esn="full"
    )
    assert list(csw.records) == [BRETAGNE]
    assert "DIRECTION GENERALE DES FINANCES" in csw.records[BRETAGNE].xml.decode()
    csw.getrecordbyid(id=["communes-nc"], outputschema=GMD)
    iso = csw.records["communes-nc"]
    assert iso.identification[0].title.startswith("Communes de Nouvelle-Calédonie")
    assert float(iso.identification[0].bbox.minx) == pytest.approx(163.57, abs=0.01)
    # GetDomain lists values of public records only.
    csw.getdomain("dc:title", dtype="property")
    titles = csw.results["values"]
    assert "Cadastre 2018 en Bretagne" in titles and PRIVATE_TITLE not in titles

    # GDAL's CSW driver (sends no VERSION on GetCapabilities): full text and bbox.
    out = _ogrinfo(f"CSW:{live.csw}", "-where", "anytext LIKE '%caledonie%'")
    assert "identifier (String) = communes-nc" in out and "prive-kouaoua" not in out
    out = _ogrinfo(f"CSW:{live.csw}", "-spat", "163", "-23", "169", "-19")
    assert "Feature Count: 2" in out and "identifier (String) = communes-nc" in out
    out = _ogrinfo(f"CSW:{live.csw}", "-oo", "OUTPUT_SCHEMA=gmd", "-oo", "ELEMENTSETNAME=full")
    assert "gmd:MD_Metadata" in out and "Communes de Nouvelle-Calédonie" in out


def test_kvp_cql_describe_opensearch_oaipmh(live: CswServer):
    caps = live.get(service="CSW", request="GetCapabilities")
    assert live.xml(caps).get("version") == "2.0.2"  # no VERSION -> 2.0.2 (GDAL)
    assert live.xml(
        live.get(service="CSW", request="GetCapabilities", acceptversions="3.0.0")
    ).tag == ("{http://www.opengis.net/cat/csw/3.0}Capabilities")
    described = live.get(
        service="CSW", version="2.0.2", request="DescribeRecord", typename="gmd:MD_Metadata"
    )
    assert b"DescribeRecordResponse" in described.content
    cql = live.get(
        service="CSW",
        version="2.0.2",
        request="GetRecords",
        typenames="csw:Record",
        elementsetname="brief",
        resulttype="results",
        constraintlanguage="CQL_TEXT",
        constraint="dc:title like '%Population%'",
    )
    assert identifiers(live.xml(cql)) == ["population-communes-nc"]

    search = live.get(
        "/csw/opensearch",
        q="communes",
        service="CSW",
        version="2.0.2",
        request="GetRecords",
        elementsetname="full",
        typenames="csw:Record",
        resulttype="results",
    )
    feed = live.xml(search)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert {"communes-nc", "population-communes-nc"} <= set(identifiers(feed))
    assert b"OpenSearchDescription" in live.get("/csw/opensearch").content

    listed = live.xml(live.get("/csw/oaipmh", verb="ListIdentifiers", metadataPrefix="oai_dc"))
    ids = {e.text for e in listed.iterfind(".//oai:identifier", NS)}
    assert ids == DEMO_PUBLIC - set(DEMO_HARVESTED) | {BRETAGNE, *DEMO_HARVESTED_IDS}
    record = live.get(
        "/csw/oaipmh", verb="GetRecord", identifier="communes-nc", metadataPrefix="oai_dc"
    )
    assert b"Communes de Nouvelle" in record.content


def test_private_dataset_is_absent_everywhere(live: CswServer):
    word = "Kouaoua"
    answers = [
        live.get(
            service="CSW",
            version="2.0.2",
            request="GetRecords",
            typenames="csw:Record",
            elementsetname="full",
            resulttype="results",
            maxrecords="100",
        ),
        live.get(service="CSW", version="2.0.2", request="GetRecordById", id="prive-kouaoua"),
        live.get(
            service="CSW",
            version="2.0.2",
            request="GetRecordById",
            id="prive-kouaoua",
            outputschema=GMD,
        ),
        live.get(service="CSW", version="2.0.2", request="GetRepositoryItem", id="prive-kouaoua"),
        live.get(service="CSW", version="2.0.2", request="GetDomain", propertyname="dc:title"),
        live.get(
            "/csw/opensearch",
            q=word,
            service="CSW",
            version="2.0.2",
            request="GetRecords",
            elementsetname="full",
            typenames="csw:Record",
            resulttype="results",
        ),
        live.get("/csw/oaipmh", verb="ListRecords", metadataPrefix="oai_dc"),
        live.get(
            "/csw/oaipmh", verb="GetRecord", identifier="prive-kouaoua", metadataPrefix="oai_dc"
        ),
    ]
    for answer in answers:
        assert word.encode() not in answer.content
        assert b"confidentielles" not in answer.content
    # Asking for it by id answers exactly as for an id that does not exist.
    for params in (
        {"service": "CSW", "version": "2.0.2", "request": "GetRecordById"},
        {"service": "CSW", "version": "2.0.2", "request": "GetRepositoryItem"},
    ):
        private = live.get(**params, id="prive-kouaoua").content
        missing = live.get(**params, id="n-existe-pas").content
        assert private.replace(b"prive-kouaoua", b"?") == missing.replace(b"n-existe-pas", b"?")
    full = live.xml(answers[0]).find(".//csw:SearchResults", NS)
    # The demo's 7 public records and the imported one: counts don't reveal it either.
    assert full.get("numberOfRecordsMatched") == "8"


def test_ingest_while_serving_shows_up_and_goes(live: CswServer, backend: Backend):
    def titles() -> str:
        return live.get(
            service="CSW",
            version="2.0.2",
            request="GetRecords",
            typenames="csw:Record",
            elementsetname="brief",
            resulttype="results",
            maxrecords="100",
        ).text

    backend.run(
        "ingest",
        str(GEODATA / "nc_communes.geojson"),
        "--org",
        "gouvernement-nc",
        "--dataset",
        "communes-hienghene",
        "--title",
        "Communes autour de Hienghène",
    )
    assert wait_for(lambda: "Communes autour de Hienghène" in titles(), timeout=10)
    # Found without the accent too.
    hits = live.get(
        service="CSW",
        version="2.0.2",
        request="GetRecords",
        typenames="csw:Record",
        resulttype="results",
        constraintlanguage="CQL_TEXT",
        elementsetname="brief",
        constraint="csw:AnyText like '%Hienghene%'",
    )
    assert identifiers(live.xml(hits)) == ["communes-hienghene"]

    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-hienghene")
        service.update_dataset(session, dataset, access_level="draft")
    assert wait_for(lambda: "Hienghène" not in titles(), timeout=10)

    # pycsw dies: it is restarted and answers again.
    pid = live.pycsw_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: "communes-nc" in titles(), timeout=20)
    assert live.pycsw_pid() not in (None, pid)


SQLI = [
    "' OR '1'='1",
    "x'; UPDATE csw_records SET title='pwned'; --",
    "x'); DROP TABLE datasets; --",
    "%' UNION SELECT identifier FROM organisations --",
]


def _checksum(backend: Backend) -> str:
    with backend.engine.connect() as conn:
        parts = []
        for table in ("csw_records", "datasets", "organisations"):
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()  # noqa: S608
            parts.append(repr(rows))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _filter(prop: str, literal: str) -> str:
    from xml.sax.saxutils import escape

    return (
        '<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" '
        'xmlns:ogc="http://www.opengis.net/ogc" service="CSW" version="2.0.2" '
        'resultType="results"><csw:Query typeNames="csw:Record">'
        "<csw:ElementSetName>brief</csw:ElementSetName>"
        '<csw:Constraint version="1.1.0"><ogc:Filter><ogc:PropertyIsEqualTo>'
        f"<ogc:PropertyName>{escape(prop)}</ogc:PropertyName>"
        f"<ogc:Literal>{escape(literal)}</ogc:Literal>"
        "</ogc:PropertyIsEqualTo></ogc:Filter></csw:Constraint></csw:Query></csw:GetRecords>"
    )


def _no_data(response) -> bool:  # noqa: ANN001
    body = response.content
    return (
        b"ExceptionReport" in body
        or b'numberOfRecordsMatched="0"' in body
        or (b"<os:totalResults>0</os:totalResults>" in body)
        or b"noRecordsMatch" in body
        or b"badArgument" in body
    )


def test_hostile_requests_change_nothing(live: CswServer, backend: Backend):
    before = _checksum(backend)
    for payload in SQLI:
        answers = [
            live.get(
                service="CSW",
                version="2.0.2",
                request="GetRecords",
                typenames="csw:Record",
                resulttype="results",
                constraintlanguage="CQL_TEXT",
                constraint=f"dc:title = '{payload}'",
            ),
            live.get(
                service="CSW",
                version="2.0.2",
                request="GetRecords",
                typenames="csw:Record",
                resulttype="results",
                constraintlanguage="CQL_TEXT",
                constraint=payload,
            ),
            live.post(_filter("dc:title", payload)),
            live.post(_filter(payload, "x")),
            live.get(
                "/csw/opensearch",
                q=payload,
                service="CSW",
                version="2.0.2",
                request="GetRecords",
                typenames="csw:Record",
                resulttype="results",
            ),
            live.get("/csw/oaipmh", verb="ListRecords", metadataPrefix="oai_dc", set=payload),
        ]
        for answer in answers:
            assert answer.status_code < 500
            assert _no_data(answer), answer.text[:500]
    assert _checksum(backend) == before

    with canary() as hook:
        # S10: an outputSchema naming a path, a URL or a stylesheet is refused (400).
        for schema in ("/etc/passwd", f"{hook.url}/evil.xsl", "file:///etc/passwd"):
            answer = live.get(
                service="CSW",
                version="2.0.2",
                request="GetRecordById",
                id="communes-nc",
                outputschema=schema,
            )
            assert answer.status_code == 400 and b"ExceptionReport" in answer.content
        # S6: external entities in a POST are not resolved or fetched.
        xxe = (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">'
            f'<!ENTITY c SYSTEM "{hook.url}/entity">]>'
            + _filter("dc:title", "&e;&c;").replace("&amp;e;&amp;c;", "&e;&c;")
        )
        answer = live.post(xxe)
        assert b"root:" not in answer.content and answer.status_code < 500
        assert hook.hits == []
    assert _checksum(backend) == before
