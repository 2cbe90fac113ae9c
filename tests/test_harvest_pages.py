"""Harvest pages of an organisation and `niaouli harvest edit|remove`, on a live server.

Who sees the pages (the organisation's members and platform admins; 404 for everyone
else: source addresses can be internal), who may start a run or a dry run (its editors
and admins; 403 for members, 404 for the others, and nothing is run), the job history
after a run, CSRF, escaping of what a remote wrote, valid HTML5.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.changes import read_version
from niaouli.catalogue.models import Dataset
from niaouli.ingest.harvest import runner
from niaouli.ingest.harvest.harvest_tables import (
    HarvestedRecord,
    HarvestJob,
    HarvestJobItem,
    HarvestSource,
)
from tests.accounts_support import (
    ORG_A,
    ORG_B,
    PASSWORD,
    ROLES,
    VIEWERS,
    LoggedServer,
    csrf_of,
    email_of,
    sign_in,
)
from tests.conftest import Backend
from tests.harvest_support import (
    FakeCsw,
    FakeRemote,
    add_source_for,
    harvest,
    harvested,
    real_iso_records,
)
from tests.jobs_support import Worker
from tests.portal_support import validate_html5

SEERS = {"member_a", "editor_a", "admin_a", "platform_admin"}
RUNNERS = {"editor_a", "admin_a", "platform_admin"}
HOSTILE = '<script>alert("moisson")</script>'


def _people(backend: Backend) -> None:
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG_A, "Province Sud", "province")
        service.create_organisation(session, ORG_B, "Province des Îles", "province")
        for viewer in VIEWERS[1:]:
            user = users.create_user(
                session,
                email_of(viewer),
                f"Nom {viewer}",
                PASSWORD,
                is_platform_admin=viewer == "platform_admin",
            )
            if viewer in ROLES:
                org_slug, role = ROLES[viewer]
                users.set_membership(
                    session, service.get_organisation(session, org_slug), user, role
                )


def _jobs(backend: Backend) -> list[HarvestJob]:
    with backend.session() as session:
        return list(session.scalars(select(HarvestJob).order_by(HarvestJob.id)).all())


@contextmanager
def _client(url: str, viewer: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        if viewer != "anonymous":
            assert sign_in(http, email_of(viewer)).status_code == 303
        yield http


def _wait_for(predicate, seconds: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_pages_history_matrix_and_runs(backend: Backend, tmp_path: Path) -> None:
    _people(backend)
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        add_source_for(backend, ORG_A, remote.url + "/csw", "sud-csw", "csw")
        with backend.session() as session, session.begin():
            source = session.scalar(select(HarvestSource).where(HarvestSource.slug == "sud-csw"))
            source.name = f"Géorep {HOSTILE}"
            source_id = source.id
        first = harvest(backend, "sud-csw")
        assert first.counts["created"] == 3
        # What a remote can write into a report: its identifiers and failure reasons.
        with backend.session() as session, session.begin():
            session.add(
                HarvestJobItem(
                    job_id=first.job_id,
                    remote_id=f"id-{HOSTILE}",
                    action="failed",
                    reason=f"titre illisible {HOSTILE}",
                )
            )
            session.add_all(
                HarvestJobItem(job_id=first.job_id, remote_id=f"fiche-{n:02d}", action="unchanged")
                for n in range(22)
            )
        base = f"/organisations/{ORG_A}/moissonnage"
        source_page = f"{base}/{source_id}"
        job_page = f"{source_page}/taches/{first.job_id}"
        extra = {"NIAOULI_HARVEST_SCHEDULER": "0"}
        # PostGIS: the server queues the runs, a `niaouli worker` runs them (docs/jobs.md);
        # SQLite: the server runs them in its own threads.
        worker = Worker(backend, tmp_path / "worker.log") if backend.name == "postgis" else None
        with (
            LoggedServer(backend, tmp_path / "serve.log", extra) as server,
            worker or contextlib.nullcontext(),
        ):
            seen: dict[str, str] = {}
            for viewer in VIEWERS:
                with _client(server.url, viewer) as http:
                    org_page = http.get(f"/organisations/{ORG_A}").text
                    assert (f'href="{base}"' in org_page) == (viewer in SEERS), viewer
                    for path in (base, source_page, job_page):
                        page = http.get(path)
                        expected = 200 if viewer in SEERS else 404
                        assert page.status_code == expected, (viewer, path, page.status_code)
                        assert remote.url not in page.text or viewer in SEERS
                        if viewer in SEERS:
                            seen[path] = page.text
                            assert HOSTILE not in page.text, (viewer, path)
                    source_html = http.get(source_page).text
                    assert ('/lancer">' in source_html) == (viewer in RUNNERS), viewer
                    assert ('/essai">' in source_html) == (viewer in RUNNERS), viewer
                    # Starting a run: refused before anything starts for who may not.
                    if viewer not in RUNNERS:
                        token = csrf_of(http.get("/connexion").text)
                        for action in ("lancer", "essai"):
                            refused = http.post(f"{source_page}/{action}", data={"csrf": token})
                            wanted = 403 if viewer in SEERS else 404
                            assert refused.status_code == wanted, (viewer, refused.status_code)
            time.sleep(1)
            assert len(_jobs(backend)) == 1, "a refused request started a harvest"

            # History, addresses and counts on the pages; hostile text escaped.
            assert remote.url + "/csw" in seen[base]
            assert "Géorep &lt;script&gt;alert(&#34;moisson&#34;)&lt;/script&gt;" in seen[base]
            assert "réussie" in seen[source_page]
            assert f"n° {first.job_id}" in seen[source_page]
            assert "titre illisible &lt;script&gt;" in seen[job_page]
            assert "id-&lt;script&gt;" in seen[job_page]
            assert "955c3e47-411e-4969-b61b-3556d1b9f879" in seen[job_page]

            # 26 records: 20 on the first page, 6 on the second.
            assert "Page 1 sur 2" in seen[job_page] and "fiche-15" in seen[job_page]
            assert "fiche-16" not in seen[job_page]
            with _client(server.url, "member_a") as http:
                second_page = http.get(job_page, params={"page": 2}).text
            assert "Page 2 sur 2" in second_page and "fiche-21" in second_page
            assert "fiche-15" not in second_page

            with _client(server.url, "editor_a") as http:
                # No CSRF token: 403, nothing run.
                assert http.post(f"{source_page}/lancer", data={}).status_code == 403
                assert http.post(f"{source_page}/lancer", data={"csrf": "faux"}).status_code == 403
                assert len(_jobs(backend)) == 1
                token = csrf_of(http.get(source_page).text)
                started = http.post(f"{source_page}/lancer", data={"csrf": token})
                assert started.status_code == 303
                assert started.headers["location"] == f"{source_page}?etat=lancee"

                def second_done() -> bool:
                    jobs = _jobs(backend)
                    return len(jobs) == 2 and jobs[1].finished_at is not None

                _wait_for(second_done)
                second = _jobs(backend)[1]
                assert (second.status, second.unchanged, second.dry_run) == ("success", 3, False)
                # PostGIS: run by the worker from the queue, not by the server's threads.
                assert (second.queue_job_id is not None) == (backend.name == "postgis")
                history = http.get(source_page).text
                assert f"n° {second.id}" in history and f"n° {first.job_id}" in history

            with _client(server.url, "admin_a") as http:
                token = csrf_of(http.get(source_page).text)
                before = snapshot_datasets(backend)
                answer = http.post(f"{source_page}/essai", data={"csrf": token})
                assert answer.status_code == 303
                # Wait for the dry run to end, not merely to exist (it starts "running").
                dry = _wait_for(
                    lambda: [j for j in _jobs(backend) if j.dry_run and j.finished_at is not None]
                )[0]
                assert dry.unchanged == 3
                assert snapshot_datasets(backend) == before
                history = http.get(source_page).text
                assert "<td>oui</td>" in history and "<td>non</td>" in history
                dry_page = http.get(f"{source_page}/taches/{dry.id}")
                assert dry_page.status_code == 200 and "(essai à blanc)" in dry_page.text
                # A job of another source (or an unknown one) is not found under this one.
                assert http.get(f"{source_page}/taches/999999").status_code == 404
                assert http.get(f"{base}/999999").status_code == 404
                assert (
                    http.get(f"/organisations/{ORG_B}/moissonnage/{source_id}").status_code == 404
                )
                seen["dry"] = dry_page.text
                seen["org"] = http.get(f"/organisations/{ORG_A}").text
        errors = validate_html5(seen, tmp_path)
        assert errors == [], errors
    finally:
        remote.close()


def snapshot_datasets(backend: Backend) -> list[tuple]:
    with backend.session() as session:
        return session.execute(
            select(Dataset.slug, Dataset.title, Dataset.updated_at).order_by(Dataset.slug)
        ).all()


def _count(backend: Backend, model: type) -> int:
    with backend.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_cli_edit_and_remove(backend: Backend, org: str) -> None:
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        add_source_for(backend, org, remote.url + "/csw", "premiere", "csw")
        add_source_for(backend, org, remote.url + "/csw2", "seconde", "csw")
        assert harvest(backend, "premiere").counts["created"] == 3
    finally:
        remote.close()
    backend.run("harvest", "edit", "premiere", "--schedule", "daily", "--name", "Géorep")
    backend.run("harvest", "edit", "premiere", "--option", "max_records=5", "--option", "a=b")
    backend.run("harvest", "edit", "premiere", "--option", "a=")
    with backend.session() as session:
        source = session.scalar(select(HarvestSource).where(HarvestSource.slug == "premiere"))
        assert (source.name, source.schedule, source.options) == (
            "Géorep",
            "daily",
            {"max_records": "5"},
        )
    backend.run("harvest", "edit", "premiere", "--schedule", "manual")
    with backend.session() as session:
        assert (
            session.scalar(select(HarvestSource.schedule).where(HarvestSource.slug == "premiere"))
            is None
        )
    assert backend.run("harvest", "edit", "premiere", check=False).returncode == 1
    unknown = backend.run("harvest", "edit", "inconnue", "--name", "x", check=False)
    assert unknown.returncode == 1 and "inconnue" in unknown.stderr

    slugs = sorted(d.slug for d in harvested(backend).values())
    assert len(slugs) == 3
    version = read_version(backend.engine)
    # --keep-datasets on a source without records, then the real removal.
    kept = backend.run("harvest", "remove", "seconde", "--keep-datasets")
    assert "source supprimée : seconde" in kept.stdout
    assert _count(backend, HarvestSource) == 1
    removed = backend.run("harvest", "remove", "premiere")
    for slug in slugs:
        assert f"supprimé : {slug}" in removed.stdout
    assert _count(backend, HarvestSource) == 0
    assert _count(backend, HarvestJob) == 0
    assert _count(backend, HarvestedRecord) == 0
    assert _count(backend, Dataset) == 0
    assert read_version(backend.engine) > version  # OGC, CSW and portal follow
    assert backend.run("harvest", "remove", "premiere", check=False).returncode == 1


def test_cli_remove_keep_datasets(backend: Backend, org: str) -> None:
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        add_source_for(backend, org, remote.url + "/csw", "gardee", "csw")
        assert harvest(backend, "gardee").counts["created"] == 3
    finally:
        remote.close()
    backend.run("harvest", "remove", "gardee", "--keep-datasets")
    assert _count(backend, HarvestSource) == 0
    assert _count(backend, HarvestedRecord) == 0
    assert _count(backend, Dataset) == 3


def test_another_organisations_source_is_not_named(backend: Backend, tmp_path: Path) -> None:
    """A record another organisation's source already harvests fails without naming that
    source (its members may not learn what another organisation harvests, nor from
    where); within one organisation the source is named. Reports written before (the name
    stored) are reworded on the page for whoever is not a member of the source's
    organisation; platform admins still read the name."""
    _people(backend)
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        for org, slug in ((ORG_A, "sud-csw"), (ORG_B, "iles-csw"), (ORG_A, "sud-csw-bis")):
            add_source_for(backend, org, remote.url + "/csw", slug, "csw")
        assert harvest(backend, "sud-csw").counts["created"] == 3
        other_org = harvest(backend, "iles-csw")
        same_org = harvest(backend, "sud-csw-bis")
        assert other_org.counts["failed"] == same_org.counts["failed"] == 3
        assert {item.reason for item in other_org.items} == {runner.OTHER_ORGANISATION}
        assert {item.reason for item in same_org.items} == {
            runner.OTHER_SOURCE % {"source": "sud-csw"}
        }
        # A report stored before the rewording: it names organisation A's source.
        with backend.session() as session, session.begin():
            session.add(
                HarvestJobItem(
                    job_id=other_org.job_id,
                    remote_id="fiche-ancienne",
                    action="failed",
                    reason=runner.OTHER_SOURCE % {"source": "sud-csw"},
                )
            )
            iles = session.scalar(select(HarvestSource).where(HarvestSource.slug == "iles-csw"))
            iles_id = iles.id
        job_page = f"/organisations/{ORG_B}/moissonnage/{iles_id}/taches/{other_org.job_id}"
        extra = {"NIAOULI_HARVEST_SCHEDULER": "0"}
        # PostGIS: the server queues the runs, a `niaouli worker` runs them (docs/jobs.md);
        # SQLite: the server runs them in its own threads.
        worker = Worker(backend, tmp_path / "worker.log") if backend.name == "postgis" else None
        with (
            LoggedServer(backend, tmp_path / "serve.log", extra) as server,
            worker or contextlib.nullcontext(),
        ):
            with _client(server.url, "member_b") as http:
                page = http.get(job_page)
                english = http.get(job_page, params={"lang": "en"})
            with _client(server.url, "platform_admin") as http:
                admin_page = http.get(job_page)
        assert page.status_code == english.status_code == admin_page.status_code == 200
        assert "sud-csw" not in page.text and "sud-csw" not in english.text
        assert page.text.count("par une source d&#39;une autre organisation") == 4
        assert english.text.count("by a source of another organisation") == 4
        assert "depuis la source « sud-csw »" in admin_page.text
    finally:
        remote.close()
