"""The fast paths of ingestion give what the general ones gave.

- points read straight from GDAL's WKB (`niaouli.ingest.wkb`) = the shapely path
  (reprojection, axis swap, empties, bounds), and anything unusual falls back to it;
- WKB -> EWKB spliced with numpy = GEOS's EWKB;
- PostGIS binary COPY (`niaouli.db.pgcopy`) stores what PostgreSQL made of the text
  (CSV) COPY it replaced, type by type, zone-less date-times included.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import pytest
import shapely
from psycopg import sql
from pyproj import Transformer
from sqlalchemy import create_engine, select

from niaouli.catalogue.models import Layer
from niaouli.db import pgcopy
from niaouli.db.layers import PG_TYPES, PostgisLayers, layer_store, to_loadable
from niaouli.ingest import geometry, ingest_file, wkb
from niaouli.ingest.column_plan import plan_columns
from niaouli.ingest.reproject import LAMBERT_NC, WGS84, Reprojector


def _general(geoms: np.ndarray, target: str, reproject: Reprojector):
    stats = geometry.GeometryStats()
    out = geometry.normalise(reproject(geoms), target, 1, stats, file="f", layer="l")
    present = out[~shapely.is_missing(out)]
    bounds = tuple(shapely.total_bounds(present)) if len(present) else None
    return list(shapely.to_wkb(out)), stats, bounds


def _fast(geoms: np.ndarray, target: str, reproject: Reprojector):
    stats = geometry.GeometryStats()
    array = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    result = wkb.normalise_points(array, target, reproject, stats)
    if result is None:
        return None
    out, bounds = result
    return out.to_pylist(), stats, bounds


def _points(n: int = 500, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    geoms = shapely.points(rng.uniform(163.5, 168.2, n), rng.uniform(-22.8, -19.5, n))
    geoms[::7] = None
    geoms[3::11] = shapely.from_wkt("POINT EMPTY")
    return geoms


@pytest.mark.parametrize(
    ("source", "swap"), [(WGS84, False), (WGS84, True), (LAMBERT_NC, False)], ids=str
)
@pytest.mark.parametrize("target", ["Point", "Geometry"])
def test_points_from_wkb_match_the_shapely_path(source, swap, target):
    geoms = _points()
    if source is LAMBERT_NC:
        forward = Transformer.from_crs(WGS84, LAMBERT_NC, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(forward.transform(*xy.T)))
    if swap:
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    reproject = Reprojector(source, swap_axes=swap)
    fast = _fast(geoms, target, reproject)
    assert fast is not None
    expected_wkb, expected_stats, expected_bounds = _general(geoms, target, reproject)
    got_wkb, got_stats, got_bounds = fast
    assert got_wkb == expected_wkb
    assert got_stats == expected_stats
    assert got_stats.empty == len(geoms[3::11])
    assert got_bounds == pytest.approx(expected_bounds, abs=0)


def test_untouched_points_pass_through():
    geoms = shapely.points([166.4, 167.0], [-22.3, -21.0])
    array = pa.array(shapely.to_wkb(geoms), type=pa.binary())
    out, bounds = wkb.normalise_points(array, "Point", Reprojector(WGS84), geometry.GeometryStats())
    assert out is array
    assert bounds == (166.4, -22.3, 167.0, -21.0)


@pytest.mark.parametrize(
    "odd",
    [
        "POINT Z (166 -22 5)",
        "MULTIPOINT ((166 -22))",
        "LINESTRING (166 -22, 167 -21)",
        "POINT (inf -22)",
        "POINT (166 nan)",
    ],
)
def test_anything_else_takes_the_general_path(odd):
    geoms = np.array([shapely.Point(166, -22), shapely.from_wkt(odd)], dtype=object)
    assert _fast(geoms, "Point", Reprojector(WGS84)) is None


def test_big_endian_and_other_targets_take_the_general_path():
    geoms = shapely.points([166.0], [-22.0])
    big = pa.array(shapely.to_wkb(geoms, byte_order=0), type=pa.binary())
    stats = geometry.GeometryStats()
    assert wkb.normalise_points(big, "Point", Reprojector(WGS84), stats) is None
    assert _fast(geoms, "MultiPoint", Reprojector(WGS84)) is None


def test_reprojection_to_infinity_takes_the_general_path():
    class Failing(Reprojector):
        def coordinates(self, x, y):  # what PROJ gives for points it cannot move
            return np.full_like(x, np.inf), np.full_like(y, np.inf)

    assert _fast(shapely.points([1.0], [2.0]), "Point", Failing(LAMBERT_NC)) is None


# --- EWKB ------------------------------------------------------------------------------

GEOMETRIES = [
    "POINT (1 2)",
    None,
    "POINT (3 4)",
    "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    "MULTIPOINT ((0 0), (1 1))",
    "GEOMETRYCOLLECTION EMPTY",
    "LINESTRING (0 0, 1 1)",
]


@pytest.mark.parametrize("order", [1, 0, "mixed"])
@pytest.mark.parametrize("rows", [slice(None), [0, 2], [0, 1, 2], slice(3, None), [1]], ids=str)
def test_ewkb_is_geos_ewkb(order, rows):
    geoms = np.array([shapely.from_wkt(g) if g else None for g in GEOMETRIES], dtype=object)
    geoms = geoms[rows]
    orders = [i % 2 if order == "mixed" else order for i in range(len(geoms))]
    source, expected = [], []
    for g, byte_order in zip(geoms, orders, strict=True):
        ewkb = shapely.to_wkb(shapely.set_srid(g, 4326), include_srid=True, byte_order=byte_order)
        source.append(None if g is None else shapely.to_wkb(g, byte_order=byte_order))
        expected.append(None if g is None else ewkb)
    array = pa.array(source, type=pa.binary())
    sliced = pa.concat_arrays([pa.array([b"x" * 9]), array]).slice(1)
    assert pgcopy.ewkb(array, 4326).to_pylist() == expected
    assert pgcopy.ewkb(sliced, 4326).to_pylist() == expected


# --- binary COPY -----------------------------------------------------------------------

N = 7
TS = [
    dt.datetime(2020, 1, 2, 3, 4, 5, 123456),
    None,
    dt.datetime(1900, 1, 1),
    dt.datetime(2018, 11, 4, 1, 30),  # ambiguous in America/New_York
    dt.datetime(2018, 3, 11, 2, 30),  # in the spring-forward gap in America/New_York
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2000, 1, 1),
]


def _table() -> pa.Table:
    dates = [dt.date(2020, 1, 2), None, dt.date(1900, 3, 1), dt.date(2999, 12, 31)]
    dates += [dt.date(2000, 1, 1), dt.date(1970, 1, 1), dt.date(1999, 12, 31)]
    ns = [1_577_934_245_123_456_500, 0, -1_500, 1_577_934_245_123_457_500, 2_500, 3_500, 999]
    times = [dt.time(1, 2, 3, 456789), None, dt.time(0), dt.time(23, 59, 59, 999999)]
    times += [dt.time(12), dt.time(0, 0, 1), dt.time(5)]
    return pa.table(
        {
            "i64": pa.array([1, None, -3, 2**40, 0, 5, 6]),
            "u64": pa.array([1, 2, None, 2**63 - 1, 0, 5, 6], pa.uint64()),
            "i16": pa.array([1, 2, None, -300, 0, 5, 6], pa.int16()),
            "f32": pa.array([1.5, None, float("nan"), float("inf"), -0.0, 0.1, 3.3], pa.float32()),
            "f64": pa.array([0.1, 1.0000000000000002, None, -1e308, 5e-324, float("-inf"), 2.5]),
            "dec": pa.array(
                [decimal.Decimal(v) if v else None for v in ["1.1", None, "-123456.789", "0.1"]]
                + [decimal.Decimal("3"), None, decimal.Decimal("1e-5")],
                pa.decimal128(12, 6),
            ),
            "b": pa.array([True, False, None, True, True, False, None]),
            "s": pa.array(["Nouméa", "", None, 'q " , ; \\ \t \n', "Île 🌴", "x" * 1000, "NULL"]),
            "ls": pa.array(["a", None, "b", "c", "d", "e", "f"], pa.large_string()),
            "d32": pa.array(dates),
            "d64": pa.array(dates, pa.date64()),
            "tsu": pa.array(TS, pa.timestamp("us")),
            "tsms": pa.array(
                [
                    None if t is None else t.replace(microsecond=t.microsecond // 1000 * 1000)
                    for t in TS
                ],
                pa.timestamp("ms"),
            ),
            "tsz": pa.array(
                [None if t is None else t.replace(tzinfo=dt.UTC) for t in TS],
                pa.timestamp("ms", tz="Pacific/Noumea"),
            ),
            "tns": pa.array(np.array(ns, dtype="datetime64[ns]"), pa.timestamp("ns", tz="UTC")),
            "t64": pa.array(times, pa.time64("us")),
            "t32": pa.array(
                [None if t is None else t.replace(microsecond=0) for t in times], pa.time32("s")
            ),
            "bin": pa.array([b"\x00\x01\xff", None, b"", b"abc", b"\\x", b"z", b"\n"]),
            "js": pa.array([{"a": i, "b": "é"} if i != 1 else None for i in range(N)]),
            "lst": pa.array([[1, 2], None, [], [3], [4], [5], [6]]),
            "nul": pa.array([None] * N, pa.null()),
        }
    )


def _text_copy(conn: psycopg.Connection, table: str, columns, attributes: pa.Table) -> None:
    """The former loader: CSV text of the Arrow values, parsed by PostgreSQL."""
    data = [pa.array(np.arange(1, N + 1))]
    for spec in columns:
        values = to_loadable(attributes.column(spec.name), spec.type)
        if spec.type == "binary":
            values = pa.array(
                [None if v is None else "\\x" + v.hex() for v in values.to_pylist()],
                type=pa.string(),
            )
        data.append(values)
    buffer = io.BytesIO()
    names = [f"c{i}" for i in range(len(data))]
    pacsv.write_csv(pa.table(data, names=names), buffer, pacsv.WriteOptions(include_header=False))
    statement = sql.SQL("COPY layers.{} FROM STDIN (FORMAT csv)").format(sql.Identifier(table))
    with conn.cursor().copy(statement) as copy:
        copy.write(buffer.getvalue())


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Pacific/Noumea"])
def test_binary_copy_stores_what_text_did(postgis_url, zone):
    attributes = _table()
    columns = plan_columns([(f.name, f.type) for f in attributes.schema])
    engine = create_engine(postgis_url)
    store = PostgisLayers()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL TimeZone = '{zone}'")
            store.create(conn, "lyr_binary", columns, None)
            fids = np.arange(1, N + 1, dtype=np.int64)
            with store.writer(conn, "lyr_binary", columns, False) as write:
                write(fids[:3], attributes.slice(0, 3), None)
                write(fids[3:], attributes.slice(3), None)
            raw = conn.connection.driver_connection
            defs = ", ".join(["fid bigint"] + [f'"{c.column}" {PG_TYPES[c.type]}' for c in columns])
            raw.execute(f"CREATE TABLE layers.lyr_text ({defs})")
            _text_copy(raw, "lyr_text", columns, attributes)

            def rows(table: str) -> list:
                query = f"SELECT row_to_json(t)::text FROM layers.{table} t ORDER BY fid"
                return [r[0] for r in conn.exec_driver_sql(query)]

            binary, text = rows("lyr_binary"), rows("lyr_text")
            types = "SELECT data_type FROM information_schema.columns WHERE table_name = '{}'"
            assert [r[0] for r in conn.exec_driver_sql(types.format("lyr_binary"))] == [
                r[0] for r in conn.exec_driver_sql(types.format("lyr_text"))
            ]
            conn.rollback()
    finally:
        engine.dispose()
    for got, expected in zip(binary, text, strict=True):
        got, expected = json.loads(got), json.loads(expected)
        if got["tsz"] != expected["tsz"]:
            # pyarrow printed 1900's Nouméa offset (+11:05:48) without its seconds, so
            # the text path was 48 s off there; the binary path keeps the instant.
            assert got["fid"] == 3
            assert dt.datetime.fromisoformat(got["tsz"]) == dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
            got["tsz"] = expected["tsz"]
        assert got == expected


def test_integers_too_large_for_bigint_are_refused():
    with pytest.raises(pgcopy.CopyValueError):
        pgcopy.column_segments(pa.array([2**63], pa.uint64()), "bigint")


# --- end to end --------------------------------------------------------------------------


def _stored_rows(backend, report) -> list[tuple]:
    with backend.session() as session:
        table = session.scalar(
            select(Layer.table_name).where(Layer.collection_id == report.layers[0].collection_id)
        )
    with backend.engine.connect() as conn:
        qualified = layer_store(conn).qualified(table)
        query = f"SELECT fid, ST_AsBinary(geom), ST_SRID(geom), code, nom FROM {qualified}"
        rows = conn.exec_driver_sql(query + " ORDER BY fid").all()
    return [(r[0], None if r[1] is None else bytes(r[1]), *r[2:]) for r in rows]


def test_point_layer_is_the_same_through_both_paths(backend, org, tmp_path, monkeypatch):
    rng = np.random.default_rng(11)
    n = 3000
    geoms = shapely.points(rng.uniform(163.5, 168.2, n), rng.uniform(-22.8, -19.5, n))
    geoms[5::97] = None
    geoms[7::89] = shapely.from_wkt("POINT EMPTY")
    table = pa.table(
        {
            "code": pa.array(rng.integers(0, 1000, n)),
            "nom": pa.array([f"Lieu-dit n° {i} à Koné" for i in range(n)]),
            "geom": pa.array(shapely.to_wkb(geoms), type=pa.binary()),
        }
    )
    path = tmp_path / "points.gpkg"
    pyogrio.write_arrow(
        table,
        path,
        layer="points",
        driver="GPKG",
        geometry_name="geom",
        geometry_type="Point",
        crs="EPSG:4326",
    )

    def ingest(dataset: str):
        return ingest_file(
            path,
            organisation=org,
            dataset=dataset,
            progress="none",
            settings=backend.settings,
            engine=backend.engine,
        )

    fast = ingest("points-rapides")
    monkeypatch.setattr(wkb, "normalise_points", lambda *args: None)
    slow = ingest("points-shapely")

    def comparable(report):
        layer = report.layers[0]
        return (layer.feature_count, layer.extent, layer.empty_geometries, layer.notes)

    assert comparable(fast) == comparable(slow)
    assert fast.layers[0].empty_geometries == len(geoms[7::89])
    rows = _stored_rows(backend, fast)
    assert rows == _stored_rows(backend, slow)
    assert len(rows) == n
    assert sum(r[1] is None for r in rows) == len(geoms[5::97]) + len(geoms[7::89])
    assert {r[2] for r in rows if r[1] is not None} == {4326}
