"""ArcGIS Server harvesting (Géorep): services directory, layers, paged `query`, esriJSON.

A fake ArcGIS Server on 127.0.0.1 replays the real FeatureServer fixtures and serves the
communes of New Caledonia in EPSG:3163 as polygons (Esri ring order), points, polylines
and multipoints; data are copied through the ingestion and compared with the source.
"""

from __future__ import annotations

import json

import pytest
import shapely
from pyproj import Geod
from sqlalchemy import select

from niaouli.catalogue.models import Dataset, Layer
from niaouli.db.layers import layer_store
from niaouli.ingest.harvest import esri
from niaouli.ingest.harvest.harvest_tables import JobStatus
from tests.harvest_support import (
    COMMUNES,
    FakeArcGis,
    FakeRemote,
    add_source_for,
    harvest,
    harvested,
)

ROOT = "/arcgis/rest/services"


@pytest.fixture
def remote():
    fake = FakeRemote(FakeArcGis())
    yield fake
    fake.close()


def layers_by_remote_id(backend) -> dict[str, Layer]:
    with backend.session() as session:
        found = {}
        for layer in session.scalars(select(Layer)).all():
            found[layer.dataset.provenance["remote_id"]] = layer
            session.expunge(layer)
        return found


def test_esri_rings_become_polygons_with_their_holes():
    outer = [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]  # clockwise: outer ring
    hole = [[2, 2], [4, 2], [4, 4], [2, 4], [2, 2]]  # counter-clockwise: a hole
    second = [[20, 0], [20, 5], [25, 5], [25, 0], [20, 0]]
    polygon = esri.geometry({"rings": [outer, hole]})
    assert polygon["type"] == "Polygon" and len(polygon["coordinates"]) == 2
    multi = esri.geometry({"rings": [outer, second, hole]})
    assert multi["type"] == "MultiPolygon"
    assert shapely.geometry.shape(multi).area == 100 - 4 + 25
    assert esri.geometry({"x": 1.5, "y": 2}) == {"type": "Point", "coordinates": [1.5, 2.0]}
    assert esri.geometry({"x": None, "y": None}) is None
    assert esri.geometry({"points": [[1, 2, 3], [4, 5, 6]]})["coordinates"] == [[1, 2], [4, 5]]
    assert esri.geometry({"paths": [[[0, 0], [1, 1]]]})["type"] == "LineString"
    assert esri.geometry({"paths": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]})["type"] == (
        "MultiLineString"
    )
    assert esri.crs_of({"wkid": 102100, "latestWkid": 3857}) == "EPSG:3857"
    assert esri.crs_of({"wkid": 3163}) == "EPSG:3163"


def test_directory_harvest_copies_every_geometry_kind(backend, org, remote):
    slug = add_source_for(
        backend,
        org,
        remote.url + ROOT,
        "georep",
        "arcgis",
        data="true",
        licence="Licence Ouverte 2.0",
    )
    report = harvest(backend, slug)
    assert report.status == JobStatus.SUCCESS, (report.message, report.items)
    assert report.counts["created"] == 5 and report.counts["failed"] == 0
    found = harvested(backend)
    assert set(found) == {
        "Equipements/FeatureServer/0",
        *(f"Limites/Communes/FeatureServer/{i}" for i in range(4)),
    }
    communes = found["Limites/Communes/FeatureServer/0"]
    assert communes.title == "Communes" and communes.licence == "Licence Ouverte 2.0"
    assert communes.producer == "Gouvernement de la Nouvelle-Calédonie — DITTT"
    assert "EPSG:3163" in communes.lineage
    # The extent in EPSG:3163 becomes a WGS 84 coverage over the territory.
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == communes.slug))
        assert dataset.provenance["source_url"].endswith("/Limites/Communes/FeatureServer/0")
    queries = [q for p, q in remote.requests if p.endswith("Communes/FeatureServer/0/query")]
    assert [q["resultOffset"] for q in queries] == ["0", "10", "20", "30"]
    assert all(q["resultRecordCount"] == "10" for q in queries)

    layers = layers_by_remote_id(backend)
    polygons = layers["Limites/Communes/FeatureServer/0"]
    assert polygons.feature_count == 33 and polygons.native_crs.endswith("3163")
    assert "polygon" in polygons.geometry_type.lower()
    west, south, east, north = polygons.extent
    assert 163 < west < 164 and -23 < south < -22 and 168 < east < 169 and -20 < north < -19
    assert layers["Limites/Communes/FeatureServer/1"].feature_count == 33
    assert "point" in layers["Limites/Communes/FeatureServer/1"].geometry_type.lower()
    assert "line" in layers["Limites/Communes/FeatureServer/2"].geometry_type.lower()
    assert "point" in layers["Limites/Communes/FeatureServer/3"].geometry_type.lower()
    facilities = layers["Equipements/FeatureServer/0"]  # the real fixture: 1,000 features
    assert facilities.feature_count == 1000
    facility_queries = [
        q for p, q in remote.requests if p.startswith(f"{ROOT}/Equipements") and p.endswith("query")
    ]
    assert [q["resultOffset"] for q in facility_queries] == ["0", "300", "600", "900"]

    # Areas survive EPSG:3163 -> esriJSON -> GeoJSON -> ingestion (reprojected to 4326).
    source = json.loads(COMMUNES.read_text(encoding="utf-8"))
    geod = Geod(ellps="WGS84")
    expected = sum(
        abs(
            geod.geometry_area_perimeter(shapely.make_valid(shapely.geometry.shape(f["geometry"])))[
                0
            ]
        )
        for f in source["features"]
    )
    with backend.engine.connect() as conn:
        name = layer_store(conn).qualified(polygons.table_name)
        blobs = conn.exec_driver_sql(f"SELECT ST_AsBinary(geom) FROM {name}").scalars().all()
    total = sum(abs(geod.geometry_area_perimeter(shapely.from_wkb(bytes(b)))[0]) for b in blobs)
    assert abs(total - expected) / expected < 0.01

    remote.clear()
    again = harvest(backend, slug)
    assert again.counts["unchanged"] == 5
    assert not [p for p, _q in remote.requests if p.endswith("query")]  # data not re-read


