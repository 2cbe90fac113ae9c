"""Uploads through the real API (`niaouli serve`, httpx) on both storage backends, the
local folder and an S3 bucket (moto's standalone server), with the same assertions:
the files land in the backend, come back with range requests from the portal's download
routes, exports are cached there too, a stored upload is ingested from the storage
(GDAL reading a local copy), deletes and the orphan cleanup reach the bucket.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from niaouli import storage
from niaouli.catalogue.lifecycle import cleanup
from niaouli.catalogue.models import Resource
from niaouli.ingest import IngestError, ingest_stored
from tests.accounts_support import LoggedServer, build_matrix
from tests.api_support import ApiSite, write_tokens
from tests.conftest import GEODATA
from tests.portal_support import links
from tests.storage_support import S3Server, s3_server, stored_objects  # noqa: F401

# One database is enough here: the storage is what varies (the API tests cover both).
pytestmark = pytest.mark.parametrize("backend", ["postgis"], indirect=True)

NOTICE = os.urandom(200_000)
COMMUNES = (GEODATA / "nc_communes.geojson").read_bytes()


@dataclass
class Site:
    api: ApiSite
    server: S3Server | None
    bucket: str | None

    def objects(self) -> list[str]:
        return stored_objects(self.api.backend.settings, self.server, self.bucket)


@pytest.fixture(params=["local", "s3"])
def site(request: pytest.FixtureRequest, backend, tmp_path) -> Iterator[Site]:  # noqa: ANN001
    server, bucket, env = None, None, {}
    settings = backend.settings
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = server.new_bucket()
        settings, env = server.settings(settings, bucket), server.env(bucket)
    on = dataclasses.replace(backend, settings=settings)
    matrix = build_matrix(on, tmp_path)  # its ingestions store their files there too
    secrets = write_tokens(on)
    with LoggedServer(on, tmp_path / "server.log", extra_env=env) as live:
        yield Site(ApiSite(live.url, on, matrix, secrets, live), server, bucket)


def _key_of(site: Site, resource_id: int) -> tuple[str, str]:
    with site.api.backend.session() as session:
        row = session.scalars(select(Resource).where(Resource.id == resource_id)).one()
        return row.storage_key, row.filename


def test_upload_download_ranges_export_ingest_delete(site: Site):
    backend = site.api.backend
    before = site.objects()
    assert len(before) == 4 and all(n.endswith("/points.geojson") for n in before)  # matrix
    if site.bucket:  # nothing went to the local folder
        assert not (backend.settings.files_dir).exists()

    with site.api.client("editor_a") as http, site.api.client("anonymous") as anonymous:
        created = http.post(
            "/api/datasets", json={"organisation": "province-sud", "title": "Stockage"}
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        loaded = http.post(
            f"/api/datasets/{slug}/layers",
            files={"file": ("nc_communes.geojson", COMMUNES, "application/geo+json")},
        )
        assert loaded.status_code == 200, loaded.text
        added = http.post(
            f"/api/datasets/{slug}/resources",
            files={"file": ("Notice de lecture.pdf", NOTICE, "application/pdf")},
            data={"title": "Notice"},
        )
        assert added.status_code == 201, added.text
        notice = added.json()
        assert notice["checksum"] == "sha256:" + hashlib.sha256(NOTICE).hexdigest()
        assert http.post(f"/api/datasets/{slug}/publish", json={}).status_code == 200

        key, filename = _key_of(site, notice["id"])
        new = sorted(set(site.objects()) - set(before))
        assert f"files/{key}/Notice_de_lecture.pdf" in new
        assert len(new) == 2 and any(n.endswith("/nc_communes.geojson") for n in new)

        # The original back, whole and by ranges, from the portal's download route.
        url = f"/jeux-de-donnees/{slug}/ressources/{notice['id']}/{filename}"
        whole = anonymous.get(url)
        assert whole.status_code == 200 and whole.content == NOTICE
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-disposition"].startswith("attachment")
        assert whole.headers["x-content-type-options"] == "nosniff"
        part = anonymous.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == NOTICE[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(NOTICE)}"
        last = anonymous.get(url, headers={"Range": "bytes=-10"})
        assert last.status_code == 206 and last.content == NOTICE[-10:]
        refused = anonymous.get(url, headers={"Range": f"bytes={len(NOTICE)}-"})
        assert refused.status_code == 416
        assert refused.headers["content-range"] == f"bytes */{len(NOTICE)}"
        for crafted in (f"{url}x", url.replace(f"/{notice['id']}/", "/..%2f..%2f/")):
            assert anonymous.get(crafted).status_code == 404, crafted

        # A layer export: made once, cached in the storage, served by ranges too.
        page = anonymous.get(f"/jeux-de-donnees/{slug}").text
        (gpkg,) = [h for h in links(page) if "/couches/" in h and h.endswith(".gpkg")]
        head = anonymous.get(gpkg, headers={"Range": "bytes=0-15"})
        assert head.status_code == 206 and head.content == b"SQLite format 3\x00"
        exported = [n for n in site.objects() if n.startswith("exports/")]
        assert len(exported) == 1 and exported[0].endswith("/export.gpkg")
        total = int(head.headers["content-range"].rsplit("/", 1)[1])
        assert len(anonymous.get(gpkg).content) == total

        # A GeoJSON uploaded as a file, then ingested from the storage (GDAL reads a
        # local copy): what a background job does with an upload received elsewhere.
        sent = http.post(
            f"/api/datasets/{slug}/resources",
            files={"file": ("communes.geojson", COMMUNES, "application/geo+json")},
        ).json()
        stored_key, stored_name = _key_of(site, sent["id"])
        report = ingest_stored(
            stored_key,
            stored_name,
            organisation="province-sud",
            dataset="province-sud--depuis-le-stockage",
            settings=backend.settings,
            engine=backend.engine,
            progress="none",
        )
        assert report.feature_count == 33 and report.checksum == sent["checksum"]
        ingested = set(site.objects())
        assert f"files/{stored_key}/communes.geojson" in ingested  # the upload stays
        with pytest.raises(IngestError, match="introuvable"):
            ingest_stored(
                "0" * 32,
                "absent.geojson",
                organisation="province-sud",
                settings=backend.settings,
                engine=backend.engine,
                progress="none",
            )
        with pytest.raises(IngestError, match="introuvable"):
            ingest_stored(
                "..",
                "x.geojson",
                organisation="province-sud",
                settings=backend.settings,
                engine=backend.engine,
                progress="none",
            )

        # Deletes reach the backend.
        assert http.delete(f"/api/datasets/{slug}/resources/{notice['id']}").status_code == 200
        assert not [n for n in site.objects() if n.startswith(f"files/{key}/")]
        assert anonymous.get(url).status_code == 404
        assert http.delete(f"/api/datasets/{slug}").status_code == 200
        assert f"files/{stored_key}/communes.geojson" not in site.objects()

    # The orphan cleanup: a file no row points to goes, the others stay.
    orphan_source = backend.settings.data_dir / "orphan.txt"
    orphan_source.write_bytes(b"orphan")
    orphan = storage.store_file(orphan_source, backend.settings, "orphan.txt")
    kept = [n for n in site.objects() if n.startswith("files/")]
    report = cleanup(backend.engine, backend.settings, min_age_seconds=0)
    assert report.files == [orphan.key]
    assert report.exports == [exported[0].split("/")[1]]  # the deleted layer's export
    remaining = site.objects()
    assert [n for n in remaining if n.startswith("files/")] == [
        n for n in kept if not n.startswith(f"files/{orphan.key}/")
    ]
    assert not [n for n in remaining if n.startswith("exports/")]

    # `/readyz` looks at the storage too: fine now; a bucket gone (S3) makes it 503,
    # naming the storage and nothing else, without the endpoint or keys in the body.
    ready = httpx.get(site.api.url + "/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["storage"]["status"] == "ok"
    if site.server is not None and site.bucket is not None:
        client = site.server.client()
        for name in site.server.keys(site.bucket):
            client.delete_object(Bucket=site.bucket, Key=name)
        client.delete_bucket(Bucket=site.bucket)

        def storage_failing() -> bool:
            answer = httpx.get(site.api.url + "/readyz", timeout=30)
            return answer.status_code == 503 and answer.json().get("failing") == ["storage"]

        deadline = time.monotonic() + 30
        while not storage_failing():
            assert time.monotonic() < deadline, "storage never reported failing"
            time.sleep(0.5)
        body = httpx.get(site.api.url + "/readyz", timeout=30).text
        assert site.bucket not in body and "127.0.0.1" not in body
