"""The plug-in interface every source type implements, and what it yields.

A harvester enumerates its remote page by page and yields one `RemoteRecord` per remote
record (or a `RecordFailure` for a record it could not read). When the enumeration
cannot finish — an HTTP error, a timeout, an unreadable or empty page — it raises
`EnumerationError`: the runner then knows the list is incomplete and deletes nothing.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # a mapping process imports this module without the HTTP client
    from niaouli.ingest.harvest.fetch import Fetcher


class HarvestError(ValueError):
    """A harvest request refused (unknown type, bad option...), French message."""


class EnumerationError(Exception):
    """The remote's list could not be read to the end (French message)."""


@dataclass
class DataSource:
    """Where a record's data can be copied from, for the ingestion."""

    url: str
    format: str  # "geojson", "shapefile", "csv", "esri-query"...
    crs: str | None = None
    filename: str | None = None


@dataclass
class RemoteRecord:
    """One remote record, already mapped to catalogue fields."""

    remote_id: str
    title: str
    kind: str = "dataset"  # or "code_project"
    # Dataset (or code project) fields as `catalogue.service` accepts them.
    fields: dict[str, Any] = field(default_factory=dict)
    bbox: tuple[float, float, float, float] | None = None
    # Links published as resources of kind "link" (title, url, format).
    links: list[dict[str, str]] = field(default_factory=list)
    original: str | None = None
    original_media_type: str | None = None
    original_url: str | None = None
    remote_modified: str | None = None
    # ISO 19139 or csw:Record XML, served back by our CSW as written.
    metadata_xml: str | None = None
    data: DataSource | None = None
    # Set from a `LazyRecord`: the hash of the raw remote document it was mapped from.
    hash_override: str | None = None
    # What the mapping repaired or could not map (French, from N_() templates), shown in
    # the record's report line. Derived from the content, so not part of its hash.
    notes: list[str] = field(default_factory=list)

    def content_hash(self) -> str:
        """A hash of everything the record would write: same hash, nothing to do."""
        if self.hash_override:
            return self.hash_override
        payload = json.dumps(
            {
                "title": self.title,
                "kind": self.kind,
                "fields": self.fields,
                "bbox": self.bbox,
                "links": self.links,
                "original": self.original,
                "metadata_xml": self.metadata_xml,
                "data": self.data.__dict__ if self.data else None,
            },
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class LazyRecord:
    """A record identified and hashed from its raw document, mapped only when needed.

    Mapping (e.g. an ISO 19139 record through OWSLib) costs more than hashing the raw
    XML: an unchanged record is recognised by the hash and never mapped. The hash must
    cover the mapping code's version (`MAPPING_VERSION` of the source type).
    """

    remote_id: str
    content_hash: str
    load: Callable[[], RemoteRecord | RecordFailure]


@dataclass
class RecordFailure:
    """A remote record that was listed but could not be read or mapped."""

    remote_id: str
    reason: str


@dataclass
class RecordDeleted:
    """The remote says the record was deleted (OAI-PMH `status="deleted"`)."""

    remote_id: str


@dataclass
class PageDone:
    """Yielded by a resumable listing after each page: every record before `cursor`
    (JSON-able, e.g. the next CSW startPosition) was yielded. The runner commits there
    and keeps the cursor, so an interrupted job restarts at it (`harvest.resume`)."""

    cursor: Any


@dataclass
class SourceConfig:
    """What a harvester knows of its source."""

    url: str
    options: dict[str, Any]
    # Remote modification dates of the records already harvested (for `from`/skips).
    last_success: str | None = None


class Harvester(ABC):
    """Base class of the source types. Subclasses set `type` and `enumerate`."""

    type: ClassVar[str]
    # Options the type accepts, with a French description (shown by the CLI and docs).
    options: ClassVar[dict[str, str]] = {}
    # True when `enumerate` yields `PageDone` and honours `resume_at` (`harvest.resume`).
    resumable: ClassVar[bool] = False

    def __init__(self, config: SourceConfig, fetcher: Fetcher) -> None:
        self.config = config
        self.fetcher = fetcher
        # The remote's own count, when it announces one: enumerating fewer is incomplete.
        self.expected_total: int | None = None
        # False for an incremental listing (records changed since a date): what it does
        # not list is not absent, so nothing is deleted on absence.
        self.complete_listing = True
        # Resumable listings (`harvest.resume`): where the runner asks the listing to
        # start, a `PageDone.cursor` of an interrupted job (None: from the beginning).
        self.resume_at: Any = None
        # Content hashes the source's records had at its last run (set by the runner,
        # empty with --force): a listing may skip mapping what did not change.
        self.known_hashes: set[str] | frozenset[str] = frozenset()

    def option(self, name: str, default: Any = None) -> Any:
        return self.config.options.get(name, default)

    @abstractmethod
    def enumerate(
        self,
    ) -> Iterator[RemoteRecord | RecordFailure | RecordDeleted | LazyRecord | PageDone]:
        """Every record of the remote; `EnumerationError` when the list is incomplete."""

    def fetch_data(self, record: RemoteRecord, workdir: Path) -> tuple[Path, str | None]:
        """Download the record's data into `workdir`: (file, CRS) for the ingestion."""
        assert record.data is not None
        if record.data.format == "esri-layer":  # an ArcGIS REST layer link of a record
            from niaouli.ingest.harvest.sources.arcgis import copy_layer

            return copy_layer(self.fetcher, record.data.url, workdir)
        from niaouli.ingest.harvest.download import download

        return download(self.fetcher, record.data, workdir), record.data.crs

    def fetch(self, url: str, what: str, **kwargs: Any) -> bytes:
        """GET `url`; any failure is an `EnumerationError` naming `what` was read."""
        from niaouli.ingest.harvest.fetch import FetchError

        try:
            response = self.fetcher.get(url, **kwargs)
        except FetchError as exc:
            raise EnumerationError(f"{what} : {exc}") from None
        with response:
            if response.is_blank():
                raise EnumerationError(f"{what} : réponse vide du serveur ({response.url[:200]})")
            return response.content

    def fetch_json(self, url: str, what: str, **kwargs: Any) -> Any:
        content = self.fetch(url, what, accept="application/json", **kwargs)
        try:
            return json.loads(content)
        except ValueError as exc:
            raise EnumerationError(f"{what} : JSON illisible ({exc})") from None
