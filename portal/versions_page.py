"""Previous versions of a dataset's layers: the list and the restore button (issue 15 §2).

`/jeux-de-donnees/{slug}/versions` lists what the last replacements kept (editors only,
with a CSRF-protected form per version); restoring swaps the version back in, all or
nothing (`niaouli.catalogue.versions.restore`), writes the audit row in the same
transaction, and the replaced data become a version in turn.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli import storage
from niaouli.catalogue import versions
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.permissions import Action, allowed
from niaouli.db.engine import writing
from niaouli.portal.common import viewer_for
from niaouli.portal.manage import ManagePages


def version_rows(session: Session, dataset: Dataset) -> list[dict[str, Any]]:
    """What the pages show of each kept version, newest first."""
    return [
        {
            "id": v.id,
            "replaced_at": v.created_at,
            "file": v.file,
            "feature_count": v.feature_count,
            "layers": [
                (
                    x.get("name"),
                    x.get("feature_count"),
                    [c["name"] for c in x.get("attribute_schema") or []],
                )
                for x in v.layers
            ],
        }
        for v in versions.listed(session, dataset.id)
    ]


def for_editors(request: Request, dataset: Dataset) -> list[dict[str, Any]] | None:
    """The versions list of the dataset page: None unless the viewer may restore."""
    if not allowed(viewer_for(request), Action.DATASET_EDIT, dataset):
        return None
    session = Session.object_session(dataset)
    return version_rows(session, dataset) if session is not None else None


class VersionPages(ManagePages):
    async def page(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect

        def context() -> dict[str, Any]:
            with Session(self.engine) as session:
                dataset = self._editable(session, request)
                return {
                    "dataset": dataset,
                    "dataset_title": dataset.title,
                    "versions": version_rows(session, dataset),
                    "kept": versions.kept_versions(),
                    "restored": request.query_params.get("ok") == "1",
                    "gone": request.query_params.get("erreur") == "1",
                }

        values = await run_in_threadpool(context)
        return self.accounts.page(request, "dataset_versions.html", **values)

    async def restore(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect
        await self.accounts.form(request)  # CSRF
        slug = request.path_params["slug"]
        raw = str(request.path_params["version_id"])

        actor = self._actor(request)

        def run() -> bool:
            keys: list[str] = []
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self._editable(session, request)
                if not raw.isdigit() or len(raw) > 15:
                    return False
                try:
                    keys = versions.restore_version(
                        session, viewer_for(request), dataset, int(raw), actor
                    )
                except versions.RestoreError:
                    return False
            for key in keys:
                storage.remove_key(self.accounts.portal.settings, key)
            return True

        done = await run_in_threadpool(run)
        return RedirectResponse(
            f"/jeux-de-donnees/{slug}/versions?{'ok' if done else 'erreur'}=1", status_code=303
        )
