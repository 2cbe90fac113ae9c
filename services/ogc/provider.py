"""pygeoapi feature provider over Niaouli layer tables (PostGIS and SpatiaLite alike).

pygeoapi builds a provider object per request, so construction only reads the
provider definition written by `config.build_config` (table, attribute schema, time
field, feature count): no database round trip before the query itself. The SQL lives
in `niaouli.db.features`; this class only translates pygeoapi's arguments and errors.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pygeoapi.crs import CrsTransformSpec
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from sqlalchemy.exc import DBAPIError

from niaouli.db import features
from niaouli.db.features import Attribute, FeatureQuery, LayerTable
from niaouli.services.ogc import offered_crs, runtime
from niaouli.services.ogc.cql import FilterError, coerce, to_condition

LOGGER = logging.getLogger(__name__)

FID_RE = re.compile(r"^[0-9]{1,18}$")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
INSTANT_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)
JSON_TYPES = {
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "format": "time"},
    "binary": {"type": "string", "format": "byte"},
    "json": {"type": "object"},
}


def _invalid(message: str) -> ProviderInvalidQueryError:
    return ProviderInvalidQueryError(user_msg=message)


class DatetimeRangeError(ValueError):
    """An instant that exists in its own offset but not in UTC (year 0 or 10000)."""


DATETIME_INVALID = (
    "paramètre datetime invalide : une date ou un instant RFC 3339, "
    "ou un intervalle début/fin (« .. » pour ouvert)"
)
DATETIME_RANGE = "paramètre datetime hors limites : années 1 à 9999 en UTC"


def datetime_message(error: ValueError) -> str:
    """The French answer for a `datetime=` that `parse_datetime_parameter` refused."""
    return DATETIME_RANGE if isinstance(error, DatetimeRangeError) else DATETIME_INVALID


def next_day(day: date) -> datetime | None:
    """00:00 UTC the day after `day`, or None after 9999-12-31 (no upper bound then)."""
    try:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    except OverflowError:
        return None


def parse_datetime_parameter(value: str) -> tuple[datetime | date | None, datetime | date | None]:
    """`datetime=` as (start, end); an instant gives start == end. ValueError if invalid
    (`DatetimeRangeError` for an instant outside the years 1 to 9999 in UTC)."""

    def moment(text: str) -> datetime | date | None:
        text = text.strip()
        if text in ("", ".."):
            return None
        if DATE_RE.fullmatch(text):
            return date.fromisoformat(text)
        if not INSTANT_RE.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
        if not parsed.tzinfo:
            return parsed.replace(tzinfo=UTC)
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise DatetimeRangeError(text) from None
        return parsed

    if value.count("/") > 1:
        raise ValueError(value)
    if "/" in value:
        start_text, end_text = value.split("/")
        start, end = moment(start_text), moment(end_text)
        if start is None and end is None:
            raise ValueError(value)
        return start, end
    instant = moment(value)
    if instant is None:
        raise ValueError(value)
    return instant, instant


@functools.lru_cache(maxsize=1024)
def _layer_table(
    table: str,
    attributes: tuple[tuple[str, str, str], ...],
    has_geometry: bool,
    feature_count: int,
    postgis: bool,
) -> LayerTable:
    """One `LayerTable` per layer version, shared by the providers pygeoapi builds on every
    request: SQLAlchemy then finds its statements' cache keys already computed."""
    layer = LayerTable.from_schema(
        table,
        [{"name": n, "column": c, "type": t} for n, c, t in attributes],
        has_geometry=has_geometry,
        feature_count=feature_count,
        postgis=postgis,
    )
    _ = layer.table_clause  # built before sharing: every thread sees the same FROM
    return layer


