"""The object store failing in the middle of an upload (issue 17, S3 storage).

`niaouli serve` on an S3 bucket of moto's standalone server, reached through a TCP proxy
(`tests.storage_support.CuttingProxy`) that resets every connection once it has carried
64 KiB of a request: the uploads' PUTs die in the middle of their body, as when the
store goes away. The API (token) and the portal's upload page (browser session and CSRF
token, as `envoi.js` sends it) answer 503 with a French message, English with `lang=en`;
nothing is written (no dataset, layer or resource row, no layer table, no object in the
bucket once the store is back); the next uploads succeed. A store that goes away just as
an ingestion commits does not turn the committed upload into a failure.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, select

from niaouli.catalogue.models import Dataset, Layer, Resource
from niaouli.ingest import ingest_file
from tests.accounts_support import LoggedServer, build_matrix, email_of, sign_in
from tests.api_support import write_tokens
from tests.conftest import GEODATA, Backend
from tests.storage_support import CuttingProxy, S3Server, s3_server  # noqa: F401

COMMUNES = (GEODATA / "nc_communes.geojson").read_bytes()  # 300 kB: one PUT
NOTICE = os.urandom(9 << 20)  # past obstore's 8 MiB part: a multipart upload
# PostGIS with S3 is the production pair; the storage is what fails here (the storage and
# API tests cover both databases).
pytestmark = pytest.mark.parametrize("backend", ["postgis"], indirect=True)

FRENCH = "stockage des fichiers momentanément indisponible : rien n'a été enregistré"
ENGLISH = "file storage temporarily unavailable: nothing was stored"


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[CuttingProxy]:  # noqa: F811
    made = CuttingProxy(int(s3_server.url.rsplit(":", 1)[1]))
    try:
        yield made
    finally:
        made.close()


def rows(backend: Backend) -> dict[str, object]:
    """What an upload may write: catalogue rows and the database's tables."""
    with backend.session() as session:
        return {
            "datasets": session.scalars(select(Dataset.slug).order_by(Dataset.slug)).all(),
            "layers": session.scalars(select(Layer.table_name).order_by(Layer.id)).all(),
            "resources": session.scalars(select(Resource.id).order_by(Resource.id)).all(),
            "tables": sorted(
                name
                for schema in (None, "layers")
                if backend.name == "postgis" or schema is None
                for name in inspect(backend.engine).get_table_names(schema=schema)
            ),
        }


def refused(answer: httpx.Response, description: str) -> None:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert (body["code"], body["description"]) == ("StorageUnavailable", description), body


def test_an_object_store_failing_mid_upload(
    backend: Backend,
    s3_server: S3Server,  # noqa: F811
    proxy: CuttingProxy,
    tmp_path: Path,
) -> None:
    bucket = s3_server.new_bucket()
    through = S3Server(proxy.url)  # the platform's way to the bucket
    on = dataclasses.replace(backend, settings=through.settings(backend.settings, bucket))
    build_matrix(on, tmp_path)
    secrets = write_tokens(on)
    env = through.env(bucket)
    with LoggedServer(on, tmp_path / "server.log", extra_env=env) as server:
        api = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {secrets['editor_a']}"},
            timeout=120,
        )
        browser = httpx.Client(base_url=server.url, timeout=120)
        with api, browser:
            created = api.post(
                "/api/datasets", json={"organisation": "province-sud", "title": "Panne stockage"}
            )
            assert created.status_code == 201, created.text
            slug = created.json()["slug"]
            assert sign_in(browser, email_of("editor_a")).status_code in (200, 303)
            page = browser.get(f"/jeux-de-donnees/{slug}/envoyer")
            csrf = re.search(r'data-csrf="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf, page.text[:500]
            portal = {"X-CSRF-Token": csrf.group(1)}
            layers = f"/api/datasets/{slug}/layers"
            resources = f"/api/datasets/{slug}/resources"
            communes = {"file": ("nc_communes.geojson", COMMUNES, "application/geo+json")}
            notice = {"file": ("notice.pdf", NOTICE, "application/pdf")}

            before, objects = rows(on), s3_server.keys(bucket)
            proxy.cut(64 << 10)
            # The writing API, French by default, English on request.
            refused(api.post(layers, files=communes), FRENCH)
            refused(api.post(resources + "?lang=en", files=notice), ENGLISH)
            # The portal's upload page (envoi.js: session cookie, CSRF header, its `lang`).
            refused(
                browser.post(layers + "?mode=replace&lang=fr", files=communes, headers=portal),
                FRENCH,
            )
            refused(browser.post(resources + "?lang=en", files=notice, headers=portal), ENGLISH)
            assert proxy.cuts >= 4  # every upload died in the middle of its body
            assert rows(on) == before

            proxy.heal()  # the store is back: nothing was left in it
            assert s3_server.keys(bucket) == objects
            pending = s3_server.client().list_multipart_uploads(Bucket=bucket)
            assert not pending.get("Uploads"), pending["Uploads"]
            # And the next uploads work, through both ways in.
            loaded = browser.post(layers + "?mode=replace&lang=fr", files=communes, headers=portal)
            assert loaded.status_code == 200, loaded.text
            added = api.post(resources, files=notice)
            assert added.status_code == 201, added.text
        new = sorted(set(s3_server.keys(bucket)) - set(objects))
        assert sorted(n.rsplit("/", 1)[1] for n in new) == ["nc_communes.geojson", "notice.pdf"]
        assert len(rows(on)["layers"]) == len(before["layers"]) + 1
        assert "Traceback" not in server.log(), server.log()[-3000:]


def test_a_store_failing_after_the_commit_keeps_the_upload(
    backend: Backend,
    org: str,
    s3_server: S3Server,  # noqa: F811
    proxy: CuttingProxy,
) -> None:
    """The store goes away just as the ingestion commits: the new data is in, so the
    answer is the ingestion's report, not "nothing was saved"; the replaced original it
    could not delete is left for `niaouli db cleanup` (an orphan key)."""
    bucket = s3_server.new_bucket()
    settings = S3Server(proxy.url).settings(backend.settings, bucket)
    first = ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation=org,
        dataset="panne-apres",
        settings=settings,
        engine=backend.engine,
        progress="none",
    )
    stored = s3_server.keys(bucket)
    assert len(stored) == 1

    def store_goes_away(_session: object, _dataset: object) -> None:
        proxy.cut(0)  # inside the transaction, just before it commits

    try:
        second = ingest_file(
            GEODATA / "nc_communes.geojson",
            organisation=org,
            dataset="panne-apres",
            title="Communes, deuxième envoi",
            settings=settings,
            engine=backend.engine,
            progress="none",
            on_commit=store_goes_away,
        )
    finally:
        proxy.heal()
    assert second.feature_count == first.feature_count == 33
    assert proxy.cuts >= 1  # the replaced original's deletion failed
    with backend.session() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.slug == second.dataset)).one()
        [resource] = [r for r in dataset.resources if r.role == "source"]
        kept = resource.storage_key
    after = s3_server.keys(bucket)
    assert stored[0] in after and len(after) == 2  # the old one is an orphan now
    assert any(kept in name for name in after)
