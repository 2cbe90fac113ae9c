"""Round trip: harvest our own /csw and our own DCAT export into a second database.

Site A is a real `niaouli serve` (SQLite, the demo catalogue plus an imported GeoNetwork
ISO record) on 127.0.0.1; site B is the test backend (SQLite and PostGIS). What B
harvests must match what A publishes: titles, descriptions, keywords, licences,
coverage, contacts, and the producer's ISO XML kept byte for byte (canonical form).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from geoalchemy2.shape import to_shape
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.service import list_datasets
from niaouli.db import schema
from niaouli.db.engine import make_engine
from niaouli.dcat.mapping import dataset_identifier
from niaouli.demo import load_demo
from niaouli.services.csw.importer import import_records
from niaouli.settings import Settings
from tests.conftest import Backend
from tests.csw_support import serve
from tests.harvest_support import HARVEST_FIXTURES, add_source_for, harvest, harvested


@pytest.fixture(scope="module")
def site_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    folder: Path = tmp_path_factory.mktemp("site-a")
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'niaouli.sqlite'}",
        spatialite_library="mod_spatialite",
    )
    engine = make_engine(settings)
    schema.upgrade(engine)
    load_demo(settings, echo=lambda _m: None)
    import_records(engine, [HARVEST_FIXTURES / "iso19139_geonetwork_record.xml"], "gouvernement-nc")
    with Session(engine) as session:
        published = {
            d.slug: {
                "title": d.title,
                "description": d.description,
                "keywords": set(d.keywords),
                "licence": d.licence,
                "contact_email": d.contact_email,
                "bbox": to_shape(d.spatial_coverage).bounds if d.spatial_coverage else None,
                "original": d.original_metadata,
                # As both catalogues publish it (the demo's CSW-harvested records: theirs).
                "identifier": dataset_identifier(d),
                "distributions": bool(d.resources or d.layers),
            }
            for d in list_datasets(session, ANONYMOUS)
        }
    with serve(Backend("sqlite", settings, engine)) as server:
        yield server.base, published
    engine.dispose()


def canonical(xml: str) -> bytes:
    return etree.tostring(etree.fromstring(xml.encode()), method="c14n", exclusive=True)


def by_remote_id(backend) -> dict[str, Dataset]:
    return harvested(backend)


def test_harvest_our_own_csw(backend, org, site_a):
    base, published = site_a
    assert len(published) >= 3
    slug = add_source_for(backend, org, base + "/csw", "site-a-csw", "csw", page_size="2")
    report = harvest(backend, slug)
    assert report.status == "success", (report.message, report.items)
    assert report.counts["created"] == len(published)
    found = by_remote_id(backend)
    for a in published.values():
        b = found[a["identifier"]]
        assert b.title == a["title"]
        assert b.description.strip() == a["description"].strip()
        assert a["keywords"] <= set(b.keywords) | set(b.themes)  # INSPIRE themes: themes
        if a["bbox"]:
            assert to_shape(b.spatial_coverage).bounds == pytest.approx(a["bbox"], abs=0.01)
        if a["original"]:  # the producer's own XML comes back as it was written
            # (pycsw re-serialises records: namespace declarations move, so the
            # comparison is on exclusive canonical XML — elements, attributes, text.)
            assert canonical(b.original_metadata) == canonical(a["original"])
        if a["contact_email"]:
            assert b.contact_email == a["contact_email"]
    # And again: nothing changed on A, nothing is rewritten on B.
    assert harvest(backend, slug).counts["unchanged"] == len(published)


def test_harvest_our_own_dcat_export(backend, org, site_a):
    base, published = site_a
    slug = add_source_for(backend, org, base + "/catalog.ttl?page_size=2", "site-a-dcat", "dcat")
    report = harvest(backend, slug)
    assert report.status == "success", (report.message, report.items)
    assert report.counts["created"] == len(published)
    found = by_remote_id(backend)
    assert set(found) == {a["identifier"] for a in published.values()}
    for a in published.values():
        b = found[a["identifier"]]
        assert b.title == a["title"]
        assert b.description.strip() == a["description"].strip()
        assert a["keywords"] <= set(b.keywords) | set(b.themes)
        if a["distributions"]:
            assert b.licence == a["licence"]
        # else: DCAT-AP carries licences on distributions only; a metadata-only dataset
        # (the imported ISO record) has none, so its licence does not travel by DCAT
        # (it does by CSW). Known limitation, reported to the DCAT export.
        if a["bbox"]:
            assert to_shape(b.spatial_coverage).bounds == pytest.approx(a["bbox"], abs=0.01)
    with backend.session() as session:
        communes = session.scalar(
            select(Dataset).where(Dataset.provenance["remote_id"].as_string() == "communes-nc")
        )
        urls = [r.url for r in communes.resources]
    assert any(url.startswith(base) for url in urls), urls
