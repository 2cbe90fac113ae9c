"""Per-worker pygeoapi API objects that follow the catalogue while the server runs.

pygeoapi reads one configuration when its API object is built. Each worker therefore
keeps its own, and on EVERY request reads `catalogue_state.version` (one single-row read,
one round trip on PostGIS through the OGC reader engine); when the version moved it
rebuilds the configuration from the catalogue. So a request that starts after a write
has returned sees that write, in every worker, without restart and without any message
between them: a dataset withdrawn or restricted is refused at once (polling at most once
a second left a window where anonymous callers still got its features and tiles).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pygeoapi import l10n
from pygeoapi.api import API
from pygeoapi.openapi import get_oas
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, defer, selectinload

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, Viewer, can_see
from niaouli.catalogue.changes import read_version
from niaouli.catalogue.models import Dataset, Layer
from niaouli.services.ogc import config as ogc_config
from niaouli.services.ogc import conformance
from niaouli.settings import Settings

LOGGER = logging.getLogger(__name__)
MAX_BASE_URLS = 8
MAX_VIEWER_APIS = 32


class LiveApi:
    """The current pygeoapi `API` for a base URL, rebuilt when the catalogue changes."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        base: dict[str, Any] | None = None,
        portal_url: str | None = None,
        write_to: Path | None = None,
        version_reader: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.base = base if base is not None else ogc_config.load_base()
        self.portal_url = portal_url
        self.write_to = write_to
        # The same for every configuration built from `base`: requests are parsed with it
        # before the (checked) API object is known.
        self.locales = l10n.get_locales(self.base)
        self._read_version = version_reader or (lambda: read_version(engine))
        self._lock = threading.Lock()
        self._version: int | None = None
        self._layers: list = []  # what anonymous visitors see
        self._all_layers: list = []  # every layer, filtered per viewer with `can_see`
        self._apis: OrderedDict[str, API] = OrderedDict()
        # Signed-in viewers: one API per distinct set of visible collections.
        self._viewer_apis: OrderedDict[tuple[str, frozenset[str]], API] = OrderedDict()

    @property
    def version(self) -> int | None:
        return self._version

    def _refresh(self, version: int) -> None:
        """Re-read the collection list if the catalogue moved from `version` (lock held).

        `version` was read before the layers are: what is built is at least as new as the
        version it is recorded under (a concurrent older reading only rebuilds again)."""
        if version == self._version:
            return
        self._all_layers = _all_layers(self.engine)
        self._layers = [layer for layer in self._all_layers if can_see(ANONYMOUS, layer.dataset)]
        self._version = version
        self._apis.clear()
        self._viewer_apis.clear()
        LOGGER.info("OGC API: catalogue version %s, %d collections", version, len(self._layers))
        if self.write_to is not None:
            try:
                url = self.base.get("server", {}).get("url", "")
                config = ogc_config.build_config(self.base, self._layers, url, self.portal_url)
                ogc_config.write_generated(config, self.write_to)
            except OSError as exc:  # inspection copy only: never fail a request for it
                LOGGER.warning("cannot write the generated pygeoapi configuration: %s", exc)

    def moved(self) -> bool:
        """Whether the catalogue changed since the configuration was built (then the
        next `api()` rebuilds it: a request that failed on a just-swapped layer table is
        answered again from the new one)."""
        return self._read_version() != self._version

    def peek(self, base_url: str) -> tuple[API, int] | None:
        """The anonymous visitors' API already built for `base_url` and the catalogue
        version it was built from, without reading the version: for a caller that reads
        the version in its own statement and compares (`services/ogc/fastitems.py`)."""
        with self._lock:
            api = self._apis.get(base_url)
            if api is None or self._version is None:
                return None
            return api, self._version

    def api(self, base_url: str, viewer: Viewer = ANONYMOUS) -> API:
        """The API object for `base_url` (links are absolute), current for this request.

        The catalogue version is read first, on every call (see the module docstring).
        It publishes the collections `viewer` may see: anonymous visitors (the common
        case) share one object per base URL; signed-in viewers share one per distinct
        set of visible collections (most see exactly what anonymous visitors see).
        """
        version = self._read_version()  # outside the lock: requests do not queue on it
        with self._lock:
            self._refresh(version)
            if viewer != ANONYMOUS:
                layers = [layer for layer in self._all_layers if can_see(viewer, layer.dataset)]
                # Anonymous visitors' layers are a subset of anyone's: same size, same set.
                if len(layers) != len(self._layers):
                    return self._viewer_api(base_url, layers)
            api = self._apis.get(base_url)
            if api is None:
                config = ogc_config.build_config(self.base, self._layers, base_url, self.portal_url)
                api = API(config, openapi={})
                self._apis[base_url] = api
                while len(self._apis) > MAX_BASE_URLS:
                    self._apis.popitem(last=False)
            else:
                self._apis.move_to_end(base_url)
            return api

    def _viewer_api(self, base_url: str, layers: list) -> API:
        """The API for a signed-in viewer's own set of layers (lock held)."""
        key = (base_url, frozenset(layer.collection_id for layer in layers))
        api = self._viewer_apis.get(key)
        if api is None:
            config = ogc_config.build_config(self.base, layers, base_url, self.portal_url)
            api = API(config, openapi={})
            self._viewer_apis[key] = api
            while len(self._viewer_apis) > MAX_VIEWER_APIS:
                self._viewer_apis.popitem(last=False)
        else:
            self._viewer_apis.move_to_end(key)
        return api


def _all_layers(engine: Engine) -> list[Layer]:
    """Every layer with its dataset loaded (access is decided per viewer by `can_see`)."""
    with Session(engine) as session:
        # Not their ingestion reports (120,000 JSON documents read for 10,000 layers).
        layers = list(service.list_layers(session, Viewer.system(), defer(Layer.ingest_report)))
        # Each dataset's layers, loaded before the session closes: in one query per
        # thousand datasets, not one per dataset (10,000 layers: 10,000 round trips).
        ids = sorted({layer.dataset_id for layer in layers})
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            session.scalars(
                select(Dataset)
                .where(Dataset.id.in_(chunk))
                .options(selectinload(Dataset.layers).defer(Layer.ingest_report))
            ).all()
        for layer in layers:
            _ = layer.dataset.layers
        session.expunge_all()
    return layers


def ensure_openapi(api: API) -> dict[str, Any]:
    """The OpenAPI document of `api`, generated on first use (it is slow-ish to build)."""
    if not api.openapi:
        document = get_oas(api.config, fail_on_invalid_collection=False)
        api.openapi = conformance.complete_openapi(document)
    return api.openapi
