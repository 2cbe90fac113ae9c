"""OGC API Features edge cases over HTTP: paging, limits, CRS, datetime, CQL2, security.

Rows of ../shared/SECURITY-CASES.md covered here: S1 (property names checked, never
evaluated), S2/S3 (values and ids bound, tables intact), R4 (limit clamped with a next
link), R5 (deep offset never returns a wrong page).
"""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import select, text

from niaouli.catalogue.models import Layer
from niaouli.db.layers import layer_store
from niaouli.ingest import ingest_file
from tests.ogc_conformance import CHECKS
from tests.ogc_support import ORG, XSS, ogc  # noqa: F401 - fixture

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def _links(body: dict, rel: str) -> list[str]:
    return [link["href"] for link in body["links"] if link["rel"] == rel]


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["features"]]


def test_landing_conformance_and_private_data(ogc):  # noqa: F811
    landing = ogc.get("/")
    assert landing.status_code == 200
    assert {"service-desc", "conformance", "data"} <= {
        link["rel"] for link in landing.json()["links"]
    }
    openapi = ogc.get("/openapi")
    assert openapi.status_code == 200
    assert "/collections/communes-nc/items" in openapi.json()["paths"]
    # The draft dataset exists but is absent everywhere, and its id answers 404.
    ids = [c["id"] for c in ogc.get("/collections").json()["collections"]]
    assert "brouillon-prive" not in ids
    assert ogc.get("/collections/brouillon-prive").status_code == 404
    assert ogc.get("/collections/brouillon-prive/items").status_code == 404
    assert ogc.get("/collections/brouillon-prive/items/1").status_code == 404


def test_every_declared_conformance_class_is_exercised(ogc):  # noqa: F811
    """Each class of /conformance has its check in tests/ogc_conformance.py, and passes it.

    A class declared without a check (a pygeoapi upgrade, a new provider type) or a check
    whose class is no longer declared fails here: the declaration is what clients such as
    QGIS trust to decide what to offer.
    """
    declared = ogc.get("/conformance").json()["conformsTo"]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(CHECKS)
    html = ogc.get("/conformance", f="html").text
    for uri in declared:
        assert uri in html
    # Not declared: Part 4 (the collections are read-only; QGIS would offer editing),
    # Records sorting (no sortables resource) and OpenSearch (no description document).
    for absent in (
        "ogcapi-features-4/1.0/conf/create-replace-delete",
        "ogcapi-records-1/1.0/conf/sorting",
        "ogcapi-records-1/1.0/conf/opensearch",
    ):
        assert f"http://www.opengis.net/spec/{absent}" not in html + " ".join(declared)
    failures = {}
    for uri in sorted(declared):
        try:
            CHECKS[uri](ogc)
        except AssertionError as error:
            failures[uri] = str(error)[:500]
    assert not failures, "\n".join(f"{uri}: {error}" for uri, error in failures.items())


def test_features_cannot_be_created_replaced_or_deleted(ogc):  # noqa: F811
    items = f"{ogc.url}/collections/communes-nc/items"
    feature = ogc.get("/collections/communes-nc/items/18").json()
    for method, url in (
        ("PUT", f"{items}/18"),
        ("DELETE", f"{items}/18"),
        ("PATCH", f"{items}/18"),
    ):
        answer = httpx.request(method, url, json=feature, timeout=30)
        assert answer.status_code == 405, (method, answer.status_code)
    # POST on items is a CQL2 JSON search: a GeoJSON feature is not a filter, nothing added.
    answer = httpx.post(
        items, content=json.dumps(feature), headers={"Content-Type": "application/geo+json"}
    )
    assert 400 <= answer.status_code < 500, answer.status_code
    assert ogc.get("/collections/communes-nc/items", limit=1).json()["numberMatched"] == 33
    assert ogc.get("/collections/communes-nc/items/18").json() == feature


def test_collection_metadata(ogc):  # noqa: F811
    collection = ogc.get("/collections/communes-lambert").json()
    assert collection["storageCrs"] == CRS84
    assert {CRS84, EPSG.format(4326), EPSG.format(3163)} <= set(collection["crs"])
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    assert 163 < west < east < 169 and -23 < south < north < -19
    queryables = ogc.get("/collections/sites-visites/queryables").json()
    assert queryables["properties"]["visited"]["format"] == "date"


