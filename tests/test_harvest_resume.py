"""Resumable harvests (issue 20 §2) and batched writes that lose no good record.

A CSW harvest is cut midway — the fake remote goes down (both backends), or the
`niaouli harvest run` process is killed with SIGKILL (embedded database: its liveness
marker tells the next run it is dead) — and the next run resumes at the page where the
cut job stopped: the pages already written are not fetched again, no record is
duplicated or lost, and the report says it resumed. A record that breaks its batch's
CSW records (its identifier is already published by another dataset) fails alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import event, func, select

from niaouli.catalogue import service
from niaouli.catalogue.csw_table import csw_records
from niaouli.catalogue.models import Dataset
from niaouli.ingest.harvest import apply as apply_module
from niaouli.ingest.harvest import harvest_tables as hm
from niaouli.ingest.harvest.harvest_tables import ItemAction, JobStatus
from niaouli.ingest.harvest.launch import resolve_abandoned
from tests.harvest_support import (
    FakeCsw,
    FakeRemote,
    Reply,
    add_source_for,
    harvest,
    iso_variant,
    real_iso_records,
)

PAGE = 2  # records a GetRecords page
RECORDS = 20


@pytest.fixture
def pool() -> list[str]:
    template = real_iso_records()[2]
    return [
        iso_variant(template, f"nc-reprise-{n:02d}", f"Relevé n° {n} de la reprise")
        for n in range(1, RECORDS + 1)
    ]


def _starts(remote: FakeRemote) -> list[int]:
    return [int(q["startPosition"]) for _p, q in remote.requests if "startPosition" in q]


def _counts(backend) -> tuple[int, int, int]:
    """(datasets, harvested records, CSW records): equal when nothing is duplicated."""
    with backend.engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(Dataset)),
            conn.scalar(select(func.count()).select_from(hm.HarvestedRecord)),
            conn.scalar(select(func.count()).select_from(csw_records)),
        )


def test_a_harvest_cut_by_the_remote_resumes_where_it_stopped(backend, org, pool):
    remote = FakeRemote(FakeCsw(pool))
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "reprise", "csw", page_size="2")
        remote.inject("500", lambda _p, q: int(q.get("startPosition", 0)) >= 11)  # page 6 on
        cut = harvest(backend, slug)
        assert cut.status == JobStatus.PARTIAL and cut.counts["created"] == 10
        assert _counts(backend) == (10, 10, 10)
        with backend.session() as session:
            job = session.get(hm.HarvestJob, cut.job_id)
            assert job.resume_state["cursor"] == {"start": 11, "read": 10}
            assert len(job.items) == 10  # the report lines were stored with each page

        remote.clear()
        resumed = harvest(backend, slug)
        assert resumed.resumed_from == cut.job_id
        assert _starts(remote) == [11, 13, 15, 17, 19]  # pages 1 to 5 not fetched again
        assert resumed.status == JobStatus.SUCCESS, resumed.message
        assert "reprise de la moisson n°" in resumed.message
        assert resumed.counts["created"] == 10 and resumed.counts["deleted"] == 0
        assert resumed.counts["failed"] == 0 and resumed.counts["unchanged"] == 0
        assert _counts(backend) == (20, 20, 20)
        with backend.session() as session:
            job = session.get(hm.HarvestJob, resumed.job_id)
            assert job.resumed_from == cut.job_id and job.resume_state is None

        # The next run lists everything again (the last job succeeded); a record gone
        # from the remote meanwhile is deleted, nothing else moves.
        pool.pop(3)
        remote.clear()
        full = harvest(backend, slug)
        assert full.resumed_from is None and _starts(remote)[0] == 1
        assert full.counts == {
            "created": 0,
            "updated": 0,
            "unchanged": 19,
            "deleted": 1,
            "failed": 0,
        }
        assert _counts(backend) == (19, 19, 19)
    finally:
        remote.close()


def test_a_bad_record_in_a_batch_fails_alone(backend, org, pool):
    """A record whose identifier our CSW already publishes for another dataset breaks
    the batch's CSW records: the batch is written again record by record."""
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        service.create_dataset(
            session,
            organisation,
            "deja-publiee",
            "Déjà publiée",
            original_metadata=pool[4],
        )
    remote = FakeRemote(FakeCsw(pool[:6]))
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "lot", "csw", page_size="6")
        report = harvest(backend, slug)
        failed = [i for i in report.items if i.action == ItemAction.FAILED]
        assert [i.remote_id for i in failed] == ["nc-reprise-05"]
        assert report.counts["created"] == 5
        assert _counts(backend) == (6, 5, 6)
    finally:
        remote.close()


