"""Link checks for the quality score: a background job, never inside a request.

The `link-check` job asks every link resource (of some datasets, of an organisation, or
of the whole catalogue) for its address with the harvest's safe HTTP client (`fetch`:
public addresses only, bounded time, the body never read), stores each result in
`link_checks`, then recomputes the scores (`quality_store.recheck`): those that moved
are rewritten with their CSW records in the same transaction. Its daily run (03:17)
also moves the "on time" criterion as the days pass. The private network is refused as
for harvests unless the job is asked with `allow_private_network=True` (an intranet
platform, the tests' loopback server).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from niaouli import jobs
from niaouli.catalogue import quality_store
from niaouli.catalogue.models import Dataset, Resource, ResourceKind
from niaouli.catalogue.quality_tables import LinkCheck
from niaouli.db.engine import get_engine, writing
from niaouli.jobs.registry import JobDef, JobInfo, register
from niaouli.settings import Settings, get_settings

if TYPE_CHECKING:
    from niaouli.ingest.harvest.fetch import Fetcher

LOGGER = logging.getLogger(__name__)
LINK_CHECK = "link-check"
# Keyword arguments of `fetch.Limits`; the fetcher (httpx) is imported when links are
# checked, not by every process that registers the job.
LIMITS = {"connect_timeout": 10.0, "read_timeout": 15.0, "total_timeout": 30.0, "max_redirects": 5}


def _links(
    session: Session, dataset_ids: Iterable[int] | None, organisation_id: int | None
) -> list[tuple[int, int, str]]:
    query = select(Resource.id, Resource.dataset_id, Resource.url).where(
        Resource.kind == ResourceKind.LINK, Resource.url.is_not(None)
    )
    if dataset_ids is not None:
        query = query.where(Resource.dataset_id.in_(sorted(set(dataset_ids))))
    if organisation_id is not None:
        query = query.join(Dataset, Dataset.id == Resource.dataset_id).where(
            Dataset.organisation_id == organisation_id
        )
    return [(rid, did, url) for rid, did, url in session.execute(query.order_by(Resource.id))]


def check_url(fetcher: Fetcher, url: str) -> tuple[bool, int | None, str | None]:
    """(reachable, HTTP status, French reason when not)."""
    from niaouli.ingest.harvest.fetch import FetchError

    try:
        status = fetcher.reach(url)
    except FetchError as exc:
        return False, None, str(exc)[:500]
    if status >= 400:
        return False, status, f"HTTP {status}"
    return True, status, None


def check_links(
    settings: Settings,
    dataset_ids: Iterable[int] | None = None,
    organisation_id: int | None = None,
    allow_private_network: bool = False,
) -> dict[str, int]:
    """Check the links, store the results, recompute the scores (see the module)."""
    engine = get_engine(settings)
    with Session(engine) as session:
        links = _links(session, dataset_ids, organisation_id)
    from niaouli.ingest.harvest.fetch import Fetcher, Limits

    fetcher = Fetcher(allow_private_network=allow_private_network, limits=Limits(**LIMITS))
    results = []
    try:
        for resource_id, dataset_id, url in links:  # no transaction held while waiting
            reachable, status, error = check_url(fetcher, url)
            results.append(
                {
                    "resource_id": resource_id,
                    "dataset_id": dataset_id,
                    "url": url,
                    "reachable": reachable,
                    "status": status,
                    "error": error,
                    "checked_at": datetime.now(UTC),
                }
            )
    finally:
        fetcher.close()
    table = LinkCheck.__table__
    with Session(writing(engine)) as session, session.begin():
        existing = set(session.scalars(select(Resource.id)))  # deleted meanwhile: skipped
        rows = [r for r in results if r["resource_id"] in existing]
        if rows:
            session.execute(
                delete(table).where(table.c.resource_id.in_([r["resource_id"] for r in rows]))
            )
            session.execute(insert(table), rows)
        scope = (
            None
            if dataset_ids is None and organisation_id is None
            else _scope(session, dataset_ids, organisation_id)
        )
        moved = quality_store.recheck(session, scope)
    broken = sum(not r["reachable"] for r in results)
    LOGGER.info("liens vérifiés : %s, injoignables : %s", len(results), broken)
    return {"checked": len(results), "unreachable": broken, "rescored": len(moved)}


def _scope(
    session: Session, dataset_ids: Iterable[int] | None, organisation_id: int | None
) -> list[int]:
    query = select(Dataset.id)
    if dataset_ids is not None:
        query = query.where(Dataset.id.in_(sorted(set(dataset_ids))))
    if organisation_id is not None:
        query = query.where(Dataset.organisation_id == organisation_id)
    return list(session.scalars(query))


def link_check_job(
    info: JobInfo,
    dataset_ids: list[int] | None = None,
    organisation_id: int | None = None,
    allow_private_network: bool = False,
) -> str:
    """The `link-check` job (periodic: every link, every score, once a day)."""
    settings = info.settings or get_settings()
    done = check_links(settings, dataset_ids, organisation_id, allow_private_network)
    return "{checked} lien(s) vérifié(s), {unreachable} injoignable(s)".format(**done)


def request(settings: Settings, organisation_id: int) -> jobs.Submitted:
    """Check an organisation's links in the background (its quality dashboard's button)."""
    return jobs.submit(
        settings,
        LINK_CHECK,
        queueing_lock=f"{LINK_CHECK}:{organisation_id}",
        organisation_id=organisation_id,
    )


def install() -> None:
    """Register the job (the composition root calls it at start-up)."""
    register(JobDef(LINK_CHECK, link_check_job, cron="17 3 * * *"))
