"""Files from field apps and GPS devices read as a campaign's proposed features (issue 18
§2): GPX, GeoJSON, KML/KMZ, CSV with every usual coordinate spelling, a QField
GeoPackage, ODK Central and KoboToolbox exports; and the hostile ones of
SECURITY-CASES S6-S9, S14-S19, refused in French with nothing written outside the
work folder.

The ODK Central export is built from a real ODK Collect submission
(`/work/shared/data/fixtures/odk/locations_submission.xml`, from ropensci/ruODK
`inst/extdata`, GPL-3 test data), written with the column names ODK Central gives its
CSV export (`group-question`, `-Latitude`/`-Longitude`, `KEY`); the GPX and KML are the
repository's own fixtures (tests/fixtures/README.md).

Before: `niaouli.ingest.field_files` did not exist (every test fails at import).
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from defusedxml.ElementTree import parse as parse_xml

from niaouli.ingest.errors import IngestError
from niaouli.ingest.field_files import MAX_FEATURES, read_field_file

FIXTURES = Path(__file__).parent / "fixtures"
ODK_SUBMISSION = Path("/work/shared/data/fixtures/odk/locations_submission.xml")
SCHEMA = [
    {"name": "nom", "type": "string", "required": True, "label": {"fr": "Nom", "en": "Name"}},
    {
        "name": "type_borne",
        "type": "enum",
        "enum": ["poteau", "bouche"],
        "label": {"fr": "Type de borne", "en": "Hydrant type"},
    },
    {"name": "debit", "type": "number", "label": {"fr": "Débit", "en": "Flow"}},
    {"name": "accessible", "type": "boolean", "label": {"fr": "Accessible", "en": "Accessible"}},
    {"name": "description", "type": "string", "label": {"fr": "Description"}},
]


def read(path: Path, tmp_path: Path, geometry_type: str = "Point", name: str | None = None):
    work = tmp_path / f"work-{time.monotonic_ns()}"
    work.mkdir()
    return read_field_file(
        path,
        filename=name or path.name,
        schema=SCHEMA,
        geometry_type=geometry_type,
        workdir=work,
    )


def refused(path: Path, tmp_path: Path, name: str | None = None, **kw) -> str:
    with pytest.raises(IngestError) as caught:
        read(path, tmp_path, name=name, **kw)
    return str(caught.value)


# --- GPS devices -----------------------------------------------------------------------


def test_gpx_waypoints_for_points_and_the_track_for_lines(tmp_path):
    points = read(FIXTURES / "grand_noumea.gpx", tmp_path)
    assert points.format == "GPX"
    assert [f["properties"]["nom"] for f in points.features] == [
        "Nouméa",
        "Dumbéa",
        "Mont Dore",
        "Païta",
    ]
    assert points.features[0]["geometry"] == {
        "type": "Point",
        "coordinates": [166.451963, -22.257091],
    }
    assert points.features[0]["properties"]["description"] == "Centre de la commune de Nouméa"
    assert any("« tracks » ignoré(s) : la campagne attend des points" in n for n in points.notes)
    # The same file again proposes the same uids: re-sending duplicates nothing.
    again = read(FIXTURES / "grand_noumea.gpx", tmp_path)
    assert [f["uid"] for f in again.features] == [f["uid"] for f in points.features]
    assert len({f["uid"] for f in points.features}) == 4

    lines = read(FIXTURES / "grand_noumea.gpx", tmp_path, "LineString")
    assert len(lines.features) == 1
    track = lines.features[0]
    assert track["geometry"]["type"] == "LineString"
    assert track["properties"]["nom"] == "Tour du Grand Nouméa"
    assert any("« waypoints » ignoré(s) : la campagne attend des lignes" in n for n in lines.notes)


def test_kml_and_kmz_placemarks(tmp_path):
    kml = read(FIXTURES / "grand_noumea.kml", tmp_path)
    assert sorted(f["properties"]["nom"] for f in kml.features) == [
        "Dumbéa",
        "Mont Dore",
        "Nouméa",
        "Païta",
    ]
    polygons = read(FIXTURES / "grand_noumea.kml", tmp_path, "Polygon")
    assert [f["properties"]["nom"] for f in polygons.features] == ["Enveloppe de Nouméa"]
    assert polygons.features[0]["geometry"]["type"] == "Polygon"

    kmz = tmp_path / "releve.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "grand_noumea.kml", "doc.kml")
    zipped = read(kmz, tmp_path)
    assert zipped.format == "KML (zip)"
    assert [f["uid"] for f in zipped.features] == [f["uid"] for f in kml.features]


# --- CSV spellings ------------------------------------------------------------------------


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("lon,lat,nom", "166.4572,-22.2758,Borne A"),
        ("Longitude;Latitude;Nom", "166,4572;-22,2758;Borne A"),
        ("X,Y,NOM", "166.4572,-22.2758,Borne A"),
        ("lat,lon,nom", "166.4572,-22.2758,Borne A"),  # swapped in the file: put back
    ],
)
def test_csv_coordinate_spellings(tmp_path, header, row):
    got = read(write(tmp_path / "bornes.csv", f"{header}\n{row}\n"), tmp_path)
    (feature,) = got.features
    x, y = feature["geometry"]["coordinates"]
    assert (round(x, 4), round(y, 4)) == (166.4572, -22.2758)
    assert feature["properties"] == {"nom": "Borne A"}


def test_csv_in_lambert_nc_is_reprojected(tmp_path):
    # RGNC91-93 / Lambert NC (EPSG:3163) of Nouméa's Baie de la Moselle.
    got = read(write(tmp_path / "leve.csv", "x;y;nom\n446398;214498;Borne L\n"), tmp_path)
    x, y = got.features[0]["geometry"]["coordinates"]
    assert 166.3 < x < 166.6 and -22.4 < y < -22.1, (x, y)


def test_labels_case_enums_and_booleans_map_onto_the_schema(tmp_path):
    text = (
        "lon,lat,NOM,Type de borne,débit,Accessible,couleur\n"
        '166.45,-22.27,Borne 1,POTEAU,"60,5",oui,rouge\n'
    )
    got = read(write(tmp_path / "b.csv", text), tmp_path)
    assert got.features[0]["properties"] == {
        "nom": "Borne 1",
        "type_borne": "poteau",
        "debit": 60.5,
        "accessible": True,
    }
    assert got.ignored_columns == ["couleur"]
    assert any("ignorées : couleur" in n for n in got.notes)


# --- field apps ---------------------------------------------------------------------------


def odk_values() -> dict[str, str]:
    root = parse_xml(ODK_SUBMISSION).getroot()
    return {el.tag: (el.text or "") for el in root.iter() if len(el) == 0}


def odk_central_csv(values: dict[str, str]) -> str:
    """The columns of ODK Central's CSV export of the Locations form for one submission."""
    lat, lon, alt, acc = values["location_point_gps"].split()
    header = [
        "SubmissionDate",
        "start_time",
        "point-location_point_gps-Latitude",
        "point-location_point_gps-Longitude",
        "point-location_point_gps-Altitude",
        "point-location_point_gps-Accuracy",
        "path-location_path_gps",
        "shape-location_shape_gps",
        "meta-instanceID",
        "KEY",
        "SubmitterName",
        "ReviewState",
    ]
    row = [
        "2023-12-04T08:39:00.000Z",
        values["start_time"],
        lat,
        lon,
        alt,
        acc,
        values["location_path_gps"],
        values["location_shape_gps"],
        values["instanceID"],
        values["instanceID"],
        "collect",
        "",
    ]
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    return out.getvalue()


