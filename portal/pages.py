"""The HTML pages: home, dataset, organisations (searching is in `search_pages.py`).

Every read goes through `niaouli.catalogue.service` with the request's viewer, so a
dataset the visitor may not see is absent from lists, counts and search, and its page is
a 404 exactly like a dataset that does not exist (SECURITY-CASES S23).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from niaouli import exports, localtime
from niaouli.catalogue import columns, service
from niaouli.catalogue.campaigns import credit
from niaouli.catalogue.community import common, events, reuses
from niaouli.catalogue.models import Dataset, Layer, ResourceKind
from niaouli.catalogue.permissions import Action, allowed
from niaouli.dcat import schemaorg
from niaouli.portal import dataset_page, quality_pages, raster_use
from niaouli.portal.common import (
    Paging,
    Portal,
    base_url,
    not_found,
    page_number,
    viewer_for,
)
from niaouli.portal.feeds import public_urls

RECENT = 6
HOME_EVENTS = 3  # the next events on the home page
HOME_REUSES = 3  # the latest approved reuses on the home page
MAX_MAPS = 3


class Pages:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def home(self, request: Request) -> HTMLResponse:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            layers, features = service.count_layers(session, viewer)
            return self.portal.render(
                request,
                "home.html",
                datasets_count=service.count_datasets(session, viewer),
                layers_count=layers,
                features_count=features,
                organisations_count=len(service.list_organisations(session)),
                recent=service.recent_datasets(session, viewer, RECENT),
                upcoming=events.list_events(session, "a-venir")[:HOME_EVENTS],
                reuses=reuses.public_reuses(session, viewer)[0][:HOME_REUSES],
                local_time=localtime.local,
            )

    def organisations(self, request: Request) -> HTMLResponse:
        with Session(self.portal.engine) as session:
            rows = service.organisations_with_counts(session, viewer_for(request))
            return self.portal.render(request, "organisations.html", organisations=rows)

    def organisation(self, request: Request) -> HTMLResponse:
        viewer = viewer_for(request)
        page = page_number(request)
        with Session(self.portal.engine) as session:
            try:
                org = service.get_organisation(session, request.path_params["slug"])
            except service.NotFoundError:
                raise not_found() from None
            paging = Paging(page, 0)
            items, total = service.search_datasets(
                session, viewer, organisation=org, limit=paging.size, offset=paging.offset
            )
            return self.portal.render(
                request,
                "organisation.html",
                organisation=org,
                datasets=items,
                paging=Paging(page, total),
                show_harvests=allowed(viewer, Action.HARVEST_READ, org),
                show_quality=allowed(viewer, Action.DATASET_EDIT, org),
            )

    def dataset(self, request: Request) -> HTMLResponse:
        viewer = viewer_for(request)
        with Session(self.portal.engine) as session:
            try:
                dataset = service.get_dataset(session, request.path_params["slug"], viewer)
            except service.NotFoundError:
                raise not_found() from None
            layers = [self._layer_view(session, dataset, layer) for layer in dataset.layers]
            maps = [v for v in layers if v["spatial"]][:MAX_MAPS]
            for view in maps:
                view["map"] = True
            root = base_url(request)
            return self.portal.render(
                request,
                "dataset.html",
                dataset=dataset,
                layers=layers,
                has_map=bool(maps),
                files=[
                    r
                    for r in dataset.resources
                    if r.kind == ResourceKind.FILE and r.storage_key and r.filename
                ],
                links=[r for r in dataset.resources if r.kind == ResourceKind.LINK],
                ogc_url=f"{root}/ogc",
                csw_url=f"{root}/csw",
                coverage=_coverage(dataset),
                uses=common.uses_of_dataset(session, dataset),
                campaign_results=credit.for_dataset(session, viewer, dataset.id),
                raster_uses=raster_use.raster_uses(root, dataset),
                quality=quality_pages.for_dataset(session, dataset),
                validation=dataset_page.validation_by_layer(session, dataset),
                page=dataset_page.page_extras(
                    request,
                    dataset,
                    {v["layer"].collection_id: v["rows"] for v in layers},
                    _coverage(dataset),
                    self.portal.settings,
                ),
                jsonld=schemaorg.script_json(
                    schemaorg.dataset_jsonld(dataset, public_urls(request))
                ),
            )

    def _layer_view(self, session: Session, dataset: Dataset, layer: Layer) -> dict[str, Any]:
        info = exports.LayerInfo.from_layer(layer)
        base = f"/jeux-de-donnees/{dataset.slug}/couches/{layer.name}"
        view: dict[str, Any] = {
            "layer": layer,
            "spatial": info.has_geometry,
            "map": False,
            "exports": [
                {"format": f, "url": f"{base}/{layer.collection_id}.{f.key}"}
                for f in exports.formats_for(info)
            ],
            "preview_url": f"{base}/apercu.geojson",
            # Under the editors' labels; the preview table leaves hidden columns out.
            "attributes": columns.attributes(layer),
            "hidden": columns.hidden_names(layer),
            "columns": columns.described(layer),
            "rows": [],
        }
        view["rows"] = dataset_page.preview_rows(session.connection(), layer)
        return view


def _coverage(dataset: Dataset) -> tuple[float, float, float, float] | None:
    """The dataset's bounding box (west, south, east, north) from its layers."""
    boxes = [layer.extent for layer in dataset.layers if layer.extent]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
