"""Large uploads ingested as background jobs (ingest/upload_jobs.py, docs/jobs.md).

Through a real `niaouli serve` on loopback, on both backends (inline thread on SQLite;
on PostGIS, with no worker running, the test starts a real `niaouli worker`): an
upload above `NIAOULI_UPLOAD_JOB_THRESHOLD_MB` (0 here: every one) answers 202 with
`GET /api/jobs/{id}`, which only the submitter, the organisation's editors and admins
and the platform admins may read; the job ends with the ingestion report and links, or
with the error in the uploader's language. On PostGIS a worker killed with `kill -9` in
the middle of an ingestion published nothing, and the job runs again to success.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from niaouli import storage
from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.models import Dataset, Organisation
from niaouli.ingest import upload_jobs
from niaouli.jobs import queue
from niaouli.jobs.records import JobRecord
from tests.accounts_support import ORG_A, VIEWERS, slug_of
from tests.api_support import ApiSite, start_api_site
from tests.conftest import GEODATA, Backend, fresh_backend
from tests.jobs_support import Worker, wait_for

SLUG = slug_of("public")
WORKER_ENV = {"NIAOULI_JOBS_STALLED_AFTER": "6"}
ROWS = 150_000  # a few seconds of ingestion: long enough to be killed in the middle


@pytest.fixture
def site(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIAOULI_UPLOAD_JOB_THRESHOLD_MB", "0")
    with start_api_site(backend, tmp_path) as made:
        if backend.settings.job_queue:
            with Worker(backend, tmp_path / "worker.log", **WORKER_ENV):
                yield made
        else:
            yield made
    queue.close_apps()


def _follow(http: httpx.Client, url: str) -> dict:
    return wait_for(
        lambda: (job := http.get(url).json())["state"] in ("succeeded", "failed") and job,
        seconds=90,
        what=f"the job {url}",
    )


def test_a_large_upload_is_a_job_its_submitter_and_editors_follow(site: ApiSite) -> None:
    data = (GEODATA / "nc_communes.geojson").read_bytes()
    with site.client("editor_a") as http:
        sent = http.post(
            f"/api/datasets/{SLUG}/layers",
            files={"file": ("nc_communes.geojson", data, "application/geo+json")},
        )
        assert sent.status_code == 202, sent.text
        body = sent.json()
        url = body["status_url"]
        assert sent.headers["location"] == url and url.startswith(site.url + "/api/jobs/")
        assert sent.headers["retry-after"] == "2" and body["retry_after"] == 2
        assert body["job"]["state"] in ("queued", "running", "succeeded")
        assert body["job"]["dataset"] == SLUG
        job = _follow(http, url)
        # The columns change: as in a request, nothing is written without confirmation.
        assert job["state"] == "failed" and job["error"]["code"] == "ReplaceChanges", job
        assert job["error"]["details"]["removed_columns"] == ["nom"]
        confirmed = http.post(
            f"/api/datasets/{SLUG}/layers?confirm=true",
            files={"file": ("nc_communes.geojson", data, "application/geo+json")},
        )
        assert confirmed.status_code == 202, confirmed.text
        url = confirmed.json()["status_url"]
        job = _follow(http, url)
        assert job["state"] == "succeeded", job["error"]
        assert (
            job["result"]["feature_count"] == 33 and job["result"]["file"] == "nc_communes.geojson"
        )
        assert any(link["href"].endswith(f"/jeux-de-donnees/{SLUG}") for link in job["links"])
        layers = http.get(f"/api/datasets/{SLUG}").json()["layers"]
        assert [layer["feature_count"] for layer in layers] == [33]

        spoilt = http.post(
            f"/api/datasets/{SLUG}/layers?lang=en",
            files={"file": ("cassé.geojson", b'{"type": "FeatureCollection", "features": [', "")},
        )
        assert spoilt.status_code == 202, spoilt.text
        failed = _follow(http, spoilt.json()["status_url"])
        assert failed["state"] == "failed" and failed["error"]["code"] == "IngestFailed"
        # Named, and in English, as the upload asked (`?lang=en`).
        assert failed["error"]["message"].startswith("file “casse.geojson”: unreadable file")
    # Still the 33 communes: a failed job changed nothing.
    with site.client("editor_a") as http:
        assert http.get(f"/api/datasets/{SLUG}").json()["layers"][0]["feature_count"] == 33

    if not site.backend.settings.job_queue:
        _inline_jobs_of_a_dead_server(site, int(url.rsplit("/", 1)[1]))

    readers = {}
    for viewer in VIEWERS:
        with site.client(viewer) as http:
            readers[viewer] = http.get(url).status_code
    assert readers == {
        "anonymous": 401,
        "user": 404,
        "member_b": 404,
        "member_a": 404,  # a member who may not edit sees no one's uploads
        "editor_a": 200,
        "admin_a": 200,
        "platform_admin": 200,
    }
    with site.client("editor_a") as http:
        assert http.get("/api/jobs/999999").status_code == 404
        spec = http.get("/api/openapi.json").json()
    assert "/api/jobs/{job_id}" in spec["paths"]
    accepted = spec["paths"]["/api/datasets/{slug}/layers"]["post"]["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"]["$ref"].endswith("/JobAccepted")


def _inline_jobs_of_a_dead_server(site: ApiSite, done_id: int) -> None:
    """Inline, a job dies with its server: a `running` record whose liveness marker
    nobody holds reads as failed; one the server left queued or running runs again
    when `niaouli serve` starts (`resume_abandoned`, the `abandoned` hook)."""
    backend = site.backend
    with backend.session() as session:
        done = session.get(JobRecord, done_id)
        org, user = done.organisation_id, done.submitter_id
    stored = storage.store_file(
        GEODATA / "nc_communes.geojson", backend.settings, "communes.geojson"
    )
    params = {"key": stored.key, "filename": stored.filename, "confirm": True}
    ids = []
    with backend.engine.begin() as conn:
        for state in ("running", "queued"):
            ids.append(
                conn.execute(
                    text(
                        "INSERT INTO job_records (kind, state, organisation_id, submitter_id,"
                        " dataset_slug, params, created_at) VALUES ('ingest-upload', :state,"
                        " :org, :user, :slug, :params, :at) RETURNING id"
                    ),
                    {
                        "state": state,
                        "org": org,
                        "user": user,
                        "slug": SLUG,
                        "params": json.dumps(params if state == "queued" else {}),
                        "at": datetime.now(UTC),
                    },
                ).scalar_one()
            )
    dead, left = ids
    with site.client("editor_a") as http:
        read = http.get(f"/api/jobs/{dead}").json()
        assert (read["state"], read["error"]["code"]) == ("failed", "Interrupted"), read
        assert upload_jobs.resume_abandoned(backend.settings) == 1  # the queued one
        resumed = _follow(http, f"/api/jobs/{left}")
    assert resumed["state"] == "succeeded", resumed["error"]
    assert storage.stat(backend.settings, stored.key, stored.filename) is None


# --- PostGIS: a worker killed in the middle of an ingestion ------------------------------


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_backend(request, "postgis", tmp_path) as made:
        yield made
    queue.close_apps()


def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,nom,longitude,latitude\n")
        for i in range(rows):
            out.write(
                f"{i},point {i},{164 + (i % 1000) / 1000:.4f},{-22 + (i // 1000) / 1000:.4f}\n"
            )
    return path


def test_a_worker_killed_mid_ingestion_publishes_nothing_and_the_job_runs_again(
    pg: Backend, tmp_path: Path
) -> None:
    with pg.session() as session, session.begin():
        organisation = service.create_organisation(session, ORG_A, "Province Sud", "province")
        editor = users.create_user(session, "editrice@exemple.nc", "Éditrice", None)
        users.set_membership(session, organisation, editor, "editor")
        session.flush()
        editor_id = editor.id
    source = _big_csv(tmp_path / "points.csv", ROWS)
    stored = storage.store_file(source, pg.settings, "points.csv")
    with Session(pg.engine, expire_on_commit=False) as session, session.begin():
        org_id = session.scalar(select(Organisation.id).where(Organisation.slug == ORG_A))
        record = JobRecord(
            kind=upload_jobs.INGEST_UPLOAD,
            organisation_id=org_id,
            dataset_slug="points",
            submitter_id=editor_id,
            params={"key": stored.key, "filename": stored.filename, "language": "fr"},
        )
        session.add(record)
    upload_jobs.submit(pg.settings, record)

    def state() -> str:
        with pg.engine.connect() as conn:
            return conn.scalar(
                text("SELECT state FROM job_records WHERE id = :id"), {"id": record.id}
            )

    with Worker(pg, tmp_path / "first.log", **WORKER_ENV) as first:
        wait_for(lambda: state() == "running", what="the ingestion started\n" + first.output())
        first.kill()
    assert state() == "running"
    with pg.session() as session:  # nothing half-published
        assert session.scalar(select(Dataset).where(Dataset.slug == "points")) is None
    with Worker(pg, tmp_path / "second.log", **WORKER_ENV) as second:
        wait_for(
            lambda: state() in ("succeeded", "failed"),
            what="the ingestion run again\n" + second.output(),
        )
    with pg.session() as session:
        done = session.get(JobRecord, record.id)
        assert done.state == "succeeded", (done.error, second.output())
        assert done.result["feature_count"] == ROWS
        dataset = session.scalar(select(Dataset).where(Dataset.slug == "points"))
        assert dataset is not None and [layer.feature_count for layer in dataset.layers] == [ROWS]
    with pg.engine.connect() as conn:
        attempts = conn.scalar(
            text("SELECT attempts FROM procrastinate_jobs WHERE task_name = 'ingest-upload'")
        )
    assert attempts == 2  # the killed run, and the one run again that succeeded
    assert storage.stat(pg.settings, stored.key, stored.filename) is None  # upload removed
    assert json.dumps(done.result)  # the report is plain JSON
