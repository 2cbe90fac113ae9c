"""OGC API Records: the catalogue as one pygeoapi collection, `catalogue`, of records.

pygeoapi serves /collections/catalogue/items[/{id}] (JSON, HTML, paging links,
conformance classes) through its own items API; this module gives it the collection
definition (`collection_resource`, added by `config.build_config`) and the provider.
The provider reads the catalogue on every request — no copy to keep in step, so a
dataset ingested, removed or hidden shows (or vanishes) at once, in every worker — and
only through `niaouli.catalogue.search.record_query` with the request's viewer
(`REQUEST_VIEWER`, set by the /ogc adapter before it calls pygeoapi; anonymous by
default): what the viewer may not see is absent from lists, counts and by-id answers
alike.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import pygeoapi.api as core_api
from pygeoapi.api import API, APIRequest
from pygeoapi.formats import F_JSON
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import to_json
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.models import Layer
from niaouli.catalogue.search import record_query as catalogue_records
from niaouli.catalogue.service import RECORDS_COLLECTION_ID
from niaouli.services.csw.view import load_views
from niaouli.services.ogc import offered_crs, runtime
from niaouli.services.ogc.provider import (
    data_error,
    datetime_message,
    parse_datetime_parameter,
)
from niaouli.services.ogc.recordjson import Urls, to_record

LOGGER = logging.getLogger(__name__)
# Who asks, for the provider pygeoapi builds per request (copied into its worker thread).
REQUEST_VIEWER: ContextVar[Viewer] = ContextVar("ogc_request_viewer", default=ANONYMOUS)

COLLECTION_ID = RECORDS_COLLECTION_ID
PROVIDER = "niaouli.services.ogc.records_collection.CatalogueRecordProvider"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
WORLD = [-180.0, -90.0, 180.0, 90.0]
CATALOG_REL = "http://www.opengis.net/def/rel/ogc/1.0/ogc-catalog"
FIELDS = {
    "type": {"type": "string"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "keywords": {"type": "array", "items": {"type": "string"}},
    "license": {"type": "string"},
    "created": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"},
}


def _invalid(message: str) -> ProviderInvalidQueryError:
    return ProviderInvalidQueryError(user_msg=message)


def _extent(layers: Iterable[Layer]) -> list[float]:
    extents = [layer.extent for layer in layers if layer.extent]
    if not extents:
        return list(WORLD)
    return [
        min(e[0] for e in extents),
        min(e[1] for e in extents),
        max(e[2] for e in extents),
        max(e[3] for e in extents),
    ]


def collection_resource(
    ogc_url: str, portal_url: str | None, layers: Iterable[Layer]
) -> dict[str, Any]:
    """The `catalogue` collection (itemType record) for a pygeoapi configuration."""
    return {
        "type": "collection",
        "title": {"fr": "Catalogue des jeux de données", "en": "Dataset catalogue"},
        "description": {
            "fr": (
                "Tous les jeux de données publics de la plateforme, géographiques ou non, "
                "en OGC API Records : recherche plein texte (q), emprise (bbox), "
                "période (datetime)."
            ),
            "en": (
                "Every public dataset of the platform, spatial or not, as OGC API Records: "
                "full-text search (q), bounding box (bbox), period (datetime)."
            ),
        },
        "keywords": ["catalogue", "métadonnées", "Nouvelle-Calédonie"],
        "extents": {"spatial": {"bbox": _extent(layers), "crs": offered_crs.CRS84}},
        "links": [],
        "providers": [
            {
                "type": "record",
                "name": PROVIDER,
                "data": "datasets",
                "id_field": "id",
                "ogc_url": ogc_url.rstrip("/"),
                "portal_url": portal_url,
                # `type` and `ids` reach the provider as properties; anything else is
                # refused before (services/ogc/params.py check_records).
                "include_extra_query_parameters": True,
            }
        ],
    }


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class CatalogueRecordProvider(BaseProvider):
    """Records of the datasets the request's viewer may see."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.urls = Urls.for_ogc(provider_def["ogc_url"], provider_def.get("portal_url"))
        self._fields = {name: dict(schema) for name, schema in FIELDS.items()}

    def get_fields(self) -> dict[str, dict[str, Any]]:
        return self._fields

    def _run(self, function: Callable[[Connection], Any]) -> Any:
        """`function(conn)` on the read engine (a few statements, one round trip each)."""
        try:
            return runtime.run_read(function)
        except OverflowError:  # a number SQLite cannot bind
            raise _invalid("nombre hors des limites de la base de données") from None
        except DBAPIError as exc:
            refused = data_error(exc)
            if refused is not None:
                raise _invalid(refused) from None
            LOGGER.warning("catalogue records query failed: %s", exc)
            raise ProviderQueryError(user_msg="la requête n'a pas pu aboutir") from None

    def _query(
        self,
        offset: int,
        limit: int,
        bbox: Sequence[float] | None,
        datetime_: str | None,
        properties: Sequence[tuple[str, str]],
        sortby: Sequence[dict[str, str]],
        q: str | None,
    ) -> catalogue_records.RecordQuery:
        start = end = None
        if datetime_ is not None:
            try:
                start, end = parse_datetime_parameter(datetime_)
            except ValueError as exc:
                raise _invalid(datetime_message(exc)) from None
        filters = dict(properties)
        ids = _names(filters["ids"]) if "ids" in filters else None
        order = []
        for item in sortby or ():
            if item["property"] not in catalogue_records.SORTABLE:
                raise _invalid(f"tri impossible sur « {item['property'][:100]} »")
            order.append((item["property"], item.get("order", "+") != "-"))
        box = None
        if bbox:
            box = (
                (bbox[0], bbox[1], bbox[3], bbox[4])
                if len(bbox) == 6
                else (bbox[0], bbox[1], bbox[2], bbox[3])
            )
        return catalogue_records.RecordQuery(
            text=q,
            bbox=box,
            start=start,
            end=end,
            timed=datetime_ is not None,
            ids=ids,
            record_type=filters.get("type"),
            sortby=tuple(order),
            offset=offset,
            limit=limit,
        )

    def _records(self, conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
        views = {view.id: view for view in load_views(conn, set(ids))}
        return [to_record(views[i], self.urls) for i in ids if i in views]

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: Sequence[float] | None = None,
        datetime_: str | None = None,
        properties: Sequence[tuple[str, str]] = (),
        sortby: Sequence[dict[str, str]] = (),
        q: str | None = None,
        filterq: Any = None,
        **_kwargs: Any,
    ) -> dict[str, Any]:
        if filterq is not None:
            raise _invalid("le catalogue ne prend pas en charge les filtres CQL2")
        query = self._query(offset, limit, bbox, datetime_, properties, sortby, q)

        viewer = REQUEST_VIEWER.get()

        def run(conn: Connection) -> dict[str, Any]:
            matched = catalogue_records.count_records(conn, query, viewer)
            features: list[dict[str, Any]] = []
            if resulttype != "hits":
                ids = catalogue_records.page_ids(conn, query, viewer, matched)
                features = self._records(conn, ids)
            return {
                "type": "FeatureCollection",
                "features": features,
                "numberMatched": matched,
                "numberReturned": len(features),
            }

        return self._run(run)

    def get(self, identifier: Any, **_kwargs: Any) -> dict[str, Any]:
        slug = str(identifier)
        if not SLUG_RE.match(slug):
            raise ProviderItemNotFoundError(user_msg="fiche introuvable")

        viewer = REQUEST_VIEWER.get()

        def run(conn: Connection) -> dict[str, Any] | None:
            found = catalogue_records.find_record(conn, slug, viewer)
            if found is None:
                return None
            records = self._records(conn, [found])
            return records[0] if records else None

        record = self._run(run)
        if record is None:
            raise ProviderItemNotFoundError(user_msg="fiche introuvable")
        return record


def landing_page(api: API, request: APIRequest) -> tuple[dict, int, Any]:
    """pygeoapi's landing page; its JSON also links to the catalogue (OGC API Records)."""
    headers, status, content = core_api.landing_page(api, request)
    if status != 200 or request.format not in (None, F_JSON):
        return headers, status, content
    try:
        document = json.loads(content)
    except (TypeError, ValueError):
        return headers, status, content
    if isinstance(document, dict) and isinstance(document.get("links"), list):
        href = f"{api.get_collections_url()}/{COLLECTION_ID}"
        document["links"].append(
            {
                "rel": CATALOG_REL,
                "type": "application/json",
                "title": "Catalogue des jeux de données (OGC API Records)",
                "href": href,
            }
        )
        content = to_json(document, api.pretty_print)
    return headers, status, content
