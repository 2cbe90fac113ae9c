"""Public URLs written into CSW records (dataset page, OGC API collections, downloads).

Records are built by whichever process changes the catalogue (the CLI, a server worker),
which does not know the address clients use, so the platform's public base URL is a
setting: `NIAOULI_PUBLIC_URL` (default `http://127.0.0.1:8000`, the `niaouli serve`
default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from niaouli.links import shown_link

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def public_url() -> str:
    return (os.environ.get("NIAOULI_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")


@dataclass(frozen=True)
class Link:
    name: str
    description: str
    protocol: str
    url: str


def dataset_page(slug: str) -> str:
    return f"{public_url()}/jeux-de-donnees/{quote(slug)}"


def collection(collection_id: str) -> str:
    return f"{public_url()}/ogc/collections/{quote(collection_id)}"


def safe_url(url: str | None) -> str | None:
    """Only http(s)/ftp URLs are ever written into a record (row S22): the platform's
    one link rule (`niaouli.links`), also for rows stored before it."""
    return shown_link(url)
