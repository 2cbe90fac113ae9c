"""Scale-out (issue 17 §7): stateless app processes, a real streaming replica, PgBouncer.

- Two `niaouli serve` on one PostGIS database and one data directory: a dataset published
  through the API of one is at once on the other's portal, search, OGC API and CSW, and a
  browser session opened on one is valid on the other.
- A real streaming replica (`tests/scale_support.StreamingPair`: a primary made with
  initdb in a temporary directory, its replica with `pg_basebackup -R`) behind
  `NIAOULI_DATABASE_READ_URL`: anonymous reads (OGC API items and tiles, search, CSW) are
  served by the replica, writes land on the primary, and with the replica's replay paused
  the publishing editor (token, or the `niaouli_lsn` cookie of its write) still reads
  what it published while anonymous readers see the replica's older state until replay
  resumes.
- PgBouncer in transaction pooling mode: publish, read items (past psycopg's prepare
  threshold), tiles, search and CSW through it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from lxml import etree

from niaouli import health
from niaouli.db import schema
from niaouli.db.engine import make_engine
from niaouli.settings import Settings
from tests.accounts_support import LoggedServer, build_matrix, email_of, sign_in
from tests.api_support import write_tokens
from tests.conftest import GEODATA, Backend, fresh_backend
from tests.csw_support import NS, csw_ready, wait_for
from tests.scale_support import PgBouncer, StreamingPair

COMMUNES = (GEODATA / "nc_communes.geojson").read_bytes()


def publish(http: httpx.Client, title: str) -> str:
    """Create, fill and publish a dataset through the writing API; its slug."""
    created = http.post(
        "/api/datasets",
        json={
            "organisation": "province-sud",
            "title": title,
            "description": "Publié pour l'essai de montée en charge",
            "keywords": ["montée en charge"],
        },
    )
    assert created.status_code == 201, created.text
    slug = created.json()["slug"]
    loaded = http.post(
        f"/api/datasets/{slug}/layers",
        files={"file": ("communes.geojson", COMMUNES, "application/geo+json")},
    )
    assert loaded.status_code == 200, loaded.text
    published = http.post(f"/api/datasets/{slug}/publish", json={})
    assert published.status_code == 200, published.text
    return slug


def sees(http: httpx.Client, slug: str, words: str) -> dict[str, bool]:
    """Whether each read-only interface shows the dataset `slug` to this client."""
    items = http.get(f"/ogc/collections/{slug}/items", params={"limit": 2})
    if items.status_code == 200:
        assert items.json()["numberMatched"] == 33
    else:
        assert items.status_code == 404, items.text
    tile = http.get(f"/ogc/collections/{slug}/tiles/WebMercatorQuad/7/125/72")
    assert tile.status_code in (200, 204, 404), tile.text
    search = http.get("/recherche", params={"q": words})
    assert search.status_code == 200
    record = http.get(
        "/csw",
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": slug,
            "elementsetname": "brief",
        },
    )
    assert record.status_code == 200, record.text
    found = [e.text for e in etree.fromstring(record.content).iterfind(".//dc:identifier", NS)]
    return {
        "items": items.status_code == 200,
        "tiles": tile.status_code != 404,
        "search": f"/jeux-de-donnees/{slug}" in search.text,
        "csw": slug in found,
    }


ALL = {"items": True, "tiles": True, "search": True, "csw": True}
NONE = {"items": False, "tiles": False, "search": False, "csw": False}


def read(base: str, path: str) -> tuple[int, list]:
    """Status and feature ids of one OGC API read, on a connection of its own."""
    answer = httpx.get(base + path, timeout=120)
    if answer.status_code != 200:
        return answer.status_code, [answer.text[:300]]
    body = answer.json()
    return 200, [f["id"] for f in body.get("features", [body])]


def client(url: str, token: str | None = None, **kwargs: object) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=120, **kwargs)


# --- two app processes -----------------------------------------------------------------


def test_two_servers_serve_one_catalogue(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_backend(request, "postgis", tmp_path) as backend:
        build_matrix(backend, tmp_path)
        secrets = write_tokens(backend)
        with (
            LoggedServer(backend, tmp_path / "a.log") as first,
            LoggedServer(backend, tmp_path / "b.log") as second,
        ):
            assert wait_for(lambda: csw_ready(first.url) and csw_ready(second.url), 60)
            with client(second.url) as anonymous:
                # Built (collection list, search cache) before the publication.
                assert (
                    sees(anonymous, "province-sud--echelle-deux-serveurs", "deux serveurs") == NONE
                )
            with client(first.url, secrets["editor_a"]) as editor:
                slug = publish(editor, "Échelle deux serveurs")
            with client(second.url) as anonymous:
                assert sees(anonymous, slug, "deux serveurs") == ALL
                page = anonymous.get(f"/jeux-de-donnees/{slug}")
                assert page.status_code == 200 and "Échelle deux serveurs" in page.text
            # A browser session opened on one server is valid on the other (one secret
            # key for the data directory, sessions in the database).
            with client(first.url) as browser:
                assert sign_in(browser, email_of("editor_a")).status_code in (200, 303)
                account = client(second.url, cookies=browser.cookies)
                with account:
                    answer = account.get("/compte", follow_redirects=False)
                    assert answer.status_code == 200 and "Nom editor_a" in answer.text


# --- a streaming replica ---------------------------------------------------------------


Replicated = tuple[StreamingPair, Backend, dict[str, str]]


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    """The pair, the site on its primary (the accounts matrix) and the API tokens."""
    with StreamingPair() as pair:
        folder = tmp_path_factory.mktemp("replica-site")
        settings = Settings(
            data_dir=folder / "data",
            database_url=pair.primary_url,
            spatialite_library="mod_spatialite",
        )
        settings.data_dir.mkdir()
        engine = make_engine(settings)
        schema.upgrade(engine)
        try:
            backend = Backend("postgis", settings, engine)
            build_matrix(backend, folder)
            yield pair, backend, write_tokens(backend)
        finally:
            engine.dispose()


def application_names(pair: StreamingPair, port: int) -> set[str]:
    rows = pair.query(
        port,
        "SELECT DISTINCT application_name FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        pair.database,
    )
    return {name for (name,) in rows if name}


def test_read_replica(replicated: Replicated, tmp_path: Path):
    pair, backend, secrets = replicated
    env = {"NIAOULI_DATABASE_READ_URL": pair.replica_url}
    with LoggedServer(backend, tmp_path / "server.log", env) as server:
        assert wait_for(lambda: csw_ready(server.url), 60)
        pair.wait_caught_up()
        words = "échelle réplique"
        slug = "province-sud--echelle-replique"
        with client(server.url) as anonymous:
            assert sees(anonymous, slug, words) == NONE
        # Anonymous reads went to the replica, through the app's reader and pycsw's.
        on_replica = application_names(pair, pair.replica_port)
        assert {"niaouli-replica", "niaouli-csw-replica"} <= on_replica, on_replica
        # Writes never: nothing but the readers ever connected there.
        assert on_replica <= {"niaouli-replica", "niaouli-csw-replica"}, on_replica

        pair.query(pair.replica_port, "SELECT pg_wal_replay_pause()")
        try:
            with client(server.url, secrets["editor_a"]) as editor:
                slug = publish(editor, "Échelle réplique")
                lsn = editor.cookies.get("niaouli_lsn")
                assert lsn, "a write gives its writer the niaouli_lsn cookie"
                # The writes are on the primary (the replica, read-only, refused none:
                # every answer above was a success).
                rows = pair.query(
                    pair.primary_port, "SELECT access_level FROM datasets WHERE slug = %s", slug
                )
                assert rows == [("public",)]
                assert pair.query(
                    pair.replica_port, "SELECT count(*) FROM datasets WHERE slug = %s", slug
                ) == [(0,)]
                # Read-your-writes: the editor's client, with its write's cookie...
                assert sees(editor, slug, words) == ALL
            # ... and any other request signed in as the editor (its token, no cookie).
            with client(server.url, secrets["editor_a"]) as elsewhere:
                assert sees(elsewhere, slug, words) == ALL
            # The same browser signed out: its write's cookie sends it to the primary.
            with client(server.url, cookies={"niaouli_lsn": lsn}) as writer:
                assert sees(writer, slug, words) == ALL
            # Everyone else reads the replica, paused before the publication.
            with client(server.url) as anonymous:
                assert sees(anonymous, slug, words) == NONE
        finally:
            pair.query(pair.replica_port, "SELECT pg_wal_replay_resume()")
        pair.wait_caught_up()
        with client(server.url) as anonymous:
            assert sees(anonymous, slug, words) == ALL
        with client(server.url, cookies={"niaouli_lsn": lsn}) as writer:
            answer = writer.get("/ogc/collections")
            assert answer.status_code == 200
            # Replayed: the cookie is dropped, the next requests read the replica.
            assert "niaouli_lsn=;" in answer.headers.get("set-cookie", "")
        assert application_names(pair, pair.replica_port) <= {
            "niaouli-replica",
            "niaouli-csw-replica",
        }


def metric(base: str, name: str) -> float | None:
    """One unlabelled value of the server's `/metrics` (all its processes)."""
    for line in httpx.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def csw_post(http: httpx.Client, slug: str) -> list[str]:
    """The identifiers a POSTed GetRecords finds for the dataset's title words."""
    body = (
        '<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2"'
        ' xmlns:ogc="http://www.opengis.net/ogc" service="CSW" version="2.0.2"'
        ' resultType="results"><csw:Query typeNames="csw:Record">'
        '<csw:ElementSetName>brief</csw:ElementSetName><csw:Constraint version="1.1.0">'
        "<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>dc:identifier</ogc:PropertyName>"
        f"<ogc:Literal>{slug}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
        "</csw:Constraint></csw:Query></csw:GetRecords>"
    )
    answer = http.post("/csw", content=body, headers={"Content-Type": "application/xml"})
    assert answer.status_code == 200, answer.text
    return [e.text for e in etree.fromstring(answer.content).iterfind(".//dc:identifier", NS)]


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    replicated: Replicated, tmp_path: Path
):
    pair, backend, secrets = replicated
    env = {"NIAOULI_DATABASE_READ_URL": pair.replica_url, "NIAOULI_DATABASE_READ_RETRY": "2"}
    readers = {"niaouli-replica", "niaouli-csw-replica"}
    with LoggedServer(backend, tmp_path / "server.log", env) as server:
        assert wait_for(lambda: csw_ready(server.url), 60)
        with client(server.url) as anonymous:
            assert anonymous.get("/ogc/collections").status_code == 200
        assert "niaouli-replica" in application_names(pair, pair.replica_port)
        ready = httpx.get(server.url + "/readyz", timeout=30).json()
        assert ready["checks"]["replica"]["status"] == "ok", ready

        pair.stop_replica()
        try:
            # Published while the replica is down: only the primary has it, so the
            # anonymous readers who see it were answered by the primary.
            with client(server.url, secrets["editor_a"]) as editor:
                slug = publish(editor, "Échelle repli")
            with client(server.url) as anonymous:
                for _ in range(2):
                    assert sees(anonymous, slug, "échelle repli") == ALL
                assert csw_post(anonymous, slug) == [slug]
            # A run of its own, not the result cached before the stop (a fast server
            # got here within health.CACHE_SECONDS).
            time.sleep(health.CACHE_SECONDS + 0.2)
            ready_down = httpx.get(server.url + "/readyz", timeout=30)
            # Not ready-failing: the primary carries the reads; the replica is named.
            assert ready_down.status_code == 200, ready_down.text
            body = ready_down.json()
            assert (body["status"], body.get("degraded")) == ("ok", ["replica"]), body
            assert body["checks"]["replica"]["status"] == "fail"
            assert body["checks"]["replica"]["critical"] is False
            assert metric(server.url, "niaouli_replica_up") == 0
            assert metric(server.url, "niaouli_replica_outages_total") == 1
            assert (metric(server.url, "niaouli_replica_fallbacks_total") or 0) >= 9
            warned = [x for x in server.log().splitlines() if "read replica unreachable" in x]
            assert len(warned) == 1, warned  # once for the outage, not per request
        finally:
            pair.start_replica()
        pair.wait_caught_up()

        def back_on_replica() -> bool:
            with client(server.url) as anonymous:
                assert sees(anonymous, slug, "échelle repli") == ALL
            # The replica restarted empty of connections: its readers are back.
            return readers <= application_names(pair, pair.replica_port)

        assert wait_for(back_on_replica, 30), application_names(pair, pair.replica_port)
        assert application_names(pair, pair.replica_port) <= readers
        assert metric(server.url, "niaouli_replica_up") == 1
        assert "read replica answers again" in server.log()
        assert "Traceback" not in server.log(), server.log()[-3000:]


