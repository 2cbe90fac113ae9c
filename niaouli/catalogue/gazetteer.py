"""Place names the search understands, read from a layer of the catalogue (the communes).

Which layer: the `gazetteer_sources` table names it by dataset and layer name, with the
attribute holding the names (`niaouli gazetteer set communes-nc --name-column LIBGEO`;
the demo sets it). Its places are not copied into another table: they are read from the
layer's current table and kept per process, keyed by that table and its row count, so a
replaced or appended layer is followed by the next search without any rebuild step.

A place is seen only by viewers who may see its dataset (`access.visible_datasets`): a
restricted layer never lends its names to anyone else's search or suggestions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import Dataset, GazetteerSource, Layer
from niaouli.catalogue.search.fulltext import Query, parse, words
from niaouli.db.engine import writing
from niaouli.db.layers import PostgisLayers, quote
from niaouli.errors import NiaouliError

# Places are outlines for a search, not for a map: ~10 m is plenty and keeps them small.
SIMPLIFY_DEGREES = 0.0001
MAX_PLACE_WORDS = 6
# Leading words people leave out: « L'Île-des-Pins » is found by « Île des Pins ».
ARTICLES = ("l", "la", "le", "les")


class GazetteerError(NiaouliError, ValueError):
    """A gazetteer source that cannot be used (message in French, for the user)."""

    code = "InvalidValue"


@dataclass(frozen=True)
class Place:
    name: str  # as the layer writes it: « Hienghène »
    key: tuple[str, ...]  # normalised words: ("hienghene",)
    geometry: BaseGeometry  # lon/lat, prepared for repeated tests
    area: float  # of its envelope, in square degrees

    def meets(self, bounds: tuple[float, float, float, float] | None) -> bool:
        """The dataset extent `bounds` (a box, lon/lat) intersects the place."""
        return bounds is not None and self.geometry.intersects(box(*bounds))

    def fit(self, bounds: tuple[float, float, float, float] | None) -> float:
        """How much an extent is about this place: 1 inside it, toward 0 for a territory."""
        if bounds is None:
            return 0.0
        extent = max((bounds[2] - bounds[0]) * (bounds[3] - bounds[1]), 0.0)
        if extent <= self.area:
            return 1.0
        return self.area / extent


@dataclass(frozen=True)
class PlaceMatch:
    """A place named in a query, and the query without its words."""

    place: Place
    rest: Query

    @property
    def rest_words(self) -> str:
        """The other words, for the word-by-word match of the API (`search.matches`)."""
        return " ".join(" ".join(c.words) for group in self.rest.groups for c in group)


# --- choosing the source ---------------------------------------------------------------


def set_source(
    session: Session, dataset_slug: str, layer_name: str | None, name_column: str
) -> tuple[GazetteerSource, int]:
    """Make a layer of `dataset_slug` the gazetteer (one source per dataset); checked."""
    dataset = session.scalar(select(Dataset).where(Dataset.slug == dataset_slug))
    if dataset is None:
        raise GazetteerError(f"jeu de données inconnu : {dataset_slug}")
    layers = [layer for layer in dataset.layers if layer.geometry_type]
    if layer_name is not None:
        layers = [layer for layer in layers if layer.name == layer_name]
    if len(layers) != 1:
        names = ", ".join(sorted(la.name for la in dataset.layers if la.geometry_type))
        raise GazetteerError(
            f"précisez une couche géographique de {dataset_slug} (couches : {names or 'aucune'})"
        )
    layer = layers[0]
    if not any(a.get("name") == name_column for a in layer.attribute_schema or ()):
        columns = ", ".join(str(a.get("name")) for a in layer.attribute_schema or ())
        raise GazetteerError(
            f"la couche {layer.name} n'a pas de colonne « {name_column} » (colonnes : {columns})"
        )
    places = _read_places(session, layer.table_name, layer.attribute_schema, name_column)
    if not places:
        raise GazetteerError(f"aucun nom de lieu dans la colonne « {name_column} »")
    source = session.scalar(select(GazetteerSource).where(GazetteerSource.dataset_id == dataset.id))
    if source is None:
        source = GazetteerSource(dataset_id=dataset.id)
        session.add(source)
    source.layer_name = layer.name
    source.name_column = name_column
    session.flush()
    return source, len(places)


def use_layer(engine: Engine, dataset_slug: str, layer_name: str | None, column: str) -> int:
    """`set_source` in its own transaction; the number of places read."""
    with Session(writing(engine)) as session, session.begin():
        return set_source(session, dataset_slug, layer_name, column)[1]


def remove_source(session: Session, dataset_slug: str) -> bool:
    source = session.scalar(
        select(GazetteerSource).join(Dataset).where(Dataset.slug == dataset_slug)
    )
    if source is None:
        return False
    session.delete(source)
    session.flush()
    return True


# --- reading the places ----------------------------------------------------------------

_CACHE: OrderedDict[tuple, tuple[Place, ...]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_ENTRIES = 8


def places(session: Session, viewer: Viewer) -> list[Place]:
    """Every place of the sources whose dataset `viewer` may see."""
    rows = session.execute(
        select(
            Layer.table_name,
            Layer.attribute_schema,
            Layer.feature_count,
            GazetteerSource.name_column,
        )
        .join(Dataset, Dataset.id == GazetteerSource.dataset_id)
        .join(
            Layer,
            (Layer.dataset_id == GazetteerSource.dataset_id)
            & (Layer.name == GazetteerSource.layer_name),
        )
        .where(visible_datasets(viewer))
        .order_by(GazetteerSource.id)
    ).all()
    found: list[Place] = []
    url = session.get_bind().url.render_as_string()
    for table, schema, count, column in rows:
        key = (url, table, count, column)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached is None:
            cached = _read_places(session, table, schema, column)
            with _CACHE_LOCK:
                _CACHE[key] = cached
                while len(_CACHE) > CACHE_ENTRIES:
                    _CACHE.popitem(last=False)
        found += cached
    return found


def _read_places(
    session: Session, table: str, schema: list[Any], name_column: str
) -> tuple[Place, ...]:
    """The layer's features grouped by name: one place per name, its parts united."""
    columns = [a["column"] for a in schema or () if a.get("name") == name_column]
    if not columns:
        return ()
    # Not `read_layer`: its streaming options would stay on the session's connection.
    conn = session.connection()
    postgis = conn.dialect.name == "postgresql"
    qualified = PostgisLayers().qualified(table) if postgis else quote(table)
    wkb = "ST_AsBinary(geom)" if postgis else "AsBinary(geom)"
    rows = conn.exec_driver_sql(
        f"SELECT {quote(columns[0])}, {wkb} FROM {qualified} WHERE geom IS NOT NULL"
    )
    parts: dict[tuple[str, ...], tuple[str, list[BaseGeometry]]] = {}
    for value, binary in rows:
        name = str(value if value is not None else "").strip()
        key = tuple(words(name))
        if not key or not binary or len(key) > MAX_PLACE_WORDS:
            continue
        geometry = shapely.from_wkb(bytes(binary))
        if not geometry.is_empty:
            parts.setdefault(key, (name, []))[1].append(geometry)
    found = []
    for key, (name, geometries) in parts.items():
        geometry = shapely.union_all(geometries).simplify(SIMPLIFY_DEGREES)
        shapely.prepare(geometry)
        west, south, east, north = geometry.bounds
        found.append(Place(name, key, geometry, (east - west) * (north - south)))
    return tuple(sorted(found, key=lambda p: p.name.casefold()))


