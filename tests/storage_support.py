"""An S3 protocol server for the storage tests: moto's standalone server (`moto_server`).

It speaks S3 over real HTTP on 127.0.0.1, so the platform's client (obstore) and the
test's own (boto3) talk to it as to any S3-compatible server. It is moto, not AWS S3 or
MinIO: what the tests prove is the S3 protocol as moto implements it (docs/storage.md).
Each test gets its own bucket, so tests never see each other's objects.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from niaouli.settings import Settings
from tests.ports import free_port

ACCESS_KEY = "niaouli-test-key"
SECRET_KEY = "niaouli-test-secret-do-not-log"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    url: str

    def client(self):  # noqa: ANN201 - boto3's client type is generated
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"niaouli-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def env(self, bucket: str) -> dict[str, str]:
        """The variables that put a `niaouli` process on this bucket."""
        return {
            "NIAOULI_STORAGE": "s3",
            "NIAOULI_S3_BUCKET": bucket,
            "NIAOULI_S3_ENDPOINT_URL": self.url,
            "NIAOULI_S3_REGION": REGION,
            "NIAOULI_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "NIAOULI_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def settings(self, base: Settings, bucket: str) -> Settings:
        return Settings(
            data_dir=base.data_dir,
            database_url=base.database_url,
            spatialite_library=base.spatialite_library,
            storage="s3",
            s3_bucket=bucket,
            s3_endpoint_url=self.url,
            s3_region=REGION,
            s3_access_key_id=ACCESS_KEY,
            s3_secret_access_key=SECRET_KEY,
        )


def stored_objects(settings: Settings, server: S3Server | None, bucket: str | None) -> list[str]:
    """Every stored object (`files/…`, `exports/…`), as the backend's own tools see it:
    the folder's files, or the bucket's listing by boto3 (not through niaouli)."""
    if bucket is None:
        root = settings.data_dir
        return sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] in ("files", "exports")
        )
    assert server is not None
    return server.keys(bucket)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """`moto_server` on a free port of 127.0.0.1, for the whole session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    program = Path(sys.executable).with_name("moto_server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(program), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"moto_server exited: {log.read_text()[-2000:]}")
                try:
                    httpx.get(url + "/moto-api/", timeout=2)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise AssertionError("moto_server did not start") from None
                    time.sleep(0.2)
            yield S3Server(url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class CuttingProxy:
    """A TCP proxy in front of the S3 server that can fail uploads in the middle.

    Passes everything through until `cut(after)`: from then on a connection that has
    sent more than `after` bytes towards the server is reset (RST) on both sides, in the
    middle of the request body — an object store that goes away during an upload. Small
    requests (listings, HEAD, aborts) still pass. `heal()` lets everything through again.
    moto keeps its state behind it, so the bucket can be looked into afterwards.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cut_after: int | None = None
        self.cuts = 0  # connections cut in the middle of a request
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, after: int) -> None:
        self.cut_after = after

    def heal(self) -> None:
        self.cut_after = None

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        counted = 0
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                break
            if not data:
                break
            limit = self.cut_after
            if limit is not None:
                counted += len(data)
                if counted > limit:
                    # Part of the body goes through, then the connection dies.
                    with contextlib.suppress(OSError):
                        upstream.sendall(data[: max(0, len(data) - (counted - limit))])
                    with self._lock:
                        self.cuts += 1
                    _reset(client)
                    _reset(upstream)
                    return
            try:
                upstream.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)


def _pump(source: socket.socket, target: socket.socket) -> None:
    while True:
        try:
            data = source.recv(65536)
        except OSError:
            break
        if not data:
            break
        try:
            target.sendall(data)
        except OSError:
            break
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
