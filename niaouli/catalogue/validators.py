"""HTTP validators (`ETag`) that depend only on what the viewer can see.

The catalogue version (`changes`) moves with every change anywhere, hidden drafts
included: a validator made from it would let anyone count the edits to datasets they may
not see (poll `/catalog.ttl`, watch its ETag move). A validator is therefore made from
the visible rows alone, here a digest of every visible dataset, layer and resource
(identifier and last change: a row that appears, changes, leaves the visible set or is
deleted changes the digest) and of the organisations (public: publishers, sitemap).
Reading it costs one small query per table, far less than building the answer, so a
`304` stays cheap.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import __version__
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import Dataset, Layer, Organisation, Resource


def visible_state(session: Session, viewer: Viewer) -> str:
    """A digest of the catalogue rows `viewer` may see (see the module docstring)."""
    visible = select(Dataset.id).where(visible_datasets(viewer))
    queries = (
        select(Dataset.id, Dataset.updated_at).where(visible_datasets(viewer)).order_by(Dataset.id),
        select(Layer.id, Layer.dataset_id, Layer.updated_at)
        .where(Layer.dataset_id.in_(visible))
        .order_by(Layer.id),
        select(Resource.id, Resource.dataset_id, Resource.updated_at)
        .where(Resource.dataset_id.in_(visible))
        .order_by(Resource.id),
        select(Organisation.id, Organisation.updated_at).order_by(Organisation.id),
    )
    digest = hashlib.sha256(__version__.encode())  # a new release may write other answers
    for query in queries:
        digest.update(b"|")
        for row in session.execute(query):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
