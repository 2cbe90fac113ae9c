"""OGC API Features Part 4 on a campaign's staging collection: a live `niaouli serve` on
both backends, written to with OWSLib (`owslib.ogcapi.features.Features`, HTTP Basic
with the token as password, as QGIS does) and with plain HTTP (httpx, Bearer tokens).

The hostile bodies are rows S6-S9 and S14-S19 of SECURITY-CASES.md that reach a JSON
body: huge bodies, deep nesting, NaN, invalid coordinates, huge geometries; each gets a
clear 400/413 and leaves the tables exactly as they were.
"""

from __future__ import annotations

import json

import httpx
import pytest
from owslib.ogcapi.features import Features
from owslib.util import Authentication
from sqlalchemy import func, select, text

from niaouli.catalogue.campaigns.campaign_tables import Contribution
from tests.campaign_support import AppServer, build_campaign, email_of, point
from tests.conftest import fresh_backend

PART4_CRD = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def live(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"part4-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        site = build_campaign(backend, root)
        with AppServer(backend) as server:
            site.url = server.url
            yield site


def _http(site, who: str | None, scope: str = "write") -> httpx.Client:
    headers = {"Authorization": f"Bearer {site.tokens[who][scope]}"} if who else {}
    return httpx.Client(base_url=f"{site.url}/ogc", headers=headers, timeout=60)


def _items(site) -> str:
    return f"/collections/{site.collection_id}/items"


def _feature(x: float, y: float, fid: str | None = None, **properties) -> dict:
    feature = {"type": "Feature", "geometry": point(x, y), "properties": properties}
    if fid is not None:
        feature["id"] = fid
    return feature


def _state(site) -> list:
    with site.backend.engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT uid, version, properties FROM campaign_contributions ORDER BY uid")
            ).all()
            + conn.execute(text("SELECT count(*) FROM campaign_submissions")).all()
        )


def test_owslib_creates_replaces_and_deletes(live):
    auth = Authentication(email_of("volunteer"), live.tokens["volunteer"]["write"])
    api = Features(f"{live.url}/ogc", auth=auth, headers={"Content-Type": "application/geo+json"})
    feature = _feature(166.41, -22.23, "owslib-1", nom="Place des Cocotiers", type="abri")
    assert api.collection_item_create(live.collection_id, feature)
    got = api.collection_item(live.collection_id, "owslib-1")
    assert got["id"] == "owslib-1" and got["properties"]["nom"] == "Place des Cocotiers"
    assert got["niaouli:state"] == "received"
    replaced = _feature(166.411, -22.231, nom="Place des Cocotiers (abri)", bancs=3)
    assert api.collection_item_update(live.collection_id, "owslib-1", json.dumps(replaced))
    got = api.collection_item(live.collection_id, "owslib-1")
    assert got["properties"] == {"nom": "Place des Cocotiers (abri)", "bancs": 3}
    assert got["geometry"]["coordinates"] == [166.411, -22.231]
    # The collection is listed for the signed-in volunteer, with Part 4 declared.
    listed = [c["id"] for c in api.collections()["collections"]]
    assert live.collection_id in listed
    assert PART4_CRD in api.conformance()["conformsTo"]
    schema = api.collection_schema(live.collection_id)  # the fields QGIS offers
    assert schema["properties"]["nom"] == {
        "type": "string",
        "title": "Nom",
        "description": "Le nom écrit sur l'arrêt",
    }
    assert schema["properties"]["type"]["enum"] == ["abri", "poteau"]
    assert schema["required"] == ["nom"]
    assert api.collection_item_delete(live.collection_id, "owslib-1")
    with pytest.raises(RuntimeError):
        api.collection_item(live.collection_id, "owslib-1")


