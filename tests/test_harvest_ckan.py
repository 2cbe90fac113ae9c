"""CKAN harvesting: package_search paged with start/rows, resources as distributions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from niaouli.catalogue.models import Dataset, Layer
from niaouli.ingest.harvest.harvest_tables import JobStatus
from tests.harvest_support import (
    FakeCkan,
    FakeRemote,
    add_source_for,
    commune_items,
    harvest,
    harvested,
)


@pytest.fixture
def remote():
    fake = FakeRemote(FakeCkan())
    fake.handler.base = fake.url
    fake.handler.items = commune_items(fake.url)
    yield fake
    fake.close()


def test_ckan_packages_become_datasets(backend, org, remote):
    slug = add_source_for(
        backend, org, remote.url + "/", "ckan-sud", "ckan", rows="10", data="true"
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, report.message
    assert report.counts["created"] == 35 and report.counts["failed"] == 0
    starts = [q.get("start") for p, q in remote.requests if p.endswith("package_search")]
    assert starts == ["0", "10", "20", "30"]
    found = harvested(backend)
    communes = found["0000-georep-communes"]
    assert communes.producer == "Province Sud" and communes.licence == "Licence Ouverte 2.0"
    assert communes.contact_email == "sig@province-sud.nc"
    assert communes.themes == ["Territoire"]
    assert communes.provenance["source_url"] == remote.url + "/dataset/georep-communes"
    assert found["0000-commune-98818"].spatial_coverage is not None
    with backend.session() as session:
        layer = session.scalar(select(Layer).join(Dataset).where(Dataset.slug == communes.slug))
        assert layer.feature_count == 33
    assert harvest(backend, slug).counts["unchanged"] == 35


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_page_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url, "ckan-sud", "ckan", rows="10")
    harvest(backend, slug)
    del remote.handler.items[25:]
    remote.inject(failure, lambda _p, q: q.get("start") == "20", "3")
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL and report.counts["deleted"] == 0
    assert len(harvested(backend)) == 35


def test_ckan_frequency_blank_title_and_swapped_box_are_mapped_and_reported(backend, org):
    """CKAN's `frequency` (ckanext-dcat: an EU IRI; or an extra in French words) becomes
    the update frequency; a blank title and a lat/lon box are mended, and reported."""

    class Ckan(FakeCkan):
        def package(self, item: dict) -> dict:
            package = super().package(item)
            if item["id"] == "georep-communes":
                package["frequency"] = (
                    "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
                )
            if item["id"] == "isee-population":
                package["title"] = ""
                package["extras"] = [
                    {"key": "frequency", "value": "Mensuelle"},
                    {"key": "spatial", "value": "-22.3,166.4,-22.2,166.5"},
                ]
            return package

    fake = FakeRemote(Ckan())
    fake.handler.base = fake.url
    fake.handler.items = commune_items(fake.url)[:2]
    try:
        slug = add_source_for(backend, org, fake.url + "/", "ckan-sud", "ckan")
        report = harvest(backend, slug)
    finally:
        fake.close()
    assert report.counts["created"] == 2, report.message
    reasons = {i.remote_id: i.reason for i in report.items}
    found = harvested(backend)
    assert found["0000-georep-communes"].update_frequency == "annual"
    population = found["0000-isee-population"]
    assert population.update_frequency == "monthly"
    assert population.title == "Population légale des communes de Nouvelle-Calédonie."
    assert "titre vide" in reasons["0000-isee-population"]
    from geoalchemy2.shape import to_shape

    assert to_shape(population.spatial_coverage).bounds == pytest.approx(
        (166.4, -22.3, 166.5, -22.2)
    )
    assert "coins inversés" in reasons["0000-isee-population"]
