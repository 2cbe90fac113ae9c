"""OAI-PMH harvesting: resumptionToken paging, oai_dc and oai_datacite, `from` increments.

A fake research repository on 127.0.0.1 (one record per commune of New Caledonia).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from niaouli.ingest.harvest.harvest_tables import HarvestJob, JobStatus
from tests.harvest_support import FakeOai, FakeRemote, add_source_for, harvest, harvested


@pytest.fixture
def remote():
    fake = FakeRemote(FakeOai(records=FakeOai.communes()))
    yield fake
    fake.close()


def test_oai_dc_full_then_incremental(backend, org, remote):
    slug = add_source_for(backend, org, remote.url + "/oai", "ird", "oaipmh")
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, report.message
    assert report.counts["created"] == 33
    verbs = [q for _p, q in remote.requests]
    assert verbs[0] == {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    assert [q.get("resumptionToken") for q in verbs[1:]] == [
        "10|oai_dc|",
        "20|oai_dc|",
        "30|oai_dc|",
    ]
    record = harvested(backend)["oai:ird.nc:commune-98818"]
    assert record.title == "Inventaire floristique — Nouméa"
    assert record.producer == "Institut de recherche pour le développement"
    assert record.licence == "Licence Ouverte 2.0"
    assert sorted(record.keywords) == ["Nouvelle-Calédonie", "botanique"]
    assert record.provenance["source_url"] == "https://dataverse.ird.fr/dataset/98818"

    # Backdate the successful job so that `from` is an earlier day than the edits below.
    with backend.session() as session, session.begin():
        session.execute(update(HarvestJob).values(started_at=datetime(2025, 6, 1, tzinfo=UTC)))
    records = remote.handler.records
    records[0].update(datestamp="2025-07-01", title="Inventaire floristique — Belep (révisé)")
    records[1].update(datestamp="2025-07-02", deleted=True)
    remote.clear()
    report = harvest(backend, slug)
    assert remote.requests[0][1]["from"] == "2025-06-01"
    assert report.status == JobStatus.SUCCESS
    assert report.counts == {"created": 0, "updated": 1, "unchanged": 0, "deleted": 1, "failed": 0}
    found = harvested(backend)
    assert len(found) == 32  # the others were not listed, and are not deleted for it
    assert found["oai:ird.nc:commune-98801"].title.endswith("(révisé)")


def test_no_records_match_on_an_increment_is_a_success(backend, org, remote):
    slug = add_source_for(backend, org, remote.url + "/oai", "ird", "oaipmh")
    harvest(backend, slug)
    report = harvest(backend, slug)  # from = today: nothing changed
    assert report.status == JobStatus.SUCCESS and report.counts["deleted"] == 0
    assert len(harvested(backend)) == 33


def test_oai_datacite(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + "/oai", "ird-dc", "oaipmh", metadata_prefix="oai_datacite"
    )
    report = harvest(backend, slug)
    assert report.counts["created"] == 33, report.items[:2]
    record = harvested(backend)["oai:ird.nc:commune-98818"]
    assert record.licence == "CC BY 4.0" and record.producer == "IRD"
    assert record.provenance["source_url"] == "https://doi.org/10.23708/98818"
    assert record.spatial_coverage is not None


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_page_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url + "/oai", "ird", "oaipmh", incremental="false")
    harvest(backend, slug)
    del remote.handler.records[25:]
    remote.inject(failure, lambda _p, q: q.get("resumptionToken", "").startswith("20|"), "3")
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL and report.counts["deleted"] == 0
    assert len(harvested(backend)) == 33
    remote.clear()
    complete = harvest(backend, slug)  # a complete full list deletes what is gone
    assert complete.status == JobStatus.SUCCESS and complete.counts["deleted"] == 8


def test_external_entities_are_refused(backend, org, remote, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("CANARI-OAI")
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record>'
        "<header><identifier>oai:x:1</identifier><datestamp>2025-01-01</datestamp></header>"
        '<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&x;</dc:title></oai_dc:dc>'
        "</metadata></record></ListRecords></OAI-PMH>"
    )
    remote.inject("entity", lambda _p, _q: True, hostile)
    slug = add_source_for(backend, org, remote.url + "/oai", "ird", "oaipmh")
    report = harvest(backend, slug)
    assert report.status == JobStatus.FAILED and "DOCTYPE" in report.message
    assert harvested(backend) == {}
