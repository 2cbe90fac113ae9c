"""The demo data loads on both backends, idempotently, with the repaired rings reported."""

from __future__ import annotations

from sqlalchemy import select

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Layer
from niaouli.db.layers import layer_store
from niaouli.demo import load_demo


def test_demo_load_is_idempotent(backend):
    first = load_demo(backend.settings, echo=lambda _m: None)
    # Issue 15 §8: the demo also loads Nouméa's bathing-water data (three files).
    assert [r.dataset for r in first] == [
        "communes-nc",
        "population-communes-nc",
        "baignade-noumea-points",
        "baignade-noumea-releves",
        "baignade-noumea-etat",
    ]
    communes = first[0].layers[0]
    assert communes.feature_count == 33
    assert communes.geometry_type == "MultiPolygon"
    assert communes.repaired == 2
    assert first[1].layers[0].geometry_type is None

    assert load_demo(backend.settings, echo=lambda _m: None) == []
    with backend.session() as session:
        # The five files and the two records of the demo's harvest (metadata only).
        assert service.count_datasets(session, ANONYMOUS) == 7
        tables = session.scalars(select(Layer.table_name).order_by(Layer.id)).all()
    with backend.engine.connect() as conn:
        store = layer_store(conn)
        assert sorted(store.list_tables(conn)) == sorted(tables)
        assert [store.count(conn, t) for t in tables] == [33, 33, 30, 16, 6]


def test_catalogue_version_moves_with_every_change(backend):
    from niaouli.catalogue.changes import read_version
    from niaouli.catalogue.lifecycle import delete_dataset

    start = read_version(backend.engine)
    load_demo(backend.settings, echo=lambda _m: None)
    after_load = read_version(backend.engine)
    assert after_load > start
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(session, dataset, access_level="draft")
    after_update = read_version(backend.engine)
    assert after_update > after_load
    delete_dataset(backend.engine, backend.settings, "communes-nc")
    assert read_version(backend.engine) > after_update
