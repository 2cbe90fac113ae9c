"""Every accepted format lands whole: counts, types, attributes, accents, CRS, repairs.

Fixtures are small files derived from the demo communes (see `fixtures/README.md`).
Every test runs on SQLite/SpatiaLite and on PostGIS.
"""

from __future__ import annotations

import csv
import datetime
import hashlib

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import select

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import AccessLevel, Dataset, Layer
from tests.conftest import GEODATA
from tests.ingest_support import fixture, ingest, layer_table, read_layer

ACCENTED = {"Hienghène", "Poindimié", "Païta", "Nouméa", "Ouégoa"}
COMMUNE_FIELDS = ["CODGEO", "LIBGEO", "INSEE_DEP", "POPULATION"]
LATIN1_ZIPS = [
    "communes_3163_latin1.zip",
    "communes_3163_latin1_sans_cpg.zip",
    "communes_3163_latin1_sans_prj.zip",
]
# NC in degrees, generously.
NC_BOX = (155.0, -27.0, 175.0, -14.0)


def _fixture_csv(name: str, encoding: str = "utf-8", delimiter: str = ",") -> list[dict]:
    with fixture(name).open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _inside_nc(geom: shapely.Geometry) -> bool:
    minx, miny, maxx, maxy = geom.bounds
    return NC_BOX[0] <= minx <= maxx <= NC_BOX[2] and NC_BOX[1] <= miny <= maxy <= NC_BOX[3]


def _columns(layer: Layer) -> dict[str, str]:
    return {c["name"]: c["type"] for c in layer.attribute_schema}


def _layer(backend, collection_id: str) -> Layer:
    with backend.session() as session:
        layer = session.scalar(select(Layer).where(Layer.collection_id == collection_id))
        session.expunge_all()
        return layer


def _check_communes(rows: list[dict], population: bool = True) -> None:
    assert len(rows) == 33
    assert [r["fid"] for r in rows] == list(range(1, 34))
    names = {r["LIBGEO"] for r in rows}
    assert names >= ACCENTED
    by_code = {r["CODGEO"]: r for r in rows}
    assert by_code["98807"]["LIBGEO"] == "Hienghène"
    assert by_code["98818"]["LIBGEO"] == "Nouméa"
    if population:
        assert by_code["98818"]["POPULATION"] == 85976
    assert all(isinstance(r["CODGEO"], str) and r["INSEE_DEP"] == "988" for r in rows)
    for row in rows:
        assert row["srid"] == 4326
        assert row["geom"].geom_type == "MultiPolygon"
        assert row["geom"].is_valid
        assert _inside_nc(row["geom"])


@pytest.mark.parametrize("name", LATIN1_ZIPS)
def test_lambert_latin1_shapefile(backend, org, name):
    report = ingest(backend, fixture(name), dataset="communes")
    assert report.created and report.format == "Shapefile (zip)" and report.feature_count == 33
    [layer] = report.layers
    assert layer.collection_id == "communes"
    assert layer.geometry_type == "MultiPolygon"
    assert layer.native_crs == "EPSG:3163"
    assert layer.repaired == 2 and layer.repaired_rows == [7, 26]
    assert "2 géométrie(s) invalide(s) réparée(s)" in layer.notes
    west, south, east, north = layer.extent
    assert 163 < west < east < 169 and -23 < south < north < -19
    if name.endswith("sans_cpg.zip"):
        assert "attributs en Latin-1 / Windows-1252 (pas de .cpg)" in layer.notes
    if name.endswith("sans_prj.zip"):
        assert any("(.prj absent)" in n and "EPSG:3163" in n for n in layer.notes)
    else:
        assert not any("supposées" in n for n in layer.notes)

    stored = _layer(backend, "communes")
    assert stored.native_crs == "EPSG:3163"
    assert stored.feature_count == 33 and stored.geometry_type == "MultiPolygon"
    assert [c["name"] for c in stored.attribute_schema] == COMMUNE_FIELDS
    assert _columns(stored)["POPULATION"] == "integer"
    assert stored.ingest_report["repaired"] == 2
    assert stored.ingest_report["notes"] == layer.notes
    _check_communes(read_layer(backend, stored.table_name))

    with backend.session() as session:
        dataset = service.get_dataset(session, "communes", ANONYMOUS)
        assert dataset.is_spatial and dataset.access_level is AccessLevel.PUBLIC
        [resource] = dataset.resources
        digest = hashlib.sha256(fixture(name).read_bytes()).hexdigest()
        assert resource.checksum == f"sha256:{digest}" and resource.format == "Shapefile (zip)"
        assert resource.size == fixture(name).stat().st_size
        kept = backend.settings.files_dir / resource.storage_key / resource.filename
        assert kept.read_bytes() == fixture(name).read_bytes()


