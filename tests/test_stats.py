"""Usage statistics through a real `niaouli serve`, on both backends (docs/stats.md).

Real HTTP clients against the real ASGI composition: hits on every interface land in
`usage_daily` under the right interface and dataset once flushed, repeats count one
visit, robots are apart, no address or user agent is ever stored, two server processes
add up, and what an anonymous visitor sees never includes a non-public dataset.
"""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import pytest
from sqlalchemy import select, text

from niaouli.accounts import tokens, users
from niaouli.catalogue.models import Dataset, Layer
from niaouli.stats.classify import Hit, classify
from niaouli.stats.table import usage_daily
from niaouli.stats.visitors import Visits, is_robot
from tests.conftest import Backend
from tests.portal_support import PRIVATE, LiveServer, populate, validate_html5

UA = "NiaouliStatsTest/1.0 (qgis-like; +unique-marker-7f3a)"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_STATS_FLUSH_SECONDS", "0.3")
    return populate(backend)


def counts(backend: Backend) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(interface, dataset slug or None) -> (hits, unique visits), summed over days."""
    query = (
        select(
            usage_daily.c.interface,
            Dataset.slug,
            usage_daily.c.hits,
            usage_daily.c.unique_visits,
        )
        .select_from(usage_daily)
        .outerjoin(Dataset, Dataset.id == usage_daily.c.dataset_id)
    )
    found: dict[tuple[str, str | None], tuple[int, int]] = {}
    with backend.engine.connect() as conn:
        for interface, slug, hits, visits in conn.execute(query):
            old = found.get((interface, slug), (0, 0))
            found[(interface, slug)] = (old[0] + hits, old[1] + visits)
    return found


def wait_for(backend: Backend, condition, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = counts(backend)
        if condition(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def collection_of(backend: Backend, slug: str) -> str:
    with backend.session() as session:
        return session.scalar(
            select(Layer.collection_id).join(Dataset).where(Dataset.slug == slug).limit(1)
        )


def test_every_interface_is_counted_under_its_dataset(site, backend):
    collection = collection_of(backend, "communes-nc")
    with (
        LiveServer(backend) as server,
        httpx.Client(base_url=server.url, timeout=60, headers={"User-Agent": UA}) as http,
    ):
        page = http.get("/jeux-de-donnees/communes-nc")
        assert page.status_code == 200
        download = next(
            h for h in page.text.split('"') if "/ressources/" in h and h.endswith(".geojson")
        )
        assert http.get(download).status_code == 200
        export = next(h for h in page.text.split('"') if h.endswith(".gpkg"))
        assert http.get(export).status_code == 200
        assert http.get("/ogc/collections/catalogue/items/communes-nc").status_code == 200
        assert http.get(f"/ogc/collections/{collection}/items", params={"limit": 2}).is_success
        # the tile over Nouméa
        tile = http.get(f"/ogc/collections/{collection}/tiles/WebMercatorQuad/7/72/123")
        assert tile.status_code == 200 and tile.content, tile.status_code
        records = http.get(
            "/csw",
            params={
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecords",
                "typenames": "csw:Record",
                "resulttype": "results",
                "elementsetname": "brief",
            },
        )
        assert records.status_code == 200 and "GetRecordsResponse" in records.text
        by_id = http.get(
            "/csw",
            params={
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": "communes-nc",
            },
        )
        assert by_id.status_code == 200 and "communes-nc" in by_id.text
        assert http.get("/api/datasets/communes-nc").status_code == 200
        assert http.get("/jeux-de-donnees/nexiste-pas").status_code == 404
        for _ in range(20):
            assert http.get("/jeux-de-donnees/population-communes-nc").status_code == 200
        assert http.get("/", headers={"User-Agent": BOT}).status_code == 200
        assert http.head("/").status_code == 200
        expected = {
            ("page", "communes-nc"): (1, 1),
            ("download", "communes-nc"): (1, 1),
            ("ogc_features", "communes-nc"): (1, 1),
            ("export", "communes-nc"): (1, 1),
            ("ogc_records", "communes-nc"): (1, 1),
            ("csw", None): (1, 1),
            ("csw", "communes-nc"): (1, 1),
            ("api", "communes-nc"): (1, 1),
            ("page", "population-communes-nc"): (20, 1),
            ("robots", None): (2, 2),
        }
        found = wait_for(
            backend,
            lambda c: (
                all(c.get(k) == v for k, v in expected.items())
                and ("ogc_tiles", "communes-nc") in c
            ),
        )
    for key, value in expected.items():
        assert found.get(key) == value, (key, found)
    assert found[("ogc_tiles", "communes-nc")] == (1, 1)
    # the 404 is not counted; the bot's "/" is not a page view (the one "/" is the
    # test harness's readiness check, a plain client)
    assert ("page", "nexiste-pas") not in found
    assert found[("page", None)] == (1, 1)


@pytest.fixture
def elsewhere(monkeypatch):
    """Public URLs on another host, so that 127.0.0.1 can only come from the client."""
    monkeypatch.setenv("NIAOULI_PUBLIC_URL", "https://donnees.example.nc")


def test_no_address_or_user_agent_is_stored(elsewhere, site, backend):
    with (
        LiveServer(backend) as server,
        httpx.Client(base_url=server.url, timeout=60, headers={"User-Agent": UA}) as http,
    ):
        for path in ("/", "/jeux-de-donnees/communes-nc", "/organisations", "/api/datasets"):
            assert http.get(path).status_code == 200
        wait_for(backend, lambda c: ("page", "communes-nc") in c and ("api", None) in c)
    dump = database_text(backend)
    assert "communes-nc" in dump  # the dump does see the catalogue
    for secret in ("127.0.0.1", UA, "unique-marker-7f3a", "NiaouliStatsTest"):
        assert secret not in dump, secret


def database_text(backend: Backend) -> str:
    """Every row of every table of the database, as text."""
    with backend.engine.connect() as conn:
        if backend.name == "sqlite":
            tables = conn.scalars(text("SELECT name FROM sqlite_master WHERE type='table'"))
        else:
            tables = conn.scalars(
                text(
                    "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)"
                    " FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                    " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            )
        parts = []
        for table in list(tables):
            for row in conn.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                parts.append(" ".join(str(v) for v in row))
    return "\n".join(parts)


def test_two_servers_add_up(site, backend):
    with LiveServer(backend) as one, LiveServer(backend) as two:
        for server in (one, two):
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for _ in range(3):
                    assert http.get("/jeux-de-donnees/communes-nc").status_code == 200
        found = wait_for(backend, lambda c: c.get(("page", "communes-nc"), (0, 0))[0] >= 6)
    # each process has its own daily secret: the same client counts once per process
    assert found[("page", "communes-nc")] == (6, 2)


def admin_token(backend: Backend) -> str:
    with backend.session() as session, session.begin():
        user = users.create_user(
            session, "stats-admin@example.nc", "Admin", None, is_platform_admin=True
        )
        _token, secret = tokens.create_token(session, user, "lecture", "read")
    return secret


def test_pages_show_only_what_the_viewer_may_see(site, backend, tmp_path):
    token = admin_token(backend)
    secret_page = "/jeux-de-donnees/communes-interne"
    with LiveServer(backend) as server:
        with httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as admin:
            for _ in range(3):
                assert admin.get(secret_page).status_code == 200
            assert admin.get("/api/datasets/communes-brouillon").status_code == 200
        with httpx.Client(base_url=server.url, timeout=60) as anonymous:
            assert anonymous.get(secret_page).status_code == 404
            public_page = anonymous.get("/jeux-de-donnees/communes-nc")
            assert "/statistiques/jeux-de-donnees/communes-nc" in public_page.text
            found = wait_for(
                backend,
                lambda c: (
                    ("page", "communes-interne") in c
                    and ("api", "communes-brouillon") in c
                    and ("page", "communes-nc") in c
                ),
            )
            assert found[("page", "communes-interne")] == (3, 1)  # counted, yet hidden

            moved = anonymous.get("/stats", follow_redirects=True)
            assert moved.url.path == "/statistiques" and moved.history[0].status_code == 301
            page = anonymous.get("/statistiques", params={"jours": 90})
            assert page.status_code == 200
            data = anonymous.get("/statistiques.json").json()
            org_page = anonymous.get("/statistiques/organisations/province-nord")
            assert org_page.status_code == 200
            dataset_page = anonymous.get("/statistiques/jeux-de-donnees/communes-nc")
            assert dataset_page.status_code == 200
            for slug in PRIVATE:
                hidden = anonymous.get(f"/statistiques/jeux-de-donnees/{slug}")
                assert hidden.status_code == 404
            admin_data = httpx.get(
                server.url + "/statistiques.json",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).json()
            # (after the figures above: this page's view counts for the organisation)
            organisation = anonymous.get("/organisations/province-nord").text
            assert "/statistiques/organisations/province-nord" in organisation

    for html in (page.text, org_page.text, json.dumps(data)):
        for slug in PRIVATE:
            assert slug not in html and "Secret" not in html
    # anonymous: 1 visible dataset view + the readiness "/" + the pages asked above
    slugs = [d["slug"] for d in data["jeux_de_donnees"]]
    assert slugs == ["communes-nc"], slugs
    assert data["totaux"]["vues"]["requetes"] < admin_data["totaux"]["vues"]["requetes"]
    assert data["catalogue"]["jeux_de_donnees"] < admin_data["catalogue"]["jeux_de_donnees"]
    north = next(o for o in data["organisations"] if o["slug"] == "province-nord")
    north_admin = next(o for o in admin_data["organisations"] if o["slug"] == "province-nord")
    assert north["vues"]["requetes"] == 0 and north["api"]["requetes"] == 0
    assert north_admin["vues"]["requetes"] >= 3 and north_admin["api"]["requetes"] == 1
    assert {d["slug"] for d in admin_data["jeux_de_donnees"]} >= {*PRIVATE, "communes-nc"}
    # the chart is an accessible image with the same numbers as a table
    assert '<svg class="chart chart-wide"' in page.text and 'role="img"' in page.text
    assert '<svg class="chart chart-narrow"' in page.text  # the phone drawing
    assert "<title id=" in page.text and "<desc id=" in page.text
    assert '<table id="donnees-usage">' in page.text
    assert page.text.count('<tr><th scope="row">') >= 90 // 7
    assert "12 derniers mois" in page.text and "/statistiques.json" in page.text
    errors = validate_html5(
        {"stats": page.text, "org": org_page.text, "dataset": dataset_page.text}, tmp_path
    )
    assert errors == [], errors


def test_visits_are_forgotten_after_the_window_and_each_day():
    clock = [0.0]
    visits = Visits(window=1800, clock=lambda: clock[0])
    day = date(2026, 11, 26)
    assert visits.is_new(day, "10.0.0.1", b"QGIS", "/a?")
    assert not visits.is_new(day, "10.0.0.1", b"QGIS", "/a?")
    assert visits.is_new(day, "10.0.0.2", b"QGIS", "/a?")  # another client
    assert visits.is_new(day, "10.0.0.1", b"GDAL", "/a?")  # another program
    assert visits.is_new(day, "10.0.0.1", b"QGIS", "/a?page=2")  # another URL
    clock[0] = 1799
    assert not visits.is_new(day, "10.0.0.1", b"QGIS", "/a?")
    clock[0] = 1801
    assert visits.is_new(day, "10.0.0.1", b"QGIS", "/a?")
    clock[0] = 4000
    assert visits.is_new(day, "10.0.0.9", b"x", "/b?")
    assert len(visits) == 1  # the old hashes are dropped, not kept
    assert visits.is_new(date(2026, 11, 27), "10.0.0.9", b"x", "/b?")  # new day, new key
    assert all(b"10.0.0" not in key for key in visits._seen)


def test_paths_are_classified_by_interface():
    assert classify("GET", "/jeux-de-donnees/a", b"") == Hit("page", "dataset", "a")
    assert classify("GET", "/jeux-de-donnees/a/ressources/3/f.csv", b"").interface == "download"
    assert classify("GET", "/jeux-de-donnees/a/couches/l/l.gpkg", b"").interface == "export"
    assert classify("GET", "/jeux-de-donnees/a/couches/l/apercu.geojson", b"") is None
    assert classify("GET", "/static/niaouli.css", b"") is None
    assert classify("POST", "/connexion", b"") is None
    assert classify("GET", "/ogc/collections/c/items/4", b"") == Hit(
        "ogc_features", "collection", "c"
    )
    assert classify("GET", "/ogc/collections/c/tiles/W/1/2/3", b"").interface == "ogc_tiles"
    assert classify("GET", "/ogc/collections/catalogue/items/a", b"") == Hit(
        "ogc_records", "dataset", "a"
    )
    assert classify("GET", "/ogc/conformance", b"") == Hit("ogc")
    assert classify("POST", "/csw", b"") == Hit("csw")
    assert classify("GET", "/csw", b"REQUEST=GetRecordById&ID=a") == Hit("csw", "csw", "a")
    assert classify("PUT", "/api/datasets/a/resources", b"") == Hit("api", "dataset", "a")
    assert classify("GET", "/organisations/o", b"") == Hit("page", "organisation", "o")
    assert classify("GET", "/sitemap.xml", b"") == Hit("feed")
    assert is_robot("GET", b"Mozilla/5.0 (compatible; bingbot/2.0)")
    assert is_robot("HEAD", b"Mozilla/5.0")
    assert not is_robot("GET", b"QGIS/33400/Ubuntu") and not is_robot("GET", b"python-httpx/0.28")


def test_event_participants_and_periods(backend):
    from starlette.testclient import TestClient

    from niaouli.portal.app import create_app

    populate(backend)
    backend.run(
        "event", "add", "atelier-stats", "Atelier", "--kind", "gathering", "--starts",
        "2026-10-01 08:30",
    )  # fmt: skip
    backend.run("event", "participants", "atelier-stats", "42")
    refused = backend.run("event", "participants", "inconnu", "3", check=False)
    assert refused.returncode != 0 and "aucun événement" in refused.stderr
    with TestClient(create_app(backend.settings)) as http:
        data = http.get("/statistiques.json").json()
        assert data["catalogue"]["evenements"] >= 1
        assert data["catalogue"]["participants"] == 42
        assert "42" in http.get("/statistiques").text
        weekly = http.get("/statistiques.json", params={"jours": 365}).json()
        assert weekly["periode"]["pas"] == "semaine" and len(weekly["series"]) == 53
        daily = http.get("/statistiques.json", params={"jours": 90, "pas": "jour"}).json()
        assert (
            len(daily["series"]) == 90 and daily["periode"]["fin"] == daily["series"][-1]["debut"]
        )
        odd = http.get("/statistiques.json", params={"jours": "1e9", "pas": "<x>"}).json()
        assert odd["periode"]["jours"] == 30 and len(odd["series"]) == 30
