"""Features by id and pages without pygeoapi's per-request API layer, with pygeoapi's
very answer.

Why: `items/{id}` is what QGIS and GDAL ask most when they follow a layer feature by
feature, `items` (the first page, then the next ones) what every client asks first, and
pygeoapi's `get_collection_item(s)` spends on each request more than the database does
(provider built again, CRS spec, formatter plugins loaded, translated links, a second
round trip to read the catalogue version). Here the part of its answer that does not
depend on the request's data — headers and links, for a collection, a format and a
language — is made once per pygeoapi `API` object (so it is rebuilt with it when the
catalogue moves), and the feature or the page is read in ONE statement together with
the catalogue version (`niaouli.db.features.get_feature_and_version`,
`get_page_and_version`): if the version is not the one the configuration was built
from, the configuration follows and the read is made again. What depends on the page
(`limit` in the links, prev/next, `timeStamp`) is written per request as pygeoapi does.

Only the common request is answered here: an anonymous GET in JSON (no query parameter
but `f=json`, and `limit`/`offset` for a page; no `Accept` choosing another format), of
a feature that exists or a page pygeoapi would not refuse. Everything else — HTML,
JSON-LD, CSV, `crs`, `lang`, `bbox` and other filters, signed-in viewers, unknown
collections or ids, refused values, database errors — returns None and goes to
pygeoapi, which then answers as it always did. `tests/test_ogc_fastitems.py` compares
both paths' bodies and headers.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi import l10n
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest, evaluate_limit
from pygeoapi.crs import set_content_crs_header
from pygeoapi.formats import F_HTML, F_JSON, F_JSONLD, FORMAT_TYPES
from pygeoapi.util import get_dataset_formatters
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from niaouli.db import features
from niaouli.services.ogc import asyncread, conformance, runtime
from niaouli.services.ogc.config import PROVIDER
from niaouli.services.ogc.live import LiveApi
from niaouli.services.ogc.provider import FID_RE, _layer_table

FAST_FORMATS = frozenset({None, F_JSON})
"""The formats answered here: none asked (JSON, the default) or `f=json`."""
PAGE_PARAMETERS = frozenset({"f", "limit", "offset"})
"""The parameters of a page answered here (anything else is a filter: pygeoapi's)."""
_SHELLS = "_niaouli_item_shells"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ItemShell:
    """What `get_collection_item` puts around any feature of one collection."""

    headers: dict[str, str]
    items_url: str  # …/collections/{id}/items
    root_links: list[dict[str, str]]
    own_links: list[tuple[dict[str, str], str]]  # (link without href, query suffix)
    collection_link: dict[str, str]
    layer: features.LayerTable

    def links(self, uri: str) -> list[dict[str, str]]:
        own = [{**link, "href": f"{uri}{suffix}"} for link, suffix in self.own_links]
        return [*self.root_links, *own, self.collection_link]


@dataclass(frozen=True)
class PageShell:
    """What `get_collection_items` puts around any page of one collection."""

    headers: dict[str, str]
    items_url: str
    # (link without href, "?f=…"): GeoJSON, JSON-LD, HTML, then the dataset formatters.
    own_links: list[tuple[dict[str, str], str]]
    prev_title: str
    next_title: str
    collection_link: dict[str, str]
    extra_formats: dict[str, str]  # the formatters' {f: media type}, as pygeoapi merges
    server_limits: dict[str, Any]
    collection_limits: dict[str, Any]
    layer: features.LayerTable

    def links(
        self, api_request: APIRequest, offset: int, limit: int, matched: int, returned: int
    ) -> list[dict[str, str]]:
        """pygeoapi's links of this page, in its order and with its query strings."""
        query = ""  # every parameter but f and offset, as pygeoapi serializes them
        for name, value in api_request.params.items():
            if name not in ("f", "offset"):
                query += f"&{urllib.parse.quote(name, safe='')}"
                query += f"={urllib.parse.quote(str(value), safe=',')}"
        uri = self.items_url
        links = [{**link, "href": f"{uri}{suffix}{query}"} for link, suffix in self.own_links]
        shown = f"?f={api_request.format}&" if api_request.format is not None else "?"
        if offset > 0:
            href = f"{uri}{shown}offset={max(0, offset - limit)}{query}"
            links.append(
                {
                    "type": "application/geo+json",
                    "rel": "prev",
                    "title": self.prev_title,
                    "href": href,
                }
            )
        if matched > limit + offset or returned == limit:
            href = f"{uri}{shown}offset={offset + limit}{query}"
            links.append(
                {
                    "type": "application/geo+json",
                    "rel": "next",
                    "title": self.next_title,
                    "href": href,
                }
            )
        links.append(self.collection_link)
        return links


def applies(query: dict[str, list[str]], api_request: APIRequest) -> bool:
    """Whether this feature request is one the fast path answers (else pygeoapi does)."""
    if any(name != "f" for name in query) or len(query.get("f", [F_JSON])) != 1:
        return False
    return api_request.format in FAST_FORMATS and api_request.is_valid()


def applies_to_page(query: dict[str, list[str]], api_request: APIRequest) -> bool:
    """Whether this page request is one the fast path answers (else pygeoapi does);
    the values are checked by the caller (`params.check_items`) and pygeoapi's rules."""
    if any(name not in PAGE_PARAMETERS or len(values) != 1 for name, values in query.items()):
        return False
    return api_request.format in FAST_FORMATS and api_request.is_valid()


def _feature_provider(api: API, collection_id: str) -> tuple[dict, dict] | None:
    """(resource, provider) of a collection of our layers, or None (pygeoapi's then)."""
    resource = api.config["resources"].get(collection_id)
    if resource is None or resource.get("type") != "collection":
        return None
    provider = next((p for p in resource.get("providers", []) if p.get("type") == "feature"), None)
    if (
        provider is None
        or provider.get("name") != PROVIDER
        or provider.get("uri_field")
        or provider.get("languages", provider.get("language"))
    ):
        return None
    return resource, provider


def _headers(api: API, api_request: APIRequest, provider: dict) -> dict[str, str]:
    """The headers both functions make, in their order of calls."""
    headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    set_content_crs_header(headers, provider, None)
    prv_locale = l10n.get_plugin_locale(provider, api_request.raw_locale)
    l10n.set_response_language(headers, prv_locale, api_request.locale)
    if headers.get("Content-Type") == "application/json":  # conformance.as_geojson
        headers["Content-Type"] = conformance.GEOJSON_MEDIA_TYPE
    return headers


def _layer(provider: dict) -> features.LayerTable:
    layer = provider["layer"]
    return _layer_table(
        provider["data"],
        tuple((a["name"], a["column"], a["type"]) for a in layer["attributes"]),
        bool(layer["has_geometry"]),
        int(layer["feature_count"]),
        runtime.is_postgis(),
    )


def _cached(api: API, key: tuple, make: Callable[[], Any]) -> Any:
    """The shell under `key` for this API object, made once (None is not kept).
    Bounded: collections of this API, two formats, its few locales (the raw
    Accept-Language only picks a provider language, and ours have none)."""
    shells: dict = api.__dict__.get(_SHELLS) or api.__dict__.setdefault(_SHELLS, {})
    found = shells.get(key)
    if found is not None:
        return found
    made = make()
    if made is not None:
        with _LOCK:
            shells[key] = made
    return made


def _shell(api: API, api_request: APIRequest, collection_id: str) -> ItemShell | None:
    """The shell of `collection_id` for this request's format and language, made once
    per API object with the very calls `get_collection_item` makes."""
    key = ("item", collection_id, api_request.format, str(api_request.locale))
    return _cached(api, key, lambda: _make_item_shell(api, api_request, collection_id))


def _make_item_shell(api: API, api_request: APIRequest, collection_id: str) -> ItemShell | None:
    found = _feature_provider(api, collection_id)
    if found is None:
        return None
    resource, provider = found
    locale = api_request.locale
    collections_url = api.get_collections_url()
    return ItemShell(
        headers=_headers(api, api_request, provider),
        items_url=f"{collections_url}/{collection_id}/items",
        root_links=[
            {
                "type": FORMAT_TYPES[F_JSON],
                "rel": "root",
                "title": l10n.translate("The landing page of this server as JSON", locale),
                "href": f"{api.base_url}?f={F_JSON}",
            },
            {
                "type": FORMAT_TYPES[F_HTML],
                "rel": "root",
                "title": l10n.translate("The landing page of this server as HTML", locale),
                "href": f"{api.base_url}?f={F_HTML}",
            },
        ],
        own_links=[
            (
                {
                    "rel": api_request.get_linkrel(F_JSON),
                    "type": "application/geo+json",
                    "title": l10n.translate("This document as JSON", locale),
                },
                f"?f={F_JSON}",
            ),
            (
                {
                    "rel": api_request.get_linkrel(F_JSONLD),
                    "type": FORMAT_TYPES[F_JSONLD],
                    "title": l10n.translate("This document as RDF (JSON-LD)", locale),
                },
                f"?f={F_JSONLD}",
            ),
            (
                {
                    "rel": api_request.get_linkrel(F_HTML),
                    "type": FORMAT_TYPES[F_HTML],
                    "title": l10n.translate("This document as HTML", locale),
                },
                f"?f={F_HTML}",
            ),
        ],
        collection_link={
            "rel": "collection",
            "type": FORMAT_TYPES[F_JSON],
            "title": l10n.translate(resource["title"], locale),
            "href": f"{collections_url}/{collection_id}",
        },
        layer=_layer(provider),
    )


def _page_shell(api: API, api_request: APIRequest, collection_id: str) -> PageShell | None:
    """The page shell of `collection_id` for this request's format and language, made
    once per API object with the very calls `get_collection_items` makes."""
    key = ("page", collection_id, api_request.format, str(api_request.locale))
    return _cached(api, key, lambda: _make_page_shell(api, api_request, collection_id))


def _make_page_shell(api: API, api_request: APIRequest, collection_id: str) -> PageShell | None:
    found = _feature_provider(api, collection_id)
    if found is None:
        return None
    resource, provider = found
    locale = api_request.locale
    formatters = get_dataset_formatters(resource)  # loads the formatter plugins
    collections_url = api.get_collections_url()
    own_links = [
        (
            {
                "type": "application/geo+json",
                "rel": api_request.get_linkrel(F_JSON),
                "title": l10n.translate("This document as GeoJSON", locale),
            },
            f"?f={F_JSON}",
        ),
        (
            {
                "rel": api_request.get_linkrel(F_JSONLD),
                "type": FORMAT_TYPES[F_JSONLD],
                "title": l10n.translate("This document as RDF (JSON-LD)", locale),
            },
            f"?f={F_JSONLD}",
        ),
        (
            {
                "type": FORMAT_TYPES[F_HTML],
                "rel": api_request.get_linkrel(F_HTML),
                "title": l10n.translate("This document as HTML", locale),
            },
            f"?f={F_HTML}",
        ),
    ]
    own_links += [
        (
            {"type": formatter.mimetype, "rel": "alternate", "title": f"This document as {key}"},
            f"?f={formatter.name}",
        )
        for key, formatter in formatters.items()
    ]
    return PageShell(
        headers=_headers(api, api_request, provider),
        items_url=f"{collections_url}/{collection_id}/items",
        own_links=own_links,
        prev_title=l10n.translate("Items (prev)", locale),
        next_title=l10n.translate("Items (next)", locale),
        collection_link={
            "type": FORMAT_TYPES[F_JSON],
            "title": l10n.translate(resource["title"], locale),
            "rel": "collection",
            "href": f"{collections_url}/{collection_id}",
        },
        extra_formats={f.f: f.mimetype for f in formatters.values()},
        server_limits=dict(api.config["server"].get("limits", {})),
        collection_limits=dict(resource.get("limits", {})),
        layer=_layer(provider),
    )


def _read_current[Shell, Found](
    live: LiveApi,
    base_url: str,
    shell_of: Callable[[API], Shell | None],
    read: Callable[[Connection, Shell], tuple[int, Found]],
) -> tuple[API, Shell, Found] | None:
    """(API, shell, what `read` found) with the catalogue version read in `read`'s own
    statement equal to the one the API was built from; None when pygeoapi must answer.
    Runs in a worker thread: one round trip, two after a catalogue change."""
    for _attempt in range(2):
        peeked = live.peek(base_url)
        if peeked is None:  # first request of this catalogue version: build it
            live.api(base_url)
            peeked = live.peek(base_url)
            if peeked is None:
                return None
        api, version = peeked
        shell = shell_of(api)
        if shell is None:  # unknown here; perhaps published since this configuration
            live.api(base_url)
            continue
        try:
            now, found = runtime.run_read(lambda conn, shell=shell: read(conn, shell))
        except (DBAPIError, OverflowError):
            return None  # pygeoapi's path reports it (and retries a swapped table)
        if now == version:
            return api, shell, found
        live.api(base_url)  # the catalogue moved: the configuration follows, once more
    return None


def answer_item(
    live: LiveApi,
    base_url: str,
    api_request: APIRequest,
    collection_id: str,
    identifier: str,
) -> tuple[dict[str, str], int, str] | None:
    """pygeoapi's answer for an anonymous visitor's feature by id, or None when pygeoapi
    must answer (see the module docstring). Runs in a worker thread: one round trip."""
    if not FID_RE.match(identifier):
        return None
    read = _read_current(
        live,
        base_url,
        lambda api: _shell(api, api_request, collection_id),
        lambda conn, shell: features.get_feature_and_version(conn, shell.layer, int(identifier)),
    )
    if read is None or read[2] is None:
        return None
    api, shell, feature = read
    return _item_answer(api, shell, identifier, feature)


async def answer_item_on_loop(
    live: LiveApi,
    base_url: str,
    api_request: APIRequest,
    collection_id: str,
    identifier: str,
    reader: asyncread.AsyncReader,
) -> tuple[dict[str, str], int, str] | None:
    """`answer_item`'s answer without a worker thread, when everything it needs is at
    hand: the API and the shell already made for the catalogue version, and the read
    on one of the loop's async connections (`asyncread`) showing that version. None
    otherwise (`answer_item` then runs in a thread and decides)."""
    if not FID_RE.match(identifier):
        return None
    peeked = live.peek(base_url)
    if peeked is None:
        return None
    api, version = peeked
    shells: dict = api.__dict__.get(_SHELLS) or {}
    shell = shells.get(("item", collection_id, api_request.format, str(api_request.locale)))
    if shell is None:
        return None
    try:
        sql, values = features.feature_and_version_query(
            shell.layer, runtime.reader().dialect, int(identifier)
        )
    except OverflowError:
        return None
    rows = await reader.fetch(sql, values)
    if rows is None:
        return None
    now, feature = features.feature_and_version(shell.layer, rows)
    if now != version or feature is None:
        return None
    return _item_answer(api, shell, identifier, feature)


def _item_answer(
    api: API, shell: ItemShell, identifier: str, feature: dict[str, Any]
) -> tuple[dict[str, str], int, str]:
    feature["links"] = shell.links(f"{shell.items_url}/{identifier}")
    # The module's to_json at call time: ours (`jsonout`) once installed, as pygeoapi's.
    body = itemtypes_api.to_json(feature, api.pretty_print)
    return dict(shell.headers), 200, body


def answer_page(
    live: LiveApi,
    base_url: str,
    api_request: APIRequest,
    collection_id: str,
) -> tuple[dict[str, str], int, str] | None:
    """pygeoapi's answer for an anonymous visitor's unfiltered page, or None when
    pygeoapi must answer (see the module docstring). Runs in a worker thread."""
    params = api_request.params
    try:
        offset = int(params["offset"]) if "offset" in params else 0
    except ValueError:
        return None
    if offset < 0:
        return None
    paging: list[int] = []

    def page_shell(api: API) -> PageShell | None:
        shell = _page_shell(api, api_request, collection_id)
        if shell is None:
            return None
        # pygeoapi chooses the format again with the formatters' media types (an Accept
        # asking CSV first): the shell's headers are those of the format chosen before.
        headers = api_request.get_request_headers(api_request.headers)
        if api_request._get_format(headers, shell.extra_formats) != api_request.format:  # noqa: SLF001
            raise _Fallback
        try:
            limit = evaluate_limit(
                params.get("limit"), shell.server_limits, shell.collection_limits
            )
        except ValueError:
            raise _Fallback from None  # pygeoapi's 400
        paging[:] = [limit]
        return shell

    try:
        read = _read_current(
            live,
            base_url,
            page_shell,
            lambda conn, shell: features.get_page_and_version(conn, shell.layer, offset, paging[0]),
        )
    except _Fallback:
        return None
    if read is None:
        return None
    api, shell, page = read
    limit = paging[0]
    matched = page.number_matched
    content: dict[str, Any] = {"type": "FeatureCollection", "features": page.features}
    if matched is not None:
        content["numberMatched"] = matched
    content["numberReturned"] = len(page.features)
    content["links"] = shell.links(
        api_request, offset, limit, -1 if matched is None else matched, len(page.features)
    )
    # The module's clock and to_json at call time, as `get_collection_items` uses them.
    content["timeStamp"] = itemtypes_api.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = itemtypes_api.to_json(content, api.pretty_print)
    return dict(shell.headers), 200, body


class _Fallback(Exception):  # noqa: N818
    """This page is pygeoapi's to answer (its refusal, another format)."""
