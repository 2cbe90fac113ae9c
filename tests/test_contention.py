"""Concurrency and database trouble: waits, 409s and 503s, never a 500 (issue 13).

- SQLite: a unit of work that reads then writes takes the write lock first
  (`niaouli.db.engine.writing`), so a concurrent commit makes it wait, not fail with
  "database is locked" (parallel uploads, the accounts command line while an editor
  saves, an ingestion while another connection commits); a lock held past the busy
  timeout is a 503 with Retry-After.
- PostgreSQL: parallel creations with one slug give one 201 and 409s; the ceiling of
  pending reuses per user holds under parallel proposals.
- Connections cut under load (SECURITY-CASES R3): 503 with Retry-After or a transparent
  retry, never a 500, and recovery without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from niaouli.ingest import ingest_file
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from niaouli.accounts import users
from niaouli.cli import main as cli_main
from niaouli.db.engine import STRICT_ENV, make_engine, release_engine, writing
from niaouli.settings import Settings, load_settings
from tests.accounts_support import ORG_A, LoggedServer, build_matrix, email_of, slug_of
from tests.api_support import ApiSite, geojson, start_api_site, write_tokens
from tests.conftest import Backend

# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def api_site(backend: Backend, tmp_path: Path) -> Iterator[ApiSite]:
    with start_api_site(backend, tmp_path) as site:
        yield site


def _retry_after_ok(response: httpx.Response) -> bool:
    return response.status_code != 503 or response.headers.get("retry-after", "").isdigit()


@contextmanager
def interloper(settings: Settings) -> Iterator[list[str]]:
    """After the first read of every transaction on this database, another connection
    commits a write (and the reader waits up to 0.5 s for it): the race that made a
    deferred read-then-write fail with "database is locked", made certain. A writing
    transaction holds the lock, so the interloper waits for it instead. Yields the
    errors the interloper itself met (none expected)."""
    other = make_engine(settings)
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS interloper (n integer)"))
    database = make_url(settings.database_url).database
    mine = threading.local()
    errors: list[str] = []
    threads: list[threading.Thread] = []

    def write(done: threading.Event) -> None:
        mine.active = True
        try:
            with other.begin() as conn:
                conn.execute(text("INSERT INTO interloper (n) VALUES (1)"))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(str(exc))
        finally:
            done.set()

    def on_begin(conn) -> None:  # noqa: ANN001
        conn.info["interloper_fresh"] = True

    def after(conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if getattr(mine, "active", False) or conn.engine.url.database != database:
            return
        if not statement.lstrip().upper().startswith("SELECT"):
            return  # BEGIN itself, PRAGMAs
        if not conn.info.pop("interloper_fresh", False):
            return
        done = threading.Event()
        thread = threading.Thread(target=write, args=(done,))
        threads.append(thread)
        thread.start()
        done.wait(timeout=0.5)

    event.listen(Engine, "begin", on_begin)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield errors
    finally:
        event.remove(Engine, "after_cursor_execute", after)
        event.remove(Engine, "begin", on_begin)
        for thread in threads:
            thread.join(timeout=60)
        other.dispose()


def _parallel(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


# --- SQLite: read-then-write units wait instead of failing -----------------------------


def test_parallel_uploads_to_one_dataset_all_succeed(api_site: ApiSite):
    """Six editors replace the same dataset's data at once: each upload waits its turn
    (SQLite: "database is locked" gave 5 × 500 out of 6; PostgreSQL: the row lock)."""
    slug = slug_of("public")

    def upload(i: int) -> httpx.Response:
        data = geojson([(166.4 + i / 100, -22.2), (166.5, -22.3)], lot=i)
        with api_site.client("editor_a") as http:
            return http.post(
                f"/api/datasets/{slug}/layers",
                files={"file": (f"lot-{i}.geojson", data, "application/geo+json")},
            )

    answers = _parallel(6, upload)
    assert [a.status_code for a in answers] == [200] * 6, [a.text[:200] for a in answers]
    assert "database is locked" not in api_site.server.log()
    with api_site.client("editor_a") as http:
        layers = http.get(f"/api/datasets/{slug}").json()["layers"]
    assert [layer["feature_count"] for layer in layers] == [2]  # one upload won, whole


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_ingestion_waits_for_a_concurrent_commit(backend: Backend, tmp_path: Path):
    """The ingestion reads the dataset then writes: a commit by another connection in
    between (a statistics flush, a form) failed it about once in 150 uploads."""
    with backend.session() as session, session.begin():
        from niaouli.catalogue import service

        service.create_organisation(session, ORG_A, "Province Sud", "province")
    path = tmp_path / "points.geojson"
    path.write_bytes(geojson([(166.4, -22.2)]))
    with interloper(backend.settings) as errors:
        report = ingest_file(
            path,
            organisation=ORG_A,
            dataset="points",
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
    assert report.feature_count == 1 and errors == []
    with backend.engine.connect() as conn:  # the interloper's writes landed too
        assert conn.execute(text("SELECT count(*) FROM interloper")).scalar() >= 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_user_disable_succeeds_while_others_write(backend: Backend, monkeypatch):
    """`niaouli user disable` on a busy site: an operator must be able to lock out a
    compromised account while an editor saves (it failed 6 times out of 6)."""
    with backend.session() as session, session.begin():
        users.create_user(session, email_of("editor_a"), "Éditrice", "mot-de-passe-de-test")
    monkeypatch.delenv(STRICT_ENV)  # SQLite's own behaviour, raced for real
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.setenv("NIAOULI_SPATIALITE_LIBRARY", backend.settings.spatialite_library)
    try:
        with interloper(backend.settings) as errors:
            result = CliRunner().invoke(cli_main, ["user", "disable", email_of("editor_a")])
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert errors == []
        with backend.session() as session:
            assert users.find_user(session, email_of("editor_a")).is_active is False
    finally:
        release_engine(load_settings())  # the command's engine (same environment)


# --- database trouble: 503 with Retry-After, never 500 ----------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_lock_past_the_busy_timeout_is_a_503(backend: Backend, tmp_path: Path):
    """A write lock held longer than the busy timeout (a long ingestion, an operator's
    transaction): writes answer 503 with Retry-After, not 500; reads go on (WAL); once
    the lock is released, writes work again without a restart."""
    build_matrix(backend, tmp_path)
    secrets = write_tokens(backend)
    body = {"organisation": ORG_A, "title": "Pendant le verrou"}
    env = {"NIAOULI_SQLITE_BUSY_TIMEOUT": "0.5"}
    with LoggedServer(backend, tmp_path / "server.log", env) as server:
        headers = {"Authorization": f"Bearer {secrets['editor_a']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            assert http.get("/api/datasets").status_code == 200  # token use recorded
            holder = make_engine(backend.settings)
            with writing(holder).begin() as conn:
                conn.execute(text("UPDATE catalogue_state SET version = version"))
                refused = http.post("/api/datasets", json=body)
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"].isdigit()
                assert refused.json()["code"] == "ServiceUnavailable"
                for url in (
                    "/api/datasets",
                    "/jeux-de-donnees",
                    f"/jeux-de-donnees/{slug_of('public')}",
                ):
                    assert http.get(url).status_code == 200, url
            holder.dispose()
            made = http.post("/api/datasets", json=body)
            assert made.status_code == 201, made.text
