"""Receive an uploaded file as it arrives: to disk, counted, hashed, with a size limit.

The multipart body is parsed chunk by chunk (python-multipart's push parser), so memory
stays flat whatever the file's size; the `file` part goes to a private temporary folder
under the data directory with its SHA-256 computed on the way. Over the limit the upload
stops at once with a 413 and the partial file is removed: nothing is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from niaouli import storage
from niaouli.i18n import _
from niaouli.services.api.errors import ApiError

FIELD_LIMIT = 64 * 1024  # text fields next to the file
CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
MULTIPART_SLACK = 256 * 1024  # headers and boundaries around the file


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PayloadTooLarge",
        _("fichier trop gros : %(size)s au plus (NIAOULI_MAX_UPLOAD_BYTES)")
        % {"size": _size(limit)},
        limit=limit,
    )


def _size(count: int) -> str:
    if count >= 1 << 20:
        return _("%(count)s Mio") % {"count": f"{count / (1 << 20):.0f}"}
    return _("%(count)s Kio") % {"count": f"{count / 1024:.0f}"}


@dataclass
class Upload:
    """A received file (in `folder`, removed by `discard`) and the form's text fields."""

    folder: Path
    path: Path | None = None
    original_name: str = ""
    size: int = 0
    checksum: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Receiver:
    def __init__(self, upload: Upload, limit: int) -> None:
        self.upload = upload
        self.limit = limit
        self.digest = hashlib.sha256()
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.name = ""
        self.out: BinaryIO | None = None
        self.text = bytearray()
        self.is_file = False

    # python-multipart callbacks
    def on_part_begin(self) -> None:
        self.headers, self.text, self.is_file, self.name = {}, bytearray(), False, ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self.name == "file" and filename is not None:
            if self.upload.path is not None:
                raise ApiError(400, "InvalidUpload", _("un seul fichier par envoi"))
            if CONTROL.search(filename):
                # U+0000 cannot be stored by PostgreSQL (a 500 before); no file name
                # holds a control character, and a title or log line must not either.
                raise ApiError(
                    422,
                    "InvalidUpload",
                    _("nom de fichier invalide : caractères de contrôle (U+0000 à U+001F)"),
                )
            self.is_file = True
            original = filename.decode("utf-8", "replace") or "fichier"
            self.upload.original_name = Path(original.replace("\\", "/")).name[:300]
            self.upload.path = self.upload.folder / storage.clean_filename(original)
            self.out = self.upload.path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.is_file:
            self.upload.size += len(chunk)
            if self.upload.size > self.limit:
                raise too_large(self.limit)
            self.digest.update(chunk)
            assert self.out is not None
            self.out.write(chunk)
        else:
            self.text += chunk
            if len(self.text) > FIELD_LIMIT:
                raise ApiError(413, "PayloadTooLarge", _("champ de formulaire trop long"))

    def on_part_end(self) -> None:
        if self.is_file and self.out is not None:
            self.out.close()
            self.out = None
            self.upload.checksum = f"sha256:{self.digest.hexdigest()}"
        elif self.name:
            value = self.text.decode("utf-8", "replace")
            if "\x00" in value or "\x00" in self.name:
                raise ApiError(
                    422,
                    "InvalidValue",
                    _("caractère nul (U+0000) refusé dans « %(where)s »")
                    % {"where": self.name.replace("\x00", "")[:100]},
                )
            self.upload.fields[self.name] = value

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


async def receive(request: Request, data_dir: Path, limit: int) -> Upload:
    """Stream the request's multipart body; the caller must `discard()` the result."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(
            415, "UnsupportedMediaType", _("envoyez le fichier en multipart/form-data (champ file)")
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
        raise too_large(limit)  # refused before reading anything
    folder = data_dir / "incoming" / secrets.token_hex(16)
    folder.mkdir(parents=True)
    upload = Upload(folder)
    receiver = _Receiver(upload, limit)
    callbacks = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + MULTIPART_SLACK:
                raise too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        receiver.close()
        upload.discard()
        raise
    except Exception:  # noqa: BLE001 - a malformed body from the client
        receiver.close()
        upload.discard()
        raise ApiError(400, "InvalidUpload", _("corps multipart illisible")) from None
    receiver.close()
    if upload.path is None or not upload.checksum:
        upload.discard()
        raise ApiError(422, "InvalidUpload", _("aucun fichier reçu (champ « file » attendu)"))
    if upload.size == 0:
        upload.discard()
        raise ApiError(422, "InvalidUpload", _("le fichier reçu est vide"))
    return upload
