"""OpenDataSoft harvesting (data.gouv.nc): catalog/datasets paging and uncapped exports."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from niaouli.catalogue.models import Layer
from niaouli.ingest.harvest.harvest_tables import JobStatus
from tests.harvest_support import (
    FakeOds,
    FakeRemote,
    add_source_for,
    commune_items,
    harvest,
    harvested,
)

CATALOG = "/api/explore/v2.1/catalog/datasets"


@pytest.fixture
def remote():
    fake = FakeRemote(FakeOds())
    fake.handler.items = commune_items(fake.url)[:12]
    yield fake
    fake.close()


def test_ods_catalogue_and_exports(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + CATALOG, "data-gouv-nc", "ods", data="true", limit="5"
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, (report.message, report.items[:3])
    assert report.counts["created"] == 12 and report.counts["failed"] == 0
    offsets = [q["offset"] for p, q in remote.requests if p == CATALOG]
    assert offsets == ["0", "5", "10"]
    assert not [p for p, _q in remote.requests if p.endswith("/records")]
    found = harvested(backend)
    communes = found["georep-communes"]
    assert communes.licence == "Licence Ouverte 2.0"
    assert communes.description.startswith("Limites terrestres simplifiées")
    assert "<p>" not in communes.description and "Source : Géorep." in communes.description
    assert communes.provenance["source_url"] == remote.url + "/explore/dataset/georep-communes/"
    assert sorted(remote.handler.exports)[:2] == ["commune-98801.geojson", "commune-98802.geojson"]
    assert "isee-population.csv" in remote.handler.exports
    with backend.session() as session:
        counts = {
            layer.dataset.provenance["remote_id"]: layer.feature_count
            for layer in session.scalars(select(Layer)).all()
        }
    assert counts["georep-communes"] == 33 and counts["isee-population"] == 33
    assert counts["commune-98801"] == 1


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_page_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url, "data-gouv-nc", "ods", limit="3")
    harvest(backend, slug)
    del remote.handler.items[9:]
    remote.inject(failure, lambda p, q: p == CATALOG and q.get("offset") == "6", "3")
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL and report.counts["deleted"] == 0
    assert len(harvested(backend)) == 12


def test_a_title_the_catalogue_cannot_hold_is_cut_and_reported(backend, org, remote):
    """Whatever the source type, a title over 500 characters is cut on a word and the
    record's report line says so (it was cut silently, issue 14 §4)."""
    items = remote.handler.items = remote.handler.items[:2]
    full = items[0]["title"] = "Limites " + "des communes " * 60 + "de Nouvelle-Calédonie"
    slug = add_source_for(backend, org, remote.url + CATALOG, "data-gouv-nc", "ods")
    report = harvest(backend, slug)
    assert report.counts["created"] == 2, report.message
    reasons = {i.remote_id: i.reason for i in report.items}
    title = harvested(backend)["georep-communes"].title
    assert len(title) <= 500 and title.endswith("…")
    assert full.startswith(title[:-1]) and full[len(title) - 1] == " "  # cut on a word
    assert "titre de 809 caractères coupé à 500" in reasons["georep-communes"]
    assert not reasons["isee-population"]
    assert harvest(backend, slug).counts["unchanged"] == 2
