"""Scheduled harvests: due sources, the worker command, one run at a time per source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from niaouli.ingest.harvest.harvest_tables import HarvestJob, JobStatus
from niaouli.ingest.harvest.runner import HarvestBusyError, run_source
from niaouli.ingest.harvest.scheduler import due_sources, run_due
from niaouli.ingest.harvest.service import add_source
from tests.harvest_support import FakeCsw, FakeRemote, harvest, real_iso_records


@pytest.fixture
def remote():
    fake = FakeRemote(FakeCsw(real_iso_records()))
    yield fake
    fake.close()


def test_due_sources_follow_their_schedule(backend, org, remote):
    with backend.session() as session, session.begin():
        for slug, schedule in (("horaire", "hourly"), ("quotidien", "daily"), ("manuel", None)):
            add_source(
                session,
                org,
                "csw",
                remote.url + f"/{slug}",
                slug=slug,
                schedule=schedule,
                allow_private_network=True,
            )
    with backend.session() as session:
        assert due_sources(session) == ["horaire", "quotidien"]  # never run yet
    lines = run_due(backend.engine, backend.settings, echo=lambda _l: None)
    assert len(lines) == 2 and all("moisson réussie" in line for line in lines), lines
    with backend.session() as session:
        assert due_sources(session) == []
        two_hours_later = datetime.now(UTC) + timedelta(hours=2)
        assert due_sources(session, two_hours_later) == ["horaire"]
        assert due_sources(session, two_hours_later + timedelta(days=1)) == [
            "horaire",
            "quotidien",
        ]
    # The `quotidien` records are those of `horaire`'s remote: the second source failed
    # them (never overwrites), which is reported, not hidden.
    assert "3 en échec" in lines[1]


def test_the_worker_command_runs_due_sources_once(backend, org, remote):
    backend.run(
        "harvest",
        "add",
        org,
        "csw",
        remote.url + "/csw",
        "--slug",
        "planifiee",
        "--schedule",
        "weekly",
        "--allow-private-network",
    )
    result = backend.run("harvest", "worker", "--once")
    assert "moisson réussie (planifiee) : 3 créé(s)" in result.stdout
    again = backend.run("harvest", "worker", "--once")
    assert again.stdout.strip() == ""  # not due any more


def test_a_source_is_never_harvested_twice_at_once(backend, org, remote):
    with backend.session() as session, session.begin():
        add_source(session, org, "csw", remote.url, slug="csw", allow_private_network=True)
    harvest(backend, "csw")
    with backend.session() as session, session.begin():
        source_id = session.scalar(select(HarvestJob.source_id))
        session.add(HarvestJob(source_id=source_id, status=JobStatus.RUNNING, dry_run=False))
    with pytest.raises(HarvestBusyError, match="déjà en cours"):
        run_source("csw", engine=backend.engine, settings=backend.settings)
    # A running row from a killed process (older than 6 hours) does not block for ever.
    with backend.session() as session, session.begin():
        session.execute(
            update(HarvestJob)
            .where(HarvestJob.status == JobStatus.RUNNING)
            .values(started_at=datetime.now(UTC) - timedelta(hours=7))
        )
    report = harvest(backend, "csw")
    assert report.status == JobStatus.SUCCESS
    with backend.session() as session:
        statuses = [j.status for j in session.scalars(select(HarvestJob).order_by(HarvestJob.id))]
        assert statuses == [JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.SUCCESS]
