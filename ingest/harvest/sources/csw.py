"""`csw`: any CSW 2.0.2 catalogue (GeoNetwork, pycsw...), ISO 19139 or Dublin Core.

GetRecords (KVP GET) paged with startPosition/nextRecord. Each record is parsed with the
same code as `niaouli records import` (`niaouli.metadata_parse`, on XML read by `niaouli.safexml`:
no entity, no DTD, no network), mapped to dataset fields, and its XML is kept verbatim:
our own CSW serves it back as the producer wrote it.

Options: `schema` (`iso` default, or `dc`), `page_size` (default 100, at most 500), `constraint` (a
CQL text filter sent as `constraint`), `max_records` (stop after that many, for trials),
`data` (`true`: copy the data through the record's first OGC API Features or WFS link —
its `gmd:name` names the collection or feature type — when the service answers GeoJSON).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import sys
import types
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lxml import etree

from niaouli import metadata_parse, safexml
from niaouli.ingest.harvest.base import (
    DataSource,
    EnumerationError,
    Harvester,
    LazyRecord,
    PageDone,
    RecordFailure,
    RemoteRecord,
    SourceConfig,
)
from niaouli.ingest.harvest.sources.csw_map import (  # noqa: F401 - this module's API
    NS,
    content_id,
    data_link,
    dc_links,
    iso_links,
    map_many,
    map_raw,
    record_from_xml,
    standalone,
    standalone_raw,
    standalone_xml,
)

SCHEMAS = {
    "iso": ("gmd:MD_Metadata", "http://www.isotc211.org/2005/gmd"),
    "dc": ("csw:Record", "http://www.opengis.net/cat/csw/2.0.2"),
}
MAX_PAGES = 100_000
# Records asked per GetRecords page, and the most a source may ask (a page is held in
# memory while its records are written, with the next one being fetched).
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# Part of every record's hash: bump it when the mapping below changes, so that the next
# run rewrites the records instead of finding them unchanged.
MAPPING_VERSION = b"csw-3\n"


class CswHarvester(Harvester):
    type = "csw"
    resumable = True
    options = {
        "schema": "iso (ISO 19139, par défaut) ou dc (Dublin Core)",
        "page_size": "fiches par page GetRecords (100 par défaut, 500 au plus)",
        "constraint": "filtre CQL facultatif (ex. « AnyText LIKE '%eau%' »)",
        "max_records": "nombre maximal de fiches à lire (essais)",
        "data": "true : copie les données par le lien WFS ou OGC API Features de la fiche",
    }

    def _params(self, start: int, size: int) -> dict[str, str | int]:
        typename, schema = SCHEMAS[self.schema]
        params: dict[str, str | int] = {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "typeNames": typename,
            "resultType": "results",
            "elementSetName": "full",
            "outputSchema": schema,
            "startPosition": start,
            "maxRecords": size,
        }
        if self.option("constraint"):
            params["constraintLanguage"] = "CQL_TEXT"
            params["constraint_language_version"] = "1.1.0"
            params["constraint"] = str(self.option("constraint"))
        return params

    def fetch_data(self, record: RemoteRecord, workdir: Path) -> tuple[Path, str | None]:
        """Copy the data through the WFS or OGC API Features link found in the record."""
        from niaouli.ingest.harvest.sources.ogc import OgcApiHarvester, WfsHarvester

        data = record.data
        assert data is not None
        if data.format == "esri-layer":
            return super().fetch_data(record, workdir)
        if data.format == "wfs-link":
            if not data.filename:
                raise EnumerationError("lien WFS sans nom de type d'entités (gmd:name)")
            wfs = WfsHarvester(SourceConfig(data.url, {"collections": data.filename}), self.fetcher)
            found = [r for r in wfs.enumerate() if isinstance(r, RemoteRecord)]
            if not found:
                raise EnumerationError(f"le WFS ne publie pas « {data.filename} »")
            if found[0].data is None:
                raise EnumerationError("le WFS ne propose pas de format GeoJSON")
            return wfs.fetch_data(found[0], workdir)
        url = data.url.split("?")[0].rstrip("/").removesuffix("/items")
        if "/collections/" not in url:
            raise EnumerationError(f"lien OGC API sans collection : {data.url[:200]}")
        api = OgcApiHarvester(SourceConfig(url.split("/collections/")[0], {}), self.fetcher)
        items = RemoteRecord(
            remote_id=url.rsplit("/", 1)[-1],
            title="",
            data=DataSource(url=url + "/items", format="ogcapi-items"),
        )
        return api.fetch_data(items, workdir)

    def _load(
        self, child: etree._Element, ident: str, derived: bool = False, raw: bytes | None = None
    ) -> RemoteRecord | RecordFailure:
        try:
            url = None if derived else self.record_url(ident)
            return record_from_xml(child, url, ident if derived else None, raw)
        except (metadata_parse.RecordError, safexml.UnsafeXMLError) as exc:
            return RecordFailure(ident, str(exc))

    def record_url(self, identifier: str) -> str:
        _, schema = SCHEMAS[self.schema]
        query = urlencode(
            {
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "elementSetName": "full",
                "outputSchema": schema,
                "id": identifier,
            }
        )
        return f"{self.config.url.split('?')[0]}?{query}"

    def _page(self, base: str, page: int, start: int, size: int) -> _Page:
        """GetRecords from `start`, parsed (or EnumerationError), its records identified
        and hashed, and those that changed handed to the mapping process if there is one
        (run in the page thread, while the runner writes the page before)."""
        what = f"page {page} de GetRecords (à partir de la fiche {start})"
        content = self.fetch(base, what, params=self._params(start, size))
        try:
            root = safexml.parse(content)
        except safexml.UnsafeXMLError as exc:
            raise EnumerationError(f"{what} : {exc}") from None
        if root.tag == f"{{{NS['ows']}}}ExceptionReport":
            text = " ".join(root.itertext()).strip()[:300]
            raise EnumerationError(f"{what} : exception CSW « {text} »")
        results = root.find("csw:SearchResults", NS)
        if results is None:
            raise EnumerationError(f"{what} : pas de csw:SearchResults dans la réponse")
        found = _Page(results)
        inherited = results.nsmap
        work = []
        for child in results:
            if not isinstance(child.tag, str):
                continue
            ident = child.findtext(
                "gmd:fileIdentifier/gco:CharacterString", namespaces=NS
            ) or child.findtext("dc:identifier", namespaces=NS)
            ident = (ident or "").strip()
            derived = not ident
            ident = ident or content_id(child)
            raw = etree.tostring(child)
            digest = hashlib.sha256(MAPPING_VERSION + raw).hexdigest()
            found.entries.append((child, ident, derived, raw, digest))
            if digest not in self.known_hashes:
                url = None if derived else self.record_url(ident)
                found.slots[len(found.entries) - 1] = len(work)
                work.append((raw, inherited, url, ident if derived else None))
        if page == 1 and self._mapper is None and _announced(results) >= MAP_APART_FROM:
            self._mapper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        if work and self._mapper is not None:
            if not self._mapper_started:  # this submission starts the process
                with _main_script_hidden():
                    found.mapped = self._mapper.submit(map_many, work)
                self._mapper_started = True
            else:
                found.mapped = self._mapper.submit(map_many, work)
        return found

    def _take(self, page: _Page, index: int) -> RemoteRecord | RecordFailure:
        """The record `index` of `page`: mapped by the mapping process, else here."""
        child, ident, derived, raw, _digest = page.entries[index]
        slot = page.slots.get(index)
        if page.mapped is not None and slot is not None:
            try:
                record, parsed = page.mapped.result()[slot]
            except Exception:  # noqa: BLE001 - the process died: map it here
                return self._load(child, ident, derived, raw)
            if isinstance(record, RecordFailure):
                return RecordFailure(ident, record.reason)
            if parsed is not None:
                metadata_parse.keep_parsed(record.metadata_xml or "", parsed)
            return record
        return self._load(child, ident, derived, raw)

    def enumerate(self) -> Iterator[LazyRecord | RecordFailure | PageDone]:
        """Every record, page after page. The next page is fetched (and its changed
        records mapped, in a process of its own for a large catalogue) while this one
        is written: one page ahead at most, so memory stays bounded."""
        self.schema = str(self.option("schema", "iso"))
        if self.schema not in SCHEMAS:
            raise EnumerationError(f"option schema inconnue « {self.schema} » (iso ou dc)")
        size = max(1, min(int(self.option("page_size", PAGE_SIZE)), MAX_PAGE_SIZE))
        limit = int(self.option("max_records", 0)) or None
        start, read = 1, 0
        if isinstance(self.resume_at, dict):  # an interrupted job's cursor
            start, read = int(self.resume_at["start"]), int(self.resume_at["read"])
        base = self.config.url.split("?")[0]
        self._mapper: ProcessPoolExecutor | None = None
        self._mapper_started = False
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csw-page") as ahead:
                upcoming: Future[_Page] = ahead.submit(self._page, base, 1, start, size)
                try:
                    yield from self._records(ahead, upcoming, base, start, read, size, limit)
                finally:
                    upcoming.cancel()
        finally:
            if self._mapper is not None:
                self._mapper.shutdown(wait=False, cancel_futures=True)

    def _records(
        self,
        ahead: ThreadPoolExecutor,
        upcoming: Future[_Page],
        base: str,
        start: int,
        read: int,
        size: int,
        limit: int | None,
    ) -> Iterator[LazyRecord | RecordFailure | PageDone]:
        first = True
        for page in range(1, MAX_PAGES):
            what = f"page {page} de GetRecords (à partir de la fiche {start})"
            current = upcoming.result()
            results = current.results
            try:
                matched = int(results.get("numberOfRecordsMatched", ""))
                next_record = int(results.get("nextRecord", "0") or 0)
            except ValueError:
                raise EnumerationError(f"{what} : compteurs CSW illisibles") from None
            if first:
                self.expected_total = min(matched, limit) if limit else matched
                first = False
            if not current.entries and start <= matched:
                raise EnumerationError(f"{what} : page vide alors que {matched} fiches annoncées")
            last = next_record == 0 or next_record > matched or bool(limit and read >= limit)
            if not last:
                if next_record <= start:
                    raise EnumerationError(f"{what} : nextRecord={next_record} ne progresse pas")
                upcoming = ahead.submit(self._page, base, page + 1, next_record, size)
            for index, (_child, ident, _derived, _raw, digest) in enumerate(current.entries):
                read += 1
                yield LazyRecord(ident, digest, partial(self._take, current, index))
                if limit and read >= limit:
                    return
            if last:
                return
            start = next_record
            yield PageDone({"start": start, "read": read})
        raise EnumerationError("trop de pages GetRecords")


# From this many records announced, records are mapped in a process of their own while
# this one writes (parsing with OWSLib costs as much as writing): below it, starting the
# process would cost more than it saves.
MAP_APART_FROM = 500


# What a spawned process is told of this one's main module: nothing. Told of the real one
# (the `niaouli` command's script), it runs it again, importing the whole command line
# (about 2 s of CPU, a quarter of a 1,000-record harvest's mapping); the mapping process
# needs `map_many`'s module only.
_NO_MAIN = types.ModuleType("__main__")


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """While the mapping process is started: `multiprocessing`'s spawn reads the main
    module (`spawn.get_preparation_data`) when the process starts, in this thread."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = _NO_MAIN
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _announced(results: etree._Element) -> int:
    try:
        return int(results.get("numberOfRecordsMatched", ""))
    except ValueError:
        return 0


@dataclass
class _Page:
    """One GetRecords page: its results, its records (element, id, derived?, raw XML,
    hash) and, for those mapped apart, their slots in the mapping process's answer."""

    results: etree._Element
    entries: list[tuple[etree._Element, str, bool, bytes, str]] = field(default_factory=list)
    slots: dict[int, int] = field(default_factory=dict)
    mapped: Future[list[Any]] | None = None
