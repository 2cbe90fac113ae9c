"""The demo's harvested source: a real CSW answer replayed from a shipped snapshot.

The demo cannot reach the network, and inventing a New Caledonian catalogue's records
would be dishonest. So the demo registers a CSW source and harvests it once through the
ordinary runner (`run_source`: same mapping, same provenance, same job report as any
harvest), with a fetcher that answers from `geodata/harvest/` instead of the network.
The records are a real GeoNetwork response (two records of the Belgian INSPIRE
geoportal, see `geodata/README.md`); the source's address is a placeholder, said so in
its name. Harvested once: the source's successful job is what makes later loads skip it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.db.engine import writing
from niaouli.ingest.harvest.fetch import Response
from niaouli.ingest.harvest.harvest_tables import HarvestJob, HarvestSource, JobStatus
from niaouli.resources import package_dir
from niaouli.settings import Settings

SNAPSHOT = package_dir("niaouli.geodata") / "harvest" / "csw_getrecords_geonetwork_inspire.xml"
SOURCE = {
    "slug": "geonetwork-instantane-demo",
    "name": "Catalogue GeoNetwork (instantané de démonstration)",
    "organisation": "gouvernement-nc",
    "type": "csw",
    # A placeholder: the snapshot's own catalogue address is not known (docs/harvest.md).
    "url": "https://catalogue.example.org/geonetwork/srv/eng/csw",
    # The snapshot holds the first 2 of 216 records: the harvest stops there, complete.
    "options": {"max_records": "2", "page_size": "2"},
}


class SnapshotFetcher:
    """Answers every GET with one shipped file, as a remote would (no network at all)."""

    def __init__(self, path: Path, media_type: str = "application/xml") -> None:
        self.path = path
        self.media_type = media_type

    def get(
        self, url: str, params: dict[str, str | int] | None = None, accept: str | None = None
    ) -> Response:
        body = tempfile.TemporaryFile()  # noqa: SIM115 - the Response closes it
        body.write(self.path.read_bytes())
        return Response(
            url=url,
            status=200,
            headers=httpx.Headers({"content-type": self.media_type}),
            body=body,
            size=body.tell(),
        )

    def close(self) -> None:
        """Nothing to release (the Fetcher interface)."""


def harvested(session: Session) -> bool:
    """True once the demo source has a successful (non dry-run) job."""
    return bool(
        session.scalar(
            select(HarvestJob.id)
            .join(HarvestSource, HarvestSource.id == HarvestJob.source_id)
            .where(
                HarvestSource.slug == SOURCE["slug"],
                HarvestJob.status == JobStatus.SUCCESS,
                HarvestJob.dry_run.is_(False),
            )
            .limit(1)
        )
    )


def load_harvest(engine: Engine, settings: Settings, echo: Callable[[str], None]) -> None:
    """Register the source and harvest the snapshot, unless that was done already."""
    from niaouli.ingest.harvest.runner import run_source
    from niaouli.ingest.harvest.service import add_source

    with Session(writing(engine)) as session, session.begin():
        if harvested(session):
            return
        exists = session.scalar(
            select(HarvestSource.id).where(HarvestSource.slug == SOURCE["slug"])
        )
        if not exists:
            add_source(
                session,
                SOURCE["organisation"],
                SOURCE["type"],
                SOURCE["url"],
                slug=SOURCE["slug"],
                name=SOURCE["name"],
                options=SOURCE["options"],
            )
    report = run_source(
        SOURCE["slug"], engine=engine, settings=settings, fetcher=SnapshotFetcher(SNAPSHOT)
    )
    echo(f"moissonnage de démonstration : {report.summary()}")
