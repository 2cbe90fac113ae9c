"""An organisation's harvest sources and their job history, for its members.

`/organisations/{slug}/moissonnage` lists the sources, `.../{source_id}` shows one with
its jobs, `.../{source_id}/taches/{job_id}` one job's per-record report (paged). Source
addresses can be internal, so the pages exist only for the organisation's members (any
role) and platform admins: everyone else gets a 404. Editors and admins may start a run
or a dry run (POST with a CSRF token); the run happens in a background thread through
`niaouli.ingest.harvest.launch`, which claims the source like the scheduler does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Organisation
from niaouli.catalogue.permissions import Action, allowed
from niaouli.i18n import N_, StoredMessages, _
from niaouli.ingest.harvest import launch, runner
from niaouli.ingest.harvest import service as harvests
from niaouli.ingest.harvest.harvest_tables import (
    HarvestJob,
    HarvestSource,
    ItemAction,
    JobStatus,
)
from niaouli.jobs import Submitted
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import PAGE_SIZE, Paging, not_found, page_number, viewer_for
from niaouli.portal.journal import local_time
from niaouli.portal.security import Refused

STATUS_LABELS = {
    JobStatus.RUNNING: N_("en cours"),
    JobStatus.SUCCESS: N_("réussie"),
    JobStatus.PARTIAL: N_("partielle"),
    JobStatus.FAILED: N_("en échec"),
}
ACTION_LABELS = {
    ItemAction.CREATED: N_("créée"),
    ItemAction.UPDATED: N_("mise à jour"),
    ItemAction.UNCHANGED: N_("inchangée"),
    ItemAction.DELETED: N_("supprimée"),
    ItemAction.FAILED: N_("en échec"),
}
SCHEDULE_LABELS = {
    "hourly": N_("toutes les heures"),
    "daily": N_("chaque jour"),
    "weekly": N_("chaque semaine"),
}
MANUAL_ONLY = N_("à la main seulement")
NOTICES = {
    "lancee": N_("Moisson lancée : rechargez la page pour suivre son avancement."),
    "essai": N_("Essai à blanc lancé : son rapport apparaîtra dans l'historique."),
    "occupee": N_("Une moisson de cette source est déjà en cours."),
}
HISTORY_LIMIT = 50


# Job messages and record reasons (stored in French); an error may hold another ("detail").
STORED = StoredMessages(runner.STORED_MESSAGES, nested={"detail"})


def stored_text(text: str) -> str:
    """A job message or record reason, stored in French, in the reader's language."""
    return STORED.shown(text)


# A reason that names the source already holding a record (`runner.OTHER_SOURCE`).
OTHER_SOURCE = re.compile(
    re.escape(runner.OTHER_SOURCE).replace(re.escape("%(source)s"), "(?P<source>.*?)"), re.S
)


def reason_for(session: Session, viewer: Viewer, reason: str) -> str:
    """A record's failure reason as `viewer` may read it.

    A viewer learns about the sources of organisations they belong to only: a reason that
    names another organisation's source (stored so by jobs that ran before the runner
    stopped naming them, or a source since moved) is shown without the name."""
    found = OTHER_SOURCE.fullmatch(reason)
    if found is not None:
        owner = harvests.source_owner(session, found["source"])
        if not allowed(viewer, Action.HARVEST_READ, owner):
            reason = runner.OTHER_ORGANISATION
    return stored_text(reason)


def _number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise not_found()
    return int(raw)


def _job_view(job: HarvestJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "started": local_time(job.started_at),
        "started_iso": _iso(job.started_at),
        "finished": local_time(job.finished_at) if job.finished_at else None,
        "finished_iso": _iso(job.finished_at) if job.finished_at else None,
        "status": _(STATUS_LABELS[JobStatus(job.status)]),
        "status_value": JobStatus(job.status).value,
        "dry_run": job.dry_run,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "deleted": job.deleted,
        "failed": job.failed,
        "message": stored_text(job.message),
    }


def _notice(state: str) -> str | None:
    notice = NOTICES.get(state)
    return _(notice) if notice else None


