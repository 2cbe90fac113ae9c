"""Harvest, step 3 — apply: write one planned record into the catalogue, or withdraw one.

`RecordWriter` turns a remote record into a dataset or a code project through
`catalogue.service` (so every derived view follows through the usual change hooks),
keeps the link row (`HarvestedRecord`: content hash, remote date, original document) and
deletes what a complete listing no longer has. `write_in_savepoint` and
`withdraw_in_savepoint` run each change in its own savepoint: a record that fails is
rolled back alone and reported with its reason, the others go on (row R2 of
SECURITY-CASES.md). Every URL a remote gives passes the platform's link rule first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from niaouli import links
from niaouli.catalogue import service as catalogue
from niaouli.catalogue.models import (
    AccessLevel,
    CodeProject,
    CodeStatus,
    Dataset,
    Resource,
    ResourceKind,
    utcnow,
)
from niaouli.ingest.harvest import repairs
from niaouli.ingest.harvest.base import RemoteRecord
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, HarvestSource, ItemAction
from niaouli.ingest.harvest.job_plan import Known
from niaouli.ingest.harvest.job_report import ItemReport
from niaouli.ingest.harvest.messages import (
    ABSENT,
    ADOPTED,
    OTHER_ORGANISATION,
    OTHER_SOURCE,
    reason_of,
)
from niaouli.privacy import guard as privacy_guard
from niaouli.privacy.scan import scan_metadata

LINK_ROLE = "harvest-link"
DIFF_FIELDS = (
    "title",
    "description",
    "keywords",
    "themes",
    "licence",
    "producer",
    "contact_name",
    "contact_email",
    "temporal_start",
    "temporal_end",
    "lineage",
    "update_frequency",
)
CODE_FIELDS = {
    "description",
    "repository_url",
    "licence",
    "languages",
    "releases",
    "publiccode",
    "status",
}


def _short(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value


def _coverage(bbox: tuple[float, float, float, float] | None) -> WKTElement | None:
    if bbox is None:
        return None
    west, south, east, north = bbox
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        return None
    ring = f"{west} {south}, {west} {north}, {east} {north}, {east} {south}, {west} {south}"
    return WKTElement(f"POLYGON(({ring}))", srid=4326)


def _free_slug(
    session: Session,
    model: type,
    base: str,
    remote_id: str,
    taken: Collection[str] = (),
    stored: Collection[str] | None = None,
) -> str:
    """`base`, `base-2`... `base-5`, then `base-<hash of the remote id>`: a catalogue where
    thousands of records share a title costs a few lookups each, not thousands. `taken`:
    slugs given to datasets not flushed yet (a deferred batch), which no query sees;
    `stored`: the slugs in the database, read beforehand (then nothing is queried)."""

    def free(slug: str) -> bool:
        if slug in taken:
            return False
        if stored is not None:
            return slug not in stored
        return session.scalar(select(model.id).where(model.slug == slug)) is None

    candidates = [base, *(f"{base[:90]}-{n}" for n in range(2, 6))]
    digest = hashlib.sha256(remote_id.encode("utf-8")).hexdigest()
    candidates += [f"{base[:80]}-{digest[:8]}", f"{base[:70]}-{digest[:16]}"]
    for slug in candidates:
        if free(slug):
            return slug
    counter = 6
    while True:  # only when every candidate above is taken
        slug = f"{base[:80]}-{digest[:8]}-{counter}"
        if free(slug):
            return slug
        counter += 1


def _column_defaults(dataset: Dataset) -> None:
    """The scalar column defaults of the fields a report's diff shows, set now on a
    dataset not flushed yet: its diff is then what it would be after the flush."""
    for name in DIFF_FIELDS:
        column = Dataset.__table__.c.get(name)
        default = column.default if column is not None else None
        if getattr(dataset, name) is None and default is not None and default.is_scalar:
            setattr(dataset, name, default.arg)


class RecordWriter:
    """Writes the records of one job, in its session; remembers the files to remove.

    `deferred`: a new dataset is added to the session without a flush (the runner
    flushes its batch at once, and writes the batch again record by record if that
    fails); `batch_slugs` are the slugs such datasets took, not in the database yet.
    Their slugs are chosen against every dataset slug read once (`stored_slugs`, kept
    up to date by the runner, forgotten when a batch is written again): a slug taken
    meanwhile by another writer fails the batch's flush, which is then redone with a
    query per slug."""

    def __init__(self, session: Session, source: HarvestSource) -> None:
        self.session = session
        self.source = source
        self.deleted_keys: list[str] = []
        self.deferred = False
        self.batch_slugs: set[str] = set()
        self.stored_slugs: set[str] | None = None
        self.access = AccessLevel(source.options.get("access", AccessLevel.PUBLIC.value))
        self._orphans: dict[str, int] | None = None
        self._elsewhere: dict[str, int] | None = None
        # The link resources of the batch's new datasets, inserted at once when the batch
        # is flushed (`insert_pending_links`): one statement, not one a row with its id
        # read back (the ORM's, on SQLite), and no ORM object a link.
        self.pending_links: list[tuple[Dataset, list[dict[str, Any]]]] = []
        # The next ids of the batch's new rows, given here on SQLite (`_give_id`); emptied
        # by the runner with every batch (a batch rolled back gives its ids back).
        self.next_ids: dict[type, int] = {}
        self._sqlite: bool | None = None

    # --- writing one record --------------------------------------------------------

    def provenance(self, record: RemoteRecord) -> dict[str, Any]:
        return {
            "harvest_source": self.source.slug,
            "harvest_source_name": self.source.name,
            "harvest_type": self.source.type,
            "remote_id": record.remote_id,
            "source_url": links.web_link(record.original_url) or self.source.url,
            "harvested_at": utcnow().isoformat(),
        }

    def owner_elsewhere(self, remote_id: str) -> HarvestSource | None:
        """The other source that harvested `remote_id`, if any (the other sources'
        identifiers are read once per job: one query, not one per new record)."""
        if self._elsewhere is None:
            rows = self.session.execute(
                select(HarvestedRecord.remote_id, HarvestedRecord.source_id).where(
                    HarvestedRecord.source_id != self.source.id
                )
            ).all()
            self._elsewhere = {remote_id: source_id for remote_id, source_id in rows}
        source_id = self._elsewhere.get(remote_id)
        return self.session.get(HarvestSource, source_id) if source_id is not None else None

    def orphan(self, remote_id: str) -> Dataset | None:
        """A dataset of this organisation harvested under `remote_id` by a source that is
        gone: the record moved to this source, and is taken over rather than duplicated.

        The candidates are read once per job (one query, not one per record)."""
        if self.source.type in ("github", "gitlab"):
            return None
        if self._orphans is None:
            owned = select(HarvestedRecord.dataset_id).where(
                HarvestedRecord.dataset_id.is_not(None)
            )
            rows = self.session.execute(
                select(Dataset.id, Dataset.provenance).where(
                    Dataset.organisation_id == self.source.organisation_id,
                    Dataset.id.not_in(owned),
                )
            ).all()
            self._orphans = {
                str(p["remote_id"]): i
                for i, p in rows
                if isinstance(p, dict) and p.get("harvest_source") and p.get("remote_id")
            }
        dataset_id = self._orphans.pop(remote_id, None)
        return self.session.get(Dataset, dataset_id) if dataset_id is not None else None

    def apply(self, record: RemoteRecord, link: HarvestedRecord | None) -> ItemReport:
        if link is None:
            other = self.owner_elsewhere(record.remote_id)
            if other is not None:
                reason = (
                    OTHER_SOURCE % {"source": other.slug}
                    if other.organisation_id == self.source.organisation_id
                    else OTHER_ORGANISATION
                )
                return ItemReport(record.remote_id, ItemAction.FAILED, reason)
        with self.session.no_autoflush:
            if record.kind == "code_project":
                item = self.apply_code_project(record, link)
            else:
                item = self.apply_dataset(record, link)
        if link is None:
            link = HarvestedRecord(source_id=self.source.id, remote_id=record.remote_id)
            self.session.add(link)
            if record.kind == "code_project":
                link.code_project_id = self._target_id
            elif self._target_id is None:  # a deferred dataset: no id before the flush
                link.dataset = self._target
            else:
                link.dataset_id = self._target_id
            if self.deferred:
                self._give_id(link)
        link.content_hash = record.content_hash()
        link.remote_modified = record.remote_modified
        link.original = record.original
        link.original_media_type = record.original_media_type
        link.original_url = _link_or_none(record.original_url)
        link.harvested_at = utcnow()
        if not self.deferred:
            self.session.flush()
        self.last_link = link
        return item

    def apply_dataset(self, record: RemoteRecord, link: HarvestedRecord | None) -> ItemReport:
        session = self.session
        fields = {k: v for k, v in record.fields.items() if k in catalogue.DATASET_FIELDS}
        # Every source's title mended the same way, and said (the sources that know an
        # alternate title or a description mend it first; the record itself, and so its
        # hash, is left as the source mapped it).
        title, title_notes = repairs.title_of(
            record.title,
            record.remote_id,
            description=str(record.fields.get("description") or ""),
        )
        record.notes.extend(n for n in title_notes if n not in record.notes)
        fields["title"] = title
        fields["provenance"] = self.provenance(record)
        fields["original_metadata"] = record.metadata_xml
        fields["access_level"] = self.access
        dataset = link.dataset if link is not None else self.orphan(record.remote_id)
        adopted = link is None and dataset is not None
        if dataset is None:
            org = self.source.organisation
            base = catalogue.make_slug(fields["title"])
            stored = None
            if self.deferred:
                if self.stored_slugs is None:  # one query, not one a record
                    self.stored_slugs = set(session.scalars(select(Dataset.slug)))
                stored = self.stored_slugs
            slug = _free_slug(session, Dataset, base, record.remote_id, self.batch_slugs, stored)
            title = fields.pop("title")
            flush = not self.deferred
            dataset = catalogue.create_dataset(session, org, slug, title, flush=flush, **fields)
            if not flush:
                self.batch_slugs.add(slug)
                _column_defaults(dataset)
                self._give_id(dataset)
            diff = {k: _short(getattr(dataset, k)) for k in DIFF_FIELDS if getattr(dataset, k)}
            action = ItemAction.CREATED
            if flush:
                self._set_links(dataset, record)  # flushed with the link row, in `apply`
            else:  # inserted with the batch's others, once the datasets have their ids
                dataset.spatial_coverage = _coverage(record.bbox)
                self.pending_links.append((dataset, _link_rows(record)))
        else:
            before = {k: getattr(dataset, k) for k in DIFF_FIELDS}
            before_links = sorted(r.url or "" for r in dataset.resources if r.role == LINK_ROLE)
            if privacy_guard.is_held(session, dataset):  # personal data: an editor decides
                fields.pop("access_level", None)
            self._set_links(dataset, record)
            # Last, so that its flush carries every change of the dataset at once (each
            # flush that touches a dataset rewrites its CSW record and search text).
            catalogue.update_dataset(session, dataset, **fields)
            diff = {
                k: [_short(before[k]), _short(getattr(dataset, k))]
                for k in DIFF_FIELDS
                if before[k] != getattr(dataset, k)
            }
            after_links = sorted(link_["url"] for link_ in _web_links(record))
            if before_links != after_links:
                diff["liens"] = [before_links, after_links]
            action = ItemAction.UPDATED
        # The record's own text passes the personal-data guard: with findings, the dataset
        # is kept as a draft with them (docs/privacy.md); later runs leave it a draft.
        if dataset.access_level in privacy_guard.GUARDED and scan_metadata(dataset):
            session.flush()
            self.insert_pending_links()  # the dataset held as it will be stored
            held = privacy_guard.hold(session, dataset)
            if held:
                diff["données personnelles"] = privacy_guard.held_note(held)
        reason = ADOPTED if adopted else ""
        self._target, self._target_id = dataset, dataset.id
        return ItemReport(record.remote_id, action, reason, diff=diff, target=dataset.slug)

    def _give_id(self, row: Dataset | HarvestedRecord) -> None:
        """On SQLite, the id a new row of a deferred batch will have, given now: the one
        SQLite would choose (the largest plus one; no AUTOINCREMENT, and the harvest's
        `BEGIN IMMEDIATE` transaction keeps other writers out until it commits).

        Why: without it the ORM must read each new row's id back, and on SQLite (whose
        RETURNING order is not guaranteed) it then sends one `INSERT ... RETURNING` a
        row; with the ids known, the batch's rows go in one `executemany`. A clash (a
        writer ignoring the lock) fails the batch's flush, which is then written again
        record by record without given ids. PostgreSQL keeps its sequences."""
        session = self.session
        if self._sqlite is None:
            self._sqlite = session.get_bind().dialect.name == "sqlite"
        if not self._sqlite:
            return
        kind = type(row)
        next_id = self.next_ids.get(kind)
        if next_id is None:
            with session.no_autoflush:
                largest = session.scalar(select(func.max(kind.id)))
            next_id = (largest or 0) + 1
        row.id = next_id
        self.next_ids[kind] = next_id + 1

    @staticmethod
    def _set_links(dataset: Dataset, record: RemoteRecord) -> None:
        """Coverage and link resources (distributions, online resources) from the record."""
        dataset.spatial_coverage = _coverage(record.bbox)
        for resource in [r for r in dataset.resources if r.role == LINK_ROLE]:
            dataset.resources.remove(resource)
        for row in _link_rows(record):
            dataset.resources.append(Resource(**row))

    def insert_pending_links(self) -> None:
        """Insert the link resources of the batch's new datasets (`pending_links`), which
        the session has flushed: one Core `INSERT` for them all. Their datasets' resource
        lists were never read in this session (a later read loads them)."""
        rows = [
            {**row, "dataset_id": dataset.id}
            for dataset, dataset_rows in self.pending_links
            for row in dataset_rows
        ]
        self.pending_links = []
        if rows:
            self.session.execute(insert(Resource.__table__), rows)

    def apply_code_project(self, record: RemoteRecord, link: HarvestedRecord | None) -> ItemReport:
        session = self.session
        fields = _web_code_fields({k: v for k, v in record.fields.items() if k in CODE_FIELDS})
        fields["status"] = CodeStatus(fields.get("status") or CodeStatus.STABLE.value)
        name = (record.title or record.remote_id)[:300]
        project = link.code_project if link is not None else None
        if project is None:
            slug = _free_slug(session, CodeProject, catalogue.make_slug(name), record.remote_id)
            project = catalogue.create_code_project(
                session, self.source.organisation, slug, name, **fields
            )
            action, diff = ItemAction.CREATED, {k: _short(v) for k, v in fields.items()}
        else:
            diff = {}
            for key, value in {"name": name, **fields}.items():
                if getattr(project, key) != value:
                    diff[key] = [_short(getattr(project, key)), _short(value)]
                    setattr(project, key, value)
            project.updated_at = utcnow()
            action = ItemAction.UPDATED
        session.flush()
        self._target_id = project.id
        return ItemReport(record.remote_id, action, diff=diff, target=project.slug)

    # --- deleting --------------------------------------------------------------------

    def delete(self, link: HarvestedRecord, reason: str = ABSENT) -> ItemReport:
        session = self.session
        target = None
        dataset, project = link.dataset, link.code_project
        session.delete(link)
        if dataset is not None:
            target = dataset.slug
            from niaouli.db.layers import layer_store  # pyarrow, psycopg: on deletion only

            store = layer_store(session.connection())
            for layer in dataset.layers:
                store.drop(session.connection(), layer.table_name, layer.geometry_type is not None)
            self.deleted_keys += [r.storage_key for r in dataset.resources if r.storage_key]
            session.delete(dataset)
        if project is not None:
            target = project.slug
            session.delete(project)
        session.flush()
        if dataset is not None and self.stored_slugs is not None:
            self.stored_slugs.discard(dataset.slug)  # free again, as a query would say
        return ItemReport(
            link.remote_id,
            ItemAction.DELETED,
            reason,
            target=target,
        )


# --- links from remote records (row S22) ---------------------------------------------
# A remote decides what its records say: every URL it gives passes the platform's one
# link rule (`niaouli.links`) before it is stored, like a URL typed in a form. A link
# that fails it is dropped (the record itself is kept).
RESOURCE_URL_MAX = 2000  # resources.url, harvested_records.original_url
REPOSITORY_URL_MAX = 1000  # code_projects.repository_url


def _link_or_none(url: object, max_length: int = RESOURCE_URL_MAX) -> str | None:
    checked = links.web_link(url)
    return checked if checked is not None and len(checked) <= max_length else None


def _link_rows(record: RemoteRecord) -> list[dict[str, Any]]:
    """The link resources of a record, as `Resource` column values (in its order)."""
    return [
        {
            "title": (link_.get("title") or link_["url"])[:500],
            "kind": ResourceKind.LINK,
            "role": LINK_ROLE,
            "url": link_["url"],
            "format": (link_.get("format") or None) and link_["format"][:50],
            "media_type": (link_.get("media_type") or None) and link_["media_type"][:100],
        }
        for link_ in _web_links(record)
    ]


def _web_links(record: RemoteRecord) -> list[dict[str, str]]:
    """The record's links whose URL may be stored, with that URL as checked (stripped)."""
    kept = []
    for link_ in record.links:
        url = _link_or_none(link_.get("url"))
        if url is not None:
            kept.append({**link_, "url": url})
    return kept


