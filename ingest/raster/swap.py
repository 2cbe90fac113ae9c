"""The raster ingestion's transaction: the dataset's raster layer replaced by the new one.

Inside one transaction: the dataset row is locked (or created, as the vector ingestion
creates it: `ingest.swap._dataset_for`), the collection id chosen — the dataset's slug,
or `<slug>-<name>` when a vector layer of the dataset holds the slug — and checked
against every vector and raster layer (one /ogc/collections namespace), the previous
raster layers and their two download resources removed, the new ones inserted. The
storage keys of the replaced files are returned, to be removed after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import shapely
from geoalchemy2 import WKTElement
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import storage
from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.models import (
    Dataset,
    RasterKind,
    RasterLayer,
    Resource,
    ResourceKind,
    utcnow,
)
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError
from niaouli.ingest.load import merge_extent
from niaouli.ingest.plan import IngestPlan, Target
from niaouli.ingest.raster.describe import RasterDescription
from niaouli.ingest.swap import _dataset_for, record_ingestion
from niaouli.rasters.lookup import collection_id_taken

# The roles of a raster's two files among the dataset's resources: downloads (with
# Range), DCAT distributions; not removable by hand, replaced with the raster.
COG_ROLE = "raster-cog"
ORIGINAL_ROLE = "raster-source"
RASTER_ROLES = (COG_ROLE, ORIGINAL_ROLE)
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass
class SwappedRaster:
    dataset: Dataset
    layer: RasterLayer
    created: bool
    old_keys: list[str]


def swap_raster(
    session: Session,
    plan: IngestPlan,
    kind: RasterKind,
    format_label: str,
    source_media_type: str,
    described: RasterDescription,
    cog_file: storage.StoredFile,
    original: storage.StoredFile,
    *,
    on_commit: Callable[[Session, Dataset], None] | None = None,
    actor: audit.Actor | None = None,
) -> SwappedRaster:
    dataset = session.scalar(select(Dataset).where(Dataset.slug == plan.slug).with_for_update())
    if dataset is not None and dataset.organisation_id != plan.organisation_id:
        raise IngestError(
            _("le jeu de données « %(slug)s » appartient à une autre organisation")
            % {"slug": plan.slug}
        )
    created = dataset is None
    dataset = _dataset_for(session, plan, Target(dataset, [], [], False))
    session.flush()
    name = service.make_slug(Path(plan.display_name).stem, max_length=60) or "raster"
    collection = plan.slug
    if any(layer.collection_id == collection for layer in dataset.layers):
        collection = f"{plan.slug}-{name}"
    if collection_id_taken(session, collection, dataset.id):
        raise IngestError(
            _("identifiant de collection déjà pris par un autre jeu : %(id)s") % {"id": collection}
        )
    old_keys: list[str] = []
    for old in list(dataset.raster_layers):
        old_keys += [k for k in (old.cog_key, old.original_key) if k]
        dataset.raster_layers.remove(old)
    for resource in list(dataset.resources):
        if resource.role in RASTER_ROLES:
            dataset.resources.remove(resource)
    session.flush()  # the old collection id is free before the new row takes it
    layer = RasterLayer(
        name=name,
        collection_id=collection,
        kind=kind,
        source_name=plan.display_name,
        cog_key=cog_file.key,
        cog_filename=cog_file.filename,
        cog_size=cog_file.size,
        cog_checksum=cog_file.checksum,
        original_key=original.key,
        original_filename=original.filename,
        original_size=original.size,
        original_checksum=original.checksum,
        crs_code=described.crs_code,
        crs_wkt=described.crs_wkt,
        width=described.width,
        height=described.height,
        band_count=described.band_count,
        resolution_x=described.resolution[0],
        resolution_y=described.resolution[1],
        native_west=described.native_bounds[0],
        native_south=described.native_bounds[1],
        native_east=described.native_bounds[2],
        native_north=described.native_bounds[3],
        extent_west=described.extent[0],
        extent_south=described.extent[1],
        extent_east=described.extent[2],
        extent_north=described.extent[3],
        bands=described.bands,
        colour_table=described.colour_table,
        overview_levels=described.overview_levels,
        compression=described.compression,
        ingest_report={
            "format": format_label,
            "size_before": original.size,
            "size_after": cog_file.size,
        },
    )
    dataset.raster_layers.append(layer)
    stem = Path(plan.display_name).stem
    dataset.resources.append(
        Resource(
            title=f"{stem} (Cloud Optimized GeoTIFF)",
            kind=ResourceKind.FILE,
            role=COG_ROLE,
            storage_key=cog_file.key,
            filename=cog_file.filename,
            format="COG",
            media_type=COG_MEDIA_TYPE,
            size=cog_file.size,
            checksum=cog_file.checksum,
        )
    )
    dataset.resources.append(
        Resource(
            title=plan.display_name,
            kind=ResourceKind.FILE,
            role=ORIGINAL_ROLE,
            storage_key=original.key,
            filename=original.filename,
            format=format_label,
            media_type=source_media_type,
            size=original.size,
            checksum=original.checksum,
        )
    )
    extent = described.extent
    for vector in dataset.layers:
        extent = merge_extent(extent, vector.extent)
    dataset.is_spatial = True
    dataset.spatial_coverage = WKTElement(shapely.box(*extent).wkt, srid=4326)
    dataset.provenance = {
        **(dataset.provenance or {}),
        "source_file": plan.display_name,
        "ingested_at": utcnow().isoformat(),
    }
    dataset.updated_at = utcnow()
    session.flush()
    if on_commit is not None:
        on_commit(session, dataset)
        session.flush()
    if actor is not None:
        record_ingestion(session, actor, dataset, created, plan, original.checksum)
    return SwappedRaster(dataset, layer, created, old_keys)