def test_etags_if_match_and_patch(live):
    with _http(live, "volunteer") as http:
        created = http.post(_items(live), json=_feature(166.42, -22.24, "etag-1", nom="Un"))
        assert created.status_code == 201, created.text
        assert created.headers["location"].endswith(f"{_items(live)}/etag-1")
        assert created.headers["etag"] == '"1"'
        got = http.get(f"{_items(live)}/etag-1")
        assert got.headers["etag"] == '"1"'
        assert (
            http.get(f"{_items(live)}/etag-1", headers={"If-None-Match": '"1"'}).status_code == 304
        )
        patched = http.patch(
            f"{_items(live)}/etag-1",
            json={"properties": {"type": "poteau"}},
            headers={"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text
        assert patched.headers["etag"] == '"2"'
        assert patched.json()["properties"] == {"nom": "Un", "type": "poteau"}
        before = _state(live)
        stale = http.put(
            f"{_items(live)}/etag-1",
            json=_feature(166.42, -22.24, nom="Écrasé"),
            headers={"If-Match": '"1"'},
        )
        assert stale.status_code == 412, stale.text
        stale_delete = http.delete(f"{_items(live)}/etag-1", headers={"If-Match": '"1"'})
        assert stale_delete.status_code == 412
        assert _state(live) == before
        # Without If-Match a write is applied (QGIS sends none): documented.
        blind = http.put(f"{_items(live)}/etag-1", json=_feature(166.42, -22.24, nom="Deux"))
        assert blind.status_code == 200 and blind.headers["etag"] == '"3"'
        removed = http.delete(f"{_items(live)}/etag-1", headers={"If-Match": '"3"'})
        assert removed.status_code == 204
        assert http.get(f"{_items(live)}/etag-1").status_code == 404


def test_repeated_post_with_the_same_id_creates_one_feature(live):
    with _http(live, "volunteer") as http:
        feature = _feature(166.43, -22.29, "repete-1", nom="Trois fois")
        answers = [http.post(_items(live), json=feature) for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 200, 200]
        assert {a.headers["location"] for a in answers} == {answers[0].headers["location"]}
    with live.backend.session() as session:
        assert (
            session.scalar(
                select(func.count(Contribution.id)).where(Contribution.uid == "repete-1")
            )
            == 1
        )


def test_who_may_read_and_write(live):
    with _http(live, "volunteer") as http:
        assert http.post(_items(live), json=_feature(166.44, -22.30, "a-moi", nom="À moi"))
    before = _state(live)
    change = _feature(166.44, -22.30, nom="Pris")
    with _http(live, "volunteer", "read") as http:  # a read token: 403, nothing written
        answer = http.post(_items(live), json=_feature(166.45, -22.30, "lu", nom="x"))
        assert answer.status_code == 403 and answer.json()["code"] == "ReadOnlyToken"
        assert http.put(f"{_items(live)}/a-moi", json=change).status_code == 403
    with _http(live, "editor_b") as http:  # another organisation's editor
        assert http.put(f"{_items(live)}/a-moi", json=change).status_code == 403
        assert http.delete(f"{_items(live)}/a-moi").status_code == 403
        patch = {"properties": {"nom": "Pris"}}
        assert http.patch(f"{_items(live)}/a-moi", json=patch).status_code == 403
        assert http.get(f"{_items(live)}/a-moi").status_code == 404  # not theirs to see
        assert "a-moi" not in {f["id"] for f in http.get(_items(live)).json()["features"]}
    with _http(live, "editor_a") as http:  # the organisation's editors see every item
        assert http.get(f"{_items(live)}/a-moi").status_code == 200
        assert http.delete(f"{_items(live)}/a-moi").status_code == 403  # review is elsewhere
    with _http(live, None) as http:
        assert http.get(f"/collections/{live.collection_id}").status_code == 404
        assert http.get(_items(live)).status_code == 404
        assert http.post(_items(live), json=change).status_code == 401
        assert PART4_CRD not in http.get("/conformance").json()["conformsTo"]
    assert _state(live) == before
    with _http(live, "volunteer") as http:
        allow = http.options(_items(live)).headers["allow"]
        assert "POST" in allow
        assert "PUT" in http.options(f"{_items(live)}/a-moi").headers["allow"]
        layer_items = "/collections/arrets-bus/items"
        assert http.options(layer_items).headers["allow"] == "GET, HEAD, OPTIONS"
        refused = http.put(f"{layer_items}/1", json=change)  # the layers stay read-only
        assert refused.status_code == 405 and "PUT" not in refused.headers["allow"]


def test_invalid_features_get_the_form_messages(live):
    before = _state(live)
    bad = _feature(166.9, -22.25, "faux", type="kiosque", bancs="deux")
    with _http(live, "volunteer") as http:
        answer = http.post(_items(live), json=bad)
        assert answer.status_code == 400
        body = answer.json()
        assert body["code"] == "InvalidFeature"
        assert body["errors"]["nom"] == "le champ « Nom » est obligatoire"
        assert body["errors"]["bancs"] == "le champ « Bancs » attend un nombre entier"
        assert body["errors"]["geometry"] == "l'objet est hors de la zone de la campagne"
        english = http.post(f"{_items(live)}?lang=en", json=bad).json()
        assert english["errors"]["nom"] == "the field “Name” is required"
    assert _state(live) == before


HOSTILE = [
    (
        "huge body (S6)",
        b'{"type": "Feature", "properties": {"nom": "' + b"x" * (2 << 20) + b'"}}',
        413,
    ),
    ("deep nesting (S7)", b"[" * 100_000 + b"]" * 100_000, 400),
    (
        "NaN (S8)",
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, 1]}}',
        400,
    ),
    (
        "coordinates out of range (S9)",
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e308, -95]},'
        b' "properties": {"nom": "x"}}',
        400,
    ),
    ("not JSON", b"\xff\xfe<xml/>", 400),
    (
        "nested coordinates (S7)",
        b'{"type": "Feature", "geometry": {"type": "Point", "coordinates": '
        + b"[" * 5000
        + b"]" * 5000
        + b'}, "properties": {"nom": "x"}}',
        400,
    ),
    ("U+0000", b'{"type": "Feature", "geometry": null, "properties": {"nom": "a\\u0000b"}}', 400),
]