@pytest.mark.parametrize("name", LATIN1_ZIPS)
def test_lambert_round_trip_within_a_centimetre(backend, org, name):
    """Stored EPSG:4326 geometries, projected back to EPSG:3163, match the source to 1 cm."""
    source = pyogrio.read_dataframe(
        fixture("communes_3163_latin1.zip"), encoding="ISO-8859-1"
    ).geometry.values
    ingest(backend, fixture(name), dataset="communes")
    rows = read_layer(backend, layer_table(backend, "communes"))
    to_lambert = Transformer.from_crs(4326, 3163, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_lambert.transform(xy[:, 0], xy[:, 1]))

    back = shapely.transform(np.array([r["geom"] for r in rows], dtype=object), project)
    compared = 0
    for original, stored in zip(source, back, strict=True):
        if original.is_valid:
            expected = shapely.get_coordinates(original)
            actual = shapely.get_coordinates(stored)
            assert actual.shape == expected.shape
            assert np.abs(actual - expected).max() < 0.01
            compared += len(expected)
        else:  # repaired: same shape, vertices possibly reordered
            assert shapely.hausdorff_distance(stored, shapely.make_valid(original)) < 0.01
    assert compared > 1000


def test_crs_option_overrides_the_guess(backend, org):
    report = ingest(
        backend, fixture("communes_3163_latin1_sans_prj.zip"), dataset="communes", crs="EPSG:3163"
    )
    [layer] = report.layers
    assert layer.native_crs == "EPSG:3163"
    assert not any("supposées" in n for n in layer.notes)


def test_utf8_shapefile_without_cpg(backend, org):
    report = ingest(backend, fixture("communes_utf8_sans_cpg.zip"))
    assert report.dataset == "communes-utf8-sans-cpg"
    [layer] = report.layers
    assert layer.native_crs == "EPSG:4326"
    assert "attributs en UTF-8 (pas de .cpg)" in layer.notes
    assert layer.repaired == 2
    _check_communes(read_layer(backend, layer.table_name))


def test_geojson_repairs_and_reports_invalid_rings(backend, org):
    report = ingest(backend, GEODATA / "nc_communes.geojson", dataset="communes")
    assert report.format == "GeoJSON"
    [layer] = report.layers
    assert layer.feature_count == 33 and layer.geometry_type == "MultiPolygon"
    assert layer.native_crs == "EPSG:4326"
    assert layer.repaired == 2 and layer.repaired_rows == [7, 26]
    assert layer.notes == ["2 géométrie(s) invalide(s) réparée(s)"]
    rows = read_layer(backend, layer.table_name)
    _check_communes(rows, population=False)
    repaired = {rows[i - 1]["LIBGEO"] for i in layer.repaired_rows}
    assert repaired == {"Hienghène", "Poum"}


def test_geopackage_two_layers(backend, org):
    report = ingest(backend, fixture("communes.gpkg"), dataset="communes-gpkg")
    assert report.format == "GeoPackage"
    layers = {layer.name: layer for layer in report.layers}
    assert set(layers) == {"communes", "centroides"}
    polygons, points = layers["communes"], layers["centroides"]
    assert polygons.collection_id == "communes-gpkg-communes"
    assert points.collection_id == "communes-gpkg-centroides"
    assert (polygons.feature_count, polygons.geometry_type) == (33, "MultiPolygon")
    assert (points.feature_count, points.geometry_type) == (33, "Point")
    assert polygons.repaired == 2 and points.repaired == 0
    assert polygons.native_crs == points.native_crs == "EPSG:4326"
    _check_communes(read_layer(backend, polygons.table_name))

    rows = read_layer(backend, points.table_name)
    assert [c["name"] for c in _layer(backend, points.collection_id).attribute_schema] == [
        "CODGEO",
        "LIBGEO",
        "POPULATION",
    ]
    expected = {r["code_commune"]: r for r in _fixture_csv("communes_lonlat.csv")}
    for row in rows:
        assert row["geom"].geom_type == "Point" and row["srid"] == 4326
        source = expected[row["CODGEO"]]
        assert row["LIBGEO"] == source["nom"]
        assert row["geom"].x == pytest.approx(float(source["lon"]), abs=1e-6)
        assert row["geom"].y == pytest.approx(float(source["lat"]), abs=1e-6)
    with backend.session() as session:
        dataset = service.get_dataset(session, "communes-gpkg", ANONYMOUS)
        assert [layer.name for layer in dataset.layers] == ["communes", "centroides"]