def _web_code_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A code project's repository and release addresses, by the one link rule."""
    if "repository_url" in fields:
        fields["repository_url"] = _link_or_none(fields["repository_url"], REPOSITORY_URL_MAX)
    if isinstance(fields.get("releases"), list):
        releases = []
        for release in fields["releases"]:
            if not isinstance(release, dict):
                continue
            release = dict(release)
            for key in ("url", "archive_url"):
                if key in release:
                    url = _link_or_none(release[key])
                    if url is None:
                        release.pop(key)
                    else:
                        release[key] = url
            releases.append(release)
        fields["releases"] = releases
    return fields


def write_in_savepoint(
    writer: RecordWriter, record: RemoteRecord, known: Known | None
) -> ItemReport:
    """Write one record in its own savepoint; a failure is rolled back and reported."""
    session = writer.session
    savepoint = session.begin_nested()
    try:
        link = session.get(HarvestedRecord, known.id) if known is not None else None
        item = writer.apply(record, link)
    except Exception as exc:  # noqa: BLE001 - one bad record must not stop the job
        savepoint.rollback()
        return ItemReport(record.remote_id, ItemAction.FAILED, reason_of(exc))
    if item.action == ItemAction.FAILED:
        savepoint.rollback()
    else:
        savepoint.commit()
    return item


def write_deferred(writer: RecordWriter, record: RemoteRecord) -> ItemReport:
    """Write one new record without a savepoint nor a flush: the caller's batch is
    flushed whole, and written again record by record (`write_in_savepoint`) when this,
    or its flush, fails (a failure here leaves the session half-changed)."""
    writer.deferred = True
    try:
        return writer.apply(record, None)
    finally:
        writer.deferred = False


def withdraw_in_savepoint(
    writer: RecordWriter,
    remote_id: str,
    known: Known,
    reason: str = ABSENT,
    failure: str | None = None,
) -> ItemReport:
    """Delete what a record became, in its own savepoint; a failure is reported (with the
    template `failure` around the error, when given)."""
    session = writer.session
    savepoint = session.begin_nested()
    try:
        item = writer.delete(session.get(HarvestedRecord, known.id), reason)
    except Exception as exc:  # noqa: BLE001
        savepoint.rollback()
        detail = reason_of(exc)
        return ItemReport(
            remote_id, ItemAction.FAILED, failure % {"detail": detail} if failure else detail
        )
    savepoint.commit()
    return item
