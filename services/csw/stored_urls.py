"""Public URLs in CSW records (dataset page, OGC API collections), resolved when served.

Records are written by whichever process changes the catalogue (the command line, a
server worker, a harvest job), which does not know the address clients will use: `niaouli
demo load` run without `NIAOULI_PUBLIC_URL` wrote `http://127.0.0.1:8000/...` into
records later served by `niaouli serve --port 8931` (issue 15 §5). So stored records
carry the placeholder root `STORED_ROOT`, and the CSW proxy replaces it in every answer
with the public URL of the serving process (`NIAOULI_PUBLIC_URL`, which `niaouli serve`
sets to its own address when unset): links follow the public URL at the time they are
served, whoever wrote them. OGC API Records and DCAT build their links per request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from niaouli.links import shown_link
from niaouli.settings import get_settings

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# Written into stored records instead of the public root; a reserved name (RFC 2606), so
# it can never be a real address, and the same length class in every record.
STORED_ROOT = "http://niaouli-public-url.invalid"


def public_url() -> str:
    """The public root of this process (the serving address under `niaouli serve`)."""
    return (get_settings().public_url or DEFAULT_PUBLIC_URL).rstrip("/")


def resolve(body: bytes, content_type: str = "", root: str | None = None) -> bytes:
    """`body` (a CSW answer) with the stored placeholder root replaced by the public one.

    XML gets the root escaped for XML, JSON for JSON; any other answer is left alone.
    """
    marker = STORED_ROOT.encode()
    if marker not in body:
        return body
    public = (root or public_url()).rstrip("/")
    kind = content_type.lower()
    if "json" in kind:
        shown = json.dumps(public)[1:-1]
    elif "xml" in kind or "html" in kind or not kind:
        shown = xml_escape(public, {'"': "&quot;"})
    else:
        return body
    return body.replace(marker, shown.encode("utf-8"))


@dataclass(frozen=True)
class Link:
    name: str
    description: str
    protocol: str
    url: str


def dataset_page(slug: str) -> str:
    """The dataset page's address as stored in a record (resolved when served)."""
    return f"{STORED_ROOT}/jeux-de-donnees/{quote(slug)}"


def collection(collection_id: str) -> str:
    """An OGC API collection's address as stored in a record (resolved when served)."""
    return f"{STORED_ROOT}/ogc/collections/{quote(collection_id)}"


def safe_url(url: str | None) -> str | None:
    """Only http(s)/ftp URLs are ever written into a record (row S22): the platform's
    one link rule (`niaouli.links`), also for rows stored before it."""
    return shown_link(url)
