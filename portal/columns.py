"""Describing a dataset's columns (`/jeux-de-donnees/{slug}/colonnes`), for its editors.

For each column of each layer: a label (« Nom de la commune » for `LIBGEO`), a
description, a unit, and whether it is hidden from the map's pop-ups and the dataset
page's table (a technical code nobody reads). One form per layer, plain HTML (no
JavaScript needed), CSRF-checked; the rule is `niaouli.catalogue.columns`. The same
who-may as the edit page (`manage.py`): a session, editors of the organisation.

Read back by the public map (`public_map.py`), the dataset page and its preview
(`pages.py`, `files.py`) and the OGC API's queryables and schema titles.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from niaouli.accounts.csrf import FIELD
from niaouli.catalogue import columns
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import Dataset
from niaouli.catalogue.publication import ForbiddenError
from niaouli.db.engine import writing
from niaouli.portal.common import viewer_for
from niaouli.portal.manage import ManagePages, _sentence
from niaouli.portal.security import Refused

MAX_COLUMNS = 500
"""A layer with more columns is described through this many at most (the form's size)."""
FIELDS_PER_COLUMN = 5  # name, label, description, unit, hidden
MAX_FORM_BYTES = 2_000_000


def _layer_views(dataset: Dataset) -> list[dict[str, Any]]:
    views = []
    for layer in dataset.layers:
        views.append(
            {
                "name": layer.name,
                "spatial": bool(layer.geometry_type),
                "attributes": columns.attributes(layer)[:MAX_COLUMNS],
            }
        )
    return views


def _entries(form: FormData) -> dict[str, dict[str, Any]]:
    """`column-N` names a column; `label-N`, `description-N`, `unit-N`, `hidden-N` its fields.

    Named by position, not by the column's name (a name can hold any character), and the
    name travels with the fields so that a re-upload between showing the form and saving
    it cannot put a label on the wrong column.
    """
    entries: dict[str, dict[str, Any]] = {}
    for index in range(MAX_COLUMNS):
        name = form.get(f"column-{index}")
        if name is None:
            break
        entries[str(name)] = {
            "label": str(form.get(f"label-{index}", "")),
            "description": str(form.get(f"description-{index}", "")),
            "unit": str(form.get(f"unit-{index}", "")),
            "hidden": form.get(f"hidden-{index}") is not None,
        }
    return entries


class ColumnPages:
    def __init__(self, manage: ManagePages) -> None:
        self.manage = manage
        self.accounts = manage.accounts
        self.engine = manage.engine

    async def _form(self, request: Request) -> FormData:
        """The posted form (many fields: five per column), after the CSRF check."""
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            raise HTTPException(status_code=413 if length.isdigit() else 411)
        form = await request.form(max_files=0, max_fields=MAX_COLUMNS * FIELDS_PER_COLUMN + 10)
        if not self.accounts.csrf.is_valid(request, form.get(FIELD)):
            raise Refused("csrf")
        if any("\x00" in f"{name}{value}" for name, value in form.multi_items()):
            raise HTTPException(status_code=400)
        return form

    def _context(self, request: Request) -> dict[str, Any]:
        with Session(self.engine) as session:
            dataset = self.manage._editable(session, request)
            return {
                "dataset": {"slug": dataset.slug, "title": dataset.title},
                "layers": _layer_views(dataset),
            }

    async def page(self, request: Request) -> Response:
        redirect = self.manage._session_only(request)
        if redirect is not None:
            return redirect
        if request.method == "GET":
            context = await run_in_threadpool(self._context, request)
            saved = request.query_params.get("ok")
            return self.accounts.page(request, "dataset_columns.html", saved=saved, **context)
        form = await self._form(request)
        layer_name = str(form.get("layer", ""))
        viewer: Viewer = viewer_for(request)

        def save() -> None:
            with Session(writing(self.engine)) as session, session.begin():
                dataset = self.manage._editable(session, request)
                layer = next((x for x in dataset.layers if x.name == layer_name), None)
                if layer is None:
                    raise HTTPException(status_code=404)
                columns.set_descriptions(
                    session,
                    viewer,
                    self.manage._actor(request),
                    dataset,
                    layer,
                    _entries(form),
                )

        try:
            await run_in_threadpool(save)
        except columns.ColumnError as exc:
            context = await run_in_threadpool(self._context, request)
            return self.accounts.page(
                request, "dataset_columns.html", 400, saved=None, error=_sentence(exc), **context
            )
        except ForbiddenError:
            raise Refused("edit") from None
        slug = request.path_params["slug"]
        anchor = quote(f"couche-{layer_name}")
        return RedirectResponse(f"/jeux-de-donnees/{slug}/colonnes?ok=1#{anchor}", 303)