class LayerProvider(BaseProvider):
    """Features of one layer table; filters checked against the attribute schema."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        layer = provider_def["layer"]
        self.layer = _layer_table(
            self.data,
            tuple((a["name"], a["column"], a["type"]) for a in layer["attributes"]),
            bool(layer["has_geometry"]),
            int(layer["feature_count"]),
            runtime.is_postgis(),
        )
        self.count_cap = int(layer.get("count_cap", 10_000))
        self._fields = {a.name: dict(JSON_TYPES[a.type]) for a in self.layer.attributes}

    def get_fields(self) -> dict[str, dict[str, str]]:
        return self._fields

    # --- query parts ---------------------------------------------------------------

    def _attribute(self, name: str) -> Attribute:
        found = self.layer.attribute(name)
        if found is None:
            raise _invalid(f"propriété inconnue : « {name[:100]} »")
        return found

    def _time_condition(self, value: str) -> sa.ColumnElement[bool] | None:
        try:
            start, end = parse_datetime_parameter(value)
        except ValueError as exc:
            raise _invalid(datetime_message(exc)) from None
        if not self.time_field:
            return None
        attribute = self._attribute(self.time_field)
        try:
            return self._time_range(attribute, start, end)
        except FilterError as exc:
            raise _invalid(str(exc)) from None

    def _time_range(
        self, attribute: Attribute, start: date | None, end: date | None
    ) -> sa.ColumnElement[bool]:
        column = self.layer.column(attribute.name)
        postgis = self.layer.postgis
        instant = start is not None and start == end
        conditions = []
        if instant and attribute.type == "datetime" and type(start) is date:
            day = datetime(start.year, start.month, start.day, tzinfo=UTC)
            conditions.append(column >= coerce(attribute, day, postgis))
            following = next_day(start)
            if following is not None:
                conditions.append(column < coerce(attribute, following, postgis))
            return sa.and_(*conditions)
        if instant:
            return column == coerce(attribute, start, postgis)
        if start is not None:
            conditions.append(column >= coerce(attribute, start, postgis))
        if end is not None:
            if attribute.type == "datetime" and type(end) is date:
                following = next_day(end)
                if following is not None:
                    conditions.append(column < coerce(attribute, following, postgis))
            else:
                conditions.append(column <= coerce(attribute, end, postgis))
        return sa.and_(sa.true(), *conditions)

    def _equalities(self, properties: Sequence[tuple[str, str]]) -> list[sa.ColumnElement[bool]]:
        conditions = []
        for name, value in properties:
            attribute = self._attribute(name)
            try:
                conditions.append(
                    self.layer.column(name) == coerce(attribute, value, self.layer.postgis)
                )
            except FilterError as exc:
                raise _invalid(str(exc)) from None
        return conditions

    def _sortby(self, sortby: Sequence[dict[str, str]]) -> list[tuple[str, bool]]:
        order = []
        for item in sortby or ():
            self._attribute(item["property"])
            order.append((item["property"], item.get("order", "+") != "-"))
        return order

    @staticmethod
    def _output(spec: CrsTransformSpec | None) -> features.OutputCrs:
        return offered_crs.output_for(spec.target_crs_uri if spec else None)

    def _run(self, function: Any, *args: Any) -> Any:
        try:
            return runtime.run_read(lambda conn: function(conn, self.layer, *args))
        except OverflowError:  # a number SQLite cannot bind (the filters check them first)
            raise _invalid("nombre hors des limites de la base de données") from None
        except DBAPIError as exc:
            refused = data_error(exc)
            if refused is not None:
                raise _invalid(refused) from None
            LOGGER.warning("layer query failed on %s: %s", self.data, exc)
            raise ProviderQueryError(user_msg="la requête n'a pas pu aboutir") from None

    # --- pygeoapi interface --------------------------------------------------------

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: Sequence[float] | None = None,
        datetime_: str | None = None,
        properties: Sequence[tuple[str, str]] = (),
        sortby: Sequence[dict[str, str]] = (),
        select_properties: Sequence[str] = (),
        skip_geometry: bool = False,
        filterq: Any = None,
        crs_transform_spec: CrsTransformSpec | None = None,
        **_kwargs: Any,
    ) -> dict[str, Any]:
        where = self._equalities(properties)
        if datetime_ is not None:
            condition = self._time_condition(datetime_)
            if condition is not None:
                where.append(condition)
        if filterq is not None:
            try:
                where.append(to_condition(self.layer, filterq))
            except FilterError as exc:
                raise _invalid(str(exc)) from None
        for name in select_properties or ():
            self._attribute(name)
        request = FeatureQuery(
            offset=offset,
            limit=limit,
            bbox=_bbox(bbox),
            where=where,
            properties=list(select_properties) if select_properties else None,
            sortby=self._sortby(sortby),
            skip_geometry=skip_geometry,
            output=self._output(crs_transform_spec),
        )
        if resulttype == "hits":
            matched = self._run(features.count_matching, request, 2**62)
            return _collection([], matched)
        page = self._run(features.query_page, request, self.count_cap)
        return _collection(page.features, page.number_matched)

    def get(
        self,
        identifier: Any,
        crs_transform_spec: CrsTransformSpec | None = None,
        **_kwargs: Any,
    ) -> dict[str, Any]:
        text = str(identifier)
        if not FID_RE.match(text):
            raise ProviderItemNotFoundError(user_msg="entité introuvable")
        found = self._run(features.get_feature, int(text), self._output(crs_transform_spec))
        if found is None:
            raise ProviderItemNotFoundError(user_msg="entité introuvable")
        return found


DATA_ERRORS = {
    "22003": "calcul hors des limites des nombres dans le filtre",
    "22012": "division par zéro dans le filtre",
}


def data_error(exc: DBAPIError) -> str | None:
    """The client's message for a PostgreSQL data exception (SQLSTATE class 22): what
    the request's own values made the database compute (an overflow in `a * b`)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if not sqlstate.startswith("22"):
        return None
    return DATA_ERRORS.get(sqlstate, "valeur impossible à évaluer dans la requête")


def _bbox(bbox: Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """pygeoapi's bbox (4 or 6 numbers, already in lon/lat) as west, south, east, north."""
    if not bbox:
        return None
    if len(bbox) == 6:
        return (bbox[0], bbox[1], bbox[3], bbox[4])
    return (bbox[0], bbox[1], bbox[2], bbox[3])


def _collection(items: list[dict[str, Any]], matched: int | None) -> dict[str, Any]:
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": items}
    if matched is not None:
        collection["numberMatched"] = matched
    collection["numberReturned"] = len(items)
    return collection