def test_paging_is_complete_and_stable(ogc):  # noqa: F811
    seen: list[int] = []
    url = f"{ogc.url}/collections/communes-nc/items?limit=5"
    pages = 0
    while url:
        page = httpx.get(url, timeout=30).json()
        assert page["numberMatched"] == 33
        seen += [f["id"] for f in page["features"]]
        nexts = _links(page, "next")
        url = nexts[0] if nexts else None
        pages += 1
    assert seen == list(range(1, 34)) and pages == 7
    # prev link of a middle page
    middle = ogc.get("/collections/communes-nc/items", limit=5, offset=10).json()
    assert "offset=5" in _links(middle, "prev")[0]


def test_limit_above_maximum_is_clamped_with_next_link(ogc, tmp_path):  # noqa: F811
    for bad in ("0", "-1", "abc", "1.5"):
        assert ogc.get("/collections/communes-nc/items", limit=bad).status_code == 400
    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [166 + i * 1e-4, -22]},
                "properties": {"n": i},
            }
            for i in range(10_050)
        ],
    }
    path = tmp_path / "beaucoup.geojson"
    path.write_text(json.dumps(points), encoding="utf-8")
    ingest_file(
        path,
        organisation=ORG,
        dataset="beaucoup-de-points",
        settings=ogc.backend.settings,
        engine=ogc.backend.engine,
        progress="none",
    )
    items = "/collections/beaucoup-de-points/items"
    deadline = time.monotonic() + 15
    while ogc.get(items).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    page = ogc.get(items, limit=10**7)
    assert page.status_code == 200
    body = page.json()
    assert len(body["features"]) == 10_000  # server maximum (base.yml)
    assert body["numberMatched"] == 10_050
    following = httpx.get(_links(body, "next")[0], timeout=60).json()
    assert [f["id"] for f in following["features"]] == list(range(10_001, 10_051))
    assert not _links(following, "next")


def test_deep_offset_never_returns_a_wrong_page(ogc):  # noqa: F811
    started = time.monotonic()
    deep = ogc.get("/collections/communes-nc/items", offset=10**7)
    assert deep.status_code == 200 and deep.json()["features"] == []
    assert deep.json()["numberMatched"] == 33
    assert time.monotonic() - started < 5
    assert _ids(ogc.get("/collections/communes-nc/items", offset=30)) == [31, 32, 33]
    # Same page with and without the keyset shortcut (a filter disables it).
    shortcut = _ids(ogc.get("/collections/communes-nc/items", offset=20, limit=4))
    filtered = _ids(
        ogc.get("/collections/communes-nc/items", offset=20, limit=4, filter="INSEE_DEP = '988'")
    )
    assert shortcut == filtered == [21, 22, 23, 24]
    assert ogc.get("/collections/communes-nc/items", offset=10**30).status_code == 400
    assert ogc.get("/collections/communes-nc/items", offset=-1).status_code == 400


def test_item_by_id(ogc):  # noqa: F811
    item = ogc.get("/collections/communes-nc/items/18").json()
    assert item["id"] == 18 and item["properties"]["LIBGEO"] == "Nouméa"
    assert ogc.get("/collections/communes-nc/items/999").status_code == 404
    assert ogc.get("/collections/communes-nc/items/abc").status_code == 404
    table = ogc.get("/collections/population-communes-nc/items/1").json()
    assert table["geometry"] is None and table["properties"]["population"] > 0


def test_bbox_and_bbox_crs(ogc):  # noqa: F811
    noumea_box = "166.40,-22.32,166.50,-22.24"
    ids = _ids(ogc.get("/collections/communes-nc/items", bbox=noumea_box))
    assert 18 in ids and len(ids) < 10
    # Same box in EPSG:4326 (lat/lon order) and in EPSG:3163.
    lat_lon = "-22.32,166.40,-22.24,166.50"
    assert (
        _ids(
            ogc.get(
                "/collections/communes-nc/items", bbox=lat_lon, **{"bbox-crs": EPSG.format(4326)}
            )
        )
        == ids
    )
    lambert = ogc.get("/collections/communes-nc/items/18", crs=EPSG.format(3163)).json()["geometry"]
    xs = [p[0] for poly in lambert["coordinates"] for ring in poly for p in ring]
    ys = [p[1] for poly in lambert["coordinates"] for ring in poly for p in ring]
    box_3163 = f"{min(xs)},{min(ys)},{max(xs)},{max(ys)}"
    in_3163 = _ids(
        ogc.get("/collections/communes-nc/items", bbox=box_3163, **{"bbox-crs": EPSG.format(3163)})
    )
    assert 18 in in_3163
    assert ogc.get("/collections/communes-nc/items", bbox="1,2,3").status_code == 400
    assert ogc.get("/collections/communes-nc/items", bbox="a,b,c,d").status_code == 400


