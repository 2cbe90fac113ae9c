"""A stored object as an HTTP download, streamed from its backend, with range requests.

Same answer on every backend: `Accept-Ranges: bytes`; `Range: bytes=a-b` (also `a-`
and `-n`) gives 206 with `Content-Range`; a range past the end, reversed or malformed
gives 416 with `Content-Range: bytes */<size>`; `If-Range` that no longer matches gives
the whole file. Several ranges in one request are answered with the whole file (RFC 9110
lets a server ignore `Range`), which every download client handles.
"""

from __future__ import annotations

import re
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from niaouli.storage.backend import Backend

ONE_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiableError(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a `Range` header for an object of `size` bytes; None for the whole
    object (no header, another unit, several ranges); RangeNotSatisfiableError if bad."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        if not all(ONE_RANGE.match(part) for part in spec.split(",")):
            raise RangeNotSatisfiableError()
        return None
    found = ONE_RANGE.match(spec)
    if found is None or not (found[1] or found[2]) or len(spec) > 60:
        raise RangeNotSatisfiableError()
    first, last = found[1], found[2]
    if not first:  # the last n bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiableError()
        return max(size - count, 0), size
    start = int(first)
    end = int(last) + 1 if last else size
    if start >= size or end <= start:
        raise RangeNotSatisfiableError()
    return start, min(end, size)


def disposition(kind: str, filename: str) -> str:
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


def _if_range_holds(value: str | None, etag: str, modified: float) -> bool:
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', 'W/"')):
        return value == etag
    try:
        return parsedate_to_datetime(value).timestamp() >= int(modified)
    except (TypeError, ValueError):
        return False


def object_response(
    request: Request,
    backend: Backend,
    name: str,
    *,
    media_type: str,
    filename: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The object `name` as an attachment; FileNotFoundError if it is not stored."""
    info = backend.stat(name)
    if info is None:
        raise FileNotFoundError(name)
    etag = f'"{info.size:x}-{int(info.modified * 1000):x}"'
    base = {
        **(headers or {}),
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition("attachment", filename),
        "ETag": etag,
        "Last-Modified": formatdate(info.modified, usegmt=True),
    }
    try:
        wanted = parse_range(request.headers.get("range"), info.size)
    except RangeNotSatisfiableError:
        return Response(
            status_code=416,
            headers={**base, "Content-Range": f"bytes */{info.size}"},
            media_type=media_type,
        )
    if wanted is not None and not _if_range_holds(
        request.headers.get("if-range"), etag, info.modified
    ):
        wanted = None
    start, end = wanted or (0, info.size)
    status = 200 if wanted is None else 206
    base["Content-Length"] = str(end - start)
    if wanted is not None:
        base["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=base, media_type=media_type)
    return StreamingResponse(
        backend.read(name, start, end), status_code=status, headers=base, media_type=media_type
    )
