"""Run one harvest job: enumerate, write per record, delete only after a full list.

Rules (row R2 of SECURITY-CASES.md):
- each record is written in its own savepoint: a record that fails is reported with its
  reason and the others go on; records are committed in small batches as they come;
- records whose content hash did not change are `unchanged` and not written;
- deletions happen only when the enumeration completed (no HTTP error, timeout,
  unreadable or empty page, and as many records as the remote announced) and the count
  did not drop by more than half; otherwise the job is `partial` (or `failed` when
  nothing could be read) and nothing is deleted;
- a dry run does all of it in one transaction that is rolled back: the same report and
  diff, nothing written (no job row either), no data downloaded.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli import links, metrics
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
from niaouli.db.engine import writing
from niaouli.db.layers import layer_store
from niaouli.i18n import N_
from niaouli.ingest.harvest import licences, registry, repairs
from niaouli.ingest.harvest.base import (
    EnumerationError,
    HarvestError,
    LazyRecord,
    RecordDeleted,
    RecordFailure,
    RemoteRecord,
    SourceConfig,
)
from niaouli.ingest.harvest.fetch import MESSAGES, Fetcher, FetchError, Limits, spool_dir_for
from niaouli.ingest.harvest.models import (
    HarvestedRecord,
    HarvestJob,
    HarvestJobItem,
    HarvestSource,
    ItemAction,
    JobStatus,
)
from niaouli.ingest.harvest.service import get_source
from niaouli.settings import Settings, load_settings

# Job messages and per-record reasons are stored in French (the CLI prints them, the
# database keeps them); they are made from these templates, so that the portal can
# recognise a stored message and show it in the reader's language (`STORED_MESSAGES`).
OTHER_SOURCE = N_(
    "fiche déjà moissonnée depuis la source « %(source)s » : "
    "une source n'écrase jamais les fiches d'une autre"
)
# The same when that source belongs to another organisation: not named, since the report
# is read by this organisation's members, who may not learn another one's sources.
OTHER_ORGANISATION = N_(
    "fiche déjà moissonnée par une source d'une autre organisation : "
    "une source n'écrase jamais les fiches d'une autre"
)
ADOPTED = N_("repris d'une source supprimée (même identifiant distant)")
ABSENT = N_("absente de la source (liste complète)")
DELETED_BY_SOURCE = N_("supprimée par la source")
DUPLICATE = N_(
    "identifiant en double dans la source : la fiche n° %(kept)s, lue la première avec cet "
    "identifiant, est gardée ; celle-ci (fiche n° %(position)s) est ignorée"
)
UNEXPECTED = N_("erreur inattendue : %(detail)s")
FEWER_THAN_ANNOUNCED = N_("le serveur annonçait %(expected)s fiche(s), %(read)s ont pu être lues")
INCOMPLETE = N_("liste incomplète, aucune suppression : %(detail)s")
INCREMENTAL = N_("liste incrémentale : rien n'est supprimé sur absence")
DROPPED = N_(
    "le nombre de fiches est passé de %(before)s à %(after)s (baisse de plus de "
    "moitié) : aucune suppression, vérifiez la source"
)
DELETE_FAILED = N_("suppression : %(detail)s")
SOME_FAILED = N_("%(failed)s fiche(s) en échec")
STALE = N_("moisson interrompue (processus arrêté) : rien n'a été supprimé")
DATA_NOT_COPIED = N_("fiche enregistrée mais données non copiées : %(detail)s")

LINK_ROLE = "harvest-link"
COMMIT_EVERY = 50
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


@dataclass
class ItemReport:
    remote_id: str
    action: ItemAction
    reason: str = ""
    diff: dict[str, Any] = field(default_factory=dict)
    target: str | None = None


@dataclass
class JobReport:
    source: str
    dry_run: bool
    status: JobStatus = JobStatus.RUNNING
    message: str = ""
    items: list[ItemReport] = field(default_factory=list)
    job_id: int | None = None

    def count(self, action: ItemAction) -> int:
        return sum(1 for item in self.items if item.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {a.value: self.count(a) for a in ItemAction}

    def summary(self) -> str:
        """One French line: status and counts."""
        labels = {
            JobStatus.SUCCESS: "réussie",
            JobStatus.PARTIAL: "partielle",
            JobStatus.FAILED: "en échec",
            JobStatus.RUNNING: "en cours",
        }
        c = self.counts
        prefix = "simulation" if self.dry_run else "moisson"
        text = (
            f"{prefix} {labels[self.status]} ({self.source}) : {c['created']} créé(s), "
            f"{c['updated']} mis à jour, {c['unchanged']} inchangé(s), "
            f"{c['deleted']} supprimé(s), {c['failed']} en échec"
        )
        return f"{text} — {self.message}" if self.message else text


ProgressHook = Callable[[ItemReport, int | None], None]


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


def _free_slug(session: Session, model: type, base: str, remote_id: str) -> str:
    """`base`, `base-2`... `base-5`, then `base-<hash of the remote id>`: a catalogue where
    thousands of records share a title costs a few lookups each, not thousands."""
    candidates = [base, *(f"{base[:90]}-{n}" for n in range(2, 6))]
    digest = hashlib.sha256(remote_id.encode("utf-8")).hexdigest()
    candidates += [f"{base[:80]}-{digest[:8]}", f"{base[:70]}-{digest[:16]}"]
    for slug in candidates:
        if session.scalar(select(model.id).where(model.slug == slug)) is None:
            return slug
    counter = 6
    while True:  # only when every candidate above is taken
        slug = f"{base[:80]}-{digest[:8]}-{counter}"
        if session.scalar(select(model.id).where(model.slug == slug)) is None:
            return slug
        counter += 1


@dataclass
class _Known:
    """A record the source already brought: its link row, content hash and target slug."""

    id: int
    content_hash: str
    target: str | None


class _Job:
    def __init__(
        self,
        session: Session,
        source: HarvestSource,
        settings: Settings,
        report: JobReport,
        force: bool,
    ) -> None:
        self.session = session
        self.source = source
        self.settings = settings
        self.report = report
        self.force = force
        self.deleted_keys: list[str] = []
        self.access = AccessLevel(source.options.get("access", AccessLevel.PUBLIC.value))
        self._orphans: dict[str, int] | None = None

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
        return self.session.scalar(
            select(HarvestSource)
            .join(HarvestedRecord, HarvestedRecord.source_id == HarvestSource.id)
            .where(
                HarvestedRecord.remote_id == remote_id,
                HarvestedRecord.source_id != self.source.id,
            )
        )

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
            else:
                link.dataset_id = self._target_id
        link.content_hash = record.content_hash()
        link.remote_modified = record.remote_modified
        link.original = record.original
        link.original_media_type = record.original_media_type
        link.original_url = _link_or_none(record.original_url)
        link.harvested_at = utcnow()
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
            slug = _free_slug(session, Dataset, base, record.remote_id)
            title = fields.pop("title")
            dataset = catalogue.create_dataset(session, org, slug, title, **fields)
            diff = {k: _short(getattr(dataset, k)) for k in DIFF_FIELDS if getattr(dataset, k)}
            action = ItemAction.CREATED
            self._set_links(dataset, record)  # flushed with the link row, in `apply`
        else:
            before = {k: getattr(dataset, k) for k in DIFF_FIELDS}
            before_links = sorted(r.url or "" for r in dataset.resources if r.role == LINK_ROLE)
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
        reason = ADOPTED if adopted else ""
        self._target_id = dataset.id
        return ItemReport(record.remote_id, action, reason, diff=diff, target=dataset.slug)

    @staticmethod
    def _set_links(dataset: Dataset, record: RemoteRecord) -> None:
        """Coverage and link resources (distributions, online resources) from the record."""
        dataset.spatial_coverage = _coverage(record.bbox)
        for resource in [r for r in dataset.resources if r.role == LINK_ROLE]:
            dataset.resources.remove(resource)
        for link_ in _web_links(record):
            dataset.resources.append(
                Resource(
                    title=(link_.get("title") or link_["url"])[:500],
                    kind=ResourceKind.LINK,
                    role=LINK_ROLE,
                    url=link_["url"],
                    format=(link_.get("format") or None) and link_["format"][:50],
                    media_type=(link_.get("media_type") or None) and link_["media_type"][:100],
                )
            )

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
            store = layer_store(session.connection())
            for layer in dataset.layers:
                store.drop(session.connection(), layer.table_name, layer.geometry_type is not None)
            self.deleted_keys += [r.storage_key for r in dataset.resources if r.storage_key]
            session.delete(dataset)
        if project is not None:
            target = project.slug
            session.delete(project)
        session.flush()
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


def _data_enabled(source: HarvestSource) -> bool:
    return str(source.options.get("data", "false")).lower() in ("1", "true", "yes", "oui")


@metrics.harvest_counted  # /metrics: niaouli_harvest_runs_total by the job's outcome
def run_source(
    slug: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    engine: Engine | None = None,
    settings: Settings | None = None,
    limits: Limits | None = None,
    on_item: ProgressHook | None = None,
    fetcher: Fetcher | None = None,
    queue_job: int | None = None,
) -> JobReport:
    """Harvest source `slug` once; the report says what was (or would be) done.

    `fetcher` replaces the network client (the demo replays a shipped snapshot through
    it: `niaouli.demo_harvest`); it is never taken from a source's own settings.
    `queue_job`: the queued job running this harvest (kept on its job row)."""
    from niaouli.db.engine import get_engine

    settings = settings or load_settings()
    engine = engine or get_engine(settings)
    report = JobReport(source=slug, dry_run=dry_run)
    # Every transaction below reads then writes: on SQLite, take the write lock first.
    with Session(writing(engine)) as session:
        source = get_source(session, slug)
        cls = registry.harvester_class(source.type)
        last_success = session.scalar(
            select(HarvestJob.started_at)
            .where(
                HarvestJob.source_id == source.id,
                HarvestJob.status == JobStatus.SUCCESS,
                HarvestJob.dry_run.is_(False),
            )
            .order_by(HarvestJob.id.desc())
            .limit(1)
        )
        allow_private = source.allow_private_network
        config = SourceConfig(
            url=source.url,
            options=dict(source.options or {}),
            last_success=last_success.isoformat() if last_success else None,
        )
        if not dry_run:
            report.job_id = _claim(session, source.id, queue_job)

    fetcher = fetcher or Fetcher(
        allow_private_network=allow_private,
        limits=limits or Limits(total_timeout=settings.harvest_fetch_timeout),
        spool_dir=spool_dir_for(settings.data_dir),
    )
    harvester = cls(config, fetcher)
    try:
        with Session(writing(engine)) as session:
            _run(session, harvester, slug, settings, engine, report, dry_run, force, on_item)
    except Exception as exc:
        # Whatever was not committed is rolled back; nothing was deleted. Keep the job.
        if report.job_id is not None:
            fail_job(engine, report, UNEXPECTED % {"detail": _reason(exc)})
        raise
    finally:
        fetcher.close()
    return report


def _run(
    session: Session,
    harvester: Any,
    slug: str,
    settings: Settings,
    engine: Engine,
    report: JobReport,
    dry_run: bool,
    force: bool,
    on_item: ProgressHook | None,
) -> None:
    source = get_source(session, slug)
    job = _Job(session, source, settings, report, force)
    # What the source already brought: ids, hashes and slugs only (not the ORM rows and
    # their original documents: 10,000 records would hold hundreds of megabytes).
    links = {
        remote_id: _Known(link_id, content_hash, dataset_slug or project_slug)
        for remote_id, link_id, content_hash, dataset_slug, project_slug in session.execute(
            select(
                HarvestedRecord.remote_id,
                HarvestedRecord.id,
                HarvestedRecord.content_hash,
                Dataset.slug,
                CodeProject.slug,
            )
            .outerjoin(Dataset, Dataset.id == HarvestedRecord.dataset_id)
            .outerjoin(CodeProject, CodeProject.id == HarvestedRecord.code_project_id)
            .where(HarvestedRecord.source_id == source.id)
        )
    }
    previous = len(links)
    seen: dict[str, int] = {}  # remote id -> its position in the listing (first copy)
    read = 0  # records listed, duplicates included: what the remote's total counts
    incomplete: str | None = None
    data_queue: list[tuple[RemoteRecord, str]] = []
    pending = 0

    def record_item(item: ItemReport) -> None:
        report.items.append(item)
        if on_item is not None:
            on_item(item, harvester.expected_total)

    try:
        for entry in harvester.enumerate():
            read += 1
            if entry.remote_id in seen:
                reason = DUPLICATE % {"kept": seen[entry.remote_id], "position": read}
                record_item(ItemReport(entry.remote_id, ItemAction.FAILED, reason))
                continue
            seen[entry.remote_id] = read
            if isinstance(entry, RecordDeleted):
                if entry.remote_id in links:
                    gone = links.pop(entry.remote_id)
                    savepoint = session.begin_nested()
                    try:
                        row = session.get(HarvestedRecord, gone.id)
                        item = job.delete(row, DELETED_BY_SOURCE)
                    except Exception as exc:  # noqa: BLE001
                        savepoint.rollback()
                        item = ItemReport(entry.remote_id, ItemAction.FAILED, _reason(exc))
                    else:
                        savepoint.commit()
                    record_item(item)
                continue
            if isinstance(entry, RecordFailure):
                record_item(ItemReport(entry.remote_id, ItemAction.FAILED, entry.reason))
                continue
            known = links.get(entry.remote_id)
            digest = entry.content_hash if isinstance(entry, LazyRecord) else entry.content_hash()
            if known is not None and not force and known.content_hash == digest:
                record_item(ItemReport(entry.remote_id, ItemAction.UNCHANGED, target=known.target))
                continue
            if isinstance(entry, LazyRecord):
                loaded = entry.load()
                if isinstance(loaded, RecordFailure):
                    record_item(ItemReport(entry.remote_id, ItemAction.FAILED, loaded.reason))
                    continue
                loaded.remote_id, loaded.hash_override = entry.remote_id, digest
                entry = loaded
            savepoint = session.begin_nested()
            try:
                link = session.get(HarvestedRecord, known.id) if known is not None else None
                item = job.apply(entry, link)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the job
                savepoint.rollback()
                item = ItemReport(entry.remote_id, ItemAction.FAILED, _reason(exc))
            else:
                if item.action == ItemAction.FAILED:
                    savepoint.rollback()
                else:
                    savepoint.commit()
                    if entry.notes:
                        item.reason = " ; ".join([*filter(None, [item.reason]), *entry.notes])
                    done = job.last_link
                    links[entry.remote_id] = _Known(done.id, done.content_hash, item.target)
                    if entry.data is not None and _data_enabled(source) and item.target:
                        data_queue.append((entry, item.target))
            record_item(item)
            pending += 1
            if pending >= COMMIT_EVERY:
                if not dry_run:
                    session.commit()
                # Keep the identity map small (a dry run stays in its one transaction).
                session.expunge_all()
                job.source = source = get_source(session, slug)
                pending = 0
    except EnumerationError as exc:
        incomplete = str(exc)

    expected = harvester.expected_total
    # Compared with the records read, not the distinct ids: a remote listing one id twice
    # is complete, and must not be "partial" (no deletion ever) on every run.
    if incomplete is None and expected is not None and read < expected:
        incomplete = FEWER_THAN_ANNOUNCED % {"expected": expected, "read": read}

    if incomplete is not None:
        read = sum(1 for i in report.items if i.action != ItemAction.FAILED)
        report.status = JobStatus.PARTIAL if read else JobStatus.FAILED
        report.message = INCOMPLETE % {"detail": incomplete}
    elif not harvester.complete_listing:
        report.status = JobStatus.SUCCESS
        report.message = INCREMENTAL
    elif previous and len(seen) * 2 < previous:
        report.status = JobStatus.PARTIAL
        report.message = DROPPED % {"before": previous, "after": len(seen)}
    else:
        for remote_id in sorted(set(links) - seen.keys()):
            savepoint = session.begin_nested()
            try:
                item = job.delete(session.get(HarvestedRecord, links[remote_id].id))
            except Exception as exc:  # noqa: BLE001
                savepoint.rollback()
                reason = DELETE_FAILED % {"detail": _reason(exc)}
                item = ItemReport(remote_id, ItemAction.FAILED, reason)
            else:
                savepoint.commit()
            record_item(item)
        report.status = JobStatus.SUCCESS
        failed = report.count(ItemAction.FAILED)
        if failed:
            report.message = SOME_FAILED % {"failed": failed}

    if dry_run:
        session.rollback()
        return
    organisation, source_id = source.organisation.slug, source.id
    session.commit()
    if job.deleted_keys:
        from niaouli import storage

        for key in job.deleted_keys:
            storage.remove_key(settings, key)
    for record, target in data_queue:
        # No transaction of ours is open while the ingestion writes (SQLite: one writer).
        _copy_data(
            session, harvester, record, target, organisation, source_id, settings, engine, report
        )
    _finish(session, report)


STALE_AFTER = timedelta(hours=6)


class HarvestBusyError(HarvestError):
    """Another job of the same source is running (another process or worker)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _claim(session: Session, source_id: int, queue_job: int | None = None) -> int:
    """Insert this run's job row; refuse when another run of the source is under way.

    The row is committed first, then the other running rows are looked at: of two
    processes racing, at least one sees the other and backs off (both may, and retry at
    the next tick), so a source is never harvested twice at once. Running rows older
    than `STALE_AFTER` belong to killed processes: they are marked failed.
    """
    job = HarvestJob(
        source_id=source_id, dry_run=False, status=JobStatus.RUNNING, queue_job_id=queue_job
    )
    session.add(job)
    session.commit()
    others = session.scalars(
        select(HarvestJob).where(
            HarvestJob.source_id == source_id,
            HarvestJob.status == JobStatus.RUNNING,
            HarvestJob.id != job.id,
        )
    ).all()
    busy = False
    for other in others:
        if utcnow() - _aware(other.started_at) > STALE_AFTER:
            other.status = JobStatus.FAILED
            other.finished_at = utcnow()
            other.message = STALE
        else:
            busy = True
    if busy:
        session.delete(job)
        session.commit()
        raise HarvestBusyError("une moisson de cette source est déjà en cours")
    session.commit()
    return job.id


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


