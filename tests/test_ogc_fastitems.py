"""Features by id answered without pygeoapi's API layer (`services/ogc/fastitems.py`)
give pygeoapi's very answer: same status, body bytes and headers, on both backends.

Each request is made twice on one in-process app: once as it is served, once with the
fast path turned off (pygeoapi's `get_collection_item`); the test also checks which
requests the fast path answered, so that a fallback cannot pass for an identical answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from niaouli.ingest import ingest_file
from niaouli.services.ogc import fastitems
from tests.conftest import Backend, fresh_backend

IGNORED = {"x-request-id", "date"}


ORG = "province-sud"
LEVELS = ("public", "draft")


@dataclass
class Site:
    collections: dict[str, str]  # access level -> collection id
    token: str  # a read token of an editor of the organisation (sees every level)


def _publish(backend: Backend, tmp: Path) -> Site:
    """Two datasets of seven points (public, draft) and an editor's token."""
    points = tmp / "points.geojson"
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]},
            "properties": {"nom": f"point {i} <&>"},
        }
        for i in range(7)
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
    original = fastitems.answer_item

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = original(*args, **kwargs)
        answered.append(result is not None)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fastitems, "answer_item", spy)
        fast = client.get(url, headers=headers)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fastitems, "applies", lambda *_: False)
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
