"""Helpers shared by the ingestion tests: ingest a file, read a layer back, check traces."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import func, select

from niaouli.catalogue.models import Dataset, Layer, Resource
from niaouli.db.layers import layer_store, quote
from niaouli.ingest import IngestReport, ingest_file
from tests.conftest import FIXTURES, Backend

ORG = "gouvernement-nc"  # created by the `org` fixture


def ingest(backend: Backend, path: Path | str, **options: Any) -> IngestReport:
    """`ingest_file` on the test backend, into the `org` fixture's organisation."""
    options.setdefault("organisation", ORG)
    options.setdefault("progress", "none")
    return ingest_file(path, settings=backend.settings, engine=backend.engine, **options)


def fixture(name: str) -> Path:
    return FIXTURES / name


def layer_table(backend: Backend, collection_id: str) -> str:
    with backend.session() as session:
        return session.scalar(select(Layer.table_name).where(Layer.collection_id == collection_id))


def read_layer(backend: Backend, table: str) -> list[dict[str, Any]]:
    """Every row of a layer table, ordered by fid, with `geom` as a shapely geometry and
    `srid` as stored (both backends understand `ST_AsBinary` and `ST_SRID`)."""
    with backend.engine.connect() as conn:
        store = layer_store(conn)
        columns = list(
            conn.exec_driver_sql(f"SELECT * FROM {store.qualified(table)} WHERE 1 = 0").keys()
        )
        has_geom = "geom" in columns
        extra = ", ST_AsBinary(geom) AS geom_wkb, ST_SRID(geom) AS geom_srid" if has_geom else ""
        result = conn.exec_driver_sql(
            f"SELECT * {extra} FROM {store.qualified(table)} ORDER BY {quote('fid')}"
        )
        rows = [dict(r._mapping) for r in result]
    for row in rows:
        if has_geom:
            wkb = row.pop("geom_wkb")
            row["geom"] = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
            row["srid"] = row.pop("geom_srid")
    return rows


def traces(backend: Backend) -> dict[str, Any]:
    """What an ingestion may leave behind: catalogue rows, layer tables and stored files."""
    with backend.session() as session:
        datasets = sorted(session.scalars(select(Dataset.slug)).all())
        layers = sorted(session.scalars(select(Layer.table_name)).all())
        resources = session.scalar(select(func.count()).select_from(Resource))
    with backend.engine.connect() as conn:
        tables = sorted(layer_store(conn).list_tables(conn))
    files_dir = backend.settings.files_dir
    files = (
        sorted(str(p.relative_to(files_dir)) for p in files_dir.rglob("*"))
        if (files_dir.exists())
        else []
    )
    return {
        "datasets": datasets,
        "layers": layers,
        "resources": resources,
        "tables": tables,
        "files": files,
    }


NOTHING = {"datasets": [], "layers": [], "resources": 0, "tables": [], "files": []}


def write_zip(path: Path, entries: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def shapefile_parts(name: str = "communes_3163_latin1.zip") -> dict[str, bytes]:
    """The parts of a fixture shapefile zip, by entry name."""
    with zipfile.ZipFile(fixture(name)) as archive:
        return {n: archive.read(n) for n in archive.namelist()}
