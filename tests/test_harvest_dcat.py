"""DCAT harvesting (ArcGIS Hub JSON-LD, Turtle with Hydra pages, ODS RDF/XML, data.json).

A fake Géorep/data.gouv.nc on 127.0.0.1 serves one catalogue built from the communes
of New Caledonia in four formats; they must give the same catalogue. Distributions are
copied through the ingestion when asked; failures on page 3 delete nothing (row R2).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from niaouli.catalogue.models import Dataset, Layer
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, JobStatus
from tests.harvest_support import (
    FakeDcat,
    FakeRemote,
    add_source_for,
    commune_items,
    harvest,
    harvested,
)

FEEDS = {
    "json-ld": "/api/feed/dcat-ap/2.1.1.json",
    "turtle": "/catalog.ttl",
    "rdf-xml": "/api/explore/v2.1/catalog/exports/dcat",
    "data.json": "/data.json",
}


@pytest.fixture
def remote():
    fake = FakeRemote(FakeDcat())
    fake.handler.base = fake.url
    fake.handler.items = commune_items(fake.url)
    yield fake
    fake.close()


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_every_dcat_format_gives_the_same_catalogue(backend, org, remote, feed):
    slug = add_source_for(backend, org, remote.url + FEEDS[feed], "georep", "dcat")
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, report.message
    assert report.counts["created"] == 35 and report.counts["failed"] == 0
    if feed == "turtle":
        assert [q.get("page") for p, q in remote.requests] == [None, "2", "3", "4"]
    found = harvested(backend)
    communes = found["georep-communes"]
    assert communes.title == "Limites des communes de Nouvelle-Calédonie"
    assert communes.licence == "Licence Ouverte 2.0"
    assert communes.producer == "Gouvernement de la Nouvelle-Calédonie — Géorep"
    assert communes.contact_email == "georep@gouv.nc"
    assert sorted(communes.keywords) == ["communes", "limites administratives"]
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == communes.slug))
        links = {r.url: r for r in dataset.resources}
        assert remote.url + "/donnees/communes.geojson" in links
        assert dataset.layers == []  # metadata only unless data=true
        record = session.scalar(
            select(HarvestedRecord).where(HarvestedRecord.remote_id == "commune-98818")
        )
        assert record.original  # the record as the remote wrote it
        assert "Nouméa" in record.original
    noumea = found["commune-98818"]
    assert noumea.title == "Commune de Nouméa"
    assert noumea.spatial_coverage is not None
    if feed != "data.json":
        assert communes.provenance["source_url"] == remote.url + "/datasets/georep-communes/page"
    assert harvest(backend, slug).counts["unchanged"] == 35


def test_distributions_are_copied_through_the_ingestion(backend, org, remote):
    slug = add_source_for(backend, org, remote.url + "/data.json", "georep", "dcat", data="true")
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, report.message
    item = next(i for i in report.items if i.remote_id == "georep-communes")
    assert item.diff["données"] == "33 entité(s) copiée(s)"
    with backend.session() as session:
        layers = {
            layer.dataset.provenance["remote_id"]: layer
            for layer in session.scalars(select(Layer)).all()
        }
        assert layers["georep-communes"].feature_count == 33
        assert layers["georep-communes"].geometry_type in ("MultiPolygon", "MULTIPOLYGON")
        assert layers["isee-population"].feature_count == 33
        assert layers["isee-population"].geometry_type is None
        assert len(layers) == 2  # the 33 communes have no distribution
    downloads = [p for p, _q in remote.requests if p.startswith("/donnees/")]
    assert sorted(downloads) == ["/donnees/communes.geojson", "/donnees/population.csv"]
    # Unchanged records are not downloaded again.
    remote.clear()
    assert harvest(backend, slug).counts["unchanged"] == 35
    assert [p for p, _q in remote.requests] == ["/data.json"]


def test_a_failed_download_is_reported_and_retried(backend, org, remote):
    slug = add_source_for(backend, org, remote.url + "/data.json", "georep", "dcat", data="true")
    remote.inject("500", lambda p, _q: p == "/donnees/population.csv")
    report = harvest(backend, slug)
    item = next(i for i in report.items if i.remote_id == "isee-population")
    assert item.action == "failed" and "données non copiées" in item.reason
    assert "HTTP 500" in item.reason
    remote.clear()
    again = harvest(backend, slug)
    retried = next(i for i in again.items if i.remote_id == "isee-population")
    assert retried.action == "updated" and retried.diff["données"] == "33 entité(s) copiée(s)"


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_page_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url + "/catalog.ttl", "georep", "dcat")
    assert harvest(backend, slug).counts["created"] == 35
    del remote.handler.items[25:]  # 10 records gone, 3 pages left...
    remote.inject(failure, lambda _p, q: q.get("page") == "3", "3")  # ...the 3rd fails
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL, report.message
    assert report.counts["deleted"] == 0 and len(harvested(backend)) == 35


def test_an_empty_catalogue_after_a_full_one_deletes_nothing(backend, org, remote):
    slug = add_source_for(backend, org, remote.url + "/api/feed/dcat-ap/2.1.1.json", "hub", "dcat")
    harvest(backend, slug)
    remote.handler.items = []
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL and "de 35 à 0" in report.message
    assert len(harvested(backend)) == 35


def test_hostile_documents_are_refused(backend, org, remote, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("CANARI-DCAT")
    rdfxml = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dct="http://purl.org/dc/terms/" xmlns:dcat="http://www.w3.org/ns/dcat#">'
        '<dcat:Dataset rdf:about="http://x/1"><dct:title>&x;</dct:title></dcat:Dataset>'
        "</rdf:RDF>"
    )
    remote.inject("entity", lambda p, _q: p == "/xxe.rdf", rdfxml)
    context = '{"@context": "http://127.0.0.1:9/contexte.jsonld", "@id": "x"}'
    remote.inject("entity", lambda p, _q: p == "/distant.jsonld", context)
    for path, expected in (("/xxe.rdf", "DOCTYPE"), ("/distant.jsonld", "contexte JSON-LD")):
        slug = add_source_for(
            backend, org, remote.url + path, path.strip("/").split(".")[0], "dcat"
        )
        report = harvest(backend, slug)
        assert report.status == JobStatus.FAILED and expected in report.message
    assert harvested(backend) == {}


def _hub_feed(base: str, count: int) -> bytes:
    """An ArcGIS Hub DCAT-AP 2.1.1 JSON-LD feed: publishers, contacts, spatial coverages
    and distributions are blank nodes (embedded objects), several distributions each."""
    import json

    datasets = []
    for n in range(count):
        ident = f"{base}/datasets/hub-{n}"
        datasets.append(
            {
                "@id": ident,
                "@type": "dcat:Dataset",
                "dct:identifier": ident,
                "dct:title": f"Couche Géorep {n}",
                "dct:description": f"Couche {n} publiée sur le Hub.",
                "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "Géorep"},
                "dcat:contactPoint": {
                    "@type": "vcard:Organization",
                    "vcard:fn": "Service de la géomatique",
                    "vcard:hasEmail": "mailto:georep@gouv.nc",
                },
                "dct:spatial": {
                    "@type": "dct:Location",
                    "dcat:bbox": "POLYGON((164 -22.5,164 -20,167 -20,167 -22.5,164 -22.5))",
                },
                "dct:license": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dct:title": title,
                        "dcat:accessURL": {"@id": f"{base}/donnees/hub-{n}.{ext}"},
                        "dcat:mediaType": media,
                    }
                    for title, ext, media in (
                        ("GeoJSON", "geojson", "application/geo+json"),
                        ("CSV", "csv", "text/csv"),
                        ("Shapefile", "zip", "application/zip"),
                        ("KML", "kml", "application/vnd.google-earth.kml+xml"),
                    )
                ],
            }
        )
    document = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "vcard": "http://www.w3.org/2006/vcard/ns#",
        },
        "@id": f"{base}/api/feed/dcat-ap/2.1.1.json",
        "@type": "dcat:Catalog",
        "dcat:dataset": datasets,
    }
    return json.dumps(document).encode()


def test_a_hub_feed_of_blank_nodes_is_unchanged_when_it_did_not_change(backend, org):
    """Blank-node identifiers are random on every parse: the record's hash must not
    depend on them (issue 14 §4), or every re-run rewrites every record."""
    from tests.harvest_support import Reply

    remote = FakeRemote(lambda path, query: Reply(b"", status=404))
    feed = _hub_feed(remote.url, 12)
    remote.handler = lambda path, query: Reply(feed, "application/ld+json")
    try:
        slug = add_source_for(backend, org, remote.url + "/feed.json", "hub", "dcat")
        first = harvest(backend, slug)
        assert first.counts["created"] == 12, first.message
        with backend.session() as session:
            before = {
                d.slug: [r.url for r in d.resources] for d in session.scalars(select(Dataset))
            }
        again = harvest(backend, slug)
    finally:
        remote.close()
    assert again.counts["unchanged"] == 12, [(i.remote_id, i.action, i.diff) for i in again.items]
    with backend.session() as session:
        after = {d.slug: [r.url for r in d.resources] for d in session.scalars(select(Dataset))}
    assert after == before
    assert all(len(urls) == 4 for urls in after.values())


@pytest.mark.parametrize(
    ("written", "stored", "reported"),
    [
        ("https://www.etalab.gouv.fr/licence-ouverte-open-licence", "Licence Ouverte 2.0", False),
        ("http://etalab.gouv.fr/licence-ouverte-open-licence/", "Licence Ouverte 2.0", False),
        ("https://opendatacommons.org/licenses/odbl/", "Open Database License (ODbL) 1.0", False),
        ("https://example.nc/licence-maison", "https://example.nc/licence-maison", True),
    ],
)
def test_licence_iris_are_normalised_and_unknown_ones_reported(
    backend, org, written, stored, reported
):
    """Licence IRIs without their trailing slash, over http, ... name one licence (issue 14
    §4), in JSON-LD and data.json alike; an unknown licence is kept and reported."""
    from tests.harvest_support import Reply

    remote = FakeRemote(lambda path, query: Reply(b"", status=404))
    hub = json.loads(_hub_feed(remote.url, 2))
    for dataset in hub["dcat:dataset"]:
        dataset["dct:license"] = {"@id": written}
    listing = {
        "dataset": [
            {"identifier": f"dj-{n}", "title": f"Jeu {n}", "description": "d", "license": written}
            for n in range(2)
        ]
    }
    feeds = {"/feed.json": json.dumps(hub).encode(), "/data.json": json.dumps(listing).encode()}
    remote.handler = lambda path, query: Reply(feeds[path], "application/json")
    try:
        for path in feeds:
            slug = add_source_for(backend, org, remote.url + path, "s" + path[1:5], "dcat")
            report = harvest(backend, slug)
            assert report.counts["created"] == 2, report.message
            notes = [i.reason for i in report.items]
            assert all(("licence inconnue" in n) == reported for n in notes), notes
    finally:
        remote.close()
    assert {d.licence for d in harvested(backend).values()} == {stored}


def test_themes_frequencies_titles_and_boxes_are_mapped_and_reported(backend, org):
    """EU data themes given by IRI or code become their French labels; blank and too
    long titles, unknown frequencies and swapped boxes are mended and reported (issue
    14 §4), in JSON-LD and data.json alike."""
    from tests.harvest_support import Reply

    eu = "http://publications.europa.eu/resource/authority/"
    remote = FakeRemote(lambda path, query: Reply(b"", status=404))
    hub = json.loads(_hub_feed(remote.url, 3))
    first, second, third = hub["dcat:dataset"]
    first["dct:title"] = "  "
    first["dcat:theme"] = [{"@id": eu + "data-theme/ENVI"}, {"@id": eu + "data-theme/TRAN"}]
    first["dct:accrualPeriodicity"] = {"@id": "https://example.nc/frequence/quand-il-pleut"}
    second["dct:title"] = "Couche " + "très " * 120 + "longue"
    second["dct:accrualPeriodicity"] = {"@id": eu + "frequency/ANNUAL_2"}
    third["dct:spatial"]["dcat:bbox"] = (
        "POLYGON((-22.5 164,-20 164,-20 167,-22.5 167,-22.5 164))"  # lat lon: axes swapped
    )
    listing = {
        "dataset": [
            {
                "identifier": "dj-0",
                "title": "",
                "description": "Jeu data.json\nsur deux lignes",
                "theme": ["ECON", "Aménagement"],
                "accrualPeriodicity": "R/P1M",
                "spatial": "167,-20,164,-22.5",  # west east of east
            }
        ]
    }
    feeds = {"/feed.json": json.dumps(hub).encode(), "/data.json": json.dumps(listing).encode()}
    remote.handler = lambda path, query: Reply(feeds[path], "application/json")
    try:
        reports = {
            path: harvest(
                backend, add_source_for(backend, org, remote.url + path, "s" + path[1:5], "dcat")
            )
            for path in feeds
        }
    finally:
        remote.close()
    reasons = {i.remote_id: i.reason for r in reports.values() for i in r.items}
    found = harvested(backend)
    hub_0, hub_1, hub_2 = (found[f"{remote.url}/datasets/hub-{n}"] for n in range(3))
    assert hub_0.themes == ["Environnement", "Transports"]
    assert hub_0.title == "Couche 0 publiée sur le Hub."
    assert "titre vide" in reasons[hub_0.provenance["remote_id"]]
    assert hub_0.update_frequency is None
    assert "quand-il-pleut" in reasons[hub_0.provenance["remote_id"]]
    assert len(hub_1.title) <= 500 and "coupé à 500" in reasons[hub_1.provenance["remote_id"]]
    assert hub_1.update_frequency == "biannual"
    from geoalchemy2.shape import to_shape

    assert to_shape(hub_2.spatial_coverage).bounds == (164, -22.5, 167, -20)
    assert "coins inversés" in reasons[hub_2.provenance["remote_id"]]
    listed = found["dj-0"]
    assert listed.title == "Jeu data.json" and listed.update_frequency == "monthly"
    assert listed.themes == ["Aménagement", "Économie et finances"]
    assert to_shape(listed.spatial_coverage).bounds == (164, -22.5, 167, -20)
    assert "titre vide" in reasons["dj-0"] and "coins inversés" in reasons["dj-0"]


def test_a_distribution_on_mapserver_and_featureserver_is_copied_from_featureserver():
    """A DCAT/CKAN record of an ArcGIS layer linked under both services: one data
    source, the FeatureServer (files, when there are some, still come first)."""
    from niaouli.ingest.harvest.sources.dcat import _choose_data

    base = "https://georep.nc/arcgis/rest/services/Limites/Communes"
    links = [
        {"url": f"{base}/MapServer/2", "data_format": ""},
        {"url": f"{base}/FeatureServer/2?f=json", "data_format": ""},
    ]
    data = _choose_data(links, None)
    assert data is not None and data.format == "esri-layer"
    assert data.url == f"{base}/FeatureServer/2"
    assert _choose_data(links[:1], None).url == f"{base}/MapServer/2"
    geojson = {"url": "https://georep.nc/communes.geojson", "data_format": "geojson"}
    assert _choose_data([*links, geojson], None).format == "geojson"


def test_datasets_without_identifier_keep_one_id_whatever_their_place(backend, org):
    """A data.json entry without `identifier`, a JSON-LD dataset that is a blank node
    without dct:identifier: an id from the content (dates left out), reported; the
    next run, in another order, finds them unchanged (issue 14 §4)."""
    from tests.harvest_support import Reply

    remote = FakeRemote(lambda path, query: Reply(b"", status=404))
    hub = json.loads(_hub_feed(remote.url, 2))
    for dataset in hub["dcat:dataset"]:
        del dataset["@id"], dataset["dct:identifier"]
    listing = {
        "dataset": [
            {"title": f"Jeu {n}", "description": "d", "modified": "2026-01-0{n}"}
            for n in range(1, 3)
        ]
    }
    feeds = {"/feed.json": hub, "/data.json": listing}
    remote.handler = lambda path, query: Reply(json.dumps(feeds[path]).encode(), "application/json")
    try:
        slugs = [
            add_source_for(backend, org, remote.url + path, "s" + path[1:5], "dcat")
            for path in feeds
        ]
        first = [harvest(backend, slug) for slug in slugs]
        for report in first:
            assert report.counts["created"] == 2, [(i.remote_id, i.reason) for i in report.items]
            assert all(i.remote_id.startswith("sans-identifiant-") for i in report.items)
            assert all("fiche sans identifiant" in i.reason for i in report.items)
        hub["dcat:dataset"].reverse()
        listing["dataset"].reverse()
        listing["dataset"][0]["modified"] = "2026-02-01"
        again = [harvest(backend, slug) for slug in slugs]
    finally:
        remote.close()
    assert again[0].counts["unchanged"] == 2
    assert again[1].counts["created"] == 0 and again[1].counts["deleted"] == 0
    assert {i.remote_id for i in again[1].items} == {i.remote_id for i in first[1].items}