def test_a_failing_data_page_keeps_the_metadata_and_retries(backend, org, remote):
    layer = f"{ROOT}/Limites/Communes/FeatureServer/0"
    slug = add_source_for(backend, org, remote.url + layer, "communes", "arcgis", data="true")
    remote.inject("500", lambda p, q: p.endswith("/query") and q.get("resultOffset") == "20")
    report = harvest(backend, slug)
    item = report.items[0]
    assert item.action == "failed" and "données non copiées" in item.reason
    assert "HTTP 500" in item.reason and "page 3" in item.reason
    assert set(harvested(backend)) == {"Limites/Communes/FeatureServer/0"}
    assert layers_by_remote_id(backend) == {}
    remote.clear()
    retried = harvest(backend, slug)
    assert retried.items[0].action == "updated"
    assert layers_by_remote_id(backend)["Limites/Communes/FeatureServer/0"].feature_count == 33


@pytest.mark.parametrize("failure", ["500", "empty", "truncated", "timeout"])
def test_a_failing_layer_description_deletes_nothing(backend, org, remote, failure):
    slug = add_source_for(backend, org, remote.url + ROOT, "georep", "arcgis")
    assert harvest(backend, slug).counts["created"] == 5
    remote.inject(failure, lambda p, _q: p == f"{ROOT}/Limites/Communes/FeatureServer/2", "3")
    report = harvest(backend, slug)
    assert report.status == JobStatus.PARTIAL and report.counts["deleted"] == 0
    assert len(harvested(backend)) == 5


def test_a_service_published_as_mapserver_and_featureserver_is_harvested_once(backend, org):
    """Feature access: the same layers under MapServer and FeatureServer are one dataset
    each, read and copied from the FeatureServer; the report names the merged MapServer."""
    fake = FakeRemote(FakeArcGis(map_server=True))
    try:
        slug = add_source_for(backend, org, fake.url + ROOT, "georep", "arcgis", data="true")
        report = harvest(backend, slug)
        assert report.status == JobStatus.SUCCESS, (report.message, report.items)
        assert report.counts["created"] == 5 and report.counts["failed"] == 0
        assert set(harvested(backend)) == {
            "Equipements/FeatureServer/0",
            *(f"Limites/Communes/FeatureServer/{i}" for i in range(4)),
        }
        reasons = {item.remote_id: item.reason for item in report.items}
        assert "Limites/Communes/MapServer/2" in reasons["Limites/Communes/FeatureServer/2"]
        assert "fusionnée" in reasons["Limites/Communes/FeatureServer/2"]
        assert "MapServer" not in reasons["Equipements/FeatureServer/0"]
        queried = {p for p, _q in fake.requests if p.endswith("/query")}
        assert not [p for p in queried if "/MapServer/" in p]  # data copied once
        assert len(layers_by_remote_id(backend)) == 5
        with backend.session() as session:
            dataset = session.scalar(
                select(Dataset).where(
                    Dataset.slug == harvested(backend)["Limites/Communes/FeatureServer/0"].slug
                )
            )
            urls = {r.url for r in dataset.resources if r.role == "harvest-link"}
        assert f"{fake.url}{ROOT}/Limites/Communes/MapServer/0" in urls
        fake.clear()
        assert harvest(backend, slug).counts["unchanged"] == 5
    finally:
        fake.close()
