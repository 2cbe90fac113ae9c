"""Merging a campaign into its layer: all or nothing, provenance, concurrent merges and
submissions, a process killed mid-merge (SECURITY-CASES R1), on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from niaouli.catalogue import changes
from niaouli.catalogue.campaigns import merge
from niaouli.catalogue.campaigns.campaign_tables import (
    Contribution,
    ContributionState,
    Merge,
    MergeState,
)
from niaouli.db.engine import writing
from tests.campaign_review_support import contributions, layer_row, points, submission, world
from tests.conftest import REPO, Backend
from tests.ingest_support import read_layer


def _states(backend: Backend, campaign_id: int) -> dict[str, int]:
    with backend.session() as session:
        rows = session.execute(
            select(Contribution.state, func.count())
            .where(Contribution.campaign_id == campaign_id)
            .group_by(Contribution.state)
        ).all()
    return {state.value: count for state, count in rows}


def _stage(backend: Backend, w, items, *, volunteer: int = 0, name: str = "Jeanne") -> list[int]:  # noqa: ANN001
    sub = submission(backend, w, w.volunteer_ids[volunteer], name)
    with Session(writing(backend.engine)) as session, session.begin():
        return contributions(session, w, sub, w.volunteer_ids[volunteer], items)


def _fingerprint(backend: Backend, table: str) -> list[tuple]:
    """The layer as rows (fid, geometry WKT, attributes) — equal before and after a
    failed or killed merge, down to every value."""
    return [
        tuple((k, v.wkt if k == "geom" else v) for k, v in sorted(row.items()))
        for row in read_layer(backend, table)
    ]


def test_merge_writes_features_with_provenance_and_moves_the_catalogue(
    backend: Backend, tmp_path: Path
) -> None:
    w = world(backend, tmp_path)
    before = layer_row(backend, w)
    version = changes.read_version(backend.engine)
    ids = _stage(backend, w, points("a", 3), name="Jeanne des Palétuviers")
    far = {"uid": "far", "wkt": "POINT(167.5 -21.5)", "properties": {"name": "Loin"}}
    ids += _stage(backend, w, [far], volunteer=1, name="Kim")

    outcome = merge.run_merge(backend.engine, w.campaign_id, started_by_id=w.editor_id)

    assert outcome.state == MergeState.DONE, outcome.error
    assert (outcome.created, outcome.updated, outcome.retired) == (4, 0, 0)
    rows = {r["fid"]: r for r in read_layer(backend, w.table)}
    assert len(rows) == 9
    with backend.session() as session:
        merged = session.scalars(select(Contribution).where(Contribution.id.in_(ids))).all()
        assert {c.state for c in merged} == {ContributionState.MERGED}
        assert all(c.merge_id == outcome.merge_id and c.merged_at for c in merged)
        fids = sorted(c.merged_fid for c in merged)
        assert fids == [6, 7, 8, 9]  # new fids after the layer's 5
        by_uid = {c.uid: c.merged_fid for c in merged}
        row = session.get(Merge, outcome.merge_id)
        assert row.state == MergeState.DONE and row.report["created"] == 4
    far_row = rows[by_uid["far"]]
    assert far_row["name"] == "Loin"
    assert far_row["contribution_auteur"] == "Kim"
    assert far_row["contribution_campagne"] == "cartopartie-releves"
    assert far_row["contribution_licence"] == "ODbL 1.0"
    assert rows[by_uid["a-1"]]["releves"] == 1
    assert rows[by_uid["a-1"]]["contribution_auteur"] == "Jeanne des Palétuviers"
    assert rows[1]["contribution_auteur"] is None  # the layer's own features: no provenance
    after = layer_row(backend, w)
    assert after.feature_count == before.feature_count + 4
    assert after.extent_east == pytest.approx(167.5) and after.extent_north == pytest.approx(-21.5)
    assert after.extent_west == pytest.approx(before.extent_west)
    assert after.ingest_report["merge_revision"] == outcome.merge_id
    assert {c["name"] for c in after.attribute_schema} >= {"contribution_auteur", "name"}
    assert changes.read_version(backend.engine) > version  # tiles, CSW, collections follow

    again = merge.run_merge(backend.engine, w.campaign_id)  # nothing left approved
    assert again.state == MergeState.DONE and again.merged == 0
    assert len(read_layer(backend, w.table)) == 9


def test_a_refused_contribution_midway_leaves_the_layer_as_it_was(
    backend: Backend, tmp_path: Path
) -> None:
    w = world(backend, tmp_path)
    good = points("ok", 5)
    bad = {"uid": "trace", "wkt": "LINESTRING(166.4 -22.3, 166.5 -22.3)", "properties": {}}
    ids = _stage(backend, w, [*good, bad])
    before = _fingerprint(backend, w.table)
    schema_before = layer_row(backend, w).attribute_schema

    outcome = merge.run_merge(backend.engine, w.campaign_id, batch=2)  # 2 batches written first

    assert outcome.state == MergeState.FAILED
    assert "trace" in outcome.error and "Point" in outcome.error
    assert _fingerprint(backend, w.table) == before  # not one row, not one column more
    assert layer_row(backend, w).attribute_schema == schema_before
    assert _states(backend, w.campaign_id) == {"approved": len(ids)}
    with backend.session() as session:
        row = session.get(Merge, outcome.merge_id)
        assert row.state == MergeState.FAILED and "trace" in row.report["error"]

    # The database itself refusing a value (out of bigint / SQLite integer range) in the
    # third batch: the same all or nothing.
    with Session(writing(backend.engine)) as session, session.begin():
        session.execute(
            Contribution.__table__.update()
            .where(Contribution.uid == "trace")
            .values(state=ContributionState.REJECTED)
        )
    huge = {"uid": "huge", "wkt": "POINT(166.46 -22.3)", "properties": {"releves": 10**30}}
    _stage(backend, w, [huge])
    failed = merge.run_merge(backend.engine, w.campaign_id, batch=2)
    assert failed.state == MergeState.FAILED, failed
    assert _fingerprint(backend, w.table) == before


def test_volunteers_submitting_while_two_reviewers_merge(backend: Backend, tmp_path: Path) -> None:
    """Every approved feature is merged exactly once: three volunteers keep sending
    (through the real `submit`, validation included) while a reviewer approves what
    arrives and two others merge again and again at the same time."""
    # A merge's first run in a process imports the ingestion pipeline (GDAL, pandas:
    # about a second, `niaouli.ingest` imports it when first asked): done before, so
    # that the merges below run while the volunteers are still sending.
    import niaouli.ingest.pipeline  # noqa: F401
    from niaouli.catalogue.campaigns import review
    from niaouli.catalogue.campaigns.campaign_tables import Campaign
    from niaouli.catalogue.campaigns.contributions import ProposedFeature, submit

    w = world(backend, tmp_path, volunteers=3)
    if backend.name == "sqlite":  # writers wait their turn, 30 s (SpatiaLite would say 5)
        with backend.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    errors: list[BaseException] = []
    sending = threading.Event()
    stop = threading.Event()
    outcomes: list[merge.MergeOutcome] = []
    during: list[int] = []  # merges that wrote features while volunteers were sending
    rounds, per_round = 6, 15
    sent: list[int] = []  # rounds sent, all volunteers together
    # Volunteers send `rounds` rounds, then go on (up to 60 s) until a merge has written
    # while they were sending: on a loaded machine a merge's first run (imports, first
    # queries) could otherwise end after the last round, and the test would prove nothing.
    deadline = time.monotonic() + 60

    def volunteer(index: int) -> None:
        try:
            round_ = 0
            while round_ < rounds or (not during and time.monotonic() < deadline):
                features = [
                    ProposedFeature(
                        p["uid"],
                        {"type": "Point", "coordinates": [166.45 + i / 1e4, -22.29 - index / 1e3]},
                        p["properties"],
                    )
                    for i, p in enumerate(points(f"v{index}-{round_}", per_round))
                ]
                with Session(writing(backend.engine)) as session, session.begin():
                    campaign = session.get(Campaign, w.campaign_id)
                    result = submit(
                        session, campaign, w.volunteer(index), features, source="offline"
                    )
                    assert len(result.accepted) == per_round, result.refused
                sent.append(1)
                round_ += 1
                time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def approve_waiting() -> None:
        with Session(writing(backend.engine)) as session, session.begin():
            campaign = session.get(Campaign, w.campaign_id)
            waiting = session.scalars(
                select(Contribution.id).where(
                    Contribution.campaign_id == w.campaign_id,
                    Contribution.state == ContributionState.RECEIVED,
                )
            ).all()
            if waiting:
                review.decide(session, w.editor(), campaign, list(waiting), "approve")

    def approver() -> None:
        try:
            while sending.is_set():
                approve_waiting()
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def merger() -> None:
        try:
            while not stop.is_set():
                outcome = merge.run_merge(backend.engine, w.campaign_id)
                outcomes.append(outcome)
                if outcome.created and sending.is_set():
                    during.append(outcome.merge_id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    sending.set()
    senders = [threading.Thread(target=volunteer, args=(i,)) for i in range(3)]
    others = [
        threading.Thread(target=approver),
        *(threading.Thread(target=merger) for _ in range(2)),
    ]
    for t in [*senders, *others]:
        t.start()
    for t in senders:
        t.join(120)
    sending.clear()
    stop.set()
    for t in others:
        t.join(120)
    assert not errors, errors
    approve_waiting()
    final = merge.run_merge(backend.engine, w.campaign_id)
    assert all(o.state == MergeState.DONE for o in [*outcomes, final]), outcomes
    assert len(sent) >= 3 * rounds
    total = len(sent) * per_round
    assert sum(o.created for o in [*outcomes, final]) == total
    assert during  # merges really ran while volunteers were still sending
    with backend.session() as session:
        fids = session.scalars(
            select(Contribution.merged_fid).where(Contribution.campaign_id == w.campaign_id)
        ).all()
    assert len(fids) == total and len(set(fids)) == total and None not in fids
    rows = read_layer(backend, w.table)
    assert len(rows) == 5 + total
    assert {r["fid"] for r in rows} >= set(fids)
    assert layer_row(backend, w).feature_count == 5 + total


KILLED = textwrap.dedent(
    """
    import sys, time
    from niaouli import startup
    from niaouli.catalogue.campaigns import merge
    from niaouli.db.engine import make_engine
    from niaouli.settings import Settings

    startup.install()
    settings = Settings(data_dir=sys.argv[1], database_url=sys.argv[2],
                        spatialite_library="mod_spatialite")

    def progress(done, total):
        print(f"batch {done}/{total}", flush=True)
        time.sleep(0.3)

    merge.run_merge(make_engine(settings), int(sys.argv[3]), batch=300, progress=progress)
    print("finished", flush=True)
    """
)


def test_kill_9_during_a_merge_leaves_the_layer_as_before(backend: Backend, tmp_path: Path) -> None:
    w = world(backend, tmp_path)
    count = 1200
    _stage(backend, w, points("k", count))
    before = _fingerprint(backend, w.table)
    script = tmp_path / "merge_then_die.py"
    script.write_text(KILLED, encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(backend.settings.data_dir),
            backend.settings.database_url,
            str(w.campaign_id),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        while len(seen) < 2:  # two batches written, in the open transaction
            line = process.stdout.readline()
            assert line, process.stderr.read()
            seen.append(line)
        with backend.session() as session:
            running = session.scalars(select(Merge).where(Merge.state == MergeState.RUNNING)).all()
            assert len(running) == 1  # committed apart, before the layer is written
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _fingerprint(backend, w.table) == before
    assert _states(backend, w.campaign_id) == {"approved": count}

    outcome = merge.run_merge(backend.engine, w.campaign_id)

    assert outcome.state == MergeState.DONE and outcome.created == count
    with backend.session() as session:
        rows = session.scalars(select(Merge).order_by(Merge.id)).all()
    assert [r.state for r in rows] == [MergeState.FAILED, MergeState.DONE]
    assert "interrompue" in rows[0].report["error"]
    assert len(read_layer(backend, w.table)) == 5 + count
    assert _states(backend, w.campaign_id) == {"merged": count}


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_merged_features_are_live_on_every_interface(backend: Backend, tmp_path: Path) -> None:
    """A running server shows a merge at once, as after a re-ingest: /ogc items and the
    collection's extent, the vector tiles, the layer's exports and the CSW record.
    (PostGIS here; the browser test runs the same journey on SQLite.)"""
    import json

    import httpx
    import mapbox_vector_tile

    from tests.ogc_support import serve, wait_for
    from tests.test_ogc_tiles import tile_of

    w = world(backend, tmp_path)
    far = (167.5, -21.5)
    z, y, x = tile_of(*far, 12)
    layer = layer_row(backend, w)
    export = f"/jeux-de-donnees/{w.dataset_slug}/couches/{layer.name}/{w.collection_id}.geojson"
    items = f"/collections/{w.collection_id}/items"
    tile = f"/collections/{w.collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}"

    def csw_wkt() -> str:
        with backend.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT wkt_geometry FROM csw_records").scalar()

    def tile_features(server) -> int:  # noqa: ANN001
        response = server.get(tile)
        if response.status_code == 204 or not response.content:
            return 0
        assert response.status_code == 200, response.text[:200]
        return sum(len(v["features"]) for v in mapbox_vector_tile.decode(response.content).values())

    with serve(backend) as server:
        site = server.url.removesuffix("/ogc")
        assert server.get(items).json()["numberMatched"] == 5
        assert tile_features(server) == 0
        first_export = httpx.get(site + export, timeout=30)
        assert len(first_export.json()["features"]) == 5  # now cached
        assert "167.5" not in csw_wkt()

        _stage(
            backend,
            w,
            [
                {
                    "uid": "loin",
                    "wkt": f"POINT({far[0]} {far[1]})",
                    "properties": {"name": "Loin", "releves": 3},
                }
            ],
            name="Kim",
        )
        outcome = merge.run_merge(backend.engine, w.campaign_id)
        assert outcome.created == 1
        merge.after_merge(backend.engine, backend.settings, w.campaign_id)

        wait_for(lambda: server.get(items).json()["numberMatched"] == 6)
        found = server.get(items, name="Loin").json()["features"]
        assert found[0]["properties"]["contribution_auteur"] == "Kim"
        bbox = server.get(f"/collections/{w.collection_id}").json()["extent"]["spatial"]["bbox"]
        assert bbox[0][2] == pytest.approx(167.5) and bbox[0][3] == pytest.approx(-21.5)
        assert tile_features(server) == 1
        exported = json.loads(httpx.get(site + export, timeout=30).content)
        assert len(exported["features"]) == 6
        assert "167.5" in csw_wkt()


def test_corrections_retirements_and_conflicts(backend: Backend, tmp_path: Path) -> None:
    """Through the real submission path: a correction and a retirement merged into the
    features they target; a correction made on a version that changed is a conflict the
    reviewer sees, and one whose feature changes again after approval goes back to
    review at the merge, leaving the feature alone."""
    from niaouli.catalogue.campaigns import review
    from niaouli.catalogue.campaigns.campaign_tables import Campaign, ReviewEntry
    from niaouli.catalogue.campaigns.contributions import ProposedFeature, geojson_version, submit
    from niaouli.catalogue.campaigns.validation import target_feature
    from niaouli.db.layers import ColumnSpec, FeatureRow, update_features

    w = world(backend, tmp_path)

    def send(volunteer: int, name: str, features: list[ProposedFeature]) -> list[int]:
        with Session(writing(backend.engine)) as session, session.begin():
            campaign = session.get(Campaign, w.campaign_id)
            result = submit(
                session,
                campaign,
                w.volunteer(volunteer),
                features,
                source="form",
                display_name=name,
            )
            assert not result.refused, result.refused
            return [c.id for c in result.accepted]

    with backend.session() as session:
        campaign = session.get(Campaign, w.campaign_id)
        two, three = target_feature(session, campaign, 2), target_feature(session, campaign, 3)
    assert two["properties"]["name"] == "P1"
    moved = {"type": "Point", "coordinates": [166.4412, -22.3005]}
    created, corrected, retired = send(
        0,
        "Jeanne",
        [
            ProposedFeature(
                "c1", {"type": "Point", "coordinates": [166.45, -22.31]}, {"name": "Neuf"}
            ),
            ProposedFeature(
                "u2",
                moved,
                {"name": "P1 corrigé", "releves": 99},
                "update",
                2,
                geojson_version(two),
            ),
            ProposedFeature("r3", None, {}, "retire", 3, geojson_version(three)),
        ],
    )
    (late,) = send(
        1,
        "Kim",
        [
            ProposedFeature(
                "u2b",
                two["geometry"],
                {"name": "P1", "releves": 7},
                "update",
                2,
                geojson_version(two),
            )
        ],
    )
    editor = w.editor()
    with Session(writing(backend.engine)) as session, session.begin():
        campaign = session.get(Campaign, w.campaign_id)
        review.decide(session, editor, campaign, [created, corrected, retired], "approve")

    outcome = merge.run_merge(backend.engine, w.campaign_id)

    assert (outcome.created, outcome.updated, outcome.retired) == (1, 1, 1), outcome
    rows = {r["fid"]: r for r in read_layer(backend, w.table)}
    assert 3 not in rows and len(rows) == 5
    assert rows[2]["name"] == "P1 corrigé" and rows[2]["releves"] == 99
    assert rows[2]["geom"].x == pytest.approx(166.4412)
    assert rows[2]["contribution_auteur"] == "Jeanne"
    assert rows[6]["name"] == "Neuf"
    assert layer_row(backend, w).feature_count == 5

    # Kim corrected the feature as it was before Jeanne's merge: a conflict, both shown.
    with backend.session() as session:
        campaign = session.get(Campaign, w.campaign_id)
        seen = review.compare(session, campaign, session.get(Contribution, late))
    assert seen.conflict and not seen.missing
    assert seen.now["properties"]["name"] == "P1 corrigé"
    with Session(writing(backend.engine)) as session, session.begin():
        campaign = session.get(Campaign, w.campaign_id)
        review.decide(session, editor, campaign, [late], "approve", "vu le conflit, on garde")
    # ... and the feature changes once more before the merge (another campaign, a script).
    with backend.engine.begin() as conn:
        update_features(
            conn,
            w.table,
            [ColumnSpec("name", "name", "string")],
            True,
            [FeatureRow(2, None, {"name": "P1 renommé"})],
        )
    again = merge.run_merge(backend.engine, w.campaign_id)
    assert again.conflicts == [late] and again.merged == 0
    assert read_layer(backend, w.table)[1]["releves"] == 99  # Kim's 7 was not written
    with backend.session() as session:
        assert session.get(Contribution, late).state == ContributionState.RECEIVED
        entry = session.scalars(
            select(ReviewEntry).where(ReviewEntry.contribution_id == late).order_by(ReviewEntry.id)
        ).all()[-1]
    assert entry.action == "conflict" and "changé" in entry.comment
