"""Live publication: a dataset ingested (or removed) while the server runs appears (or
disappears) under /ogc without restart — through the real CLI; a withdrawal or a
restriction is refused from the very next request, in every worker; a tile's ETag
depends on its own layer only (issue 13 §4)."""

from __future__ import annotations

import json

import httpx
import pytest

from niaouli.catalogue import publication, service
from niaouli.catalogue.access import Viewer
from niaouli.ingest import ingest_file
from tests.conftest import FIXTURES
from tests.ogc_support import ORG, POINTS, ogc, serve, wait_for  # noqa: F401 - fixture


def _collection_ids(server) -> list[str]:  # noqa: ANN001
    return [c["id"] for c in server.get("/collections").json()["collections"]]


def test_ingest_and_delete_while_serving(ogc):  # noqa: F811
    assert "publie-en-direct" not in _collection_ids(ogc)
    ogc.backend.run(
        "ingest",
        str(FIXTURES / "communes.gpkg"),
        "--org",
        ORG,
        "--dataset",
        "publie-en-direct",
        "--progress",
        "none",
    )
    # Two layers in the GeoPackage: two collections, named after the dataset.
    layers = ["publie-en-direct-communes", "publie-en-direct-centroides"]
    waited = wait_for(lambda: set(layers) <= set(_collection_ids(ogc)))
    assert waited < 5
    items = ogc.get("/collections/publie-en-direct-communes/items").json()
    assert items["numberMatched"] > 0

    # Removed: gone from the list and from its own URLs.
    ogc.backend.run("dataset", "delete", "publie-en-direct")
    wait_for(lambda: not set(layers) & set(_collection_ids(ogc)))
    assert ogc.get("/collections/publie-en-direct-communes/items").status_code == 404


def test_access_level_change_applies_while_serving(ogc):  # noqa: F811
    def set_access(level: str) -> None:
        with ogc.backend.session() as session, session.begin():
            dataset = service.find_dataset(session, "sites-visites")
            service.update_dataset(session, dataset, access_level=level)

    set_access("organisation")
    wait_for(lambda: "sites-visites" not in _collection_ids(ogc))
    assert ogc.get("/collections/sites-visites/items/1").status_code == 404
    set_access("public")
    wait_for(lambda: "sites-visites" in _collection_ids(ogc))


# --- withdrawal: refused as soon as the write returned, not a second later -----------------

WITHDRAWN = "sites-visites"
WITHDRAWN_URLS = (
    f"/collections/{WITHDRAWN}",
    f"/collections/{WITHDRAWN}/items",
    f"/collections/{WITHDRAWN}/items/1",
    f"/collections/{WITHDRAWN}/queryables",
    f"/collections/{WITHDRAWN}/tiles",
    f"/collections/{WITHDRAWN}/tiles/WebMercatorQuad/0/0/0",
)


def _publish(backend, level: str) -> None:  # noqa: ANN001
    """Publish at `level` (or unpublish: `draft`), as the API does; returns once committed."""
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, WITHDRAWN)
        if level == "draft":
            publication.unpublish(session, dataset, Viewer.system())
        else:
            publication.publish(session, dataset, Viewer.system(), level)


def _statuses(get) -> dict[str, int]:  # noqa: ANN001
    return {path: get(path).status_code for path in WITHDRAWN_URLS}


def test_withdrawal_is_refused_at_once(ogc):  # noqa: F811
    """No window after an unpublish or a restriction: the very next request is refused by
    items, features, tiles and the collection list (the worker's API was warm: built and
    checked a moment before), and a publication shows at once too."""
    with httpx.Client(base_url=ogc.url, timeout=30) as http:
        try:
            for level in ("registered", "organisation", "draft"):
                wait_for(lambda: set(_statuses(http.get).values()) == {200})
                _publish(ogc.backend, level)
                assert set(_statuses(http.get).values()) == {404}, level
                assert WITHDRAWN not in _collection_ids(ogc)
                _publish(ogc.backend, "public")
                assert set(_statuses(http.get).values()) == {200}, level
        finally:
            _publish(ogc.backend, "public")


def test_withdrawal_is_refused_at_once_by_every_worker(ogc):  # noqa: F811
    """Two server processes, both warm: neither serves the layer after the write."""
    if ogc.backend.name != "postgis":
        # A second, two-process server costs ~20 s on a busy machine; the behaviour does
        # not depend on the backend (one version read per request), so once is enough.
        pytest.skip("multi-process serving is checked once, on PostGIS")
    paths = WITHDRAWN_URLS[2], WITHDRAWN_URLS[-1]  # a feature, a tile
    with serve(ogc.backend, timeout=60, workers=2) as server:

        def statuses() -> list[int]:  # new connections: spread over both workers
            return [server.get(path).status_code for _ in range(6) for path in paths]

        try:
            wait_for(lambda: set(statuses()) == {200}, 60)  # both warm
            assert set(statuses()) == {200}  # and checked a moment ago
            _publish(ogc.backend, "organisation")
            assert set(statuses()) == {404}
        finally:
            _publish(ogc.backend, "public")


def test_tile_validator_ignores_hidden_edits(ogc, tmp_path):  # noqa: F811
    """A public tile's ETag moves with its own layer only: edits to a hidden draft (which
    move the catalogue version) leave it and its 304 alone; new data change it."""
    url = f"/collections/{WITHDRAWN}/tiles/WebMercatorQuad/0/0/0"
    wait_for(lambda: ogc.get(url).status_code == 200)
    etag = ogc.get(url).headers["etag"]
    for n in range(3):
        with ogc.backend.session() as session, session.begin():
            draft = service.find_dataset(session, "brouillon-prive")
            service.update_dataset(session, draft, title=f"Brouillon privé, version {n}")
    assert ogc.get(url).headers["etag"] == etag
    assert httpx.get(f"{ogc.url}{url}", headers={"If-None-Match": etag}).status_code == 304

    points = tmp_path / "sites.geojson"
    points.write_text(json.dumps(POINTS), encoding="utf-8")
    ingest_file(
        points,
        organisation=ORG,
        dataset=WITHDRAWN,
        settings=ogc.backend.settings,
        engine=ogc.backend.engine,
        progress="none",
    )
    changed = ogc.get(url)
    assert changed.status_code == 200 and changed.headers["etag"] != etag
