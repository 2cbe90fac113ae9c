"""The writing API through a real `niaouli serve` (httpx), on both backends.

OpenAPI document valid and complete; dataset life cycle (create, edit, upload a file
and data, publish, delete); uploads streamed with a size limit and a checksum; a bad
file refused in French with the previous data intact; replace and append; JSON errors;
session calls need the CSRF header; no e-mail address in lists except for admins.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

import httpx
import pyogrio
import pytest
from openapi_spec_validator import validate

from tests.accounts_support import PASSWORD, csrf_of, sign_in, slug_of
from tests.api_support import ApiSite, geojson, snapshot, start_api_site
from tests.conftest import GEODATA

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture
def small_uploads(monkeypatch):
    """This test's server takes files up to 64 KiB."""
    monkeypatch.setenv("NIAOULI_MAX_UPLOAD_BYTES", str(64 * 1024))


@pytest.fixture
def api_site(backend, tmp_path):
    with start_api_site(backend, tmp_path) as site:
        yield site


def test_openapi_document_is_valid_and_lists_every_route(api_site: ApiSite):
    with api_site.client("anonymous") as http:
        document = http.get("/api/openapi.json").json()
        validate(document)
        paths = document["paths"]
        assert {
            "/api/organisations",
            "/api/organisations/{slug}",
            "/api/datasets",
            "/api/datasets/{slug}",
            "/api/datasets/{slug}/publish",
            "/api/datasets/{slug}/resources",
            "/api/datasets/{slug}/layers",
            "/api/code",
            "/api/reuses",
            "/api/events",
        } <= set(paths)
        # Every documented route exists: an anonymous call never gets "unknown address".
        for path, methods in paths.items():
            concrete = path.replace("{slug}", "absent").replace("{resource_id}", "1")
            for method in methods:
                answer = http.request(method.upper(), concrete)
                assert answer.status_code in (200, 401, 404), (method, path, answer.text)
                assert "adresse inconnue" not in answer.text, (method, path)
        assert http.get("/api/nulle-part").json()["code"] == "NotFound"
        docs = http.get("/api/docs")
        assert docs.status_code == 200 and "<script>" not in docs.text
        for asset in re.findall(r'(?:src|href)="(/api/static/[^"]+)"', docs.text):
            assert http.get(asset).status_code == 200, asset