# --- finding a place in a query --------------------------------------------------------


def _keys(place: Place) -> list[tuple[str, ...]]:
    keys = [place.key]
    if len(place.key) > 1 and place.key[0] in ARTICLES:
        keys.append(place.key[1:])
    return keys


def find(query: str, candidates: list[Place]) -> PlaceMatch | None:
    """The longest place named in `query` (outside -exclusions), with the rest of it."""
    if not candidates or not query:
        return None
    by_key: dict[tuple[str, ...], Place] = {}
    for place in candidates:
        for key in _keys(place):
            by_key.setdefault(key, place)
    positive = " ".join(part for part in query.split() if not part.startswith("-"))
    tokens = words(positive)
    best: tuple[int, int, Place] | None = None  # (length, start, place)
    for start in range(len(tokens)):
        for length in range(min(MAX_PLACE_WORDS, len(tokens) - start), 0, -1):
            place = by_key.get(tuple(tokens[start : start + length]))
            if place is not None:
                if best is None or length > best[0]:
                    best = (length, start, place)
                break
    if best is None:
        return None
    length, start, place = best
    named = set(tokens[start : start + length])
    parsed = parse(query)
    groups = tuple(
        group for group in parsed.groups if not all(set(clause.words) <= named for clause in group)
    )
    return PlaceMatch(place, Query(groups, parsed.excluded))


def extent_columns(dialect: str) -> list[Any]:
    """The envelope of `Dataset.spatial_coverage` as four columns (NULL without one)."""
    names = ("ST_XMin", "ST_YMin", "ST_XMax", "ST_YMax")
    if dialect != "postgresql":
        names = ("MbrMinX", "MbrMinY", "MbrMaxX", "MbrMaxY")
    return [getattr(func, name)(Dataset.spatial_coverage) for name in names]


def datasets_meeting(session: Session, viewer: Viewer, place: Place) -> list[int]:
    """Ids of the datasets `viewer` may see whose extent meets `place`."""
    west, south, east, north = place.geometry.bounds
    columns = extent_columns(session.get_bind().dialect.name)
    rows = session.execute(
        select(Dataset.id, *columns).where(
            visible_datasets(viewer),
            Dataset.spatial_coverage.is_not(None),
            columns[0] <= east,
            columns[2] >= west,
            columns[1] <= north,
            columns[3] >= south,
        )
    )
    return [oid for oid, *bounds in rows if place.meets(tuple(bounds))]


def find_for(session: Session, viewer: Viewer, query: str) -> PlaceMatch | None:
    """The place `viewer` may know of named in `query`, if any."""
    if not query.strip():
        return None
    return find(query, places(session, viewer))