def _copy_data(
    session: Session,
    harvester: Any,
    record: RemoteRecord,
    target: str,
    organisation: str,
    source_id: int,
    settings: Settings,
    engine: Engine,
    report: JobReport,
) -> None:
    """Copy the data through the ingestion; a failure is reported and retried next run."""
    from niaouli.ingest import IngestError, ingest_file

    item = next(i for i in reversed(report.items) if i.remote_id == record.remote_id)
    try:
        with tempfile.TemporaryDirectory(prefix="niaouli-harvest-") as workdir:
            path, crs = harvester.fetch_data(record, Path(workdir))
            result = ingest_file(
                path,
                organisation=organisation,
                dataset=target,
                crs=crs,
                original_name=(record.data.filename if record.data else None) or path.name,
                settings=settings,
                engine=engine,
                progress="none",
            )
        item.diff["données"] = f"{result.feature_count} entité(s) copiée(s)"
    except (FetchError, EnumerationError, IngestError, OSError, ValueError) as exc:
        message = exc.describe() if isinstance(exc, IngestError) else str(exc)
        item.action = ItemAction.FAILED
        item.reason = (DATA_NOT_COPIED % {"detail": message})[:1000]
        link = session.scalar(
            select(HarvestedRecord).where(
                HarvestedRecord.source_id == source_id,
                HarvestedRecord.remote_id == record.remote_id,
            )
        )
        if link is not None:
            link.content_hash = ""  # retried at the next run
        session.commit()


