"""Objects in an S3-compatible bucket, through obstore (Rust's object_store, maintained
by the Apache Arrow project): `s3://<bucket>/<prefix>/<name>`.

One PUT (multipart for big files) makes an object appear whole or not at all, so readers
never see half a file. The secret key goes to the client only; `describe` and the errors
this module raises name the endpoint and bucket, never the credentials.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from niaouli.storage.backend import CHUNK, ObjectInfo, StorageError, check_name, check_segment

PART = 8 << 20  # multipart chunk size


def make_store(
    bucket: str,
    prefix: str,
    *,
    endpoint_url: str = "",
    region: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
) -> S3Store:
    config: dict[str, Any] = {}
    if endpoint_url:
        config["endpoint"] = endpoint_url
        config["virtual_hosted_style_request"] = False  # MinIO, moto: path-style
    if region:
        config["region"] = region
    elif endpoint_url:
        config["region"] = "us-east-1"  # S3-compatible servers ignore it; signing needs one
    if access_key_id:  # else obstore takes the usual AWS_* variables or instance role
        config["access_key_id"] = access_key_id
        config["secret_access_key"] = secret_access_key
    return S3Store(
        bucket,
        prefix=prefix or None,
        config=config,
        client_options={
            "allow_http": endpoint_url.startswith("http://"),
            "connect_timeout": "10s",
            # The whole request, body included: a big download streamed to a slow client.
            "timeout": "3600s",
        },
        retry_config={
            "max_retries": 3,
            "retry_timeout": timedelta(seconds=30),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=5),
                "base": 2,
            },
        },
    )


class S3Backend:
    def __init__(self, store: S3Store, where: str) -> None:
        self.store = store
        self.where = where  # "s3://bucket/prefix" at endpoint, for messages

    @contextmanager
    def _errors(self, name: str = "") -> Iterator[None]:
        """obstore's errors as FileNotFoundError or StorageError naming the place only."""
        try:
            yield
        except NotFoundError:
            raise FileNotFoundError(name) from None
        except BaseError as exc:
            raise StorageError(f"object storage {self.where}: {type(exc).__name__}") from None

    def put(
        self, name: str, source: Path, *, move: bool = False, known: tuple[int, str] | None = None
    ) -> tuple[int, str]:
        check_name(name)
        digest = hashlib.sha256()
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            with source.open("rb") as handle:
                while chunk := handle.read(PART):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

        with self._errors(name):
            obstore.put(self.store, name, chunks(), chunk_size=PART, max_concurrency=4)
        if move:
            source.unlink(missing_ok=True)
        return size, f"sha256:{digest.hexdigest()}"

    def stat(self, name: str) -> ObjectInfo | None:
        check_name(name)
        try:
            with self._errors(name):
                meta = obstore.head(self.store, name)
        except FileNotFoundError:
            return None
        return ObjectInfo(meta["size"], meta["last_modified"].timestamp())

    def read(self, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_name(name)
        if end is not None and end <= start:
            return iter(())
        options: dict[str, Any] = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        with self._errors(name):  # FileNotFoundError here, before the first chunk
            result = obstore.get(self.store, name, options=options)
        return self._chunks(name, result.stream(min_chunk_size=CHUNK))

    def _chunks(self, name: str, stream: Iterable[Any]) -> Iterator[bytes]:
        with self._errors(name):
            for chunk in stream:
                yield bytes(chunk)

    def delete_group(self, group: str) -> None:
        check_segment(group)
        with self._errors():
            names = [
                meta["path"]
                for batch in obstore.list(self.store, prefix=f"{group}/")
                for meta in batch
            ]
            if names:
                obstore.delete(self.store, names)

    def groups(self) -> dict[str, float]:
        found: dict[str, float] = {}
        with self._errors():
            for batch in obstore.list(self.store, chunk_size=1000):
                for meta in batch:
                    group = meta["path"].split("/", 1)[0]
                    when = meta["last_modified"].timestamp()
                    if not group.startswith(".") and when > found.get(group, 0):
                        found[group] = when
        return found

    def names(self) -> list[str]:
        with self._errors():
            return sorted(
                meta["path"]
                for batch in obstore.list(self.store, chunk_size=1000)
                for meta in batch
                if not meta["path"].startswith(".")
            )

    @contextmanager
    def local_path(self, name: str) -> Iterator[Path]:
        check_name(name)
        with tempfile.TemporaryDirectory(prefix="niaouli-object-") as folder:
            path = Path(folder) / name.rsplit("/", 1)[-1]
            with path.open("wb") as out:
                for chunk in self.read(name):
                    out.write(chunk)
            yield path

    def scratch_dir(self) -> None:
        return None

    def reachable(self) -> str | None:
        try:
            next(iter(obstore.list(self.store, chunk_size=1)), None)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return f"object storage {self.where} unreachable ({type(exc).__name__})"
        return None

    def describe(self) -> str:
        return self.where