def test_gpx_track_and_waypoints(backend, org):
    report = ingest(backend, fixture("grand_noumea.gpx"))
    assert report.format == "GPX" and report.dataset == "grand-noumea"
    layers = {layer.name: layer for layer in report.layers}
    assert set(layers) == {"waypoints", "tracks"}  # empty routes and point-by-point copies left
    waypoints, tracks = layers["waypoints"], layers["tracks"]
    assert (waypoints.feature_count, waypoints.geometry_type) == (4, "Point")
    assert (tracks.feature_count, tracks.geometry_type) == (1, "MultiLineString")

    rows = read_layer(backend, waypoints.table_name)
    assert [r["name"] for r in rows] == ["Nouméa", "Dumbéa", "Mont Dore", "Païta"]
    assert rows[0]["desc"] == "Centre de la commune de Nouméa"
    assert [r["ele"] for r in rows] == [10.0, 11.0, 12.0, 13.0]
    assert rows[0]["geom"].x == pytest.approx(166.451963) and rows[0]["geom"].y == pytest.approx(
        -22.257091
    )
    [track] = read_layer(backend, tracks.table_name)
    assert track["name"] == "Tour du Grand Nouméa"
    line = track["geom"]
    assert line.geom_type == "MultiLineString" and track["srid"] == 4326
    coords = shapely.get_coordinates(line)
    assert len(coords) == 16
    assert tuple(coords[0]) == pytest.approx((rows[0]["geom"].x, rows[0]["geom"].y))
    assert tuple(coords[-1]) == pytest.approx((rows[3]["geom"].x, rows[3]["geom"].y))


def test_kml_points_and_polygon(backend, org):
    report = ingest(backend, fixture("grand_noumea.kml"), dataset="grand-noumea-kml")
    assert report.format == "KML"
    layers = {layer.name: layer for layer in report.layers}
    assert set(layers) == {"communes", "zone"}
    points, zone = layers["communes"], layers["zone"]
    assert (points.feature_count, points.geometry_type) == (4, "Point")
    assert (zone.feature_count, zone.geometry_type) == (1, "MultiPolygon")
    assert points.collection_id == "grand-noumea-kml-communes"

    rows = read_layer(backend, points.table_name)
    assert sorted(r["Name"] for r in rows) == ["Dumbéa", "Mont Dore", "Nouméa", "Païta"]
    assert {r["description"] for r in rows} == {
        "Commune 98805",
        "Commune 98817",
        "Commune 98818",
        "Commune 98821",
    }
    assert all(r["geom"].geom_type == "Point" and _inside_nc(r["geom"]) for r in rows)
    [polygon] = read_layer(backend, zone.table_name)
    assert polygon["geom"].geom_type == "MultiPolygon" and polygon["geom"].is_valid
    assert polygon["geom"].area > 0.001
    noumea = next(r for r in rows if r["Name"] == "Nouméa")
    assert polygon["geom"].contains(noumea["geom"])


def test_csv_lon_lat(backend, org):
    report = ingest(backend, fixture("communes_lonlat.csv"), dataset="chefs-lieux")
    assert report.format == "CSV"
    [layer] = report.layers
    assert (layer.feature_count, layer.geometry_type, layer.native_crs) == (
        33,
        "Point",
        "EPSG:4326",
    )
    assert not layer.axes_swapped
    assert "points construits à partir des colonnes « lon » et « lat »" in layer.notes
    stored = _layer(backend, "chefs-lieux")
    assert _columns(stored) == {
        "code_commune": "string",
        "nom": "string",
        "population": "integer",
        "lon": "number",
        "lat": "number",
    }
    rows = read_layer(backend, layer.table_name)
    source = _fixture_csv("communes_lonlat.csv")
    for row, expected in zip(rows, source, strict=True):
        assert row["code_commune"] == expected["code_commune"]
        assert row["nom"] == expected["nom"]
        assert row["population"] == int(expected["population"])
        assert row["geom"].x == pytest.approx(float(expected["lon"]), abs=1e-9)
        assert row["geom"].y == pytest.approx(float(expected["lat"]), abs=1e-9)
    assert {r["nom"] for r in rows} >= ACCENTED


