"""Query parameters of the items endpoints, checked before pygeoapi sees them.

Why a check of our own: pygeoapi silently drops unknown parameters (OGC API Features
requires a 400), reports unknown properties in English, and accepts any offset. Here
every parameter name, every property name (`properties`, `sortby`, `name=value`) is
compared with the layer's attribute schema (SECURITY-CASES S1) and numbers are parsed
before anything reaches SQL (S3). Messages are in French.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Set

ITEMS_PARAMETERS = frozenset(
    {
        "f",
        "lang",
        "bbox",
        "bbox-crs",
        "crs",
        "limit",
        "offset",
        "datetime",
        "properties",
        "sortby",
        "skipGeometry",
        "filter",
        "filter-lang",
        "filter-crs",
        "resulttype",
    }
)
ITEM_PARAMETERS = frozenset({"f", "lang", "crs"})
MAX_OFFSET = 2**53
MAX_SORT_KEYS = 100  # SQLite refuses ORDER BY beyond 2,000 terms (a 500 before)
INTEGER_RE = re.compile(r"^[0-9]{1,20}$")


class ParameterError(ValueError):
    """A refused query parameter; `code` is the OGC exception code."""

    def __init__(self, message: str, code: str = "InvalidParameterValue") -> None:
        super().__init__(message)
        self.code = code


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def _check_names(names: Iterable[str], known: set[str]) -> None:
    for name in names:
        if name not in known:
            raise ParameterError(f"propriété inconnue : « {name[:100]} »")


def _integer(name: str, value: str, minimum: int, maximum: int) -> int:
    if not INTEGER_RE.match(value.strip()):
        raise ParameterError(f"« {name} » doit être un entier")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ParameterError(f"« {name} » doit être compris entre {minimum} et {maximum}")
    return number


def _check_bbox(value: str) -> None:
    """4 or 6 finite numbers (`nan` or `1e999` matched nothing, or failed in PostGIS's
    envelope functions). The axis order depends on `bbox-crs`: pygeoapi checks it."""
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise ParameterError("« bbox » : 4 ou 6 nombres séparés par des virgules")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise ParameterError("« bbox » : nombres attendus") from None
    if not all(math.isfinite(number) for number in numbers):
        raise ParameterError("« bbox » : nombres finis attendus (ni nan ni infini)")


def _check_sortby(value: str) -> list[str]:
    names = _names(value)
    if len(names) > MAX_SORT_KEYS:
        raise ParameterError(f"« sortby » : {MAX_SORT_KEYS} propriétés au plus")
    return names


def _check_common(params: Mapping[str, str], allowed: Set[str], multi: Mapping) -> None:
    """Names in `allowed`, each given once; paging numbers, `bbox`, `sortby` length and
    `resulttype` well formed."""
    for name in multi:
        if name not in allowed:
            raise ParameterError(f"paramètre inconnu : « {name[:100]} »")
        if len(multi[name]) > 1:
            raise ParameterError(f"paramètre répété : « {name[:100]} »")
    if "limit" in params:
        _integer("limit", params["limit"], 1, MAX_OFFSET)
    if "offset" in params:
        _integer("offset", params["offset"], 0, MAX_OFFSET)
    if params.get("resulttype", "results") not in ("results", "hits"):
        raise ParameterError("« resulttype » vaut results ou hits")
    if params.get("bbox"):
        _check_bbox(params["bbox"])
    if params.get("sortby"):
        _check_sortby(params["sortby"])


def check_items(params: Mapping[str, str], attributes: Iterable[str], *, multi: Mapping) -> None:
    """Refuse what OGC API Features says a server must refuse, before any query."""
    known = set(attributes)
    _check_common(params, ITEMS_PARAMETERS | known, multi)
    if "properties" in params and params["properties"] != "":
        _check_names(_names(params["properties"]), known)
    if "sortby" in params:
        _check_names((n.lstrip("+-") for n in _names(params["sortby"])), known)


RECORDS_PARAMETERS = frozenset(
    {"f", "lang", "q", "bbox", "datetime", "limit", "offset", "sortby", "type", "ids", "resulttype"}
)
RECORDS_SORTABLE = frozenset({"title", "created", "updated"})


def check_records(params: Mapping[str, str], *, multi: Mapping) -> None:
    """The items of a records collection (OGC API Records): its own parameter list."""
    _check_common(params, RECORDS_PARAMETERS, multi)
    for name in _names(params["sortby"]) if "sortby" in params else ():
        if name.lstrip("+-") not in RECORDS_SORTABLE:
            raise ParameterError(
                f"tri impossible sur « {name[:100]} » (possible : title, created, updated)"
            )


def check_item(multi: Mapping) -> None:
    for name in multi:
        if name not in ITEM_PARAMETERS:
            raise ParameterError(f"paramètre inconnu : « {name[:100]} »")
