"""Bad and hostile input: a clear French `IngestError` naming the file (and row), and no
trace at all — no catalogue rows, no layer tables, no stored file, no temporary file, no
file written outside the temporary folder, no network or local file reached through GDAL
(SECURITY-CASES S14-S17). A valid file ingests fine right after.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest

from niaouli.db.layers import ColumnSpec, layer_store, new_table_name
from niaouli.ingest import IngestError
from tests.ingest_support import (
    NOTHING,
    fixture,
    ingest,
    read_layer,
    shapefile_parts,
    traces,
    write_zip,
)

SHAPEFILE = "communes_lambert"


@dataclass
class Env:
    tmp: Path  # where the bad files are made
    canary: int  # a local TCP port nobody may connect to
    slip_root: Path  # absolute entries point here


@dataclass
class Case:
    build: Callable[[Env], Path | str]
    fragments: list[str]
    row: int | None = None
    options: dict = field(default_factory=dict)
    names_file: bool = True


def _parts(**replace: bytes | None) -> dict[str, bytes]:
    """The Lambert shapefile's parts with some replaced (or removed with None)."""
    parts = shapefile_parts()
    for suffix, data in replace.items():
        name = f"{SHAPEFILE}.{suffix}"
        if data is None:
            parts.pop(name)
        else:
            parts[name] = data
    return parts


def _zip(env: Env, name: str, entries: dict) -> Path:
    return write_zip(env.tmp / name, entries)


def _truncated_zip(env: Env) -> Path:
    data = fixture("communes_3163_latin1.zip").read_bytes()
    path = env.tmp / "tronque.zip"
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupted_member(env: Env) -> Path:
    """Central directory intact, compressed data of the .shp damaged."""
    data = bytearray(fixture("communes_3163_latin1.zip").read_bytes())
    with zipfile.ZipFile(fixture("communes_3163_latin1.zip")) as archive:
        info = archive.getinfo(f"{SHAPEFILE}.shp")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start, start + 2000):  # from its first byte: a broken deflate stream
        data[i] = 0xFF
    path = env.tmp / "corrompu.zip"
    path.write_bytes(bytes(data))
    return path


def _symlink_entry(env: Env) -> Path:
    parts = _parts(dbf=None)
    link = zipfile.ZipInfo(f"{SHAPEFILE}.dbf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip(env, "lien.zip", {**parts, link: b"/etc/passwd"})


def _web_mercator_without_prj(env: Env) -> Path:
    frame = gpd.read_file(fixture("communes.gpkg"), layer="centroides")
    folder = env.tmp / "mercator"
    folder.mkdir()
    frame.to_crs(3857).to_file(folder / "points.shp", encoding="UTF-8")
    entries = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix != ".prj"}
    return _zip(env, "mercator.zip", entries)