# --- PgBouncer -------------------------------------------------------------------------


def test_pgbouncer_transaction_pooling(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_backend(request, "postgis", tmp_path) as backend:
        build_matrix(backend, tmp_path)
        secrets = write_tokens(backend)
        with PgBouncer(backend.settings.database_url) as bouncer:
            # Why the setting exists: psycopg's automatic prepared statements (after 5
            # runs of one statement) break when the next transaction lands on another
            # server connection.
            env = {
                "NIAOULI_DATABASE_URL": bouncer.url,
                "NIAOULI_DATABASE_TRANSACTION_POOLING": "on",
            }
            with LoggedServer(backend, tmp_path / "server.log", env) as server:
                assert wait_for(lambda: csw_ready(server.url), 60)
                with client(server.url, secrets["editor_a"]) as editor:
                    slug = publish(editor, "Échelle pgbouncer")
                with client(server.url) as anonymous:
                    assert sees(anonymous, slug, "échelle pgbouncer") == ALL
                # Concurrent readers: several app connections share pgbouncer's two server
                # connections, each statement run far past psycopg's prepare threshold.
                urls = [
                    f"/ogc/collections/{slug}/items?limit=3&offset={offset}"
                    for offset in range(0, 33, 3)
                ] * 4
                with ThreadPoolExecutor(8) as pool:
                    answers = list(pool.map(lambda url: read(server.url, url), urls))
                assert [status for status, _ in answers] == [200] * len(urls), answers[:3]
                features = [fid for _, body in answers for fid in body]
                assert len(set(features)) == 33
                with ThreadPoolExecutor(8) as pool:
                    one = list(
                        pool.map(
                            lambda fid: read(server.url, f"/ogc/collections/{slug}/items/{fid}"),
                            features,
                        )
                    )
                assert [status for status, _ in one] == [200] * len(features), one[:3]
                with client(server.url) as anonymous:
                    assert sees(anonymous, slug, "échelle pgbouncer") == ALL
                assert "Traceback" not in server.log(), server.log()[-3000:]
