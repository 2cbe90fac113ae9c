"""Cached CRS work for pygeoapi's items endpoints (same results, computed once).

pygeoapi 0.24 rebuilds pyproj objects on every items request: `transform_bbox` builds
two CRSs and a Transformer and calls `to_epsg()` (about 40 ms for CRS84, a database
search), and `create_crs_transform_spec` parses and re-serialises CRSs. They depend
only on a handful of CRS URIs, so we memoise them and install the cached versions in
`pygeoapi.api.itemtypes` (and a cached `get_crs` for provider construction). A bbox
already in the storage CRS is returned unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import pygeoapi.api.itemtypes as itemtypes
import pygeoapi.provider.base as provider_base
import pyproj
from pygeoapi import crs as pygeoapi_crs

_ORIGINAL_SPEC = pygeoapi_crs.create_crs_transform_spec


@functools.lru_cache(maxsize=128)
def _same_crs(from_crs: str, to_crs: str) -> bool:
    return from_crs == to_crs or pygeoapi_crs.get_crs(from_crs) == pygeoapi_crs.get_crs(to_crs)


@functools.lru_cache(maxsize=128)
def _transformer(from_crs: str, to_crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(
        pygeoapi_crs.get_crs(from_crs), pygeoapi_crs.get_crs(to_crs), always_xy=False
    )


def transform_bbox(bbox: list, from_crs: Any, to_crs: Any, always_xy: bool = False) -> list:
    """`pygeoapi.crs.transform_bbox` for URI strings, with cached CRSs and transformer."""
    if always_xy or not isinstance(from_crs, str) or not isinstance(to_crs, str):
        return pygeoapi_crs.transform_bbox(bbox, from_crs, to_crs, always_xy)
    if _same_crs(from_crs, to_crs):
        return list(bbox)
    if to_crs.rstrip("/").endswith("/3857"):  # pygeoapi clips latitudes for Web Mercator
        return pygeoapi_crs.transform_bbox(bbox, from_crs, to_crs, always_xy)
    transform = _transformer(from_crs, to_crs).transform
    half = len(bbox) // 2
    return list(transform(*bbox[:half]) + transform(*bbox[half:]))


@functools.lru_cache(maxsize=256)
def _spec(storage: str, crs_list: tuple[str, ...], always_xy: bool, query: str | None) -> Any:
    provider_def = {"storage_crs": storage, "crs": list(crs_list), "always_xy": always_xy}
    return _ORIGINAL_SPEC(provider_def, query)


def create_crs_transform_spec(provider_def: dict, query_crs_uri: str | None = None) -> Any:
    """`pygeoapi.crs.create_crs_transform_spec`, memoised on its few inputs."""
    storage = provider_def.get("storage_crs", pygeoapi_crs.DEFAULT_STORAGE_CRS)
    crs_list = tuple(provider_def.get("crs", ()))
    return _spec(storage, crs_list, bool(provider_def.get("always_xy", False)), query_crs_uri)


@functools.lru_cache(maxsize=128)
def _get_crs_uri(uri: str) -> pyproj.CRS:
    return pygeoapi_crs.get_crs(uri)


def get_crs(crs: Any) -> pyproj.CRS:
    """`pygeoapi.crs.get_crs`, cached for URI strings (every provider calls it)."""
    return _get_crs_uri(crs) if isinstance(crs, str) else pygeoapi_crs.get_crs(crs)


def install() -> None:
    provider_base.get_crs = get_crs
    itemtypes.transform_bbox = transform_bbox
    itemtypes.create_crs_transform_spec = create_crs_transform_spec
