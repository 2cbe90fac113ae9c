"""CQL2 filters (OGC API Features Part 3) as SQLAlchemy conditions, checked and bound.

Why our own translation rather than pygeofilter's SQLAlchemy backend: that backend
passes unknown names through as raw column names and values with whatever type the
client chose. Here every property name is looked up in the layer's attribute schema
(the allowlist) and an unknown one is refused before anything reaches the database
(SECURITY-CASES S1); every literal is converted to the property's type and bound as a
parameter (S2). Only the operators below exist; anything else is refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import shapely
import sqlalchemy as sa
from pygeofilter import ast, values
from sqlalchemy import ColumnElement

from niaouli.db.features import Attribute, LayerTable

GEOMETRY_NAMES = ("geometry", "geom")
# Integers the databases hold (64-bit): a bigger literal could only overflow a bound
# parameter (SQLite) or the column type (PostgreSQL), so it is refused with its name.
MIN_INTEGER, MAX_INTEGER = -(2**63), 2**63 - 1


class FilterError(ValueError):
    """A filter we refuse, with a message for the client (in French)."""


class UnknownPropertyError(FilterError):
    def __init__(self, name: str) -> None:
        super().__init__(f"propriété inconnue : « {name[:100]} »")


_COMPARISONS = {
    ast.ComparisonOp.EQ: lambda a, b: a == b,
    ast.ComparisonOp.NE: lambda a, b: a != b,
    ast.ComparisonOp.LT: lambda a, b: a < b,
    ast.ComparisonOp.LE: lambda a, b: a <= b,
    ast.ComparisonOp.GT: lambda a, b: a > b,
    ast.ComparisonOp.GE: lambda a, b: a >= b,
}
_SPATIAL = {
    ast.SpatialComparisonOp.INTERSECTS: "ST_Intersects",
    ast.SpatialComparisonOp.DISJOINT: "ST_Disjoint",
    ast.SpatialComparisonOp.CONTAINS: "ST_Contains",
    ast.SpatialComparisonOp.WITHIN: "ST_Within",
    ast.SpatialComparisonOp.TOUCHES: "ST_Touches",
    ast.SpatialComparisonOp.CROSSES: "ST_Crosses",
    ast.SpatialComparisonOp.OVERLAPS: "ST_Overlaps",
    ast.SpatialComparisonOp.EQUALS: "ST_Equals",
}
_TEXT_FUNCTIONS = {"lower": sa.func.lower, "upper": sa.func.upper}


def _parse_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise FilterError(f"date attendue pour « {name} »")


def _parse_datetime(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise FilterError(f"date et heure attendues pour « {name} »") from None
    else:
        raise FilterError(f"date et heure attendues pour « {name} »")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise FilterError(
            f"date et heure hors limites pour « {name} » (années 1 à 9999 en UTC)"
        ) from None


def check_integer(value: int, name: str | None = None) -> int:
    """`value` if a 64-bit integer, else FilterError (SECURITY-CASES S3)."""
    if MIN_INTEGER <= value <= MAX_INTEGER:
        return value
    where = f" pour « {name} »" if name else ""
    raise FilterError(f"entier hors limites{where} ({MIN_INTEGER} à {MAX_INTEGER})")


def check_text(value: str, name: str | None = None) -> str:
    """`value` unless it holds U+0000, which PostgreSQL text cannot store or compare."""
    if "\x00" in value:
        where = f" pour « {name} »" if name else ""
        raise FilterError(f"caractère nul (U+0000) refusé{where}")
    return value


def coerce(attribute: Attribute, value: Any, postgis: bool) -> Any:
    """`value` converted to what the column holds, or FilterError (never sent as is)."""
    kind, name = attribute.type, attribute.name
    if value is None:
        return None
    if kind == "integer" or kind == "number":
        if isinstance(value, bool):
            raise FilterError(f"nombre attendu pour « {name} »")
        if isinstance(value, str):
            try:
                value = int(value) if kind == "integer" else float(value)
            except ValueError:
                raise FilterError(f"nombre attendu pour « {name} »") from None
        if isinstance(value, int) and kind == "number":
            try:
                return float(value)  # a 30-digit integer is a fine double, not a bigint
            except OverflowError:
                raise FilterError(f"nombre hors limites pour « {name} »") from None
        if isinstance(value, int):
            return check_integer(value, name)
        if isinstance(value, float):
            return value
        raise FilterError(f"nombre attendu pour « {name} »")
    if kind == "boolean":
        if isinstance(value, bool):
            return value if postgis else int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            flag = value.lower() == "true"
            return flag if postgis else int(flag)
        raise FilterError(f"booléen attendu (true/false) pour « {name} »")
    if kind == "date":
        parsed = _parse_date(value, name)
        return parsed if postgis else parsed.isoformat()
    if kind == "datetime":
        moment = _parse_datetime(value, name)
        return moment if postgis else moment.isoformat()
    if kind in ("string", "time"):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return check_text(str(value), name)
        raise FilterError(f"texte attendu pour « {name} »")
    raise FilterError(f"la propriété « {name} » ne peut pas servir de filtre")


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escape) as an SQLite GLOB pattern."""
    out: list[str] = []
    characters = iter(pattern)
    for char in characters:
        if char == "\\":
            char = next(characters, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


class CqlTranslator:
    """Translates one parsed CQL2 expression for one layer."""

    def __init__(self, layer: LayerTable) -> None:
        self.layer = layer
        self.table = layer.table_clause

    # --- entry point ---------------------------------------------------------------

    def condition(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, ast.Not):
            return sa.not_(self.condition(node.sub_node))
        if isinstance(node, ast.And):
            return sa.and_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Or):
            return sa.or_(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Comparison):
            lhs, rhs = self._operands(node.lhs, node.rhs)
            return _COMPARISONS[node.op](lhs, rhs)
        if isinstance(node, ast.Between):
            lhs, low = self._operands(node.lhs, node.low)
            _, high = self._operands(node.lhs, node.high)
            between = lhs.between(low, high)
            return sa.not_(between) if node.not_ else between
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            return self._in(node)
        if isinstance(node, ast.IsNull):
            lhs = self.scalar(node.lhs)
            return lhs.is_not(None) if node.not_ else lhs.is_(None)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(_SPATIAL[node.op], node.lhs, node.rhs)
        if isinstance(node, ast.BBox):
            box = values.Envelope(node.minx, node.miny, node.maxx, node.maxy)
            return self._spatial("ST_Intersects", node.lhs, box)
        if isinstance(node, ast.Include):
            return sa.false() if node.not_ else sa.true()
        raise FilterError(f"opérateur non pris en charge : {type(node).__name__}")

    # --- scalars -------------------------------------------------------------------

    def attribute(self, node: ast.Attribute) -> Attribute:
        found = self.layer.attribute(node.name)
        if found is None:
            raise UnknownPropertyError(node.name)
        return found

    def scalar(self, node: Any, like: Attribute | None = None) -> ColumnElement:
        if isinstance(node, ast.Attribute):
            return self.table.c[self.attribute(node).column]
        if isinstance(node, ast.Function):
            function = _TEXT_FUNCTIONS.get(node.name.lower())
            if function is None or len(node.arguments) != 1:
                raise FilterError(f"fonction non prise en charge : « {node.name[:50]} »")
            return function(self.scalar(node.arguments[0], like))
        if isinstance(node, ast.Arithmetic):
            lhs, rhs = self.scalar(node.lhs, like), self.scalar(node.rhs, like)
            if node.op.value == "/":
                return lhs / self._divisor(node.rhs, rhs)
            operations = {"+": lhs + rhs, "-": lhs - rhs, "*": lhs * rhs}
            return operations[node.op.value]
        if isinstance(node, values.Geometry | values.Envelope | ast.Node):
            raise FilterError("expression non prise en charge à cet endroit")
        if isinstance(node, list | tuple | values.Interval):
            raise FilterError("liste ou intervalle non pris en charge à cet endroit")
        value = coerce(like, node, self.layer.postgis) if like is not None else node
        if isinstance(value, int) and not isinstance(value, bool):
            value = check_integer(value)
        if isinstance(value, str):
            value = check_text(value)
        if isinstance(value, bool | int | float | str | date | datetime) or value is None:
            return sa.literal(value)
        raise FilterError("valeur non prise en charge")

    @staticmethod
    def _divisor(node: Any, divisor: ColumnElement) -> ColumnElement:
        """A literal zero is refused; any other divisor that is zero gives NULL (no match).

        PostgreSQL fails the whole query on a division by zero, SQLite answers NULL: with
        NULLIF both answer NULL, so `a / b = 1` is simply false where `b` is 0.
        """
        if isinstance(node, int | float) and not isinstance(node, bool) and node == 0:
            raise FilterError("division par zéro dans le filtre")
        return sa.func.nullif(divisor, 0, type_=divisor.type)

    def _typed_attribute(self, node: Any) -> Attribute | None:
        """The attribute whose type a literal next to `node` must take, if any."""
        while isinstance(node, ast.Function | ast.Arithmetic):
            node = node.arguments[0] if isinstance(node, ast.Function) else node.lhs
        return self.attribute(node) if isinstance(node, ast.Attribute) else None

    def _operands(self, lhs: Any, rhs: Any) -> tuple[ColumnElement, ColumnElement]:
        like = self._typed_attribute(lhs) or self._typed_attribute(rhs)
        return self.scalar(lhs, like), self.scalar(rhs, like)

    def _like(self, node: ast.Like) -> ColumnElement[bool]:
        if not isinstance(node.pattern, str):
            raise FilterError("motif LIKE attendu sous forme de texte")
        lhs = self.scalar(node.lhs)
        pattern = check_text(node.pattern)
        if node.nocase:
            lhs, pattern = sa.func.lower(lhs), pattern.lower()
        if self.layer.postgis:
            expression = lhs.like(sa.literal(pattern, sa.Text), escape="\\")
        else:  # SQLite's LIKE ignores ASCII case; GLOB is case-sensitive like CQL2
            expression = lhs.op("GLOB")(sa.literal(like_to_glob(pattern), sa.Text))
        return sa.not_(expression) if node.not_ else expression

    def _in(self, node: ast.In) -> ColumnElement[bool]:
        like = self._typed_attribute(node.lhs)
        lhs = self.scalar(node.lhs)
        options = [self.scalar(option, like) for option in node.sub_nodes]
        expression = lhs.in_(options)
        return sa.not_(expression) if node.not_ else expression

    # --- geometry ------------------------------------------------------------------

    def _geometry_literal(self, node: Any) -> ColumnElement:
        if isinstance(node, values.Envelope):
            # pygeofilter fills Envelope from CQL2 JSON `bbox` [minx, miny, maxx, maxy]
            # positionally into (x1, x2, y1, y2): read the fields back in that order.
            west, south, east, north = node.x1, node.x2, node.y1, node.y2
            geometry = shapely.box(west, south, east, north)
        elif isinstance(node, ast.Function) and node.name.lower() == "bbox":
            if len(node.arguments) != 4:
                raise FilterError("BBOX attend quatre nombres")
            geometry = shapely.box(*(float(v) for v in node.arguments))
        elif isinstance(node, values.Geometry):
            try:
                geometry = shapely.geometry.shape(node.geometry)
            except (ValueError, TypeError, AttributeError):
                raise FilterError("géométrie invalide dans le filtre") from None
        else:
            raise FilterError("géométrie attendue")
        wkb = shapely.to_wkb(geometry)
        from_wkb = sa.func.ST_GeomFromWKB if self.layer.postgis else sa.func.GeomFromWKB
        return from_wkb(sa.literal(wkb, sa.LargeBinary), sa.literal(4326, sa.Integer))

    def _spatial(self, function: str, lhs: Any, rhs: Any) -> ColumnElement[bool]:
        if not self.layer.has_geometry:
            raise FilterError("cette collection n'a pas de géométrie")
        operands = []
        for node in (lhs, rhs):
            if isinstance(node, ast.Attribute):
                if node.name not in GEOMETRY_NAMES:
                    raise UnknownPropertyError(node.name)
                operands.append(self.table.c.geom)
            else:
                operands.append(self._geometry_literal(node))
        call = getattr(sa.func, function)(*operands)
        return call if self.layer.postgis else call == 1


def to_condition(layer: LayerTable, node: Any) -> ColumnElement[bool]:
    """The SQL condition for CQL2 expression `node` on `layer` (FilterError if refused)."""
    return CqlTranslator(layer).condition(node)
