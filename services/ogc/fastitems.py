"""Features by id without pygeoapi's per-request API layer, with pygeoapi's very answer.

Why: `items/{id}` is what QGIS and GDAL ask most when they follow a layer feature by
feature, and pygeoapi's `get_collection_item` spends on each request more than the
database does (provider built again, CRS spec, translated links, a second round trip to
read the catalogue version). Here the part of its answer that does not depend on the
feature — headers and links, for a collection, a format and a language — is made once
per pygeoapi `API` object (so it is rebuilt with it when the catalogue moves), and the
feature is read in ONE statement together with the catalogue version
(`niaouli.db.features.get_feature_and_version`): if the version is not the one the
configuration was built from, the answer is dropped and pygeoapi's path answers.

Only the common request is answered here: an anonymous GET in JSON (no query parameter
but `f=json`, no `Accept` choosing another format), of a feature that exists. Everything
else — HTML, JSON-LD, `crs`, `lang`, signed-in viewers, unknown collections or ids,
database errors — returns None and goes to pygeoapi, which then answers as it always
did. `tests/test_ogc_fastitems.py` compares both paths' bodies and headers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi import l10n
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest
from pygeoapi.crs import set_content_crs_header
from pygeoapi.formats import F_HTML, F_JSON, F_JSONLD, FORMAT_TYPES
from sqlalchemy.exc import DBAPIError

from niaouli.db import features
from niaouli.services.ogc import conformance, runtime
from niaouli.services.ogc.config import PROVIDER
from niaouli.services.ogc.live import LiveApi
from niaouli.services.ogc.provider import FID_RE, _layer_table

FAST_FORMATS = frozenset({None, F_JSON})
"""The formats answered here: none asked (JSON, the default) or `f=json`."""
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


def applies(query: dict[str, list[str]], api_request: APIRequest) -> bool:
    """Whether this request is one the fast path answers (else pygeoapi does)."""
    if any(name != "f" for name in query) or len(query.get("f", [F_JSON])) != 1:
        return False
    return api_request.format in FAST_FORMATS and api_request.is_valid()


def _shell(api: API, api_request: APIRequest, collection_id: str) -> ItemShell | None:
    """The shell of `collection_id` for this request's format and language, made once
    per API object with the very calls `get_collection_item` makes."""
    # Bounded: collections of this API, two formats, its few locales (the raw
    # Accept-Language only picks a provider language, and ours have none: see below).
    key = (collection_id, api_request.format, str(api_request.locale))
    shells: dict = api.__dict__.get(_SHELLS) or api.__dict__.setdefault(_SHELLS, {})
    found = shells.get(key)
    if found is not None:
        return found
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
    headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    set_content_crs_header(headers, provider, None)
    prv_locale = l10n.get_plugin_locale(provider, api_request.raw_locale)
    l10n.set_response_language(headers, prv_locale, api_request.locale)
    if headers.get("Content-Type") == "application/json":  # conformance.as_geojson
        headers["Content-Type"] = conformance.GEOJSON_MEDIA_TYPE
    locale = api_request.locale
    collections_url = api.get_collections_url()
    layer = provider["layer"]
    shell = ItemShell(
        headers=headers,
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
        layer=_layer_table(
            provider["data"],
            tuple((a["name"], a["column"], a["type"]) for a in layer["attributes"]),
            bool(layer["has_geometry"]),
            int(layer["feature_count"]),
            runtime.is_postgis(),
        ),
    )
    with _LOCK:
        shells[key] = shell
    return shell


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
    for _attempt in range(2):
        peeked = live.peek(base_url)
        if peeked is None:  # first request of this catalogue version: build it
            live.api(base_url)
            peeked = live.peek(base_url)
            if peeked is None:
                return None
        api, version = peeked
        shell = _shell(api, api_request, collection_id)
        if shell is None:  # unknown here; perhaps published since this configuration
            live.api(base_url)
            continue
        try:
            now, feature = runtime.run_read(
                lambda conn, layer=shell.layer: features.get_feature_and_version(
                    conn, layer, int(identifier)
                )
            )
        except (DBAPIError, OverflowError):
            return None  # pygeoapi's path reports it (and retries a swapped table)
        if now == version:
            break
        live.api(base_url)  # the catalogue moved: the configuration follows, once more
    else:
        return None
    if feature is None:
        return None
    feature["links"] = shell.links(f"{shell.items_url}/{identifier}")
    # The module's to_json at call time: ours (`jsonout`) once installed, as pygeoapi's.
    body = itemtypes_api.to_json(feature, api.pretty_print)
    return dict(shell.headers), 200, body
