"""`niaouli records import`: metadata records (ISO 19139, Dublin Core) in as datasets.

Each file holds one record (`gmd:MD_Metadata` or `csw:Record`); it becomes a dataset of
the given organisation, metadata only, with the producer's XML kept verbatim in
`Dataset.original_metadata` so that CSW serves it back as written. Re-importing a record
with the same identifier updates its dataset. Every file is parsed (safely: untrusted
XML) before anything is written, and all of them land in one transaction: a bad file
imports nothing and its name is in the error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from geoalchemy2 import WKTElement
from lxml import etree
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli import metadata_parse, safexml
from niaouli.catalogue import service, vocabularies
from niaouli.catalogue.models import AccessLevel, Dataset, utcnow
from niaouli.db.engine import writing


class ImportError_(service.CatalogueError):  # noqa: N801 - `ImportError` is a builtin
    """A record file the import refuses; the message names the file."""


@dataclass
class ImportedRecord:
    file: str
    identifier: str
    kind: str
    slug: str
    created: bool


@dataclass
class _Loaded:
    file: str
    record: metadata_parse.ParsedRecord
    original: str


def read_record(path: Path) -> _Loaded:
    """Parse one file; `ImportError_` naming it when it is unsafe or not a record."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportError_(f"{path.name} : lecture impossible ({exc.strerror})") from None
    try:
        root = safexml.parse(data)
        record = metadata_parse.parse_record(root)
    except (safexml.UnsafeXMLError, metadata_parse.RecordError) as exc:
        raise ImportError_(f"{path.name} : {exc}") from None
    original = etree.tostring(root.getroottree(), encoding="unicode")
    return _Loaded(path.name, record, original)


def _find(session: Session, identifier: str) -> Dataset | None:
    return session.scalar(
        select(Dataset).where(Dataset.provenance["record_identifier"].as_string() == identifier)
    )


def _free_slug(session: Session, base: str) -> str:
    slug, counter = base, 1
    while service.find_dataset(session, slug) is not None:
        counter += 1
        slug = f"{base[:90]}-{counter}"
    return slug


def _coverage(bbox: tuple[float, float, float, float] | None) -> WKTElement | None:
    if bbox is None:
        return None
    west, south, east, north = bbox
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        return None
    wkt = (
        f"POLYGON(({west} {south}, {west} {north}, {east} {north}, {east} {south}, {west} {south}))"
    )
    return WKTElement(wkt, srid=4326)


def _fields(item: _Loaded) -> dict:
    rec = item.record
    fields = {
        "description": rec.description or "",
        "keywords": list(dict.fromkeys(k for k in rec.keywords if k))[:100],
        "producer": (rec.producer or None) and rec.producer[:300],
        "contact_name": (rec.contact_name or None) and rec.contact_name[:300],
        "contact_email": (rec.contact_email or None) and rec.contact_email[:300],
        "temporal_start": rec.temporal_start,
        "temporal_end": rec.temporal_end,
        "lineage": rec.lineage or "",
        "original_metadata": item.original,
    }
    if rec.licence:  # a known spelling gets the licence's one name (issue 15 §6)
        known = vocabularies.licence(rec.licence)
        fields["licence"] = known.name if known else rec.licence[:200]
    return fields


def import_records(
    engine: Engine,
    paths: Iterable[str | Path],
    organisation: str,
    access_level: str | AccessLevel = AccessLevel.PUBLIC,
) -> list[ImportedRecord]:
    """Import every file of `paths` as a dataset of `organisation`, all or nothing."""
    loaded = [read_record(Path(p)) for p in paths]
    seen: dict[str, str] = {}
    for item in loaded:
        if item.record.identifier in seen:
            raise ImportError_(
                f"{item.file} : identifiant {item.record.identifier} déjà présent "
                f"dans {seen[item.record.identifier]}"
            )
        seen[item.record.identifier] = item.file
    results = []
    with Session(writing(engine)) as session, session.begin():
        org = service.get_organisation(session, organisation)
        for item in loaded:
            rec = item.record
            title = (rec.title or rec.identifier)[:500]
            provenance = {
                "source": "records-import",
                "record_identifier": rec.identifier,
                "record_format": rec.kind,
                "record_file": item.file,
                "imported_at": utcnow().isoformat(),
            }
            dataset = _find(session, rec.identifier)
            clash = service.find_dataset(session, rec.identifier)
            if dataset is None and clash is not None:
                raise ImportError_(
                    f"{item.file} : l'identifiant {rec.identifier} est déjà celui du jeu "
                    f"« {clash.slug} »"
                )
            created = dataset is None
            if dataset is None:
                slug = _free_slug(session, service.make_slug(title))
                dataset = service.create_dataset(
                    session,
                    org,
                    slug,
                    title,
                    access_level=access_level,
                    provenance=provenance,
                    **_fields(item),
                )
            else:
                if dataset.organisation_id != org.id:
                    raise ImportError_(
                        f"{item.file} : la fiche {rec.identifier} appartient à une autre "
                        "organisation"
                    )
                service.update_dataset(
                    session,
                    dataset,
                    title=title,
                    access_level=access_level,
                    provenance=provenance,
                    **_fields(item),
                )
            dataset.spatial_coverage = _coverage(rec.bbox)
            dataset.updated_at = utcnow()
            session.flush()
            results.append(
                ImportedRecord(item.file, rec.identifier, rec.kind, dataset.slug, created)
            )
    return results
