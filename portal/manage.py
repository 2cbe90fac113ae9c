"""Data managers' pages: new dataset, edit, publish, send files (French or English, CSRF on all).

`/jeux-de-donnees/nouveau` and `/jeux-de-donnees/{slug}/modifier` are plain forms
(they work without JavaScript); `/jeux-de-donnees/{slug}/envoyer` sends the file to the
writing API (`/api/datasets/{slug}/layers` or `/resources`) from `static/js/envoi.js`
with a progress bar, then shows the ingestion report. The rules (who may, audit row in
the same transaction) are those of `niaouli.catalogue.editing`, shared with the API.
Only a signed-in session reaches these pages; someone who may not edit the dataset
gets a 404 if they cannot see it, else a 403.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.accounts.account_tables import User
from niaouli.catalogue import editing, publication, vocabularies
from niaouli.catalogue.access import can_see
from niaouli.catalogue.community.common import editable_organisations
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.permissions import Action, allowed
from niaouli.catalogue.service import CatalogueError
from niaouli.db.engine import writing
from niaouli.i18n import N_, _
from niaouli.portal.accounts import AccountPages
from niaouli.portal.common import identity_for, not_found, viewer_for
from niaouli.portal.security import Refused
from niaouli.privacy.guard import PersonalDataError
from niaouli.storage import max_upload_bytes

ACCESS_LEVELS = {
    "draft": N_("Brouillon (visible des éditeurs de l'organisation)"),
    "public": N_("Public"),
    "registered": N_("Comptes connectés"),
    "organisation": N_("Membres de l'organisation"),
}
PUBLISH_LEVELS = {k: v for k, v in ACCESS_LEVELS.items() if k != "draft"}
TEXT_FIELDS = (
    "title",
    "description",
    "licence",
    "keywords",
    "access_level",
    "producer",
    "contact_name",
    "contact_email",
    "update_frequency",
    "temporal_start",
    "temporal_end",
    "lineage",
)
# Given as they are to `editing` (which checks them: `niaouli.catalogue.metadata`).
METADATA = (
    "licence",
    "producer",
    "contact_name",
    "contact_email",
    "update_frequency",
    "temporal_start",
    "temporal_end",
    "lineage",
)


def _words(value: str) -> list[str]:
    return [w.strip()[:100] for w in value.split(",") if w.strip()][:50]


def _values(form: FormData) -> dict[str, Any]:
    """What was typed, as typed (shown again with the error when it is refused)."""
    values: dict[str, Any] = {
        name: str(form.get(name, ""))[:20_000].strip() for name in (*TEXT_FIELDS, "organisation")
    }
    values["themes"] = [str(t).strip()[:200] for t in form.getlist("themes")][:50]
    return values


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    level = values["access_level"] or "draft"
    if level not in ACCESS_LEVELS:
        raise CatalogueError(_("niveau d'accès inconnu"))
    return {
        "description": values["description"],
        "themes": values["themes"],
        "keywords": _words(values["keywords"]),
        "access_level": level,
        **{name: values[name] for name in METADATA},
    }


def _choices(values: dict[str, Any]) -> dict[str, Any]:
    """The controlled lists of the form, plus the dataset's own value when it is not in
    them (harvested, or from before the lists): kept, never lost by saving."""
    licences = list(vocabularies.OFFERED_LICENCES)
    if values["licence"] and values["licence"] not in licences:
        licences.append(values["licence"])
    themes = list(vocabularies.THEMES.values())
    themes += [t for t in values["themes"] if t not in themes]
    frequencies = [(f.key, f.label) for f in vocabularies.FREQUENCIES]
    current = values["update_frequency"]
    if current and current not in {key for key, _label in frequencies}:
        found = vocabularies.frequency(current)
        frequencies.append((current, found.label if found else current))
    return {
        "licence_choices": licences,
        "theme_choices": themes,
        "frequency_choices": frequencies,
    }


class ManagePages:
    def __init__(self, accounts: AccountPages) -> None:
        self.accounts = accounts
        self.engine = accounts.portal.engine

    def _session_only(self, request: Request) -> Response | None:
        if identity_for(request).via != "session":
            return RedirectResponse(
                f"/connexion?suivant={quote(request.url.path)}", status_code=303
            )
        return None

    def _editable(self, session: Session, request: Request) -> Dataset:
        viewer = viewer_for(request)
        slug = request.path_params["slug"]
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
        if dataset is None or not can_see(viewer, dataset):
            raise not_found()
        if not allowed(viewer, Action.DATASET_EDIT, dataset):
            org = dataset.organisation
            raise Refused("edit", org.name if org else None, org.slug if org else None)
        return dataset

    def _actor(self, request: Request):  # noqa: ANN202 - audit.Actor
        return self.accounts.actor(request, identity_for(request).user_id)

    # --- new dataset -------------------------------------------------------------------

    def _organisations(self, request: Request) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            orgs = editable_organisations(session, viewer_for(request))
            return [(o.slug, o.name) for o in orgs]

    async def new(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect
        organisations = await run_in_threadpool(self._organisations, request)
        if not organisations:
            raise Refused("publish")
        context = {"organisations": organisations, "levels": ACCESS_LEVELS}
        if request.method == "GET":
            values: dict[str, Any] = dict.fromkeys((*TEXT_FIELDS, "organisation"), "")
            values.update(access_level="draft", licence=vocabularies.DEFAULT_LICENCE, themes=[])
            return self.accounts.page(
                request, "dataset_form.html", values=values, **context, **_choices(values)
            )
        form = await self.accounts.form(request)
        values = _values(form)

        def create() -> str:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = editing.create_dataset(
                    session,
                    viewer_for(request),
                    self._actor(request),
                    values["organisation"],
                    values["title"],
                    **_changes(values),
                )
                return dataset.slug

        try:
            slug = await run_in_threadpool(create)
        except CatalogueError as exc:
            return self.accounts.page(
                request,
                "dataset_form.html",
                400,
                values=values,
                error=_sentence(exc),
                **context,
                **_choices(values),
            )
        return RedirectResponse(f"/jeux-de-donnees/{slug}/envoyer", status_code=303)

    # --- edit and publish --------------------------------------------------------------

    def _edit_context(self, request: Request) -> dict[str, Any]:
        from niaouli.portal.privacy_pages import findings_view as privacy_findings

        with Session(self.engine) as session:
            dataset = self._editable(session, request)
            publisher = (
                session.get(User, dataset.published_by_id) if dataset.published_by_id else None
            )
            return {
                "dataset": {
                    "slug": dataset.slug,
                    "title": dataset.title,
                    "organisation": dataset.organisation.name,
                    "access_level": dataset.access_level.value,
                    "access_label": ACCESS_LEVELS[dataset.access_level.value],
                    "published_at": dataset.published_at,
                    "published_by": publisher.display_name if publisher else None,
                    "layers": [(x.name, x.feature_count) for x in dataset.layers],
                    "files": [r.title for r in dataset.resources],
                },
                "values": {
                    "title": dataset.title,
                    "description": dataset.description or "",
                    "licence": dataset.licence,
                    "themes": [str(t) for t in dataset.themes or []],
                    "keywords": ", ".join(dataset.keywords or []),
                    "access_level": dataset.access_level.value,
                    "producer": dataset.producer or "",
                    "contact_name": dataset.contact_name or "",
                    "contact_email": dataset.contact_email or "",
                    "update_frequency": dataset.update_frequency or "",
                    "temporal_start": _iso(dataset.temporal_start),
                    "temporal_end": _iso(dataset.temporal_end),
                    "lineage": dataset.lineage or "",
                },
                "privacy": privacy_findings(session, dataset) if dataset.layers else None,
            }

    async def edit(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect
        context = await run_in_threadpool(self._edit_context, request)
        common = {"levels": ACCESS_LEVELS, "publish_levels": PUBLISH_LEVELS}
        if request.method == "GET":
            return self.accounts.page(
                request,
                "dataset_edit.html",
                saved=request.query_params.get("ok"),
                **context,
                **common,
                **_choices(context["values"]),
            )
        form = await self.accounts.form(request)
        values = _values(form)

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self._editable(session, request)
                changes = _changes(values)
                changes["title"] = values["title"]
                editing.update_dataset(
                    session, viewer_for(request), self._actor(request), dataset, **changes
                )

        try:
            await run_in_threadpool(save)
        except CatalogueError as exc:
            context["values"] = values
            return self.accounts.page(
                request,
                "dataset_edit.html",
                400,
                saved=None,
                error=_sentence(exc),
                **context,
                **common,
                **_choices(values),
            )
        slug = request.path_params["slug"]
        return RedirectResponse(f"/jeux-de-donnees/{slug}/modifier?ok=1", status_code=303)

    async def publish(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect
        form = await self.accounts.form(request)
        level = str(form.get("access_level", "public"))

        def run() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self._editable(session, request)
                if level == "draft":
                    publication.unpublish(session, dataset, viewer_for(request))
                elif level in PUBLISH_LEVELS:
                    publication.publish(session, dataset, viewer_for(request), level)
                else:
                    raise HTTPException(status_code=400)

        slug = request.path_params["slug"]
        try:
            await run_in_threadpool(run)
        except PersonalDataError:  # the findings and the ways out are on their page
            return RedirectResponse(
                f"/jeux-de-donnees/{quote(slug)}/donnees-personnelles?refus=1", status_code=303
            )
        return RedirectResponse(f"/jeux-de-donnees/{slug}/modifier?ok=1", status_code=303)

    # --- send files --------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        redirect = self._session_only(request)
        if redirect is not None:
            return redirect
        context = await run_in_threadpool(self._edit_context, request)
        return self.accounts.page(
            request, "dataset_upload.html", max_upload=max_upload_bytes(), **context
        )


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def _sentence(exc: Exception) -> str:
    message = str(exc)
    return (message[:1].upper() + message[1:]).rstrip(".") + "."