@contextlib.contextmanager
def _failing(monkeypatch, in_python: str, at_flush: str):
    """New datasets whose title holds `in_python` fail while they are written (the
    personal-data scan raises), those whose title holds `at_flush` when inserted."""

    def scan(dataset):
        if in_python in (dataset.title or ""):
            raise ValueError("analyse impossible")
        return []

    def insert(_mapper, _connection, dataset):
        if at_flush in (dataset.title or ""):
            raise ValueError("insertion refusée")

    monkeypatch.setattr(apply_module, "scan_metadata", scan)
    event.listen(Dataset, "before_insert", insert)
    try:
        yield
    finally:
        event.remove(Dataset, "before_insert", insert)


def test_new_records_written_per_batch_fail_alone(backend, org, pool, monkeypatch):
    """New datasets are added without a flush each and inserted with their batch: one
    that fails as it is written, or when its batch is inserted, fails alone (the batch
    is written again record by record), and so does one whose insertion fails just
    before an update in the same batch (the update's savepoint flushes it)."""
    remote = FakeRemote(FakeCsw(pool[:6]))
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "lots", "csw", page_size="3")
        with _failing(monkeypatch, "n° 2 ", "n° 5 "):
            report = harvest(backend, slug)
        failed = [i.remote_id for i in report.items if i.action == ItemAction.FAILED]
        assert failed == ["nc-reprise-02", "nc-reprise-05"]
        assert report.counts["created"] == 4
        assert _counts(backend) == (4, 4, 4)
        with backend.session() as session:
            job = session.get(hm.HarvestJob, report.job_id)
            assert len(job.items) == 6

        # A page with a new record, then an update (record 1 changed), then record 2.
        changed = pool[0].replace("Relevé n° 1 de", "Relevé n° 1 revu de")
        remote.handler.records = [pool[6], changed, pool[1], pool[2], pool[3], pool[5]]
        with _failing(monkeypatch, "jamais", "n° 7 "):
            again = harvest(backend, slug)
        by_id = {i.remote_id: i.action for i in again.items}
        assert by_id == {
            "nc-reprise-07": ItemAction.FAILED,
            "nc-reprise-01": ItemAction.UPDATED,
            "nc-reprise-02": ItemAction.CREATED,  # failed last time
            "nc-reprise-03": ItemAction.UNCHANGED,
            "nc-reprise-04": ItemAction.UNCHANGED,
            "nc-reprise-06": ItemAction.UNCHANGED,
        }
        assert _counts(backend) == (5, 5, 5)

        # Without a failure the same page writes the new record and the update.
        remote.handler.records = [pool[6], pool[0], pool[1], pool[2], pool[3], pool[5]]
        last = harvest(backend, slug)
        assert last.counts["created"] == 1 and last.counts["updated"] == 1
        assert last.counts["failed"] == 0 and last.counts["unchanged"] == 4
        assert _counts(backend) == (6, 6, 6)
    finally:
        remote.close()


def test_records_sharing_a_title_get_slugs_of_their_own(backend, org, pool):
    """Slugs chosen in a batch (none flushed yet) and in the batches before it (read
    once with every slug of the catalogue) are not given twice."""
    with backend.session() as session, session.begin():
        organisation = service.get_organisation(session, org)
        service.create_dataset(session, organisation, "releve-commun", "Relevé commun")
    same = [
        record.replace(f"Relevé n° {n + 1} de la reprise", "Relevé commun")
        for n, record in enumerate(pool[:7])
    ]
    remote = FakeRemote(FakeCsw(same))
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "titres", "csw", page_size="2")
        report = harvest(backend, slug)
        assert report.counts["created"] == 7, report.items
        hashed = [
            "releve-commun-" + hashlib.sha256(f"nc-reprise-{n:02d}".encode()).hexdigest()[:8]
            for n in (5, 6, 7)
        ]
        numbered = [f"releve-commun-{n}" for n in (2, 3, 4, 5)]
        assert [i.target for i in report.items] == numbered + hashed
        assert _counts(backend) == (8, 7, 8)
    finally:
        remote.close()


