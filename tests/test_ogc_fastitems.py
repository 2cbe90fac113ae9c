"""Features by id and pages answered without pygeoapi's API layer
(`services/ogc/fastitems.py`) give pygeoapi's very answer: same status, body bytes and
headers, on both backends.

Each request is made twice on one in-process app: once as it is served, once with the
fast path turned off (pygeoapi's `get_collection_item(s)`); the test also checks which
requests the fast path answered, so that a fallback cannot pass for an identical answer.
A page's `timeStamp` is the time of the answer: both paths read it from pygeoapi's
module, whose clock is stopped here for both requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygeoapi.api.itemtypes as itemtypes_api
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from niaouli.ingest import ingest_file
from niaouli.services.ogc import fastitems
from tests.conftest import Backend, fresh_backend

IGNORED = {"x-request-id", "date"}
STOPPED = datetime(2026, 12, 7, 9, 30, 1, 234567, tzinfo=UTC)
POINTS = 12  # more than pygeoapi's default page (10)


class _StoppedClock(datetime):
    """pygeoapi's `datetime` with `now()` stopped, for `timeStamp`."""

    @classmethod
    def now(cls, tz=None):  # noqa: ANN001, ANN206
        return STOPPED.astimezone(tz)


ORG = "province-sud"
LEVELS = ("public", "draft")


@dataclass
class Site:
    collections: dict[str, str]  # access level -> collection id
    token: str  # a read token of an editor of the organisation (sees every level)


def _publish(backend: Backend, tmp: Path) -> Site:
    """Two datasets of twelve points (public, draft) and an editor's token."""
    points = tmp / "points.geojson"
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]},
            "properties": {"nom": f"point {i} <&>"},
        }
        for i in range(POINTS)
    ]
    points.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Province Sud", "province")
    collections = {}
    for level in LEVELS:
        report = ingest_file(
            points,
            organisation=ORG,
            dataset=f"rapide-{level}",
            title=f"Rapide {level}",
            access_level=level,
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
        collections[level] = report.layers[0].collection_id
    with backend.session() as session, session.begin():
        user = users.create_user(session, "editeur@exemple.nc", "Éditeur", "mot de passe long")
        users.set_membership(session, service.get_organisation(session, ORG), user, "editor")
        _token, secret = tokens.create_token(session, user, "tests", "read")
    return Site(collections, secret)


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Site, Backend]]:
    root: Path = tmp_path_factory.mktemp(f"fastitems-{request.param}")
    with fresh_backend(request, request.param, root) as backend, pytest.MonkeyPatch.context() as mp:
        published = _publish(backend, root)
        mp.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
        mp.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
        mp.delenv("NIAOULI_PUBLIC_URL", raising=False)
        from niaouli.web import create_app

        # No lifespan: the CSW pool and the scheduler are not needed here.
        yield TestClient(create_app(), base_url="http://127.0.0.1:8000"), published, backend


def _both(client: TestClient, url: str, headers: dict[str, str] | None = None):  # noqa: ANN202
    """(fast answer, pygeoapi's answer, whether the fast path answered)."""
    answered = []

    def spy(original):  # noqa: ANN001, ANN202
        def answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            result = original(*args, **kwargs)
            answered.append(result is not None)
            return result

        return answer

    def spy_async(original):  # noqa: ANN001, ANN202
        async def answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            result = await original(*args, **kwargs)
            answered.append(result is not None)
            return result

        return answer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itemtypes_api, "datetime", _StoppedClock)
        mp.setattr(fastitems, "answer_item", spy(fastitems.answer_item))
        mp.setattr(fastitems, "answer_item_on_loop", spy_async(fastitems.answer_item_on_loop))
        mp.setattr(fastitems, "answer_page", spy(fastitems.answer_page))
        fast = client.get(url, headers=headers)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itemtypes_api, "datetime", _StoppedClock)
        mp.setattr(fastitems, "applies", lambda *_: False)
        mp.setattr(fastitems, "applies_to_page", lambda *_: False)
        slow = client.get(url, headers=headers)
    return fast, slow, any(answered)


def _same(fast, slow) -> None:  # noqa: ANN001
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content
    mine = {k: v for k, v in fast.headers.items() if k not in IGNORED}
    theirs = {k: v for k, v in slow.headers.items() if k not in IGNORED}
    assert mine == theirs


def test_feature_by_id_is_pygeoapi_s_answer_without_its_api_layer(site) -> None:  # noqa: ANN001
    client, published, _backend = site
    items = f"/ogc/collections/{published.collections['public']}/items"
    for url, headers in (
        (f"{items}/3", None),
        (f"{items}/3?f=json", None),
        (f"{items}/0003", None),  # the id as written in the links, as pygeoapi does
        (f"{items}/1", {"Accept": "application/json"}),
        (f"{items}/2", {"Accept": "application/geo+json"}),
        (f"{items}/2", {"Accept": "*/*", "Accept-Encoding": "gzip"}),
        # The language as pygeoapi (and the portal's cookie) chooses it: its own shell.
        (f"{items}/3", {"Accept-Language": "en"}),
        (f"{items}/3", {"Accept-Language": "en;q=0.5, fr"}),
        (f"{items}/3", {"Cookie": "niaouli_lang=en"}),
    ):
        fast, slow, answered = _both(client, url, headers)
        assert answered, url
        assert fast.status_code == 200
        assert fast.headers["content-type"] == "application/geo+json"
        assert fast.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
        assert fast.json()["properties"]["nom"].startswith("point ")  # with <&>, escaped alike
        _same(fast, slow)