def _finish(session: Session, report: JobReport) -> None:
    job = session.get(HarvestJob, report.job_id)
    if job is None:
        return
    job.status = report.status
    job.message = report.message
    job.finished_at = utcnow()
    for action in ItemAction:
        setattr(job, action.value, report.count(action))
    session.add_all(
        HarvestJobItem(
            job_id=job.id,
            remote_id=item.remote_id[:500],
            action=item.action,
            reason=item.reason,
            diff=item.diff,
            target=item.target,
        )
        for item in report.items
    )
    session.commit()


def fail_job(engine: Engine, report: JobReport, message: str) -> None:
    """Mark a job that crashed as failed (nothing is deleted by a crash)."""
    report.status = JobStatus.FAILED
    report.message = message
    with Session(writing(engine)) as session:
        _finish(session, report)


# Every template a stored job message or per-record reason is made from, most specific
# first (the portal matches a stored French text against them to translate it).
STORED_MESSAGES = (
    OTHER_SOURCE,
    OTHER_ORGANISATION,
    ADOPTED,
    ABSENT,
    DELETED_BY_SOURCE,
    DUPLICATE,
    UNEXPECTED,
    FEWER_THAN_ANNOUNCED,
    INCOMPLETE,
    INCREMENTAL,
    DROPPED,
    DELETE_FAILED,
    SOME_FAILED,
    STALE,
    DATA_NOT_COPIED,
    *licences.TEMPLATES,
    *repairs.TEMPLATES,
    *MESSAGES,
)