class _Hanging(FakeCsw):
    """The CSW answers the first pages, then hangs until released (a remote that stalls
    while the harvest is killed)."""

    def __init__(self, records: list[str], hang_from: int) -> None:
        super().__init__(records)
        self.hang_from = hang_from
        self.released = threading.Event()

    def __call__(self, path: str, query: dict[str, str]) -> Reply:
        if int(query.get("startPosition", 0)) >= self.hang_from:
            self.released.wait(60)
        return super().__call__(path, query)


def test_a_killed_harvest_resumes_at_the_next_run(backend, org, pool):
    if backend.name != "sqlite":
        pytest.skip("the liveness markers that tell a killed run are the embedded database's")
    handler = _Hanging(pool, hang_from=11)
    remote = FakeRemote(handler)
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "tuee", "csw", page_size="2")
        process = subprocess.Popen(
            [*_niaouli(backend), "harvest", "run", slug, "--progress", "none"],
            env=backend.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_cursor(backend, read=10)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
        handler.released.set()
        with backend.session() as session:
            killed = session.scalar(select(hm.HarvestJob))
            assert killed.status == JobStatus.RUNNING  # what a killed process leaves
        assert _counts(backend) == (10, 10, 10)

        # What `niaouli harvest run` does first (in this process: one start-up less).
        assert resolve_abandoned(backend.settings) == 1
        remote.clear()
        report = harvest(backend, slug)
        assert "moisson réussie (tuee) : 10 créé(s)" in report.summary()
        assert f"reprise de la moisson n° {killed.id}" in report.summary()
        assert min(_starts(remote)) == 11  # pages 1 to 5 are not fetched again
        assert _counts(backend) == (20, 20, 20)
        with backend.session() as session:
            jobs = session.scalars(select(hm.HarvestJob).order_by(hm.HarvestJob.id)).all()
            assert [j.status for j in jobs] == [JobStatus.FAILED, JobStatus.SUCCESS]
            assert jobs[1].resumed_from == jobs[0].id
    finally:
        handler.released.set()
        remote.close()


def _niaouli(backend) -> list[str]:
    from tests.conftest import NIAOULI

    return [str(NIAOULI) if NIAOULI.exists() else "niaouli"]


def _wait_for_cursor(backend, read: int, timeout: float = 120) -> None:
    """Until the running job has committed `read` records with its cursor."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with backend.session() as session:
            state = session.scalar(select(hm.HarvestJob.resume_state))
        if isinstance(state, dict) and state.get("read") == read:
            return
        time.sleep(0.2)
    raise AssertionError("the harvest never reached its cursor")


def test_records_mapped_in_a_process_of_their_own(backend, org, pool, monkeypatch, tmp_path):
    """A large catalogue's records are mapped in a mapping process while this one writes
    (here from the first record): the same datasets and CSW records, then unchanged.
    The process is started without running this one's main script again (the `niaouli`
    command's imports: seconds of CPU): here a script that leaves a mark if it runs."""
    if backend.name != "sqlite":
        pytest.skip("the mapping process is the same on both backends")
    import sys
    import types

    from niaouli.ingest.harvest.sources import csw

    monkeypatch.setattr(csw, "MAP_APART_FROM", 1)
    mark = tmp_path / "main-ran"
    script = tmp_path / "main_script.py"
    script.write_text(f"open({str(mark)!r}, 'w').close()\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    remote = FakeRemote(FakeCsw(pool))
    try:
        slug = add_source_for(backend, org, remote.url + "/csw", "apart", "csw", page_size="5")
        report = harvest(backend, slug)
        assert report.counts["created"] == RECORDS, report.message
        assert _counts(backend) == (RECORDS, RECORDS, RECORDS)
        with backend.engine.connect() as conn:
            titles = set(conn.scalars(select(csw_records.c.title)))
        assert "Relevé n° 7 de la reprise" in titles
        again = harvest(backend, slug)
        assert again.counts["unchanged"] == RECORDS
        assert not mark.exists()
    finally:
        remote.close()