def test_other_formats_languages_and_errors_are_left_to_pygeoapi(site) -> None:  # noqa: ANN001
    client, published, _backend = site
    public = f"/ogc/collections/{published.collections['public']}/items"
    for url, headers in (
        (f"{public}/3?f=html", None),
        (f"{public}/3", {"Accept": "text/html"}),
        (f"{public}/3?f=jsonld", None),
        (f"{public}/3?lang=en", None),
        (f"{public}/3?crs=http://www.opengis.net/def/crs/EPSG/0/3163", None),
        (f"{public}/3?f=xml", None),
        (f"{public}/999999", None),  # unknown id: 404
        (f"{public}/abc", None),
        (f"{public}/99999999999999999999", None),
        ("/ogc/collections/inconnue/items/1", None),
    ):
        fast, slow, answered = _both(client, url, headers)
        assert not answered, url
        _same(fast, slow)
    assert client.get(f"{public}/999999").status_code == 404


def test_access_rules_hold_on_the_fast_path(site) -> None:  # noqa: ANN001
    """Restricted datasets are absent for anonymous visitors (pygeoapi's 404, same
    bytes); a signed-in viewer who may see them is answered by pygeoapi's path."""
    client, published, _backend = site
    for level in ("draft",):
        url = f"/ogc/collections/{published.collections[level]}/items/1"
        fast, slow, answered = _both(client, url)
        assert not answered and fast.status_code == 404, level
        _same(fast, slow)
        token = {"Authorization": f"Bearer {published.token}"}
        fast, slow, answered = _both(client, url, token)
        assert not answered and fast.status_code == 200, level
        _same(fast, slow)


def test_a_dataset_withdrawn_is_absent_from_the_next_request(site) -> None:  # noqa: ANN001
    """The catalogue version is read in the feature's own statement: no stale answer."""
    client, published, backend = site
    url = f"/ogc/collections/{published.collections['public']}/items/4"
    assert _both(client, url)[2]  # the fast path's configuration is built

    def set_level(level: str) -> None:
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "rapide-public")
            service.update_dataset(session, dataset, access_level=level)

    set_level("registered")
    try:
        fast, slow, answered = _both(client, url)
        assert not answered and fast.status_code == 404
        _same(fast, slow)
    finally:
        set_level("public")
    fast, slow, answered = _both(client, url)
    assert (answered, fast.status_code) == (True, 200), fast.text
    _same(fast, slow)


def test_a_page_is_pygeoapi_s_answer_without_its_api_layer(site) -> None:  # noqa: ANN001
    client, published, _backend = site
    items = f"/ogc/collections/{published.collections['public']}/items"
    for url, headers, ids, links in (
        (items, None, range(1, 11), {"next"}),  # pygeoapi's default limit, 10
        (f"{items}?f=json", None, range(1, 11), {"next"}),
        (f"{items}?limit=3", None, range(1, 4), {"next"}),
        (f"{items}?limit=3&offset=3", None, range(4, 7), {"prev", "next"}),
        (f"{items}?offset=3&f=json&limit=3", None, range(4, 7), {"prev", "next"}),
        (f"{items}?limit=5&offset=10", None, range(11, 13), {"prev"}),  # the last page
        (f"{items}?limit={POINTS}", None, range(1, 13), {"next"}),  # a full page: "next"
        (f"{items}?offset=2", None, range(3, 13), {"prev", "next"}),  # full: "next"
        (f"{items}?offset=0", None, range(1, 11), {"next"}),
        (f"{items}?offset=50", None, range(0), {"prev"}),  # past the end: empty
        (f"{items}?limit=100000", None, range(1, 13), set()),  # above max_items: throttled
        (f"{items}?f=&limit=%203", None, range(1, 4), {"next"}),  # as pygeoapi reads them
        (f"{items}?offset=%203&limit=2", None, range(4, 6), {"prev", "next"}),
        (f"{items}?limit=3", {"Accept": "application/json"}, range(1, 4), {"next"}),
        (f"{items}?limit=3", {"Accept": "application/geo+json"}, range(1, 4), {"next"}),
        (f"{items}?offset=1", {"Accept": "*/*", "Accept-Encoding": "gzip"}, range(2, 12), None),
        (items, {"Accept-Language": "en"}, range(1, 11), {"next"}),
        (f"{items}?offset=4&limit=2", {"Accept-Language": "en;q=0.5, fr"}, range(5, 7), None),
        (f"{items}?offset=4&limit=2", {"Cookie": "niaouli_lang=en"}, range(5, 7), None),
    ):
        fast, slow, answered = _both(client, url, headers)
        assert answered, url
        assert fast.status_code == 200, fast.text
        assert fast.headers["content-type"] == "application/geo+json"
        assert fast.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
        body = fast.json()
        assert [f["id"] for f in body["features"]] == list(ids), url
        assert (body["numberMatched"], body["timeStamp"]) == (POINTS, "2026-12-07T09:30:01.234567Z")
        if links is not None:
            paging = {link["rel"] for link in body["links"]} & {"prev", "next"}
            assert paging == links, url
        _same(fast, slow)
    # HEAD: the same headers, no body
    fast, slow, answered = _both_head(client, f"{items}?limit=3")
    assert answered and fast.status_code == 200 and fast.content == b""
    _same(fast, slow)


