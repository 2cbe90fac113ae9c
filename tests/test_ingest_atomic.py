"""All or nothing: a re-ingestion swaps a dataset's layers in one transaction; a failed or
killed one leaves the previous version whole and readable."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import pytest
import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Dataset, Layer
from niaouli.db.layers import layer_store
from niaouli.ingest import IngestError
from tests.conftest import NIAOULI
from tests.ingest_support import (
    ORG,
    fixture,
    ingest,
    read_layer,
    shapefile_parts,
    traces,
    write_zip,
)

BIG_POINTS = 300_000


def _snapshot(backend, slug: str) -> dict:
    """The dataset as readers see it: catalogue rows, tables and their rows, stored files."""
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
        layers = [
            {
                "collection_id": layer.collection_id,
                "table_name": layer.table_name,
                "feature_count": layer.feature_count,
                "geometry_type": layer.geometry_type,
                "attribute_schema": layer.attribute_schema,
                "ingest_report": layer.ingest_report,
            }
            for layer in dataset.layers
        ]
        resources = [(r.storage_key, r.checksum, r.filename) for r in dataset.resources]
        dataset_id = dataset.id
    rows = {item["table_name"]: read_layer(backend, item["table_name"]) for item in layers}
    return {"id": dataset_id, "layers": layers, "resources": resources, "rows": rows}


def _stored_keys(backend) -> list[str]:
    files_dir = backend.settings.files_dir
    return sorted(p.name for p in files_dir.iterdir()) if files_dir.exists() else []


WKB_FIELD = pa.field("geom", pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})


def _write_gpkg(path: Path, layer: str, table: pa.Table, geometry_type: str) -> Path:
    pyogrio.write_arrow(
        table,
        path,
        layer=layer,
        driver="GPKG",
        geometry_name="geom",
        geometry_type=geometry_type,
        crs="EPSG:4326",
    )
    return path


def _points_gpkg(path: Path, count: int, seed: int = 1) -> Path:
    """`count` points spread over Grande Terre, with a code and a value each."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(164.0, 167.0, count)
    lat = rng.uniform(-22.5, -20.0, count)
    table = pa.table(
        [
            pa.array([f"P{i:06d}" for i in range(count)]),
            pa.array(np.round(lon * lat, 3)),
            pa.array(shapely.to_wkb(shapely.points(lon, lat)), type=pa.binary()),
        ],
        schema=pa.schema(
            [pa.field("code", pa.string()), pa.field("valeur", pa.float64()), WKB_FIELD]
        ),
    )
    return _write_gpkg(path, "points", table, "Point")


