"""Catalogue tables (SQLAlchemy 2 + GeoAlchemy2), identical on PostGIS and SpatiaLite.

Enumerations are stored as short strings with CHECK constraints (portable, readable in
SQL); lists and free structures as JSON. Layer *data* does not live here: each layer has
its own table, named by the server, created by the ingestion (`niaouli.db.backends`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

# The account tables are part of this metadata (datasets.published_by_id -> users).
from niaouli.accounts.account_tables import User
from niaouli.catalogue.base import Base, Timestamped, _enum
from niaouli.catalogue.base import JSONType as JSONType  # re-exported for the other tables
from niaouli.catalogue.base import utcnow as utcnow


class OrganisationKind(enum.StrEnum):
    GOVERNMENT = "government"
    PROVINCE = "province"
    COMMUNE = "commune"
    PUBLIC_BODY = "public_body"
    RESEARCH = "research"
    ASSOCIATION = "association"


class AccessLevel(enum.StrEnum):
    """Who may see a dataset. Enforced by `niaouli.catalogue.access` on every query."""

    PUBLIC = "public"
    REGISTERED = "registered"
    ORGANISATION = "organisation"
    DRAFT = "draft"


class RasterKind(enum.StrEnum):
    """What a raster holds: decides its COG compression and its default styling."""

    ORTHOPHOTO = "orthophoto"  # 8-bit RGB(A) imagery: JPEG/WebP, shown as is
    ELEVATION = "elevation"  # a DEM: lossless DEFLATE + predictor, colour ramp, hillshade
    CLASSIFIED = "classified"  # one band of classes, often with a colour table
    OTHER = "other"  # any other measured grid: lossless, colour ramp


class ResourceKind(enum.StrEnum):
    FILE = "file"
    LINK = "link"


class ReuseKind(enum.StrEnum):
    APPLICATION = "application"
    VISUALISATION = "visualisation"
    API = "api"
    ARTICLE = "article"


class EventKind(enum.StrEnum):
    HACKATHON = "hackathon"
    CARTOPARTY = "cartoparty"
    CALL_FOR_PROJECTS = "call_for_projects"
    GATHERING = "gathering"


class ModerationStatus(enum.StrEnum):
    """A reuse submitted by a user is public only once a platform admin approved it."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CodeStatus(enum.StrEnum):
    CONCEPT = "concept"
    DEVELOPMENT = "development"
    BETA = "beta"
    STABLE = "stable"
    OBSOLETE = "obsolete"


# What an organisation does with a file failing its dataset's Table Schema.
SCHEMA_POLICIES = ("refuse", "publish")


class Organisation(Timestamped, Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[OrganisationKind] = mapped_column(_enum(OrganisationKind, "organisation_kind"))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(300))
    # A file that fails its dataset's Table Schema: "refuse" (nothing written) or
    # "publish" (published with its validation report kept) — niaouli.tableschema.
    schema_policy: Mapped[str] = mapped_column(
        String(16), default="refuse", server_default="refuse"
    )

    datasets: Mapped[list[Dataset]] = relationship(back_populates="organisation")


