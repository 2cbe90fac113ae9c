"""OGC API Features and WFS 2.0 harvesting: metadata, paged items / GetFeature, failures."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select

from niaouli.catalogue.models import Layer
from niaouli.ingest.harvest.harvest_tables import HarvestSource, JobStatus
from tests.harvest_support import FakeOgc, FakeRemote, add_source_for, harvest, harvested


@pytest.fixture
def remote():
    fake = FakeRemote(FakeOgc())
    fake.handler.base = fake.url
    yield fake
    fake.close()


def layer_counts(backend) -> dict[str, int]:
    with backend.session() as session:
        return {
            layer.dataset.provenance["remote_id"]: layer.feature_count
            for layer in session.scalars(select(Layer)).all()
        }


def test_ogcapi_collections_and_items(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + "/ogc", "ogc-nc", "ogcapi", data="true", page_size="10"
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, (report.message, report.items)
    communes = harvested(backend)["communes"]
    assert communes.licence == "Licence Ouverte 2.0" and communes.keywords == [
        "communes",
        "limites",
    ]
    offsets = [q.get("offset") for p, q in remote.requests if p.endswith("/items")]
    assert offsets == [None, "10", "20", "30"]  # followed the next links
    assert layer_counts(backend) == {"communes": 33}


def test_ogcapi_items_failing_on_page_3_keeps_what_was_there(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + "/ogc", "ogc-nc", "ogcapi", data="true", page_size="10"
    )
    remote.inject("truncated", lambda p, q: p.endswith("/items") and q.get("offset") == "20")
    report = harvest(backend, slug)
    assert report.items[0].action == "failed" and "données non copiées" in report.items[0].reason
    assert layer_counts(backend) == {}


def test_wfs_capabilities_and_getfeature_in_epsg_3163(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + "/wfs", "wfs-nc", "wfs", data="true", page_size="10"
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, (report.message, report.items)
    communes = harvested(backend)["nc:communes"]
    assert communes.title == "Communes de Nouvelle-Calédonie"
    assert "EPSG:3163" in communes.lineage
    starts = [q["startIndex"] for p, q in remote.requests if q.get("request") == "GetFeature"]
    assert starts == ["0", "10", "20", "30"]
    with backend.session() as session:
        layer = session.scalar(select(Layer))
        assert layer.feature_count == 33 and layer.native_crs.endswith("3163")
        west, south, east, north = layer.extent
        assert 163 < west < 164 and 168 < east < 169  # reprojected to WGS 84


def test_wfs_real_arcgis_capabilities(backend, org, remote):
    remote.handler.real_capabilities = True
    slug = add_source_for(backend, org, remote.url + "/wfs", "wfs-arcgis", "wfs")
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, report.message
    assert report.counts["created"] == 86
    found = harvested(backend)
    assert found["adressen_stadtteil:Altstadt_Süd"].title == "Altstadt_Süd"
    assert "EPSG:25832" in found["adressen_stadtteil:Altstadt_Süd"].lineage
    assert not [q for _p, q in remote.requests if q.get("request") == "GetFeature"]

    # This Esri WFS offers GEOJSON among its GML formats: data are asked in it.
    two = "adressen_stadtteil:Altstadt_Nord,adressen_stadtteil:Altstadt_Süd"
    slug = add_source_for(
        backend, org, remote.url + "/wfs", "wfs-arcgis-data", "wfs", data="true", collections=two
    )
    report = harvest(backend, slug)
    assert report.counts["failed"] == 2  # already harvested by the first source
    remote.clear()
    before = {k: v.slug for k, v in harvested(backend).items()}
    with backend.session() as session, session.begin():
        gone = session.scalar(select(HarvestSource).where(HarvestSource.slug == "wfs-arcgis"))
        session.delete(gone)
    report = harvest(backend, slug)
    # The records moved to this source: taken over, not duplicated.
    assert report.counts["updated"] == 2 and report.counts["created"] == 0, report.items
    assert "repris" in report.items[0].reason
    after = harvested(backend)
    assert len(after) == 86
    assert (
        after["adressen_stadtteil:Altstadt_Süd"].slug == before["adressen_stadtteil:Altstadt_Süd"]
    )
    asked = [q for _p, q in remote.requests if q.get("request") == "GetFeature"]
    assert {q["outputFormat"] for q in asked} == {"GEOJSON"}


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_capabilities_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url + "/wfs", "wfs-nc", "wfs")
    harvest(backend, slug)
    remote.inject(failure, lambda _p, q: q.get("request") == "GetCapabilities", "3")
    report = harvest(backend, slug)
    assert report.status == JobStatus.FAILED and report.counts["deleted"] == 0
    assert set(harvested(backend)) == {"nc:communes"}


def _with_link(record: str, url: str, protocol: str, name: str) -> str:
    """The real record with one more online resource (as GeoNetwork writes them)."""
    online = (
        "<gmd:onLine><gmd:CI_OnlineResource>"
        f"<gmd:linkage><gmd:URL>{escape(url)}</gmd:URL></gmd:linkage>"
        f"<gmd:protocol><gco:CharacterString>{protocol}</gco:CharacterString></gmd:protocol>"
        f"<gmd:name><gco:CharacterString>{name}</gco:CharacterString></gmd:name>"
        "</gmd:CI_OnlineResource></gmd:onLine>"
    )
    return record.replace("<gmd:onLine>", online + "<gmd:onLine>", 1)


def test_csw_records_copy_their_data_through_wfs_and_ogc_api_links(backend, org, remote):
    from tests.harvest_support import FakeCsw, iso_variant, real_iso_records

    template = real_iso_records()[2]
    records = [
        _with_link(
            iso_variant(template, "nc-wfs", "Communes (WFS)"),
            remote.url + "/wfs?service=WFS&request=GetCapabilities",
            "OGC:WFS-2.0.0-http-get-capabilities",
            "nc:communes",
        ),
        _with_link(
            iso_variant(template, "nc-ogcapi", "Communes (OGC API)"),
            remote.url + "/ogc/collections/communes",
            "OGC API - Features",
            "communes",
        ),
        iso_variant(template, "nc-sans-lien", "Sans service"),
    ]
    csw = FakeCsw(records)
    ogc = remote.handler
    remote.handler = lambda path, query: csw(path, query) if path == "/csw" else ogc(path, query)
    slug = add_source_for(
        backend, org, remote.url + "/csw", "csw-nc", "csw", data="true", page_size="10"
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, (report.message, report.items)
    copied = {i.remote_id: i.diff.get("données") for i in report.items}
    assert copied == {
        "nc-wfs": "33 entité(s) copiée(s)",
        "nc-ogcapi": "33 entité(s) copiée(s)",
        "nc-sans-lien": None,
    }
    counts = layer_counts(backend)
    assert counts == {"nc-wfs": 33, "nc-ogcapi": 33}


def test_wfs_capabilities_with_an_external_entity_are_refused(backend, org, remote):
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<wfs:WFS_Capabilities xmlns:wfs="http://www.opengis.net/wfs/2.0">&x;'
        "</wfs:WFS_Capabilities>"
    )
    remote.inject("entity", lambda _p, q: q.get("request") == "GetCapabilities", hostile)
    slug = add_source_for(backend, org, remote.url + "/wfs", "wfs-nc", "wfs")
    report = harvest(backend, slug)
    assert report.status == JobStatus.FAILED and "DOCTYPE" in report.message
    assert harvested(backend) == {}