def _polygons_gpkg(path: Path, count: int, bad_row: int) -> Path:
    """`count` small squares; the one at `bad_row` (1-based) is flat and cannot be repaired
    into a polygon. It lies past the first batch, so some rows are loaded before it fails."""
    x = 165.0 + (np.arange(count) % 1000) * 0.002
    y = -21.0 - (np.arange(count) // 1000) * 0.002
    squares = shapely.box(x, y, x + 0.001, y + 0.001)
    squares[bad_row - 1] = shapely.Polygon([(166, -22), (166.5, -22), (167, -22), (166, -22)])
    table = pa.table(
        [pa.array(np.arange(count)), pa.array(shapely.to_wkb(squares), type=pa.binary())],
        schema=pa.schema([pa.field("numero", pa.int64()), WKB_FIELD]),
    )
    return _write_gpkg(path, "carres", table, "Polygon")


def test_reingest_replaces_the_layer_atomically(backend, org):
    first = ingest(backend, fixture("communes_lonlat.csv"), dataset="communes")
    before = _snapshot(backend, "communes")
    [old] = first.layers
    old_key = before["resources"][0][0]

    second = ingest(backend, fixture("communes_cp1252.csv"), dataset="communes")
    assert first.created and not second.created
    [new] = second.layers
    assert new.collection_id == old.collection_id == "communes"
    assert new.table_name != old.table_name

    after = _snapshot(backend, "communes")
    assert after["id"] == before["id"]
    assert [item["table_name"] for item in after["layers"]] == [new.table_name]
    assert [c["name"] for c in after["layers"][0]["attribute_schema"]] == [
        "code_commune",
        "nom",
        "superficie_km2",
        "longitude",
        "latitude",
    ]
    assert len(after["resources"]) == 1 and after["resources"][0][0] != old_key
    assert _stored_keys(backend) == [after["resources"][0][0]]  # the old copy is gone
    with backend.engine.connect() as conn:
        store = layer_store(conn)
        assert not store.exists(conn, old.table_name)
        assert store.list_tables(conn) == [new.table_name]
        assert store.count(conn, new.table_name) == 33


def test_reingest_with_a_different_number_of_layers(backend, org):
    first = ingest(backend, fixture("communes.gpkg"), dataset="communes")
    assert [layer.collection_id for layer in first.layers] == [
        "communes-communes",
        "communes-centroides",
    ]
    second = ingest(backend, fixture("communes_3163_latin1.zip"), dataset="communes")
    assert [layer.collection_id for layer in second.layers] == ["communes"]
    third = ingest(backend, fixture("grand_noumea.gpx"), dataset="communes")
    assert [layer.collection_id for layer in third.layers] == [
        "communes-waypoints",
        "communes-tracks",
    ]
    with backend.engine.connect() as conn:
        assert sorted(layer_store(conn).list_tables(conn)) == sorted(
            layer.table_name for layer in third.layers
        )
    with backend.session() as session:
        collections = session.scalars(select(Layer.collection_id).order_by(Layer.id)).all()
        assert collections == ["communes-waypoints", "communes-tracks"]
        assert service.count_datasets(session, ANONYMOUS) == 1


def test_reingest_keeps_the_metadata_and_access_level(backend, org):
    ingest(backend, fixture("communes_lonlat.csv"), dataset="communes", access_level="draft")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes")
        service.update_dataset(
            session, dataset, title="Chefs-lieux", keywords=["communes"], lineage="ISEE"
        )
    ingest(backend, fixture("communes_inversees.csv"), dataset="communes")
    with backend.session() as session:
        dataset = service.find_dataset(session, "communes")
        assert (dataset.title, dataset.keywords, dataset.lineage) == (
            "Chefs-lieux",
            ["communes"],
            "ISEE",
        )
        assert dataset.access_level.value == "draft"
        assert dataset.provenance["source_file"] == "communes_inversees.csv"
        assert service.count_datasets(session, ANONYMOUS) == 0


def _truncated(tmp_path: Path) -> Path:
    data = fixture("communes_3163_latin1.zip").read_bytes()
    path = tmp_path / "communes.zip"
    path.write_bytes(data[:5000])
    return path


def _bad_coordinate(tmp_path: Path) -> Path:
    lines = fixture("communes_lonlat.csv").read_text(encoding="utf-8").splitlines()
    lines[20] = "98820,Ouvéa,3401,166.5,sud"
    path = tmp_path / "communes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _misfit_after_first_batch(tmp_path: Path) -> Path:
    return _polygons_gpkg(tmp_path / "carres.gpkg", 70_000, bad_row=69_999)


def _wrong_crs(tmp_path: Path) -> Path:
    parts = shapefile_parts()
    parts["communes_lambert.prj"] = (
        b'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
        b'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]'
    )
    return write_zip(tmp_path / "faux.zip", parts)


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (_truncated, "archive zip illisible ou tronquée"),
        (_bad_coordinate, "ligne 21 : coordonnée « sud » non numérique"),
        (_wrong_crs, "coordonnées impossibles une fois en EPSG:4326"),
        (_misfit_after_first_batch, "ligne 69999 : géométrie MultiLineString incompatible"),
    ],
    ids=["zip-tronque", "csv-coordonnee", "scr-faux", "geometrie-apres-premier-lot"],
)
def test_failed_reingest_leaves_the_previous_layer_intact(backend, org, tmp_path, build, fragment):
    ingest(backend, fixture("communes_3163_latin1.zip"), dataset="communes")
    before = _snapshot(backend, "communes")
    before_traces = traces(backend)
    path = build(tmp_path)

    with pytest.raises(IngestError) as caught:
        ingest(backend, path, dataset="communes", title="Nouveau titre")
    assert fragment in str(caught.value)
    assert caught.value.file == path.name

    assert _snapshot(backend, "communes") == before
    assert traces(backend) == before_traces
    with backend.session() as session:
        dataset = service.get_dataset(session, "communes", ANONYMOUS)
        assert dataset.title != "Nouveau titre"
        assert [layer.feature_count for layer in dataset.layers] == [33]