def test_odk_central_csv_and_zip_export_from_a_real_submission(tmp_path):
    values = odk_values()
    instance = values["instanceID"]
    assert instance == "uuid:2d3dbc0c-70f5-4c99-a812-a8296511c45b"
    text = odk_central_csv(values)
    got = read(write(tmp_path / "Locations.csv", text), tmp_path)
    (point,) = got.features
    assert point["uid"] == instance  # the instance id: sending it again is idempotent
    assert point["geometry"]["coordinates"] == [115.7745212, -31.8950326]
    assert got.ignored_columns == []  # ODK's own columns are not "ignored data"

    # The geotrace and geoshape columns for line and polygon campaigns.
    line = read(tmp_path / "Locations.csv", tmp_path, "LineString").features[0]
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"][0] == [115.77564273029566, -31.89555264589932]
    shape = read(tmp_path / "Locations.csv", tmp_path, "Polygon").features[0]
    assert shape["geometry"]["type"] == "Polygon"
    assert len(shape["geometry"]["coordinates"][0]) == 6

    # ODK Central's "all data" zip: the form's CSV beside a repeat's and media.
    export = tmp_path / "Locations.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Locations.csv", text)
        archive.writestr("Locations-photos.csv", "PARENT_KEY,KEY\nuuid:x,uuid:x/photos[1]\n")
        archive.writestr("media/1701679000000.jpg", b"\xff\xd8\xff")
    zipped = read(export, tmp_path)
    assert zipped.format == "CSV (zip)"
    assert [f["uid"] for f in zipped.features] == [instance]


