"""Kept versions of replaced layers, at the ingestion level, on both backends (issue 15
§2): `niaouli db cleanup` leaves their tables and files alone, `NIAOULI_KEEP_VERSIONS`
bounds them, and deleting the dataset removes them with it (no table or file left)."""

from __future__ import annotations

import json

from sqlalchemy import select

from niaouli.catalogue import versions
from niaouli.catalogue.lifecycle import cleanup, delete_dataset
from niaouli.catalogue.models import Dataset
from tests.ingest_support import NOTHING, ingest, traces


def _geojson(tmp_path, name: str, count: int):
    path = tmp_path / name
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [166.4 + i / 100, -22.2]},
            "properties": {"nom": f"p{i}"},
        }
        for i in range(count)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _versions(backend) -> list[int]:
    with backend.session() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == "points"))
        return [v.feature_count for v in versions.listed(session, dataset.id)]


def test_versions_bounded_kept_by_cleanup_and_deleted_with_the_dataset(
    backend, org, tmp_path, monkeypatch
):
    monkeypatch.setenv("NIAOULI_KEEP_VERSIONS", "2")
    for count in (1, 2, 3, 4):
        ingest(
            backend,
            _geojson(tmp_path, f"v{count}.geojson", count),
            dataset="points",
            keep_version=True,
        )
    assert _versions(backend) == [3, 2]  # the newest two; the 1-point one is gone
    state = traces(backend)
    stored = sorted(f.rsplit("/", 1)[-1] for f in state["files"] if f.endswith(".geojson"))
    assert len(state["tables"]) == 3 and stored == ["v2.geojson", "v3.geojson", "v4.geojson"]
    report = cleanup(backend.engine, backend.settings, min_age_seconds=0)
    assert report.tables == [] and report.files == []
    assert traces(backend) == state
    # Without keep_version (the harvester, Python callers) nothing is kept.
    ingest(backend, _geojson(tmp_path, "v5.geojson", 5), dataset="points")
    assert _versions(backend) == [3, 2]
    delete_dataset(backend.engine, backend.settings, "points")
    assert traces(backend) == NOTHING
