"""File storage on both backends with the same assertions: the local folder and an S3
bucket (moto's standalone S3 server over HTTP; see tests/storage_support.py).

Store, stat, stream, byte ranges, local copies for GDAL, delete, orphans; crafted names
never escape (S16); the HTTP download with ranges (206, 416); the readiness check.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from niaouli import storage
from niaouli.settings import Settings
from niaouli.storage.http import object_response
from tests.storage_support import (  # noqa: F401 - s3_server: the fixture
    SECRET_KEY,
    S3Server,
    s3_server,
    stored_objects,
)

DATA = os.urandom(3 * 1024 * 1024 + 12345)  # several chunks, an odd size
CRAFTED = (
    "..",
    ".",
    "../x",
    "a/b",
    "..%2f..%2fx",
    "%2e%2e",
    "..\\..\\x.shp",
    "x\x00y",
    ".cache",
    "",
    "9" * 10_000,
)


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, str | None]:
    """Settings on one storage backend, and the bucket when it is S3."""
    base = Settings(data_dir=tmp_path / "data", database_url="sqlite:///unused.sqlite")
    if request.param == "local":
        return base, None
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    return server.settings(base, bucket), bucket


def test_store_read_ranges_copy_delete_orphans(place, tmp_path, request):
    settings, bucket = place
    server = request.getfixturevalue("s3_server") if bucket else None
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)

    stored = storage.store_file(source, settings, "../../Relevé des eaux.CSV")
    assert stored.filename == "Releve_des_eaux.csv" and len(stored.key) == 32
    assert stored.size == len(DATA)
    assert stored.checksum == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert source.read_bytes() == DATA  # a copy: the source stays
    assert stored_objects(settings, server, bucket) == [f"files/{stored.key}/Releve_des_eaux.csv"]

    info = storage.stat(settings, stored.key, stored.filename)
    assert info is not None and info.size == len(DATA)
    read = storage.read
    assert b"".join(read(settings, stored.key, stored.filename)) == DATA
    assert b"".join(read(settings, stored.key, stored.filename, 5, 15)) == DATA[5:15]
    tail = b"".join(read(settings, stored.key, stored.filename, len(DATA) - 7))
    assert tail == DATA[-7:]
    middle = b"".join(read(settings, stored.key, stored.filename, 1 << 20, (2 << 20) + 3))
    assert middle == DATA[1 << 20 : (2 << 20) + 3]
    with storage.local_copy(settings, stored.key, stored.filename) as path:
        assert path.name == "Releve_des_eaux.csv" and path.read_bytes() == DATA
    if bucket:  # the temporary copy is gone
        assert not path.exists()
    else:  # read in place, today's layout
        assert path == settings.files_dir / stored.key / stored.filename

    # adopt: the received file is taken (moved), size and checksum as given
    received = tmp_path / "upload.part"
    received.write_bytes(b"abc" * 1000)
    digest = "sha256:" + hashlib.sha256(b"abc" * 1000).hexdigest()
    adopted = storage.adopt_file(received, settings, "notice.pdf", 3000, digest)
    assert not received.exists()
    assert b"".join(read(settings, adopted.key, "notice.pdf")) == b"abc" * 1000

    # orphans: keys no row points to, old enough
    assert storage.orphan_keys(settings, {stored.key}, 0) == [adopted.key]
    assert storage.orphan_keys(settings, {stored.key}, 3600) == []
    assert storage.orphan_keys(settings, {stored.key, adopted.key}, 0) == []

    # crafted keys and names: refused, and delete nothing
    for bad in CRAFTED:
        with pytest.raises(ValueError):
            storage.object_name(bad, "x.csv")
        with pytest.raises(ValueError):
            storage.object_name(stored.key, bad)
        storage.remove_key(settings, bad)
    for bad in ("../files", "files/..", f"{stored.key}/../{adopted.key}"):
        with pytest.raises(ValueError):
            storage.stat(settings, bad, "x")
    assert len(stored_objects(settings, server, bucket)) == 2

    storage.remove_key(settings, adopted.key)
    assert storage.stat(settings, adopted.key, "notice.pdf") is None
    with pytest.raises(FileNotFoundError):
        b"".join(read(settings, adopted.key, "notice.pdf"))
    assert storage.orphan_keys(settings, {stored.key}, 0) == []
    assert stored_objects(settings, server, bucket) == [f"files/{stored.key}/Releve_des_eaux.csv"]


def _download_app(settings: Settings) -> Starlette:
    def download(request: Request) -> Response:
        try:
            return object_response(
                request,
                storage.area(settings),
                storage.object_name(request.path_params["key"], request.path_params["name"]),
                media_type="text/csv",
                filename=request.path_params["name"],
            )
        except (ValueError, FileNotFoundError):
            return Response(status_code=404)

    return Starlette(routes=[Route("/f/{key}/{name}", download, methods=["GET", "HEAD"])])


def test_http_ranges(place, tmp_path):
    settings, _bucket = place
    source = tmp_path / "data.csv"
    source.write_bytes(DATA)
    stored = storage.store_file(source, settings, "data.csv")
    size = len(DATA)
    with TestClient(_download_app(settings)) as client:
        url = f"/f/{stored.key}/data.csv"
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == DATA
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-length"] == str(size)
        assert whole.headers["content-disposition"] == 'attachment; filename="data.csv"'
        etag = whole.headers["etag"]

        for header, start, end in (
            ("bytes=0-9", 0, 10),
            ("bytes=100-", 100, size),
            ("bytes=-5", size - 5, size),
            ("bytes=10-99999999999", 10, size),
            (" bytes = 7 - 7", 7, 8),
        ):
            part = client.get(url, headers={"Range": header})
            assert part.status_code == 206, header
            assert part.content == DATA[start:end], header
            assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
            assert part.headers["content-length"] == str(end - start)

        for bad in (
            "bytes=abc",
            f"bytes={size}-",
            "bytes=9-5",
            "bytes=-0",
            "bytes=-",
            "bytes=1-2,x",
        ):
            refused = client.get(url, headers={"Range": bad})
            assert refused.status_code == 416, bad
            assert refused.headers["content-range"] == f"bytes */{size}"
            assert refused.content == b""

        # several ranges, another unit: the whole file (RFC 9110 lets a server ignore Range)
        for ignored in ("bytes=0-1,5-6", "items=0-1"):
            answer = client.get(url, headers={"Range": ignored})
            assert answer.status_code == 200 and answer.content == DATA
        # If-Range: the range only while the file is the one the client knows
        same = client.get(url, headers={"Range": "bytes=0-3", "If-Range": etag})
        assert same.status_code == 206 and same.content == DATA[:4]
        stale = client.get(url, headers={"Range": "bytes=0-3", "If-Range": '"0-0"'})
        assert stale.status_code == 200 and stale.content == DATA
        head = client.head(url, headers={"Range": "bytes=0-3"})
        assert head.status_code == 206 and head.headers["content-length"] == "4"
        assert client.get(f"/f/{'0' * 32}/data.csv").status_code == 404
        assert client.get(f"/f/{stored.key}/..%2fdata.csv").status_code == 404


def test_storage_reachable(place, request):
    settings, bucket = place
    assert storage.storage_reachable(settings) is None
    if bucket is None:
        blocked = settings.data_dir / "blocked"
        blocked.write_text("a file where the data folder should be")
        bad = Settings(data_dir=blocked, database_url="sqlite:///unused.sqlite")
        reason = storage.storage_reachable(bad)
        assert reason and "files folder" in reason
        return
    server: S3Server = request.getfixturevalue("s3_server")
    missing = server.settings(settings, "no-such-bucket-here")
    reason = storage.storage_reachable(missing)
    assert reason and "no-such-bucket-here" in reason and SECRET_KEY not in reason
    closed = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        storage="s3",
        s3_bucket=bucket,
        s3_endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        s3_access_key_id="k",
        s3_secret_access_key=SECRET_KEY,
    )
    reason = storage.storage_reachable(closed)
    assert reason and "unreachable" in reason and SECRET_KEY not in reason


def test_s3_settings_are_checked_and_the_secret_is_hidden(tmp_path):
    with pytest.raises(ValidationError, match="NIAOULI_S3_BUCKET"):
        Settings(data_dir=tmp_path, storage="s3")
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, storage="ftp")
    with pytest.raises(ValidationError, match="NIAOULI_S3_PREFIX"):
        Settings(data_dir=tmp_path, storage="s3", s3_bucket="b", s3_prefix="a/../b")
    with pytest.raises(ValidationError, match="NIAOULI_S3_ENDPOINT_URL"):
        Settings(data_dir=tmp_path, storage="s3", s3_bucket="b", s3_endpoint_url="file:///etc")
    settings = Settings(
        data_dir=tmp_path, storage="s3", s3_bucket="b", s3_secret_access_key=SECRET_KEY
    )
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings.model_dump())
    assert settings.s3_secret_access_key.get_secret_value() == SECRET_KEY


def test_a_big_file_goes_in_parts_and_comes_back_whole(place, tmp_path, request):
    """17 MiB: three parts of a multipart upload on S3 (8 MiB each), ranges across them."""
    settings, bucket = place
    block = os.urandom(1 << 20)
    source = tmp_path / "big.gpkg"
    with source.open("wb") as out:
        for i in range(17):
            out.write(bytes([i]) + block[1:])
    data = source.read_bytes()
    stored = storage.store_file(source, settings, "big.gpkg")
    assert stored.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    assert storage.stat(settings, stored.key, "big.gpkg").size == len(data)
    if bucket:  # a multipart upload's ETag ends with its number of parts
        client = request.getfixturevalue("s3_server").client()
        etag = client.head_object(Bucket=bucket, Key=f"files/{stored.key}/big.gpkg")["ETag"]
        assert etag.endswith('-3"'), etag
    across = b"".join(storage.read(settings, stored.key, "big.gpkg", (8 << 20) - 5, (8 << 20) + 5))
    assert across == data[(8 << 20) - 5 : (8 << 20) + 5]
    with storage.local_copy(settings, stored.key, "big.gpkg") as path:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == stored.checksum[7:]


def test_the_settings_command_masks_the_s3_secret(tmp_path):
    from click.testing import CliRunner

    from niaouli.cli import main

    env = {
        "NIAOULI_DATA_DIR": str(tmp_path),
        "NIAOULI_STORAGE": "s3",
        "NIAOULI_S3_BUCKET": "seau",
        "NIAOULI_S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    shown = CliRunner().invoke(main, ["settings"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "NIAOULI_S3_BUCKET=seau" in shown.output
    assert "NIAOULI_S3_SECRET_ACCESS_KEY=(masqué)" in shown.output
    assert SECRET_KEY not in shown.output