def test_dataset_of_another_organisation_is_not_replaced(backend, org):
    with backend.session() as session, session.begin():
        service.create_organisation(session, "province-sud", "Province Sud", "province")
    ingest(backend, fixture("communes_lonlat.csv"), dataset="communes")
    before = _snapshot(backend, "communes")
    with pytest.raises(IngestError) as caught:
        ingest(
            backend, fixture("communes_cp1252.csv"), dataset="communes", organisation="province-sud"
        )
    assert "le jeu de données « communes » appartient à une autre organisation" in str(caught.value)
    assert caught.value.file == "communes_cp1252.csv"
    assert _snapshot(backend, "communes") == before
    assert len(_stored_keys(backend)) == 1


def test_collection_id_of_another_dataset_is_not_taken(backend, org):
    ingest(backend, fixture("communes.gpkg"), dataset="communes")
    before = traces(backend)
    with pytest.raises(IngestError) as caught:
        ingest(backend, fixture("communes_lonlat.csv"), dataset="communes-centroides")
    assert "identifiant de collection déjà pris par un autre jeu : communes-centroides" in str(
        caught.value
    )
    assert traces(backend) == before


# --- killed in the middle ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_points(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    return _points_gpkg(folder / "points_nc.gpkg", BIG_POINTS)


def _wait_for_postgres_backends(backend, timeout: float = 30) -> None:
    """Until PostgreSQL has noticed the killed client and rolled its transaction back."""
    if backend.name != "postgis":
        return
    deadline = time.monotonic() + timeout
    with backend.engine.connect() as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            ).scalar()
            conn.rollback()
            if not busy:
                return
            time.sleep(0.1)
    raise AssertionError("the killed ingestion's transaction is still open")


def test_killed_ingestion_leaves_the_previous_layer(backend, org, tmp_path, big_points):
    small = _points_gpkg(tmp_path / "points_nc.gpkg", 500, seed=2)
    ingest(backend, small, dataset="points")
    before = _snapshot(backend, "points")
    [previous] = before["layers"]
    assert previous["feature_count"] == 500

    command = [str(NIAOULI) if NIAOULI.exists() else "niaouli", "ingest", str(big_points)]
    command += ["--org", ORG, "--dataset", "points", "--progress", "lines"]
    stdout = (tmp_path / "stdout.txt").open("w")
    process = subprocess.Popen(
        command, env=backend.env(), stdout=stdout, stderr=subprocess.PIPE, text=True
    )
    try:
        seen = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("progression"):
                break
        assert seen and seen[-1].startswith("progression points_nc.gpkg : "), "".join(seen)
        assert f"/{BIG_POINTS} entités" in seen[-1]
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
        stdout.close()
    _wait_for_postgres_backends(backend)

    # The previous version is whole, readable, and nothing of the new one is visible.
    assert _snapshot(backend, "points") == before
    with backend.engine.connect() as conn:
        store = layer_store(conn)
        assert store.list_tables(conn) == [previous["table_name"]]
        assert store.count(conn, previous["table_name"]) == 500
    if backend.name == "postgis":
        with backend.engine.connect() as conn:
            leftovers = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'layers' AND c.relname LIKE 'lyr%'"
                )
            ).scalar()
        # The previous table, its primary key index and its spatial index.
        assert leftovers == 3

    # The killed run's stored copy is an orphan; cleanup removes it and only it.
    keep = before["resources"][0][0]
    orphans = [k for k in _stored_keys(backend) if k != keep]
    assert len(orphans) == 1
    result = backend.run("db", "cleanup", "--min-age", "0")
    assert "0 table(s) et 1 fichier(s) supprimés" in result.stdout
    assert _stored_keys(backend) == [keep]
    assert _snapshot(backend, "points") == before

    # And the next ingestion goes through.
    report = ingest(backend, _points_gpkg(tmp_path / "encore.gpkg", 2000, seed=3), dataset="points")
    assert report.feature_count == 2000 and not report.created
    with backend.engine.connect() as conn:
        assert layer_store(conn).list_tables(conn) == [report.layers[0].table_name]
    with Session(backend.engine) as session:
        assert session.scalar(select(Layer.feature_count)) == 2000
