"""HTTP validators (`ETag`) that depend only on what the viewer can see.

The catalogue version (`changes`) moves with every change anywhere, hidden drafts
included: a validator made from it would let anyone count the edits to datasets they may
not see (poll `/catalog.ttl`, watch its ETag move). A validator is therefore made from
the visible rows alone, here a digest of every visible dataset, layer and resource
(identifier and last change: a row that appears, changes, leaves the visible set or is
deleted changes the digest) and of the organisations (public: publishers, sitemap).
Reading it costs one query per table over the visible rows (seconds at 100,000
datasets), so each worker keeps the digest per visibility while the catalogue version and
the organisations' last change stay the same: the version moves with every dataset,
layer and resource change (hidden ones too), so an unchanged version means unchanged
visible rows. The version only decides when to recompute, never what the digest says,
and a `304` stays cheap.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from niaouli import __version__
from niaouli.catalogue.access import Viewer, visible_datasets
from niaouli.catalogue.models import Dataset, Layer, Organisation, Resource

_CACHE: OrderedDict[tuple, str] = OrderedDict()
_LOCK = threading.Lock()
CACHE_ENTRIES = 64  # visibilities x databases
STAMP = text(
    "SELECT (SELECT version FROM catalogue_state WHERE id = 1),"
    " (SELECT count(*) FROM organisations), (SELECT max(updated_at) FROM organisations)"
)


def visible_state(session: Session, viewer: Viewer) -> str:
    """A digest of the catalogue rows `viewer` may see (see the module docstring)."""
    key = (
        session.get_bind().url.render_as_string(),
        viewer.visibility_key,
        tuple(session.execute(STAMP).one()),
    )
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    found = _digest(session, viewer)
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return found


def _digest(session: Session, viewer: Viewer) -> str:
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
