"""Real clients against a live /ogc: GDAL's OAPIF driver (through pyogrio) and OWSLib."""

from __future__ import annotations

import pyogrio
import pytest
from owslib.ogcapi.features import Features

from tests.ogc_support import ogc  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("gdal_client")  # GDAL reads the platform as a client

EXPECTED = {
    # collection id: (feature count, attribute names, geometry?)
    "communes-nc": (33, ["CODGEO", "LIBGEO", "INSEE_DEP"], True),
    "communes-lambert": (33, None, True),
    "population-communes-nc": (33, None, False),
    "sites-visites": (12, ["name", "visited", "score"], True),
    # The demo's Nouméa bathing water: points and beach polygons in one layer (nested
    # results as JSON), the latest results and the beach status (tables).
    "baignade-noumea-points": (30, None, True),
    "baignade-noumea-releves": (16, None, False),
    "baignade-noumea-etat": (6, None, False),
}


def test_gdal_reads_every_collection(ogc):  # noqa: F811
    collections = ogc.get("/collections").json()["collections"]
    features = [c["id"] for c in collections if c.get("itemType") == "feature"]
    assert sorted(features) == sorted(EXPECTED)
    # Plus the catalogue's records (tests/test_ogc_records.py).
    assert [c["id"] for c in collections if c.get("itemType") == "record"] == ["catalogue"]
    for collection_id, (count, attributes, spatial) in EXPECTED.items():
        url = f"OAPIF:{ogc.url}/collections/{collection_id}"
        info = pyogrio.read_info(url, force_feature_count=True)
        assert info["features"] == count, collection_id
        frame = pyogrio.read_dataframe(url)
        assert len(frame) == count
        assert frame.index.is_unique
        if attributes:
            assert [c for c in frame.columns if c != "geometry"] == attributes
        if spatial:
            assert frame.crs.to_string() in ("OGC:CRS84", "EPSG:4326")
            west, south, east, north = frame.total_bounds
            assert 163 < west < east < 169 and -23 < south < north < -19


def test_gdal_reads_in_epsg_3163_and_4326(ogc):  # noqa: F811
    url = f"OAPIF:{ogc.url}/collections/communes-nc"
    lambert = pyogrio.read_dataframe(url, CRS="EPSG:3163")
    assert len(lambert) == 33
    assert lambert.crs.to_epsg() == 3163
    west, south, east, north = lambert.total_bounds
    # Lambert New Caledonia: eastings ~100-700 km, northings ~150-550 km
    assert 100_000 < west < east < 700_000 and 150_000 < south < north < 550_000

    geographic = pyogrio.read_dataframe(url, CRS="EPSG:4326")
    reference = pyogrio.read_dataframe(url)
    assert geographic.total_bounds == pytest.approx(reference.total_bounds, abs=1e-6)

    # The layer ingested from EPSG:3163 comes back to the same place in both CRSs.
    native = pyogrio.read_dataframe(
        f"OAPIF:{ogc.url}/collections/communes-lambert", CRS="EPSG:3163"
    )
    assert native.total_bounds == pytest.approx(lambert.total_bounds, rel=1e-3)


def test_gdal_attribute_filter_runs_on_the_server(ogc):  # noqa: F811
    url = f"OAPIF:{ogc.url}/collections/communes-nc"
    frame = pyogrio.read_dataframe(url, where="LIBGEO = 'Nouméa'")
    assert frame["LIBGEO"].tolist() == ["Nouméa"]


def test_owslib_pages_through_results(ogc):  # noqa: F811
    client = Features(ogc.url)
    assert "communes-nc" in [c["id"] for c in client.collections()["collections"]]
    assert "communes-nc" in client.feature_collections()
    seen: list[int] = []
    offset = 0
    while True:
        page = client.collection_items("communes-nc", limit=7, offset=offset)
        assert page["numberMatched"] == 33
        seen += [f["id"] for f in page["features"]]
        if not any(link["rel"] == "next" for link in page["links"]):
            break
        offset += 7
    assert seen == list(range(1, 34))
    one = client.collection_item("communes-nc", "18")
    assert one["properties"]["LIBGEO"] == "Nouméa"
    queryables = client.collection_queryables("communes-nc")
    assert {"CODGEO", "LIBGEO", "INSEE_DEP"} <= set(queryables["properties"])