dataset_reuses = Table(
    "reuse_datasets",
    Base.metadata,
    Column("reuse_id", ForeignKey("reuses.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)

dataset_events = Table(
    "event_datasets",
    Base.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)

code_project_datasets = Table(
    "code_project_datasets",
    Base.metadata,
    Column("code_project_id", ForeignKey("code_projects.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)


class Dataset(Timestamped, Base):
    __tablename__ = "datasets"
    __table_args__ = (
        # OGC API Records' default order among the visible datasets (0035_scale_indexes).
        Index("ix_datasets_access_title", "access_level", "title", "id"),
        # `q`'s `search_text LIKE '%word%'`, PostgreSQL only (0036_trigram_indexes).
        Index(
            "ix_datasets_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    themes: Mapped[list[Any]] = mapped_column(default=list)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    licence: Mapped[str] = mapped_column(String(200), default="Licence Ouverte 2.0")
    producer: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(300))
    update_frequency: Mapped[str | None] = mapped_column(String(50))
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial_coverage = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False), nullable=True
    )
    lineage: Mapped[str] = mapped_column(Text, default="")
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    access_level: Mapped[AccessLevel] = mapped_column(
        _enum(AccessLevel, "access_level"), default=AccessLevel.PUBLIC, index=True
    )
    is_spatial: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who published it (draft -> visible); kept when the account is deleted as NULL.
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    original_metadata: Mapped[str | None] = mapped_column(Text)
    # Normalised words for accent-insensitive search, written by `catalogue.search`.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    organisation: Mapped[Organisation] = relationship(back_populates="datasets")
    resources: Mapped[list[Resource]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="Resource.id"
    )
    layers: Mapped[list[Layer]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="Layer.id"
    )
    raster_layers: Mapped[list[RasterLayer]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="RasterLayer.id"
    )


class Resource(Timestamped, Base):
    """A file or link of a dataset. Files live under server-generated storage keys."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[ResourceKind] = mapped_column(_enum(ResourceKind, "resource_kind"))
    role: Mapped[str] = mapped_column(String(32), default="attachment")
    url: Mapped[str | None] = mapped_column(String(2000))
    storage_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    filename: Mapped[str | None] = mapped_column(String(300))
    format: Mapped[str | None] = mapped_column(String(50))
    media_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(100))

    dataset: Mapped[Dataset] = relationship(back_populates="resources")


class Layer(Timestamped, Base):
    """A dataset's table in the database: vector features or, without geometry, rows."""

    __tablename__ = "layers"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    collection_id: Mapped[str] = mapped_column(String(200), unique=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    source_layer: Mapped[str | None] = mapped_column(String(300))
    geometry_type: Mapped[str | None] = mapped_column(String(32))
    native_crs: Mapped[str | None] = mapped_column(Text)
    feature_count: Mapped[int] = mapped_column(BigInteger, default=0)
    extent_west: Mapped[float | None] = mapped_column(Float)
    extent_south: Mapped[float | None] = mapped_column(Float)
    extent_east: Mapped[float | None] = mapped_column(Float)
    extent_north: Mapped[float | None] = mapped_column(Float)
    attribute_schema: Mapped[list[Any]] = mapped_column(default=list)
    ingest_report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {column name: {"label", "description", "unit", "hidden"}}, as its editors described
    # it (niaouli.catalogue.columns); kept across a re-upload for the columns still there.
    column_descriptions: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")

    dataset: Mapped[Dataset] = relationship(back_populates="layers")

    @property
    def extent(self) -> tuple[float, float, float, float] | None:
        if self.extent_west is None:
            return None
        return (self.extent_west, self.extent_south, self.extent_east, self.extent_north)


class RasterLayer(Timestamped, Base):
    """A dataset's raster: a Cloud Optimized GeoTIFF in storage, beside its original.

    `collection_id` shares the /ogc/collections namespace with `Layer.collection_id`: the
    ingestion never gives a raster an id a vector layer has (`niaouli.rasters.naming`).
    Both files live under server-generated storage keys (`niaouli.storage`), named
    `<key>/<filename>`. `bands` lists, per band: {"name", "data_type", "nodata", "unit",
    "colour_interp", "statistics": {"min", "max", "mean", "stddev"}}; `colour_table` is
    the first band's palette as {"<value>": [r, g, b, a]} when it has one.
    """

    __tablename__ = "raster_layers"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    collection_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[RasterKind] = mapped_column(_enum(RasterKind, "raster_kind"))
    source_name: Mapped[str | None] = mapped_column(String(300))  # the uploaded file's name
    # The COG, as stored: <cog_key>/<cog_filename>
    cog_key: Mapped[str] = mapped_column(String(200), unique=True)
    cog_filename: Mapped[str] = mapped_column(String(300))
    cog_size: Mapped[int] = mapped_column(BigInteger)
    cog_checksum: Mapped[str | None] = mapped_column(String(100))
    # The file as uploaded (a zip stays a zip): None when it was not kept
    original_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    original_filename: Mapped[str | None] = mapped_column(String(300))
    original_size: Mapped[int | None] = mapped_column(BigInteger)
    original_checksum: Mapped[str | None] = mapped_column(String(100))
    # Native CRS: the EPSG code when it has one ("EPSG:3163"), and always the WKT
    crs_code: Mapped[str | None] = mapped_column(String(50))
    crs_wkt: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    band_count: Mapped[int] = mapped_column(Integer)
    resolution_x: Mapped[float] = mapped_column(Float)  # native CRS units per pixel, > 0
    resolution_y: Mapped[float] = mapped_column(Float)
    # Native bounds, in the native CRS's axis order x/y
    native_west: Mapped[float] = mapped_column(Float)
    native_south: Mapped[float] = mapped_column(Float)
    native_east: Mapped[float] = mapped_column(Float)
    native_north: Mapped[float] = mapped_column(Float)
    # In WGS 84 longitude/latitude, like Layer's
    extent_west: Mapped[float | None] = mapped_column(Float)
    extent_south: Mapped[float | None] = mapped_column(Float)
    extent_east: Mapped[float | None] = mapped_column(Float)
    extent_north: Mapped[float | None] = mapped_column(Float)
    bands: Mapped[list[Any]] = mapped_column(default=list)
    colour_table: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    overview_levels: Mapped[list[Any]] = mapped_column(default=list)  # decimation factors
    compression: Mapped[str | None] = mapped_column(String(50))  # of the COG
    ingest_report: Mapped[dict[str, Any]] = mapped_column(default=dict)

    dataset: Mapped[Dataset] = relationship(back_populates="raster_layers")

    @property
    def extent(self) -> tuple[float, float, float, float] | None:
        if self.extent_west is None:
            return None
        return (self.extent_west, self.extent_south, self.extent_east, self.extent_north)

    @property
    def native_bounds(self) -> tuple[float, float, float, float]:
        return (self.native_west, self.native_south, self.native_east, self.native_north)

    @property
    def cog_name(self) -> str:
        """The COG's storage name, `<key>/<filename>`."""
        return f"{self.cog_key}/{self.cog_filename}"

    @property
    def nodata(self) -> float | None:
        """The first band's nodata value (GDAL keeps one per dataset in a GeoTIFF)."""
        return self.bands[0].get("nodata") if self.bands else None


class CodeProject(Timestamped, Base):
    __tablename__ = "code_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    repository_url: Mapped[str | None] = mapped_column(String(1000))
    licence: Mapped[str | None] = mapped_column(String(100))
    languages: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[CodeStatus] = mapped_column(
        _enum(CodeStatus, "code_status"), default=CodeStatus.STABLE
    )
    # [{"version", "name", "date", "url", "archive_url"?}], newest first (forge harvest).
    releases: Mapped[list[Any]] = mapped_column(default=list)
    # publiccode.yml as read (https://yml.publiccode.tools), shown on the project page.
    publiccode: Mapped[dict[str, Any]] = mapped_column(default=dict)
    topics: Mapped[list[Any]] = mapped_column(default=list)
    default_branch: Mapped[str | None] = mapped_column(String(200))
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    organisation: Mapped[Organisation] = relationship()
    datasets: Mapped[list[Dataset]] = relationship(secondary=code_project_datasets)


class Reuse(Timestamped, Base):
    __tablename__ = "reuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[ReuseKind] = mapped_column(_enum(ReuseKind, "reuse_kind"))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1000))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    author: Mapped[str | None] = mapped_column(String(300))
    # Only approved reuses are public (portal/community_pages.py); submissions start pending.
    status: Mapped[ModerationStatus] = mapped_column(
        _enum(ModerationStatus, "moderation_status"), default=ModerationStatus.PENDING
    )
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    moderated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    datasets: Mapped[list[Dataset]] = relationship(secondary=dataset_reuses)
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])


class Event(Timestamped, Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(300))  # the place's name
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    url: Mapped[str | None] = mapped_column(String(1000))
    results: Mapped[str] = mapped_column(Text, default="", server_default="")
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    participants: Mapped[int | None] = mapped_column(Integer)  # how many came (statistics)

    datasets: Mapped[list[Dataset]] = relationship(secondary=dataset_events)
    organisation: Mapped[Organisation | None] = relationship()


class CatalogueState(Base):
    """One row: the catalogue's version, bumped by every change (see `changes`)."""

    __tablename__ = "catalogue_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class GazetteerSource(Timestamped, Base):
    """A layer whose features name places (communes...): the search's gazetteer.

    It names the layer by dataset and layer name, not by layer id, because a replaced
    layer gets a new row: the places follow the layer's current table (`gazetteer`).
    """

    __tablename__ = "gazetteer_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), unique=True
    )
    layer_name: Mapped[str] = mapped_column(String(100))
    name_column: Mapped[str] = mapped_column(String(200))

    dataset: Mapped[Dataset] = relationship()