def test_kobotoolbox_csv_and_geojson_exports(tmp_path):
    # KoboToolbox's CSV export: `;`, the geopoint as text and as `_<name>_latitude` etc.
    text = (
        "start;end;nom;type_borne;position;_position_latitude;_position_longitude;"
        "_position_altitude;_position_precision;_id;_uuid;_submission_time;_index\n"
        "2025-03-15T08:00:00;2025-03-15T08:05:00;Borne K;bouche;-22.2758 166.4572 0 5;"
        "-22.2758;166.4572;0;5;341;8f1d0c1e-6b7a-4a55-9d0e-2f2d8c1b4e11;"
        "2025-03-15T09:00:00;1\n"
    )
    got = read(write(tmp_path / "kobo.csv", text), tmp_path)
    (feature,) = got.features
    assert feature["uid"] == "8f1d0c1e-6b7a-4a55-9d0e-2f2d8c1b4e11"
    assert feature["geometry"]["coordinates"] == [166.4572, -22.2758]
    assert feature["properties"] == {"nom": "Borne K", "type_borne": "bouche"}
    assert got.ignored_columns == []  # `position` is the geopoint, read as such

    # A GeoJSON export: each feature's `id` is the submission's, kept as the uid.
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": f"uuid:{i}f0e9d8c-0000-4000-8000-00000000000{i}",
                "geometry": {"type": "Point", "coordinates": [166.45 + i / 1000, -22.27]},
                "properties": {"nom": f"Borne {i}", "accessible": "non"},
            }
            for i in range(3)
        ],
    }
    path = write(tmp_path / "export.geojson", json.dumps(collection))
    got = read(path, tmp_path)
    assert [f["uid"] for f in got.features] == [f["id"] for f in collection["features"]]
    assert got.features[2]["properties"] == {"nom": "Borne 2", "accessible": False}


def test_qfield_geopackage_in_lambert_nc(tmp_path):
    frame = gpd.GeoDataFrame(
        {
            "uuid": [
                "{6f1c0e52-1111-4c1e-9a55-000000000001}",
                "{6f1c0e52-1111-4c1e-9a55-000000000002}",
            ],
            "Nom": ["Borne Q1", "Borne Q2"],
            "debit": [30.0, 45.5],
        },
        geometry=[shapely.Point(446398, 214498), shapely.Point(446500, 214600)],
        crs="EPSG:3163",
    )
    path = tmp_path / "qfield.gpkg"
    frame.to_file(path, layer="bornes", driver="GPKG")
    got = read(path, tmp_path)
    assert got.format == "GeoPackage"
    assert [f["uid"] for f in got.features] == [u.strip("{}") for u in frame["uuid"]]
    x, y = got.features[0]["geometry"]["coordinates"]
    assert 166.3 < x < 166.6 and -22.4 < y < -22.1
    assert got.features[1]["properties"] == {"nom": "Borne Q2", "debit": 45.5}


# --- hostile files (SECURITY-CASES) -----------------------------------------------------

XXE_GPX = """<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">
<wpt lat="-22.27" lon="166.45"><name>&e;</name></wpt></gpx>"""
LAUGHS_KML = (
    '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + ']><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&j;</name>'
    "<Point><coordinates>166.45,-22.27</coordinates></Point></Placemark></kml>"
)
VRT = (
    '<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
    "</OGRVRTLayer></OGRVRTDataSource>"
)