def test_csv_semicolons_decimal_commas_windows_1252(backend, org):
    report = ingest(backend, fixture("communes_cp1252.csv"), dataset="superficies")
    [layer] = report.layers
    assert (layer.feature_count, layer.geometry_type) == (33, "Point")
    assert "encodage Windows-1252 / Latin-1 détecté et converti en UTF-8" in layer.notes
    assert "points construits à partir des colonnes « longitude » et « latitude »" in layer.notes
    assert _columns(_layer(backend, "superficies")) == {
        "code_commune": "string",
        "nom": "string",
        "superficie_km2": "number",
        "longitude": "number",
        "latitude": "number",
    }
    rows = read_layer(backend, layer.table_name)
    source = _fixture_csv("communes_cp1252.csv", encoding="cp1252", delimiter=";")
    for row, expected in zip(rows, source, strict=True):
        assert row["code_commune"] == expected["code_commune"]
        assert row["nom"] == expected["nom"]
        assert row["superficie_km2"] == pytest.approx(
            float(expected["superficie_km2"].replace(",", "."))
        )
        assert row["geom"].x == pytest.approx(float(expected["longitude"].replace(",", ".")))
        assert row["geom"].y == pytest.approx(float(expected["latitude"].replace(",", ".")))
    assert rows[0]["superficie_km2"] == pytest.approx(65.38)
    assert {r["nom"] for r in rows} >= ACCENTED


def test_csv_swapped_axes_are_fixed_and_reported(backend, org):
    report = ingest(backend, fixture("communes_inversees.csv"), dataset="inversees")
    [layer] = report.layers
    assert layer.axes_swapped
    assert layer.native_crs == "EPSG:4326"
    assert "latitude et longitude inversées dans la source : axes remis dans l'ordre" in layer.notes
    rows = read_layer(backend, layer.table_name)
    source = _fixture_csv("communes_lonlat.csv")
    assert len(rows) == 33
    for row, expected in zip(rows, source, strict=True):
        assert _inside_nc(row["geom"])
        assert row["geom"].x == pytest.approx(float(expected["lon"]), abs=1e-9)
        assert row["geom"].y == pytest.approx(float(expected["lat"]), abs=1e-9)
        assert row["longitude"] == pytest.approx(float(expected["lat"]))  # attributes as given


def test_csv_wkt_column(backend, org):
    report = ingest(backend, fixture("communes_wkt.csv"), dataset="grand-noumea-wkt")
    [layer] = report.layers
    assert (layer.feature_count, layer.geometry_type) == (4, "MultiPolygon")
    assert "géométries lues dans la colonne WKT « wkt »" in layer.notes
    assert _columns(_layer(backend, "grand-noumea-wkt")) == {
        "code_commune": "string",
        "nom": "string",
    }
    rows = read_layer(backend, layer.table_name)
    source = _fixture_csv("communes_wkt.csv")
    for row, expected in zip(rows, source, strict=True):
        assert row["nom"] == expected["nom"]
        assert "wkt" not in row
        assert row["geom"].equals(shapely.MultiPolygon([shapely.from_wkt(expected["wkt"])]))


def test_csv_without_coordinates_is_a_table(backend, org):
    report = ingest(backend, fixture("population_communes.csv"), dataset="population")
    [layer] = report.layers
    assert layer.geometry_type is None and layer.native_crs is None and layer.extent is None
    assert layer.feature_count == 33
    stored = _layer(backend, "population")
    assert _columns(stored) == {
        "code_commune": "string",
        "nom": "string",
        "code_postal": "string",
        "population": "integer",
        "part": "number",
        "littoral": "boolean",
        "maj": "date",
    }
    rows = read_layer(backend, layer.table_name)
    assert "geom" not in rows[0]
    source = _fixture_csv("population_communes.csv")
    for row, expected in zip(rows, source, strict=True):
        assert row["code_commune"] == expected["code_commune"]
        assert row["code_postal"] == expected["code_postal"]
        assert row["population"] == int(expected["population"])
        assert row["part"] == pytest.approx(float(expected["part"]))
        assert bool(row["littoral"]) is (expected["littoral"] == "vrai")
        assert str(row["maj"]) == str(datetime.date(2025, 1, 1))
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == "population"))
        assert not dataset.is_spatial and dataset.spatial_coverage is None
        assert service.count_datasets(session, ANONYMOUS, spatial=False) == 1