def test_crs_axis_order(ogc):  # noqa: F811
    default = ogc.get("/collections/sites-visites/items/1")
    assert default.headers["content-crs"] == f"<{CRS84}>"
    lon, lat = default.json()["geometry"]["coordinates"]
    assert 160 < lon < 170 and -23 < lat < -19
    epsg4326 = ogc.get("/collections/sites-visites/items/1", crs=EPSG.format(4326))
    assert epsg4326.headers["content-crs"] == f"<{EPSG.format(4326)}>"
    assert epsg4326.json()["geometry"]["coordinates"] == [lat, lon]
    lambert = ogc.get("/collections/sites-visites/items", crs=EPSG.format(3163)).json()
    x, y = lambert["features"][0]["geometry"]["coordinates"]
    assert 400_000 < x < 500_000 and 200_000 < y < 260_000  # Nouméa in RGNC91-93 Lambert
    assert ogc.get("/collections/sites-visites/items", crs="EPSG:9999").status_code == 400


def test_properties_sortby_and_property_filters(ogc):  # noqa: F811
    page = ogc.get("/collections/sites-visites/items", properties="score", sortby="-score", limit=3)
    body = page.json()
    assert [f["properties"] for f in body["features"]] == [
        {"score": 110},
        {"score": 100},
        {"score": 90},
    ]
    assert _ids(ogc.get("/collections/sites-visites/items", score="20")) == [3]
    assert ogc.get("/collections/sites-visites/items", score="abc").status_code == 400


def test_datetime(ogc):  # noqa: F811
    items = "/collections/sites-visites/items"
    assert _ids(ogc.get(items, datetime="2024-03-15")) == [3, 12]
    assert _ids(ogc.get(items, datetime="2024-03-01/2024-04-30")) == [3, 4, 12]
    assert _ids(ogc.get(items, datetime="../2024-01-31")) == [1, 10]
    assert _ids(ogc.get(items, datetime="2024-09-01T00:00:00Z/..")) == [9]
    for bad in ("2024-13-45", "hier", "2024-01-01/2024-02-01/2024-03-01", "../.."):
        response = ogc.get(items, datetime=bad)
        assert response.status_code == 400, bad
    started = time.monotonic()
    injected = ogc.get(items, datetime="2024-01-01'; SELECT pg_sleep(5)--")
    assert injected.status_code == 400 and time.monotonic() - started < 3


def test_cql2_text_and_json(ogc):  # noqa: F811
    items = "/collections/sites-visites/items"
    assert _ids(ogc.get(items, filter="score > 80 AND name LIKE 'site%'")) == [10, 11, 12]
    assert _ids(ogc.get(items, filter="score IN (10, 20) OR name = 'site 5'")) == [2, 3, 6]
    assert _ids(ogc.get(items, filter="visited >= DATE('2024-09-01')")) == [9]
    assert _ids(ogc.get(items, filter="casei(name) = casei('SITE 1')")) == [2]
    assert _ids(ogc.get(items, filter="score BETWEEN 30 AND 50 AND NOT score = 40")) == [4, 6]
    assert _ids(
        ogc.get(items, filter="S_INTERSECTS(geometry, BBOX(166.465, -22.4, 166.495, -22.2))")
    )[:3] == [3, 4, 5]
    assert _ids(ogc.get(items, filter="name LIKE '<script>%'")) == [4]
    assert _ids(ogc.get(items, filter="name LIKE 'SITE%'")) == []  # case-sensitive
    assert _ids(ogc.get(items, filter="name LIKE 'site 1_'")) == [11, 12]
    body = {
        "op": "and",
        "args": [
            {"op": ">", "args": [{"property": "score"}, 80]},
            {
                "op": "s_intersects",
                "args": [{"property": "geometry"}, {"bbox": [166, -23, 167, -22]}],
            },
        ],
    }
    posted = httpx.post(
        f"{ogc.url}{items}",
        content=json.dumps(body),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=30,
    )
    assert _ids(posted) == [10, 11, 12]
    assert ogc.get(items, filter="score = 'abc'").status_code == 400
    assert ogc.get(items, filter="score >").status_code == 400
    assert ogc.get(items, **{"filter-lang": "sql"}).status_code == 400