def test_xml_entities_in_gpx_and_kml_are_refused(tmp_path):  # S6, S9
    message = refused(write(tmp_path / "xxe.gpx", XXE_GPX), tmp_path)
    assert "DTD ou entités refusé" in message and "xxe.gpx" in message
    started = time.monotonic()
    message = refused(write(tmp_path / "laughs.kml", LAUGHS_KML), tmp_path)
    assert "DTD ou entités refusé" in message
    assert time.monotonic() - started < 2
    # Inside a KMZ too.
    kmz = tmp_path / "xxe.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.writestr("doc.kml", LAUGHS_KML)
    assert "DTD ou entités refusé" in refused(kmz, tmp_path)


def test_gdal_sources_are_refused(tmp_path):  # S14
    assert "VRT de GDAL refusé" in refused(write(tmp_path / "piege.gpx", VRT), tmp_path)
    assert "chemin virtuel GDAL refusé" in refused(
        Path("/vsicurl/http://127.0.0.1:9/x.gpx"), tmp_path
    )
    archive = tmp_path / "odk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("form.csv", "lon,lat\n166.45,-22.27\n")
        zf.writestr("x.vrt", VRT)
    assert "VRT/OVR dans l'archive refusé" in refused(archive, tmp_path)


def test_zip_slip_and_links_are_refused(tmp_path):  # S15, S16
    for entry in ("../../evil.csv", "/etc/cron.d/evil.csv", "..\\..\\evil.csv"):
        archive = tmp_path / "slip.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(entry, "lon,lat\n166.45,-22.27\n")
        assert "chemin dangereux dans l'archive refusé" in refused(archive, tmp_path)
    link = zipfile.ZipInfo("form.csv")
    link.external_attr = (0o120777 << 16) | 0
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    assert "lien symbolique" in refused(tmp_path / "link.zip", tmp_path)
    assert not (tmp_path.parent / "evil.csv").exists()
    assert not list(tmp_path.rglob("evil.csv"))


def test_bombs_and_huge_files_are_refused(tmp_path):  # S17
    bomb = tmp_path / "bombe.zip"
    zero = b"0" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("form.csv", "w") as entry:
        entry.write(b"lon,lat\n")
        for _ in range(60):  # 60 MB that deflate to about 60 KB
            entry.write(zero)
    assert bomb.stat().st_size < 2 << 20
    started = time.monotonic()
    message = refused(bomb, tmp_path)
    assert "taux de compression suspect" in message or "trop gros" in message, message
    assert time.monotonic() - started < 10
    assert all(p.stat().st_size <= 200 << 20 for p in tmp_path.rglob("*") if p.is_file())

    many = tmp_path / "entrees.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(600):
            zf.writestr(f"f{i}.txt", "")
    assert "plus de 500 fichiers" in refused(many, tmp_path)

    huge = tmp_path / "enorme.geojson"
    with huge.open("wb") as out:
        out.truncate((20 << 20) + 1)
    assert "fichier trop gros" in refused(huge, tmp_path)

    rows = "\n".join(f"166.{i:05d},-22.27,b{i}" for i in range(MAX_FEATURES + 1))
    assert "trop d'objets" in refused(write(tmp_path / "n.csv", "lon,lat,nom\n" + rows), tmp_path)


def test_web_pages_and_images_posing_as_field_files_are_refused(tmp_path):  # S19
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "document XML non reconnu" in refused(write(tmp_path / "leve.gpx", svg), tmp_path)
    html = "<html><body><script>alert(1)</script></body></html>"
    assert "non reconnu" in refused(write(tmp_path / "leve.kml", html), tmp_path)
    png = tmp_path / "leve.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert "image PNG" in refused(png, tmp_path)


def test_a_file_without_any_feature_of_the_campaigns_kind(tmp_path):
    message = refused(FIXTURES / "grand_noumea.kml", tmp_path, geometry_type="LineString")
    assert "aucun objet utilisable" in message and "lignes" in message
    message = refused(write(tmp_path / "t.csv", "nom,commune\nA,Nouméa\n"), tmp_path)
    assert "aucun objet utilisable" in message
