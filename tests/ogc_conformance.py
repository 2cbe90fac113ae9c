"""One request per conformance class that /ogc declares, and what it must answer.

`CHECKS` maps each conformance class URI to a check: a function of the live server (the
`ogc` fixture of `tests/ogc_support.py`) that sends at least one request exercising the
class and asserts on the answer. `test_ogc_features.py` requires the declared classes
and the keys of `CHECKS` to be the same set: a class declared without a check here, or a
check for a class no longer declared, fails. Checks follow the requirement texts of the
standards (OGC API Common 1/2/3, Features 1/2/3, CQL2, Records 1 draft, Tiles 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mapbox_vector_tile

OGC = "http://www.opengis.net/spec/"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
TILESETS_REL = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
ITEMS = "/collections/communes-nc/items"
SITES = "/collections/sites-visites"
NOUMEA_Z10 = "/collections/communes-nc/tiles/WebMercatorQuad/10/577/985"  # Nouméa


def _media(response: Any) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def _ok(response: Any, media_type: str) -> Any:
    assert response.status_code == 200, (response.url, response.text[:300])
    assert _media(response) == media_type, (response.url, response.headers["content-type"])
    return response


def _rels(document: dict) -> dict[str, list[str]]:
    rels: dict[str, list[str]] = {}
    for link in document.get("links", []):
        rels.setdefault(link["rel"], []).append(link["href"])
    return rels


def _openapi(ogc: Any) -> dict:
    document = _ok(ogc.get("/openapi", f="json"), "application/vnd.oai.openapi+json").json()
    assert document["openapi"].startswith("3.0.")
    return document


def _operation_ids(document: dict) -> list[str]:
    return [
        operation.get("operationId", "")
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
    ]


def _json_schema(ogc: Any, path: str) -> dict:
    """A schema or queryables document as Part 3 / Common Part 3 require it."""
    document = _ok(ogc.get(path), "application/schema+json").json()
    assert document["$schema"] == JSON_SCHEMA
    assert document["$id"] == f"{ogc.url}{path}"  # the resource, without query
    assert document["type"] == "object"
    for name, prop in document["properties"].items():
        if name == "geometry":  # a spatial property: a format, never a type or $ref
            assert "type" not in prop and "$ref" not in prop
            assert prop["format"].startswith("geometry-")
        else:
            assert "type" in prop, name
    return document


# --- OGC API Common ---------------------------------------------------------------------


def common_core(ogc: Any) -> None:
    """Landing page, conformance declaration and API definition answer."""
    assert _ok(ogc.get("/"), "application/json").json()["links"]
    classes = _ok(ogc.get("/conformance"), "application/json").json()["conformsTo"]
    assert OGC + "ogcapi-common-1/1.0/conf/core" in classes
    _openapi(ogc)


def common_landing_page(ogc: Any) -> None:
    rels = _rels(ogc.get("/").json())
    assert {"service-desc", "conformance", "data"} <= set(rels)
    assert rels["conformance"][0].split("?")[0].endswith("/ogc/conformance")


def common_json(ogc: Any) -> None:
    for path in ("/", "/conformance", "/collections"):
        assert isinstance(_ok(ogc.get(path, f="json"), "application/json").json(), dict)


def common_html(ogc: Any) -> None:
    for path in ("/", "/conformance", "/collections"):
        assert "<html" in _ok(ogc.get(path, f="html"), "text/html").text


def common_oas30(ogc: Any) -> None:
    paths = _openapi(ogc)["paths"]
    assert {"/", "/conformance", "/collections", "/collections/communes-nc"} <= set(paths)


def common_collections(ogc: Any) -> None:
    listing = _ok(ogc.get("/collections"), "application/json").json()
    ids = {c["id"] for c in listing["collections"]}
    assert {"communes-nc", "population-communes-nc", "catalogue"} <= ids
    one = ogc.get("/collections/communes-nc").json()
    assert one["id"] == "communes-nc" and "items" in _rels(one)
    assert ogc.get("/collections/inconnue").status_code == 404


# --- OGC API Features -------------------------------------------------------------------


def features_core(ogc: Any) -> None:
    page = _ok(ogc.get(ITEMS, limit=2), "application/geo+json").json()
    assert page["type"] == "FeatureCollection" and len(page["features"]) == 2
    assert page["numberMatched"] == 33 and "next" in _rels(page)
    feature = ogc.get(f"{ITEMS}/18").json()
    assert feature["type"] == "Feature" and feature["properties"]["LIBGEO"] == "Nouméa"
    boxed = ogc.get(ITEMS, bbox="166.44,-22.29,166.47,-22.26").json()
    assert "Nouméa" in {f["properties"]["LIBGEO"] for f in boxed["features"]}
    dated = ogc.get(f"{SITES}/items", datetime="2024-03-15").json()
    assert {f["properties"]["visited"] for f in dated["features"]} == {"2024-03-15"}


def features_oas30(ogc: Any) -> None:
    document = _openapi(ogc)
    paths = document["paths"]
    assert "get" in paths[ITEMS] and "get" in paths[ITEMS + "/{featureId}"]
    # Read-only: nothing in the API definition creates, replaces or deletes a feature.
    methods = {method for item in paths.values() for method in item}
    assert not methods & {"put", "patch", "delete"}, methods
    # POST on items is a CQL2 JSON search; no feature media type (a creation) is accepted.
    posted = paths[ITEMS]["post"]["requestBody"]["content"]
    assert set(posted) == {"application/json"}, posted
    assert "cql2" in posted["application/json"]["schema"]["$ref"]
    assert "201" not in paths[ITEMS]["post"]["responses"]


def features_html(ogc: Any) -> None:
    assert "Nouméa" in _ok(ogc.get(f"{ITEMS}/18", f="html"), "text/html").text
    assert "<html" in _ok(ogc.get(ITEMS, f="html", limit=2), "text/html").text


def features_geojson(ogc: Any) -> None:
    feature = _ok(ogc.get(f"{ITEMS}/18"), "application/geo+json").json()
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert _ok(ogc.get(ITEMS, limit=1), "application/geo+json").json()["features"]


def features_crs(ogc: Any) -> None:
    collection = ogc.get("/collections/communes-nc").json()
    lambert = "http://www.opengis.net/def/crs/EPSG/0/3163"
    assert lambert in collection["crs"]
    answer = ogc.get(f"{ITEMS}/18", crs=lambert)
    assert answer.headers["content-crs"] == f"<{lambert}>"
    x, y = answer.json()["geometry"]["coordinates"][0][0][:2]
    if isinstance(x, list):  # MultiPolygon
        x, y = x[:2]
    assert 400_000 < x < 500_000 and 200_000 < y < 250_000  # metres, Lambert NC


def features_queryables(ogc: Any) -> None:
    collection = ogc.get(SITES).json()
    assert any(h.split("?")[0].endswith("/queryables") for h in _rels(collection)[QUERYABLES_REL])
    document = _json_schema(ogc, f"{SITES}/queryables")
    assert document["properties"]["score"]["type"] == "integer"
    assert document["properties"]["visited"] == {
        "title": "visited",
        "type": "string",
        "format": "date",
        "x-ogc-role": "primary-instant",
    }
    # Names outside the queryables are refused with a 400, as additionalProperties says.
    assert document["additionalProperties"] is False
    assert ogc.get(f"{SITES}/items", filter="inconnue = 1").status_code == 400
    # A table has no geometry to query.
    table = _json_schema(ogc, "/collections/population-communes-nc/queryables")
    assert "geometry" not in table["properties"]


def features_queryables_query_parameters(ogc: Any) -> None:
    page = ogc.get(ITEMS, LIBGEO="Nouméa").json()
    assert [f["properties"]["LIBGEO"] for f in page["features"]] == ["Nouméa"]
    scored = ogc.get(f"{SITES}/items", score="40").json()
    assert [f["properties"]["score"] for f in scored["features"]] == [40]


def common_schemas(ogc: Any) -> None:
    collection = ogc.get("/collections/communes-nc").json()
    schema_rel = "http://www.opengis.net/def/rel/ogc/1.0/schema"
    assert schema_rel in _rels(collection)
    document = _json_schema(ogc, "/collections/communes-nc/schema")
    assert {"geometry", "CODGEO", "LIBGEO"} <= set(document["properties"])
    table = _json_schema(ogc, "/collections/population-communes-nc/schema")
    assert "geometry" not in table["properties"]


def common_advanced_property_roles(ogc: Any) -> None:
    properties = _json_schema(ogc, f"{SITES}/schema")["properties"]
    roles = {name: p.get("x-ogc-role") for name, p in properties.items()}
    assert roles["geometry"] == "primary-geometry"
    assert roles["visited"] == "primary-instant"  # what `datetime=` filters on
    assert list(roles.values()).count("primary-instant") == 1


def cql2_text(ogc: Any) -> None:
    page = ogc.get(
        f"{SITES}/items", filter="score >= 90 AND name LIKE 'site%'", **{"filter-lang": "cql2-text"}
    ).json()
    assert sorted(f["properties"]["score"] for f in page["features"]) == [90, 100, 110]


def cql2_basic(ogc: Any) -> None:
    # Comparisons on a date literal, NOT, IS NULL, AND/OR, booleans, property = literal.
    page = ogc.get(
        f"{SITES}/items",
        filter=(
            "visited >= DATE('2024-05-01') AND NOT (score = 60) AND name IS NOT NULL "
            "AND (score < 100 OR TRUE = FALSE)"
        ),
    ).json()
    assert sorted(f["properties"]["score"] for f in page["features"]) == [40, 50, 70, 80]
    assert ogc.get(ITEMS, filter="LIBGEO <> 'Nouméa'").json()["numberMatched"] == 32


# --- OGC API Records (the catalogue) ----------------------------------------------------


def records_core(ogc: Any) -> None:
    collection = ogc.get("/collections/catalogue").json()
    assert collection["itemType"] == "record"
    found = ogc.get("/collections/catalogue/items", q="communes", limit=50).json()
    assert "communes-nc" in {r["id"] for r in found["features"]}
    record = ogc.get("/collections/catalogue/items/communes-nc").json()
    assert record["properties"]["type"] == "dataset" and record["properties"]["title"]
    assert ogc.get("/collections/catalogue/items/brouillon-prive").status_code == 404


def records_json(ogc: Any) -> None:
    record = _ok(ogc.get("/collections/catalogue/items/communes-nc"), "application/geo+json")
    assert record.json()["geometry"]["type"] == "Polygon"
    listing = _ok(ogc.get("/collections/catalogue/items"), "application/geo+json").json()
    assert listing["type"] == "FeatureCollection" and listing["numberMatched"] >= 4


def records_html(ogc: Any) -> None:
    page = _ok(ogc.get("/collections/catalogue/items/communes-nc", f="html"), "text/html")
    assert "<html" in page.text
    assert "<html" in _ok(ogc.get("/collections/catalogue/items", f="html"), "text/html").text


# --- OGC API Tiles ----------------------------------------------------------------------


def tiles_core(ogc: Any) -> None:
    tile = _ok(ogc.get(NOUMEA_Z10), "application/vnd.mapbox-vector-tile")
    assert tile.content
    assert ogc.get("/collections/communes-nc/tiles/WebMercatorQuad/10/99999/0").status_code == 404


def tiles_tileset(ogc: Any) -> None:
    tileset = _ok(
        ogc.get("/collections/communes-nc/tiles/WebMercatorQuad", f="json"), "application/json"
    ).json()
    assert tileset["dataType"] == "vector"
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert any("{tileMatrix}" in h for h in _rels(tileset)["item"])


def tiles_tilesets_list(ogc: Any) -> None:
    listing = _ok(ogc.get("/collections/communes-nc/tiles", f="json"), "application/json").json()
    (tileset,) = listing["tilesets"]
    assert tileset["dataType"] == "vector"
    assert any(h.split("?")[0].endswith("/tiles/WebMercatorQuad") for h in _rels(tileset)["self"])


def tiles_geodata_tilesets(ogc: Any) -> None:
    collection = ogc.get("/collections/communes-nc").json()
    (href,) = {h.split("?")[0] for h in _rels(collection)[TILESETS_REL]}
    assert href == f"{ogc.url}/collections/communes-nc/tiles"
    # A table has no tiles.
    assert TILESETS_REL not in _rels(ogc.get("/collections/population-communes-nc").json())


def tiles_mvt(ogc: Any) -> None:
    decoded = mapbox_vector_tile.decode(ogc.get(NOUMEA_Z10).content)
    names = {f["properties"]["LIBGEO"] for f in decoded["communes-nc"]["features"]}
    assert "Nouméa" in names


def tiles_oas30(ogc: Any) -> None:
    document = _openapi(ogc)
    paths = document["paths"]
    base = "/collections/communes-nc/tiles"
    assert {base, base + "/{tileMatrixSetId}"} <= set(paths)
    assert base + "/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}" in paths
    ids = _operation_ids(document)
    for suffix in ("getTileSetsList", "getTileSet", "getTile"):
        assert any(i.endswith(f".collection.vector.{suffix}") for i in ids), suffix


CHECKS: dict[str, Callable[[Any], None]] = {
    OGC + "ogcapi-common-1/1.0/conf/core": common_core,
    OGC + "ogcapi-common-1/1.0/conf/landing-page": common_landing_page,
    OGC + "ogcapi-common-1/1.0/conf/json": common_json,
    OGC + "ogcapi-common-1/1.0/conf/html": common_html,
    OGC + "ogcapi-common-1/1.0/conf/oas30": common_oas30,
    OGC + "ogcapi-common-2/1.0/conf/collections": common_collections,
    OGC + "ogcapi-features-1/1.0/conf/core": features_core,
    OGC + "ogcapi-features-1/1.0/conf/oas30": features_oas30,
    OGC + "ogcapi-features-1/1.0/conf/html": features_html,
    OGC + "ogcapi-features-1/1.0/conf/geojson": features_geojson,
    OGC + "ogcapi-features-2/1.0/conf/crs": features_crs,
    OGC + "ogcapi-features-3/1.0/conf/queryables": features_queryables,
    OGC + "ogcapi-features-3/1.0/conf/queryables-query-parameters": (
        features_queryables_query_parameters
    ),
    OGC + "ogcapi-common-3/1.0/conf/schemas": common_schemas,
    OGC + "ogcapi-common-3/1.0/conf/advanced-property-roles": common_advanced_property_roles,
    OGC + "cql2/1.0/conf/cql2-text": cql2_text,
    OGC + "cql2/1.0/conf/basic-cql2": cql2_basic,
    OGC + "ogcapi-records-1/1.0/conf/core": records_core,
    OGC + "ogcapi-records-1/1.0/conf/json": records_json,
    OGC + "ogcapi-records-1/1.0/conf/html": records_html,
    OGC + "ogcapi-tiles-1/1.0/conf/core": tiles_core,
    OGC + "ogcapi-tiles-1/1.0/conf/tileset": tiles_tileset,
    OGC + "ogcapi-tiles-1/1.0/conf/tilesets-list": tiles_tilesets_list,
    OGC + "ogcapi-tiles-1/1.0/conf/geodata-tilesets": tiles_geodata_tilesets,
    OGC + "ogcapi-tiles-1/1.0/conf/mvt": tiles_mvt,
    OGC + "ogcapi-tiles-1/1.0/conf/oas30": tiles_oas30,
}
