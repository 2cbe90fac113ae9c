"""Per-worker pygeoapi API objects that follow the catalogue while the server runs.

pygeoapi reads one configuration when its API object is built. Each worker therefore
keeps its own: at most about once a second (on a request) it reads
`catalogue_state.version`, and when the version moved it rebuilds the configuration
from the catalogue, so that an ingested dataset appears (a removed one disappears)
within seconds in every worker, without restart and without any message between them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from niaouli.services.ogc import config as ogc_config
from niaouli.services.ogc import conformance
from pygeoapi.api import API
from pygeoapi.openapi import get_oas
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, Viewer, can_see
from niaouli.catalogue.changes import read_version
from niaouli.catalogue.models import Layer
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
        poll_interval: float = 1.0,
        portal_url: str | None = None,
        write_to: Path | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.base = base if base is not None else ogc_config.load_base()
        self.poll_interval = poll_interval
        self.portal_url = portal_url
        self.write_to = write_to
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._version: int | None = None
        self._layers: list = []  # what anonymous visitors see
        self._all_layers: list = []  # every layer, filtered per viewer with `can_see`
        self._apis: OrderedDict[str, API] = OrderedDict()
        # Signed-in viewers: one API per distinct set of visible collections.
        self._viewer_apis: OrderedDict[tuple[str, frozenset[str]], API] = OrderedDict()

    @property
    def version(self) -> int | None:
        return self._version

    def _refresh(self) -> None:
        """Re-read the collection list if the catalogue version moved (lock held)."""
        now = time.monotonic()
        if now - self._checked < self.poll_interval:
            return
        self._checked = now
        version = read_version(self.engine)
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
        """Whether the catalogue changed since the configuration was built; if so, the
        next `api()` rebuilds it at once instead of waiting for the poll (a request that
        failed on a just-swapped layer table is answered again from the new one)."""
        with self._lock:
            if read_version(self.engine) == self._version:
                return False
            self._checked = float("-inf")
            return True

    def api(self, base_url: str, viewer: Viewer = ANONYMOUS) -> API:
        """The API object for `base_url` (links are absolute), current within a second.

        It publishes the collections `viewer` may see: anonymous visitors (the common
        case) share one object per base URL; signed-in viewers share one per distinct
        set of visible collections (most see exactly what anonymous visitors see).
        """
        with self._lock:
            self._refresh()
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

    def cached(self, base_url: str, viewer: Viewer = ANONYMOUS) -> API | None:
        """The anonymous API for `base_url` if no catalogue check is due, else None.

        No I/O and no lock: the event loop can call it and skip a thread hop on most
        requests; `api()` (in a thread) does the check and the rebuilds.
        """
        if viewer != ANONYMOUS or time.monotonic() - self._checked >= self.poll_interval:
            return None
        return self._apis.get(base_url)

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
        layers = list(service.list_layers(session, Viewer.system()))
        for layer in layers:
            _ = layer.dataset.layers  # loaded before the session closes
        session.expunge_all()
    return layers


def ensure_openapi(api: API) -> dict[str, Any]:
    """The OpenAPI document of `api`, generated on first use (it is slow-ish to build)."""
    if not api.openapi:
        document = get_oas(api.config, fail_on_invalid_collection=False)
        api.openapi = conformance.complete_openapi(document)
    return api.openapi
