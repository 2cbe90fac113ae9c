"""Finding raster layers, always through the access rule (`niaouli.catalogue.access`).

Raster layers and vector layers share one namespace of collection ids (/ogc/collections):
`collection_id_taken` is what the ingestion asks before naming a new raster, or a new
vector layer, so that an id never names both.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import Dataset, Layer, RasterLayer


def visible_raster(session: Session, collection_id: str, viewer: Viewer) -> RasterLayer | None:
    """The raster layer behind `collection_id` if `viewer` may see its dataset, else None
    (absent and hidden answer alike: a hidden dataset's rasters are not disclosed)."""
    return session.scalar(
        select(RasterLayer)
        .join(Dataset, RasterLayer.dataset_id == Dataset.id)
        .where(RasterLayer.collection_id == collection_id, visible_datasets(viewer))
        .options(joinedload(RasterLayer.dataset))
    )


def visible_rasters(session: Session, viewer: Viewer) -> list[RasterLayer]:
    """Every raster layer `viewer` may see, in collection id order."""
    return list(
        session.scalars(
            select(RasterLayer)
            .join(Dataset, RasterLayer.dataset_id == Dataset.id)
            .where(visible_datasets(viewer))
            .options(joinedload(RasterLayer.dataset))
            .order_by(RasterLayer.collection_id)
        )
    )


def collection_id_taken(session: Session, collection_id: str, dataset_id: int | None) -> bool:
    """Whether another dataset's vector or raster layer, or a vector layer of the same
    dataset, already answers to `collection_id` (a raster replacing the same dataset's
    raster may keep its id)."""
    other = dataset_id if dataset_id is not None else -1
    vector = session.scalar(select(Layer.id).where(Layer.collection_id == collection_id))
    if vector is not None:
        return True
    raster = session.scalar(
        select(RasterLayer.id).where(
            RasterLayer.collection_id == collection_id, RasterLayer.dataset_id != other
        )
    )
    return raster is not None