def _both_head(client: TestClient, url: str):  # noqa: ANN202
    answered = []
    original = fastitems.answer_page

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = original(*args, **kwargs)
        answered.append(result is not None)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itemtypes_api, "datetime", _StoppedClock)
        mp.setattr(fastitems, "answer_page", spy)
        fast = client.head(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itemtypes_api, "datetime", _StoppedClock)
        mp.setattr(fastitems, "applies_to_page", lambda *_: False)
        slow = client.head(url)
    return fast, slow, any(answered)


def test_other_pages_are_left_to_pygeoapi(site) -> None:  # noqa: ANN001
    """Filters, other formats and languages, refused values: pygeoapi's own answer."""
    client, published, _backend = site
    public = f"/ogc/collections/{published.collections['public']}/items"
    for url, headers in (
        (f"{public}?f=html", None),
        (public, {"Accept": "text/html"}),
        (f"{public}?f=jsonld", None),
        (f"{public}?f=csv", None),
        (public, {"Accept": "text/csv, application/json"}),  # CSV chosen by pygeoapi
        (f"{public}?lang=en", None),
        (f"{public}?bbox=166,-23,167,-22", None),
        (f"{public}?nom=point%201%20%3C%26%3E", None),
        (f"{public}?properties=nom", None),
        (f"{public}?sortby=-nom", None),
        (f"{public}?skipGeometry=true", None),
        (f"{public}?resulttype=hits", None),
        (f"{public}?crs=http://www.opengis.net/def/crs/EPSG/0/3163", None),
        (f"{public}?limit=0", None),  # refused (400)
        (f"{public}?limit=abc", None),
        (f"{public}?offset=-1", None),
        (f"{public}?limit=03", None),  # pygeoapi's own 400 (not an integer to it)
        (f"{public}?limit=3&limit=4", None),
        (f"{public}?f=xml", None),
        ("/ogc/collections/inconnue/items", None),
        ("/ogc/collections/catalogue/items", None),  # records: not a layer
    ):
        fast, slow, answered = _both(client, url, headers)
        assert not answered, url
        _same(fast, slow)
    assert client.get(f"{public}?limit=0").status_code == 400
    assert client.get(f"{public}?limit=03").status_code == 400


def test_access_rules_hold_on_the_fast_page(site) -> None:  # noqa: ANN001
    """A restricted dataset's pages are absent for anonymous visitors (pygeoapi's 404,
    same bytes); a viewer who may see them is answered by pygeoapi's path."""
    client, published, backend = site
    url = f"/ogc/collections/{published.collections['draft']}/items?limit=3"
    fast, slow, answered = _both(client, url)
    assert not answered and fast.status_code == 404
    _same(fast, slow)
    token = {"Authorization": f"Bearer {published.token}"}
    fast, slow, answered = _both(client, url, token)
    assert not answered and fast.status_code == 200
    _same(fast, slow)

    public = f"/ogc/collections/{published.collections['public']}/items"
    assert _both(client, public)[2]  # the fast path's configuration is built

    def set_level(level: str) -> None:
        with backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "rapide-public")
            service.update_dataset(session, dataset, access_level=level)

    set_level("registered")  # withdrawn from anonymous visitors: absent at once
    try:
        fast, slow, answered = _both(client, public)
        assert not answered and fast.status_code == 404
        _same(fast, slow)
    finally:
        set_level("public")
    fast, slow, answered = _both(client, public)
    assert (answered, fast.status_code) == (True, 200), fast.text
    _same(fast, slow)


def test_on_postgis_a_feature_by_id_is_read_on_the_event_loop(site) -> None:  # noqa: ANN001
    """No worker thread once the shell is made, the same bytes; connections the server
    dropped cost nothing but an answer through the thread path (`test_ogc_asyncread`)."""
    client, published, backend = site
    if backend.name != "postgis":
        pytest.skip("the loop's own connections are psycopg's: PostGIS only")
    url = f"/ogc/collections/{published.collections['public']}/items/5"
    threaded: list[bool] = []

    def in_thread(original):  # noqa: ANN001, ANN202
        def answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            threaded.append(True)
            return original(*args, **kwargs)

        return answer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fastitems, "answer_item", in_thread(fastitems.answer_item))
        first = client.get(url)  # makes the shell (in a thread)
        threaded.clear()
        assert client.get(url).content == first.content
        assert threaded == [], "read in a worker thread"
        with backend.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        again = client.get(url)
        assert again.status_code == 200 and again.content == first.content
    fast, slow, answered = _both(client, url)
    assert answered
    _same(fast, slow)