def _iso(value: datetime) -> str:
    """A valid HTML `datetime`: UTC, whole seconds (SQLite returns naive UTC times)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


class HarvestPages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.portal = accounts.portal
        self.engine = accounts.portal.engine

    # --- lookups (404 for whoever may not see) ------------------------------------------

    def _organisation(self, session: Session, request: Request) -> Organisation:
        try:
            org = service.get_organisation(session, request.path_params["slug"])
        except service.NotFoundError:
            raise not_found() from None
        if not allowed(viewer_for(request), Action.HARVEST_READ, org):
            raise not_found()
        return org

    def _source(self, session: Session, request: Request) -> tuple[Organisation, HarvestSource]:
        org = self._organisation(session, request)
        source = session.get(HarvestSource, _number(request.path_params["source_id"]))
        if source is None or source.organisation_id != org.id:
            raise not_found()
        return org, source

    def _source_view(self, source: HarvestSource, last: HarvestJob | None) -> dict[str, Any]:
        return {
            "id": source.id,
            "slug": source.slug,
            "name": source.name,
            "type": source.type,
            "url": source.url,
            "schedule": _(SCHEDULE_LABELS.get(source.schedule or "", MANUAL_ONLY)),
            "last": _job_view(last) if last is not None else None,
        }

    # --- pages --------------------------------------------------------------------------

    def _list_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            org = self._organisation(session, request)
            sources = harvests.sources_of(session, org.id)
            last = harvests.last_jobs(session, [s.id for s in sources])
            return {
                "organisation": org,
                "sources": [self._source_view(s, last.get(s.id)) for s in sources],
                "may_run": allowed(viewer_for(request), Action.HARVEST_RUN, org),
            }

    def _source_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            org, source = self._source(session, request)
            jobs = harvests.jobs(session, source, HISTORY_LIMIT)
            return {
                "organisation": org,
                "source": self._source_view(source, jobs[0] if jobs else None),
                "options": sorted((str(k), str(v)) for k, v in (source.options or {}).items()),
                "jobs": [_job_view(job) for job in jobs],
                "running": launch.is_running(session, source.id),
                "may_run": allowed(viewer_for(request), Action.HARVEST_RUN, org),
                "notice": _notice(request.query_params.get("etat", "")),
            }

    def _job_context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            org, source = self._source(session, request)
            job = session.get(HarvestJob, _number(request.path_params["job_id"]))
            if job is None or job.source_id != source.id:
                raise not_found()
            total = harvests.count_job_items(session, job.id)
            paging = Paging(page_number(request), total, PAGE_SIZE)
            items = harvests.job_items(session, job.id, paging.offset, PAGE_SIZE)
            viewer = viewer_for(request)
            return {
                "organisation": org,
                "source": self._source_view(source, None),
                "job": _job_view(job),
                "items": [
                    {
                        "remote_id": item.remote_id,
                        "action": _(ACTION_LABELS[ItemAction(item.action)]),
                        "action_value": ItemAction(item.action).value,
                        "reason": reason_for(session, viewer, item.reason),
                        "target": item.target,
                    }
                    for item in items
                ],
                "paging": paging,
            }

    async def sources(self, request: Request) -> Response:
        context = await run_in_threadpool(self._list_context, request)
        return self.accounts.page(request, "moissonnage.html", **context)

    async def source(self, request: Request) -> Response:
        context = await run_in_threadpool(self._source_context, request)
        return self.accounts.page(request, "moissonnage_source.html", **context)

    async def job(self, request: Request) -> Response:
        context = await run_in_threadpool(self._job_context, request)
        return self.accounts.page(
            request, "moissonnage_tache.html", base=request.url.path, query="", **context
        )

    # --- actions ------------------------------------------------------------------------

    async def run(self, request: Request) -> Response:
        """POST …/lancer or …/essai: 404 for who may not see, 403 for who may not run."""
        dry_run = request.path_params["action"] == "essai"
        if request.path_params["action"] not in ("lancer", "essai"):
            raise not_found()

        def check() -> tuple[str, bool]:
            with Session(self.engine) as session:
                org, source = self._source(session, request)
                if not allowed(viewer_for(request), Action.HARVEST_RUN, org):
                    raise Refused("edit", org.name, org.slug)
                return source.slug, launch.is_running(session, source.id)

        slug, busy = await run_in_threadpool(check)
        await self.accounts.form(request)  # CSRF (403 without a valid token)
        state = "occupee"
        if not busy:
            submitted = await run_in_threadpool(
                launch.start, self.engine, self.portal.settings, slug, dry_run
            )
            if submitted != Submitted.ALREADY_QUEUED:
                state = "essai" if dry_run else "lancee"
        path = request.url.path.rsplit("/", 1)[0]
        return RedirectResponse(f"{path}?etat={state}", status_code=303)
