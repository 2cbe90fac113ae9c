"""Live publication: a dataset ingested (or removed) while the server runs appears (or
disappears) under /ogc within seconds, without restart — through the real CLI."""

from __future__ import annotations

from niaouli.catalogue import service
from tests.conftest import FIXTURES
from tests.ogc_support import ORG, ogc, wait_for  # noqa: F401 - fixture


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