def test_hostile_bodies_are_refused_and_write_nothing(live):
    before = _state(live)
    ring = [[166.41 + i * 1e-6, -22.30] for i in range(40_000)] + [[166.41, -22.30]]
    huge_geometry = json.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": ring},
            "properties": {},
        }
    ).encode()
    cases = [*HOSTILE, ("huge geometry (S17)", huge_geometry, 400)]
    with _http(live, "volunteer") as http:
        for name, body, status in cases:
            answer = http.post(
                _items(live), content=body, headers={"Content-Type": "application/geo+json"}
            )
            assert answer.status_code == status, (name, answer.status_code, answer.text[:200])
            assert answer.json()["description"], name
        wrong_type = http.post(
            _items(live), content=b"nom=x", headers={"Content-Type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        # S16: ids are the client's but never paths: refused, nothing written.
        for bad_id in ("../../x", "..\\..\\x.shp", "a" * 10_000, "%2e%2e%2f"):
            answer = http.post(_items(live), json=_feature(166.43, -22.25, bad_id, nom="x"))
            assert answer.status_code == 400, (bad_id[:20], answer.status_code)
            assert answer.json()["problems"][0]["field"] == "id"
        for path in ("/..%2F..%2Fetc", "/%2e%2e%2f", "/" + "b" * 10_000):
            answer = http.put(
                _items(live) + path,
                json=_feature(166.43, -22.25, nom="x"),
                follow_redirects=True,  # `…/items/../` is normalised away: never an item
            )
            assert answer.status_code in (404, 405, 414), (path[:20], answer.status_code)
    assert _state(live) == before


def test_served_items_cannot_become_a_page(live):
    """S19: a property holding HTML is served as GeoJSON data, never as a page."""
    script = "<script>alert(1)</script>"
    with _http(live, "volunteer") as http:
        made = http.post(_items(live), json=_feature(166.47, -22.31, "html-1", nom=script))
        assert made.status_code == 201
        for answer in (http.get(f"{_items(live)}/html-1"), http.get(_items(live))):
            assert answer.headers["content-type"].startswith("application/geo+json")
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert http.get(f"{_items(live)}/html-1").json()["properties"]["nom"] == script


def test_corrections_and_retirements_of_the_layer_name_their_target(live):
    with _http(live, "volunteer2") as http:
        fix = {
            **_feature(166.4501, -22.275, "corrige-2", nom="Arrêt 1 bis"),
            "niaouli:action": "update",
            "niaouli:target": 2,
        }
        made = http.post(_items(live), json=fix)
        assert made.status_code == 201, made.text
        assert made.json()["niaouli:action"] == "update" and made.json()["niaouli:target"] == 2
        retire = {
            "type": "Feature",
            "id": "retire-3",
            "geometry": None,
            "properties": {"_action": "retire", "_target": "3"},
        }
        assert http.post(_items(live), json=retire).status_code == 201
        unknown = {
            **retire,
            "id": "retire-999",
            "properties": {"_action": "retire", "_target": 999},
        }
        answer = http.post(_items(live), json=unknown)
        assert answer.status_code == 400 and answer.json()["problems"][0]["code"] == "target"
    with live.backend.session() as session:
        rows = {
            c.uid: c
            for c in session.scalars(
                select(Contribution).where(Contribution.uid.in_(["corrige-2", "retire-3"]))
            )
        }
        assert rows["corrige-2"].base_feature["properties"]["nom"] == "Arrêt 1"
        assert len(rows["corrige-2"].base_version) == 64  # recorded from the layer as it is
        assert rows["retire-3"].action == "retire" and rows["retire-3"].geom is None


def test_the_same_id_posted_at_once_from_several_clients_is_one_feature(live):
    """Eight simultaneous POSTs of one id (a client retrying on a poor connection): one
    is the creation (201), the others answer the stored item (200), one row."""
    from concurrent.futures import ThreadPoolExecutor

    feature = _feature(166.48, -22.23, "simultane-1", nom="En même temps")

    def post(_: int) -> int:
        with _http(live, "volunteer") as http:
            return http.post(_items(live), json=feature).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(post, range(8)))
    assert statuses == [200] * 7 + [201], statuses
    with live.backend.session() as session:
        assert (
            session.scalar(
                select(func.count(Contribution.id)).where(Contribution.uid == "simultane-1")
            )
            == 1
        )
