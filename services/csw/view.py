"""What a CSW record is made from: one dataset, read on the writing connection.

The records sync runs inside the transaction that changes the catalogue (from a flush
hook), so it reads with Core queries on that very connection rather than through an ORM
session: it sees the rows just flushed and touches no session state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from geoalchemy2 import functions as geofunc
from sqlalchemy import Connection, select

from niaouli.catalogue import quality_store
from niaouli.catalogue.models import (
    AccessLevel,
    Dataset,
    Layer,
    Organisation,
    RasterLayer,
    Resource,
)
from niaouli.catalogue.service import DATASET_FIELDS


@dataclass
class LayerView:
    collection_id: str
    geometry_type: str | None
    native_crs: str | None
    extent: tuple[float, float, float, float] | None


@dataclass
class RasterView:
    """A raster layer as its record describes it (grid, CRS, bands)."""

    collection_id: str
    kind: str
    crs_code: str | None
    width: int
    height: int
    resolution: tuple[float, float]
    extent: tuple[float, float, float, float] | None
    bands: list[dict[str, Any]]


@dataclass
class ResourceView:
    title: str
    url: str | None
    format: str | None
    media_type: str | None
    role: str
    id: int | None = None
    kind: str | None = None
    filename: str | None = None


@dataclass
class DatasetView:
    id: int
    slug: str
    title: str
    description: str
    themes: list[Any]
    keywords: list[Any]
    licence: str
    producer: str | None
    contact_name: str | None
    contact_email: str | None
    update_frequency: str | None
    temporal_start: date | None
    temporal_end: date | None
    lineage: str
    provenance: dict[str, Any]
    access_level: AccessLevel
    is_spatial: bool
    created_at: datetime | None
    updated_at: datetime | None
    published_at: datetime | None
    original_metadata: str | None
    organisation_name: str
    organisation_email: str | None
    organisation_website: str | None
    coverage_wkt: str | None
    organisation_id: int = 0
    layers: list[LayerView] = field(default_factory=list)
    resources: list[ResourceView] = field(default_factory=list)
    rasters: list[RasterView] = field(default_factory=list)
    # The stored quality score (`quality_store.scores`): {score, passed, counted, criteria}
    quality: dict[str, Any] | None = None

    @property
    def is_public(self) -> bool:
        return self.access_level == AccessLevel.PUBLIC

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """West, south, east, north in EPSG:4326: the layers' extent, else the coverage."""
        extents = [layer.extent for layer in [*self.layers, *self.rasters] if layer.extent]
        if extents:
            return (
                min(e[0] for e in extents),
                min(e[1] for e in extents),
                max(e[2] for e in extents),
                max(e[3] for e in extents),
            )
        if self.coverage_wkt:
            from shapely import wkt

            return tuple(wkt.loads(self.coverage_wkt).bounds)  # type: ignore[return-value]
        return None


# The dataset columns a record is made from: the ones callers set, and the server's own.
VIEW_COLUMNS = (
    "id",
    "slug",
    *DATASET_FIELDS,
    "organisation_id",
    "is_spatial",
    "created_at",
    "updated_at",
    "published_at",
)


def load_views(conn: Connection, ids: set[int] | None = None) -> list[DatasetView]:
    """The datasets `ids` (all of them when None), with organisation, layers, resources."""
    d, o = Dataset.__table__, Organisation.__table__
    # Named columns, not the whole table: only those `DatasetView` holds. (Migration
    # An upgrade to head runs this once every column exists: niaouli.migrations.)
    query = select(
        *(d.c[name] for name in VIEW_COLUMNS),
        o.c.name.label("organisation_name"),
        o.c.email.label("organisation_email"),
        o.c.website.label("organisation_website"),
        geofunc.ST_AsText(d.c.spatial_coverage).label("coverage_wkt"),
    ).join(o, o.c.id == d.c.organisation_id)
    if ids is not None:
        if not ids:
            return []
        query = query.where(d.c.id.in_(ids))
    views: dict[int, DatasetView] = {}
    for row in conn.execute(query.order_by(d.c.id)).mappings():
        views[row["id"]] = DatasetView(
            id=row["id"],
            slug=row["slug"],
            title=row["title"],
            description=row["description"] or "",
            themes=list(row["themes"] or []),
            keywords=list(row["keywords"] or []),
            licence=row["licence"] or "",
            producer=row["producer"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            update_frequency=row["update_frequency"],
            temporal_start=row["temporal_start"],
            temporal_end=row["temporal_end"],
            lineage=row["lineage"] or "",
            provenance=dict(row["provenance"] or {}),
            access_level=AccessLevel(row["access_level"]),
            is_spatial=bool(row["is_spatial"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            published_at=row["published_at"],
            original_metadata=row["original_metadata"],
            organisation_name=row["organisation_name"],
            organisation_email=row["organisation_email"],
            organisation_website=row["organisation_website"],
            coverage_wkt=row["coverage_wkt"],
            organisation_id=row["organisation_id"],
        )
    if not views:
        return []
    lay, res = Layer.__table__, Resource.__table__
    for row in conn.execute(
        select(lay).where(lay.c.dataset_id.in_(views)).order_by(lay.c.id)
    ).mappings():
        extent = None
        if row["extent_west"] is not None:
            extent = (
                row["extent_west"],
                row["extent_south"],
                row["extent_east"],
                row["extent_north"],
            )
        views[row["dataset_id"]].layers.append(
            LayerView(row["collection_id"], row["geometry_type"], row["native_crs"], extent)
        )
    ras = RasterLayer.__table__
    for row in conn.execute(
        select(ras).where(ras.c.dataset_id.in_(views)).order_by(ras.c.id)
    ).mappings():
        extent = None
        if row["extent_west"] is not None:
            extent = (
                row["extent_west"],
                row["extent_south"],
                row["extent_east"],
                row["extent_north"],
            )
        views[row["dataset_id"]].rasters.append(
            RasterView(
                row["collection_id"],
                str(row["kind"]),
                row["crs_code"],
                row["width"],
                row["height"],
                (row["resolution_x"], row["resolution_y"]),
                extent,
                list(row["bands"] or []),
            )
        )
    for row in conn.execute(
        select(res).where(res.c.dataset_id.in_(views)).order_by(res.c.id)
    ).mappings():
        views[row["dataset_id"]].resources.append(
            ResourceView(
                row["title"],
                row["url"],
                row["format"],
                row["media_type"],
                row["role"],
                id=row["id"],
                kind=str(row["kind"]),
                filename=row["filename"],
            )
        )
    for dataset_id, stored in quality_store.scores(conn, views).items():
        views[dataset_id].quality = stored
    return list(views.values())