def test_dataset_life_cycle_upload_publish(api_site: ApiSite):
    backend = api_site.backend
    with api_site.client("editor_a") as http, api_site.client("anonymous") as anonymous:
        created = http.post(
            "/api/datasets",
            json={
                "organisation": "province-sud",
                "title": "Communes de test",
                "description": "Les communes",
                "themes": ["Régions et villes"],  # an EU data theme (issue 15 §6)
                "keywords": ["communes"],
            },
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        assert (
            slug == "province-sud--communes-de-test" and created.json()["access_level"] == "draft"
        )
        assert anonymous.get(f"/api/datasets/{slug}").status_code == 404  # a draft
        again = {"organisation": "province-sud", "title": "Communes de test", "slug": slug}
        assert http.post("/api/datasets", json=again).status_code == 409

        edited = http.patch(f"/api/datasets/{slug}", json={"licence": "ODbL"})
        # a known spelling, stored under the licence's one name (issue 15 §6)
        assert edited.status_code == 200
        assert edited.json()["licence"] == "Open Database License (ODbL) 1.0"
        bad = http.patch(f"/api/datasets/{slug}", json={"access_level": "secret"})
        assert bad.status_code == 422 and bad.json()["code"] == "InvalidValue"
        assert "access_level" in bad.json()["description"]
        garbled = http.patch(
            f"/api/datasets/{slug}", content=b"{", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 400 and garbled.json()["code"] == "InvalidJson"

        data = (GEODATA / "nc_communes.geojson").read_bytes()
        loaded = http.post(
            f"/api/datasets/{slug}/layers",
            files={"file": ("nc_communes.geojson", data, "application/geo+json")},
        )
        assert loaded.status_code == 200, loaded.text
        body = loaded.json()
        assert body["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert body["feature_count"] == 33 and body["layers"][0]["collection_id"] == slug

        attachment = b"%PDF-1.4 notice\n" * 100
        added = http.post(
            f"/api/datasets/{slug}/resources",
            files={"file": ("Notice de lecture.pdf", attachment, "application/pdf")},
            data={"title": "Notice"},
        )
        assert added.status_code == 201, added.text
        assert added.json()["checksum"] == "sha256:" + hashlib.sha256(attachment).hexdigest()
        assert added.json()["size"] == len(attachment)
        link = http.post(
            f"/api/datasets/{slug}/resources",
            json={"title": "Site", "url": "https://example.nc/communes"},
        )
        assert link.status_code == 201 and link.json()["kind"] == "link"
        trap = {"title": "x", "url": "javascript:alert(1)"}
        assert http.post(f"/api/datasets/{slug}/resources", json=trap).status_code == 422

        published = http.post(f"/api/datasets/{slug}/publish", json={})
        assert published.status_code == 200, published.text
        assert published.json()["access_level"] == "public"
        assert published.json()["published_by"] == "Nom editor_a"
        seen = anonymous.get(f"/api/datasets/{slug}")
        assert seen.status_code == 200 and len(seen.json()["resources"]) == 3
        listed = anonymous.get("/api/datasets", params={"q": "communes de test"}).json()
        assert slug in [d["slug"] for d in listed["items"]]
        # The file is downloadable with the same bytes, the layer is in /ogc.
        resource = next(r for r in seen.json()["resources"] if r["title"] == "Notice")
        page = anonymous.get(f"/jeux-de-donnees/{slug}")
        assert page.status_code == 200 and "Notice" in page.text
        items = anonymous.get(f"/ogc/collections/{slug}/items", params={"limit": 1})
        assert items.status_code == 200 and items.json()["numberMatched"] == 33

        download = anonymous.get(
            f"/jeux-de-donnees/{slug}/ressources/{resource['id']}/{resource['filename']}"
        )
        assert download.status_code == 200 and download.content == attachment
        assert hashlib.sha256(download.content).hexdigest() == resource["checksum"][7:]
        # An HTML upload is kept as a file, never served as a page (S19).
        trap = http.post(
            f"/api/datasets/{slug}/resources",
            files={"file": ("page.html", b"<script>alert(1)</script>", "text/html")},
        ).json()
        served = anonymous.get(
            f"/jeux-de-donnees/{slug}/ressources/{trap['id']}/{trap['filename']}"
        )
        assert served.headers["content-disposition"].startswith("attachment")
        assert "text/html" not in served.headers["content-type"]
        assert served.headers["x-content-type-options"] == "nosniff"
        source = next(r for r in seen.json()["resources"] if r["role"] == "source")
        assert source["checksum"] == body["checksum"]
        removed = http.delete(f"/api/datasets/{slug}/resources/{resource['id']}")
        assert removed.status_code == 200
        deleted = http.delete(f"/api/datasets/{slug}")
        assert deleted.status_code == 200
        assert anonymous.get(f"/api/datasets/{slug}").status_code == 404
    stored = [p for p in backend.settings.files_dir.rglob("*") if p.is_file()]
    assert not [p for p in stored if "otice" in p.name or "nc_communes" in p.name]
    actions = [a for a, _, s in _audit(backend) if s == slug]
    assert actions == [
        "dataset.create",
        "dataset.update",
        "layer.replace",
        "resource.create",
        "resource.create",
        "dataset.publish",
        "resource.create",
        "resource.delete",
        "dataset.delete",
    ]


def _audit(backend):
    from tests.accounts_support import audit_actions

    return audit_actions(backend)


def test_upload_limit_bad_file_replace_and_append(small_uploads, api_site: ApiSite, gdal_client):
    backend = api_site.backend
    slug = slug_of("public")
    url = f"{api_site.url}/ogc/collections/{api_site.matrix.collections['public']}/items"
    with api_site.client("editor_a") as http:
        # Over the limit (64 KiB in this server): 413 before anything is stored.
        before = snapshot(backend)
        big = b'{"type":"FeatureCollection","features":[' + b" " * 200_000 + b"]}"
        refused = http.post(f"/api/datasets/{slug}/layers", files={"file": ("gros.geojson", big)})
        assert refused.status_code == 413 and refused.json()["code"] == "PayloadTooLarge"
        refused = http.post(f"/api/datasets/{slug}/resources", files={"file": ("gros.bin", big)})
        assert refused.status_code == 413
        # Without Content-Length (chunked): cut off while streaming, same answer.
        boundary = "limite-niaouli"

        def chunks():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                'filename="flux.geojson"\r\n\r\n'
            ).encode()
            for _ in range(40):
                yield b" " * 8192
            yield f"\r\n--{boundary}--\r\n".encode()

        try:
            streamed = http.post(
                f"/api/datasets/{slug}/layers",
                content=chunks(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            assert streamed.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection before the client finished sending
        assert snapshot(backend) == before
        assert not list((backend.settings.data_dir / "incoming").glob("*/*"))

        # A broken file: 422 in French, the previous layer served as before.
        broken = http.post(
            f"/api/datasets/{slug}/layers",
            files={"file": ("casse.geojson", b'{"type": "FeatureCollection", "features": [')},
        )
        assert broken.status_code == 422 and broken.json()["code"] == "IngestFailed"
        assert "casse.geojson" in broken.json()["description"]
        assert snapshot(backend) == before
        assert httpx.get(url).json()["numberMatched"] == 7

        # Append: same columns -> old rows kept, new rows added, one swap.
        added = http.post(
            f"/api/datasets/{slug}/layers",
            params={"mode": "append"},
            files={"file": ("ajout.geojson", geojson([(166.5, -22.3), (166.6, -22.4)]))},
        )
        assert added.status_code == 200, added.text
        assert added.json()["feature_count"] == 9
        assert _matched(url) == 9
        features = httpx.get(url, params={"limit": 100}).json()["features"]
        names = sorted(f["properties"]["nom"] for f in features)
        assert names == sorted([f"point {i}" for i in range(7)] + ["ajout 0", "ajout 1"])
        assert len({f["id"] for f in features}) == 9
        frame = pyogrio.read_dataframe(f"OAPIF:{api_site.url}/ogc", layer=slug)
        assert len(frame) == 9  # GDAL sees the appended layer too

        # Append with other columns: refused, nothing changed.
        before = snapshot(backend)
        other = http.post(
            f"/api/datasets/{slug}/layers",
            params={"mode": "append"},
            files={"file": ("autre.geojson", geojson([(166.5, -22.3)], rang=3))},
        )
        assert other.status_code == 422 and "rang" in other.json()["description"]
        assert snapshot(backend) == before

        # Replace: the new rows only.
        replaced = http.post(
            f"/api/datasets/{slug}/layers",
            params={"confirm": "true"},  # 1 row instead of 9: the API asks first
            files={"file": ("nouveau.geojson", geojson([(166.45, -22.27)]))},
        )
        assert replaced.status_code == 200 and replaced.json()["feature_count"] == 1
        assert _matched(url) == 1
        unknown_mode = http.post(
            f"/api/datasets/{slug}/layers",
            params={"mode": "fusion"},
            files={"file": ("x.geojson", b"{}")},
        )
        assert unknown_mode.status_code == 400


def test_old_data_served_while_a_replace_runs(api_site: ApiSite):
    """Every /ogc answer that completes before the swap commits shows the old 7 points."""
    import threading
    from datetime import UTC, datetime

    from sqlalchemy import text

    slug = slug_of("public")
    url = f"{api_site.url}/ogc/collections/{api_site.matrix.collections['public']}/items"
    points = [(166.0 + (i % 500) / 1000, -22.0 - (i // 500) / 1000) for i in range(60_000)]
    data = geojson(points)
    seen: list[tuple[float, int, int | None]] = []
    done = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=60) as http:
            while not done.is_set():
                answer = http.get(url, params={"limit": 1})
                matched = answer.json().get("numberMatched") if answer.status_code == 200 else None
                seen.append((time.time(), answer.status_code, matched))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with api_site.client("editor_a") as http:
            answer = http.post(
                f"/api/datasets/{slug}/layers", files={"file": ("grand.geojson", data)}
            )
    finally:
        done.set()
        watcher.join()
    assert answer.status_code == 200 and answer.json()["feature_count"] == 60_000
    with api_site.backend.engine.connect() as conn:
        swapped = conn.execute(
            text("SELECT updated_at FROM datasets WHERE slug = :s"), {"s": slug}
        ).scalar()
    if isinstance(swapped, str):
        swapped = datetime.fromisoformat(swapped)
    if swapped.tzinfo is None:
        swapped = swapped.replace(tzinfo=UTC)
    before = [(status, n) for at, status, n in seen if at < swapped.timestamp() - 0.05]
    assert len(before) >= 3, seen[:5]  # the watcher did see the ingestion running
    assert set(before) == {(200, 7)}, before[:10]


def test_cleanup_removes_interrupted_uploads(backend):
    from niaouli.catalogue.lifecycle import cleanup

    incoming = backend.settings.data_dir / "incoming"
    old, fresh = incoming / "a", incoming / "b"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "partiel.geojson").write_bytes(b"{")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    report = cleanup(backend.engine, backend.settings, min_age_seconds=3600)
    assert report.uploads == ["a"] and not old.exists() and fresh.exists()


def _matched(url: str) -> int | None:
    """numberMatched right now: /ogc must follow a swap at once (it retries a request
    that failed on a just-replaced table from the new configuration, services/ogc)."""
    answer = httpx.get(url)
    assert answer.status_code == 200, answer.text
    return answer.json()["numberMatched"]


def test_session_calls_need_the_csrf_header_and_emails_stay_private(api_site: ApiSite):
    with httpx.Client(base_url=api_site.url, timeout=60, follow_redirects=True) as browser:
        assert sign_in(browser, "editor-a@exemple.nc", PASSWORD).status_code == 200
        body = {"organisation": "province-sud", "title": "Par le navigateur"}
        before = snapshot(api_site.backend)
        refused = browser.post("/api/datasets", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "CsrfTokenInvalid"
        assert snapshot(api_site.backend) == before
        token = csrf_of(browser.get("/connexion").text)
        made = browser.post("/api/datasets", json=body, headers={"X-CSRF-Token": token})
        assert made.status_code == 201, made.text
    # Lists: no e-mail address unless platform admin (contact addresses included).
    with api_site.client("admin_a") as http:
        http.patch("/api/datasets/" + slug_of("public"), json={"contact_email": "sig@exemple.nc"})
        http.patch("/api/organisations/province-sud", json={"email": "contact@exemple.nc"})
    with api_site.client("user") as http:
        reuse = http.post(
            "/api/reuses",
            json={
                "title": "Carte des points",
                "kind": "application",
                "url": "https://example.nc/app",
                "datasets": [slug_of("public")],
            },
        )
        assert reuse.status_code == 201 and reuse.json()["status"] == "pending"
    lists = ("/api/datasets", "/api/organisations", "/api/reuses", "/api/code", "/api/events")
    for role in ("anonymous", "user", "member_a", "editor_a", "admin_a"):
        with api_site.client(role) as http:
            for path in lists:
                answer = http.get(path)
                assert answer.status_code == 200
                assert not EMAIL.search(answer.text), (role, path)
    with api_site.client("platform_admin") as http:
        assert "sig@exemple.nc" in http.get("/api/datasets").text
        assert "contact@exemple.nc" in http.get("/api/organisations").text