def _tables(server) -> list[str]:  # noqa: ANN001
    with server.backend.engine.connect() as conn:
        return sorted(layer_store(conn).list_tables(conn))


def test_property_names_checked_and_values_bound(ogc):  # noqa: F811
    """S1, S2, S3: 400/404 for every payload; the tables are all still there."""
    with ogc.backend.session() as session:
        expected_tables = sorted(session.scalars(select(Layer.table_name)).all())
    assert _tables(ogc) == expected_tables
    items = "/collections/communes-nc/items"
    refused = {
        "properties": ["exec(java.lang.Runtime)", 'a"--', "a/b[1]", "LIBGEO,exec(x)"],
        "sortby": ["LIBGEO;DROP TABLE t", "exec(x)", "-a/b[1]"],
        "filter": [
            "exec(x) = 1",
            '"a/b[1]" = 1',
            'LIBGEO = 1 OR "pg_sleep(5)" = 1',
            "unknown = 'x'",
        ],
    }
    for parameter, payloads in refused.items():
        for payload in payloads:
            response = ogc.get(items, **{parameter: payload})
            assert response.status_code == 400, (parameter, payload, response.text)
    unknown = ogc.get(items, filter="nope = 1").json()["description"]
    assert "propriété inconnue" in unknown
    assert "propriété inconnue" in ogc.get(items, properties="nope").json()["description"]
    # Unknown query parameters are refused (OGC API Features /req/core/query-param-unknown).
    assert ogc.get(items, foo="1").status_code == 400
    # Literal-only matches: a quote inside a LIKE pattern stays a character.
    like = httpx.post(
        f"{ogc.url}{items}",
        content=json.dumps({"op": "like", "args": [{"property": "LIBGEO"}, "%' OR 1=1--"]}),
        headers={"Content-Type": "application/query-cql-json"},
        timeout=30,
    )
    assert _ids(like) == []
    assert ogc.get(items, filter="LIBGEO LIKE '%'' OR 1=1--'").status_code in (200, 400)
    for path in ("1' OR '1'='1", "1 OR 1=1", "1;DROP TABLE t", "-1", "99999999999999999999"):
        assert ogc.get(f"{items}/{path}").status_code == 404, path
    assert _tables(ogc) == expected_tables
    assert ogc.get(items).json()["numberMatched"] == 33


def test_json_keeps_data_as_is(ogc):  # noqa: F811
    """HTML escaping is for HTML pages; JSON clients get the original text."""
    item = ogc.get("/collections/sites-visites/items/4")
    assert item.json()["properties"]["name"] == XSS
    assert "<script>" not in item.text  # written as \\u003c, still safe to embed
    titles = [c["title"] for c in ogc.get("/collections").json()["collections"]]
    assert f"Sites visités {XSS}" in titles


def test_dropped_database_connections_are_replaced(ogc):  # noqa: F811
    """Layer reads have no pool pre-ping (one round trip per request): connections the
    database dropped (a restart, an idle timeout) fail once, are replaced, and every
    request still gets its answer."""
    if ogc.backend.name != "postgis":
        return
    paths = [
        "/collections/communes-nc/items/18",
        "/collections/communes-nc/items?limit=5",
        "/collections/communes-nc/items?limit=5&offset=10",
        "/collections/communes-nc/items?bbox=166.3,-22.4,166.6,-22.1",
    ]
    for path in paths:
        assert ogc.get(path).status_code == 200
    with ogc.backend.engine.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        ).scalar_one()
    assert dropped >= 1
    for path in paths * 2:
        response = ogc.get(path)
        assert response.status_code == 200, response.text
    assert ogc.get("/collections/communes-nc/items/18").json()["properties"]["LIBGEO"] == "Nouméa"