WGS84_PRJ = (
    b'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,'
    b'298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)


def _vrt_raster(source: str) -> bytes:
    return (
        '<VRTDataset rasterXSize="16" rasterYSize="16">\n'
        '  <VRTRasterBand dataType="Byte" band="1">\n'
        "    <SimpleSource>\n"
        f'      <SourceFilename relativeToVRT="0">{source}</SourceFilename>\n'
        "      <SourceBand>1</SourceBand>\n"
        "    </SimpleSource>\n"
        "  </VRTRasterBand>\n"
        "</VRTDataset>\n"
    ).encode()


def _ogr_vrt(source: str) -> bytes:
    return (
        "<OGRVRTDataSource>\n"
        '  <OGRVRTLayer name="x">\n'
        f"    <SrcDataSource>{source}</SrcDataSource>\n"
        "  </OGRVRTLayer>\n"
        "</OGRVRTDataSource>\n"
    ).encode()


def _write(env: Env, name: str, data: bytes | str) -> Path:
    path = env.tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _xxe_kml(env: Env) -> Path:
    return _write(
        env,
        "xxe.kml",
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
        f'  <!ENTITY canary SYSTEM "http://127.0.0.1:{env.canary}/xxe">]>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>'
        "<name>&xxe;&canary;</name><Point><coordinates>166.45,-22.27</coordinates></Point>"
        "</Placemark></Document></kml>\n",
    )


def _billion_laughs_gpx(env: Env) -> Path:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return _write(
        env,
        "rires.gpx",
        '<?xml version="1.0"?>\n'
        f"<!DOCTYPE gpx [{''.join(entities)}]>\n"
        '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        '<wpt lat="-22.27" lon="166.45"><name>&lol9;</name></wpt></gpx>\n',
    )


def _billion_laughs_kml_late_doctype(env: Env) -> Path:
    """The DTD after a long comment, past the first bytes a sniffer would read."""
    return _write(
        env,
        "rires.kml",
        '<?xml version="1.0"?>\n'
        f"<!-- {'x' * 20000} -->\n"
        '<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&b;</name>'
        "<Point><coordinates>166.45,-22.27</coordinates></Point></Placemark></Document></kml>\n",
    )


def _truncated_kml(env: Env) -> Path:
    text = fixture("grand_noumea.kml").read_text(encoding="utf-8")
    return _write(env, "coupe.kml", text[: len(text) // 2])


def _misfit_geojson(env: Env) -> Path:
    def polygon(ring: list[list[float]], name: str) -> dict:
        return {
            "type": "Feature",
            "properties": {"nom": name},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    square = [[166.4, -22.3], [166.5, -22.3], [166.5, -22.2], [166.4, -22.2], [166.4, -22.3]]
    flat = [[166.0, -22.0], [166.5, -22.0], [167.0, -22.0], [166.0, -22.0]]  # no area at all
    features = [polygon(square, "a"), polygon(square, "b"), polygon(flat, "plat")]
    return _write(
        env, "zones.geojson", json.dumps({"type": "FeatureCollection", "features": features})
    )


def _csv_with(env: Env, name: str, line: int, value: str) -> Path:
    lines = fixture("communes_lonlat.csv").read_text(encoding="utf-8").splitlines()
    lines[line - 1] = value
    return _write(env, name, "\n".join(lines) + "\n")


def _wide_csv(env: Env, name: str, columns: int) -> Path:
    """One row of integers under `columns` headers."""
    header = ",".join(f"c{i}" for i in range(columns))
    return _write(env, name, f"{header}\n{','.join(map(str, range(columns)))}\n")


def _not_a_geopackage(env: Env) -> Path:
    path = env.tmp / "base.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    return path


def _symlink_file(env: Env) -> Path:
    path = env.tmp / "lien.csv"
    path.symlink_to(fixture("communes_lonlat.csv"))
    return path


def _directory(env: Env) -> Path:
    path = env.tmp / "dossier.csv"
    path.mkdir()
    return path


def _parts_entry(extra: str, data: bytes = b"x") -> Callable[[Env], Path]:
    return lambda env: _zip(env, "piege.zip", {**_parts(), extra: data})


CASES = {
    "fichier-vide": Case(lambda e: _write(e, "vide.geojson", b""), ["fichier vide"]),
    "fichier-introuvable": Case(lambda e: e.tmp / "absent.csv", ["fichier introuvable"]),
    "lien-symbolique": Case(_symlink_file, ["lien symbolique refusé"]),
    "dossier": Case(_directory, ["ce n'est pas un fichier ordinaire"]),
    "vsicurl": Case(
        lambda e: f"/vsicurl/http://127.0.0.1:{e.canary}/x", ["chemin virtuel GDAL refusé"]
    ),
    "vsizip": Case(
        lambda e: f"/vsizip/{fixture('communes_3163_latin1.zip')}/{SHAPEFILE}.shp",
        ["chemin virtuel GDAL refusé"],
    ),
    "url": Case(
        lambda e: f"http://127.0.0.1:{e.canary}/communes.geojson",
        ["les URL ne sont pas acceptées"],
    ),
    "zip-tronque": Case(_truncated_zip, ["archive zip illisible ou tronquée"]),
    "zip-corrompu": Case(_corrupted_member, ["archive zip corrompue ou tronquée"]),
    "zip-sans-shp": Case(
        lambda e: _zip(e, "sans_shp.zip", {"LISEZMOI.txt": b"rien", "communes.dbf": b"x"}),
        ["l'archive ne contient aucun fichier .shp"],
    ),
    "zip-sans-dbf": Case(
        lambda e: _zip(e, "sans_dbf.zip", _parts(dbf=None)),
        [f"« {SHAPEFILE}.dbf » manquant dans l'archive"],
    ),
    "zip-slip": Case(
        _parts_entry("../../x.shp"), ["chemin dangereux dans l'archive refusé", "../../x.shp"]
    ),
    "zip-slip-windows": Case(
        _parts_entry("..\\..\\x.shp"), ["chemin dangereux dans l'archive refusé"]
    ),
    "zip-chemin-absolu": Case(
        lambda e: _zip(e, "absolu.zip", {**_parts(), f"{e.slip_root}/x.shp": b"x"}),
        ["chemin dangereux dans l'archive refusé"],
    ),
    "zip-lecteur-windows": Case(
        _parts_entry("C:/Windows/x.shp"), ["chemin dangereux dans l'archive refusé"]
    ),
    "zip-lien-symbolique": Case(_symlink_entry, ["lien symbolique dans l'archive refusé"]),
    "zip-vrt": Case(
        lambda e: _zip(
            e,
            "avec_vrt.zip",
            {**_parts(), "communes.vrt": _ogr_vrt(f"/vsicurl/http://127.0.0.1:{e.canary}/v")},
        ),
        ["fichier VRT/OVR dans l'archive refusé", "communes.vrt"],
    ),
    "zip-bombe": Case(
        lambda e: _zip(e, "bombe.zip", {**_parts(dbf=None), f"{SHAPEFILE}.dbf": bytes(64 << 20)}),
        ["taux de compression suspect"],
    ),
    "zip-trop-de-fichiers": Case(
        lambda e: _zip(
            e, "nombreux.zip", {**_parts(), **{f"doc/{i}.txt": b"" for i in range(2001)}}
        ),
        ["plus de 2000 fichiers"],
    ),
    "prj-illisible": Case(
        lambda e: _zip(e, "prj_illisible.zip", _parts(prj=b'GARBAGE["pas un SCR"]')),
        ["système de coordonnées illisible", f"{SHAPEFILE}.prj", "--crs"],
    ),
    "sans-prj-ni-degres-ni-lambert": Case(
        _web_mercator_without_prj,
        ["système de coordonnées inconnu", "ni en degrés ni en Lambert NC", "--crs"],
    ),
    "prj-faux": Case(
        lambda e: _zip(e, "prj_faux.zip", _parts(prj=WGS84_PRJ)),
        ["coordonnées impossibles une fois en EPSG:4326 depuis EPSG:4326"],
    ),
    "tif-vrt-passwd": Case(
        lambda e: _write(e, "image.tif", _vrt_raster("/etc/passwd")),
        ["fichier VRT de GDAL refusé"],
    ),
    "tif-vrt-vsicurl": Case(
        lambda e: _write(
            e, "image2.tif", _vrt_raster(f"/vsicurl/http://127.0.0.1:{e.canary}/t.tif")
        ),
        ["fichier VRT de GDAL refusé"],
    ),
    "vrt-vectoriel-deguise": Case(
        lambda e: _write(e, "points.csv", _ogr_vrt(f"/vsicurl/http://127.0.0.1:{e.canary}/p.csv")),
        ["fichier VRT de GDAL refusé"],
    ),
    "xml-inconnu": Case(
        lambda e: _write(
            e, "carte.kml", '<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'
        ),
        ["document XML non reconnu (élément racine « svg »)"],
    ),
    "vrt": Case(lambda e: _write(e, "couche.vrt", _ogr_vrt("/etc/passwd")), ["VRT de GDAL"]),
    "tiff": Case(
        # A raster now (issue 19), refused by the raster ingestion's header check
        lambda e: _write(e, "ortho.tif", b"II*\x00" + bytes(100)),
        ["fichier GeoTIFF illisible"],
    ),
    "sqlite-pas-geopackage": Case(_not_a_geopackage, ["base SQLite qui n'est pas un GeoPackage"]),
    "binaire": Case(
        lambda e: _write(e, "donnees.bin", bytes(range(256)) * 4), ["format non reconnu"]
    ),
    "kml-xxe": Case(_xxe_kml, ["DTD ou entités refusé", "XXE"]),
    "gpx-billion-laughs": Case(_billion_laughs_gpx, ["DTD ou entités refusé"]),
    "kml-doctype-tardif": Case(_billion_laughs_kml_late_doctype, ["DTD ou entités refusé"]),
    "kml-tronque": Case(_truncated_kml, ["XML mal formé ou tronqué"]),
    "geojson-illisible": Case(
        lambda e: _write(e, "casse.geojson", '{"type": "FeatureCollection", "features": ['),
        ["fichier illisible"],
    ),
    "geometrie-incompatible": Case(
        _misfit_geojson,
        ["géométrie MultiLineString incompatible avec le type de la couche (MultiPolygon)"],
        row=3,
    ),
    "csv-coordonnee-non-numerique": Case(
        lambda e: _csv_with(e, "points.csv", 6, "98805,Dumbéa,35873,166.49438,22°07'S"),
        ["coordonnée « 22°07'S » non numérique dans la colonne « lat »"],
        row=6,
    ),
    "csv-colonnes": Case(
        lambda e: _csv_with(e, "colonnes.csv", 9, "98808,Houailou,4,165.6"),
        ["nombre de colonnes différent de l'en-tête (5 attendues)"],
        row=9,
    ),
    "csv-trop-de-colonnes": Case(  # PostgreSQL's 1,600 and SQLite's 2,000: both 500s
        lambda e: _wide_csv(e, "large.csv", 2100), ["trop de colonnes : 2100 (1598 au plus)"]
    ),
    "organisation-inconnue": Case(
        lambda e: fixture("communes_lonlat.csv"),
        ["organisation inconnue : « personne »"],
        options={"organisation": "personne"},
        names_file=False,
    ),
    "identifiant-traversant": Case(
        lambda e: fixture("communes_lonlat.csv"),
        ["identifiant invalide « ../../x »"],
        options={"dataset": "../../x"},
        names_file=False,
    ),
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Bad files in `tmp_path/in`; ingestion's temporary folders deep in `tmp_path/work`;
    a listening socket that must never be connected to."""
    work = tmp_path / "work" / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    inputs = tmp_path / "in"
    inputs.mkdir()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield Env(inputs, listener.getsockname()[1], tmp_path / "slip")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_without_a_trace(backend, org, env, tmp_path, case):
    path = case.build(env)
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(IngestError) as caught:
        ingest(backend, path, **case.options)
    error = caught.value
    message = str(error)
    for fragment in case.fragments:
        assert fragment in message
    if case.names_file:
        name = Path(path).name
        assert error.file == name
        assert message.startswith(f"fichier « {name} »")
    assert error.row == case.row
    if case.row is not None:
        assert f"ligne {case.row} : " in message

    assert traces(backend) == NOTHING
    assert list(Path(tempfile.tempdir).iterdir()) == []  # temporary folders removed
    # Nothing new anywhere but the database files; nothing at the zip-slip targets.
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p.is_relative_to(backend.settings.data_dir) for p in new)
    assert not (env.slip_root / "x.shp").exists() and not Path("/x.shp").exists()

    report = ingest(backend, fixture("communes_lonlat.csv"), dataset="apres")
    assert report.feature_count == 33
    assert len(read_layer(backend, report.layers[0].table_name)) == 33


def test_garbage_prj_with_crs_option(backend, org, env):
    path = write_zip(env.tmp / "prj_illisible.zip", _parts(prj=b'GARBAGE["pas un SCR"]'))
    report = ingest(backend, path, crs="EPSG:3163")
    assert report.layers[0].native_crs == "EPSG:3163"
    assert report.layers[0].feature_count == 33


def test_unknown_crs_option(backend, org, env):
    with pytest.raises(IngestError) as caught:
        ingest(backend, fixture("communes_3163_latin1_sans_prj.zip"), crs="EPSG:999999")
    assert "système de coordonnées inconnu : « EPSG:999999 »" in str(caught.value)
    assert caught.value.file == "communes_3163_latin1_sans_prj.zip"
    assert traces(backend) == NOTHING


def test_mac_resource_forks_and_folders_are_ignored(backend, org, env):
    """Zips from Finder carry `__MACOSX/._x.shp`; parts inside a folder are flattened."""
    parts = {f"couches/{n}": d for n, d in _parts().items()}
    parts[f"__MACOSX/couches/._{SHAPEFILE}.shp"] = b"\x00\x05\x16\x07"
    report = ingest(backend, write_zip(env.tmp / "finder.zip", parts))
    assert [layer.feature_count for layer in report.layers] == [33]


def test_file_name_is_never_a_path(backend, org, env):
    """A crafted original name cannot place the stored copy outside its key (S16)."""
    ingest(
        backend,
        fixture("communes_lonlat.csv"),
        dataset="chefs-lieux",
        original_name="..\\..\\..\\etc\\cron.d\\x.csv",
    )
    files = [p for p in backend.settings.files_dir.rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["x.csv"]
    assert files[0].parent.parent == backend.settings.files_dir
    assert os.path.commonpath([files[0].resolve(), backend.settings.files_dir.resolve()]) == str(
        backend.settings.files_dir.resolve()
    )


def test_row_too_large_for_postgresql(backend, org, env):
    """1,200 numbers in a row pass the column limit but not PostgreSQL's 8 KB row (the
    COPY failed with a 500); SQLite takes them."""
    path = _wide_csv(env, "mesures.csv", 1200)
    if backend.name == "sqlite":
        report = ingest(backend, path)
        row = read_layer(backend, report.layers[0].table_name)[0]
        assert row["c0"] == 0 and row["c1199"] == 1199
        return
    with pytest.raises(IngestError) as caught:
        ingest(backend, path)
    assert str(caught.value).startswith("fichier « mesures.csv », couche « mesures » : ")
    assert "ligne trop grande pour PostgreSQL, trop de colonnes remplies" in str(caught.value)
    assert traces(backend) == NOTHING
    assert ingest(backend, fixture("communes_lonlat.csv")).feature_count == 33


def _features(properties: list[dict], geometry: bool = True) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]}
                    if geometry
                    else None,
                    "properties": p,
                }
                for i, p in enumerate(properties)
            ],
        }
    )


def test_columns_of_empty_values_load_alike_on_both_backends(backend, org, env):
    """A text column empty in every row (`"nom": ""`, KML `<name></name>`) crashed the
    PostGIS COPY encoder (IndexError, a 500 through the API) where SQLite loaded it."""
    kml = (
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        + "".join(
            f"<Placemark><name></name><Point><coordinates>166.{i},-22.2</coordinates>"
            "</Point></Placemark>"
            for i in range(3)
        )
        + "</Document></kml>"
    )
    files = {
        "vides.geojson": _features([{"nom": "", "n": i, "note": ""} for i in range(3)]),
        "sans-geometrie.geojson": _features([{"nom": ""}] * 3, geometry=False),
        "nuls.geojson": _features([{"nom": None, "n": None}] * 3),
        "repere.kml": kml,
    }
    loaded = {}
    for name, text in files.items():
        report = ingest(backend, _write(env, name, text), dataset=name.split(".")[0])
        assert report.feature_count == 3
        rows = read_layer(backend, report.layers[0].table_name)
        loaded[name] = [
            {k: v for k, v in r.items() if k in ("nom", "n", "note", "Name")} for r in rows
        ]
    assert loaded["vides.geojson"] == [{"nom": "", "n": i, "note": ""} for i in range(3)]
    assert loaded["sans-geometrie.geojson"] == [{"nom": ""}] * 3
    assert loaded["nuls.geojson"] == [{"nom": None, "n": None}] * 3
    assert [row["Name"] for row in loaded["repere.kml"]] == [""] * 3


def _write_batches(backend, columns: list[ColumnSpec], batches: list[pa.Table]) -> list[tuple]:  # noqa: ANN001
    """Batches written through the layer store's writer (PostGIS: the binary COPY)."""
    with backend.engine.begin() as conn:
        store = layer_store(conn)
        table = new_table_name()
        store.create(conn, table, columns, None)
        with store.writer(conn, table, columns, False) as write:
            first = 1
            for batch in batches:
                write(np.arange(first, first + batch.num_rows, dtype=np.int64), batch, None)
                first += batch.num_rows
        store.finish(conn, table, False)
        names = ", ".join(f'"{c.column}"' for c in columns)
        query = f"SELECT {names} FROM {store.qualified(table)} ORDER BY fid"
        rows = [tuple(r) for r in conn.exec_driver_sql(query)]
        store.drop(conn, table, False)
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]


def test_copy_encoder_edge_batches(backend):
    """Empty values of every variable-width type, all-NULL columns and a batch of no rows
    (the COPY encoder failed on "" everywhere, and on an empty batch of fixed-width
    columns: numpy cannot view a 0-row block)."""
    numbers = [ColumnSpec("n", "n", "integer"), ColumnSpec("x", "x", "number")]
    empty = pa.table({"n": pa.array([], pa.int64()), "x": pa.array([], pa.float64())})
    some = pa.table({"n": [1, None], "x": [None, 2.5]})
    assert _write_batches(backend, numbers, [empty, some, empty]) == [(1, None), (None, 2.5)]

    columns = [
        ColumnSpec("texte", "texte", "string"),
        ColumnSpec("octets", "octets", "binary"),
        ColumnSpec("vide", "vide", "string"),
    ]
    blanks = pa.table(
        {
            "texte": pa.array([""] * 3, pa.large_string()),
            "octets": pa.array([b""] * 3, pa.binary()),
            "vide": pa.array([None] * 3, pa.null()),
        }
    )
    assert _write_batches(backend, columns, [blanks]) == [("", b"", None)] * 3
