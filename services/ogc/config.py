"""The pygeoapi configuration, generated from the catalogue.

A committed base file (`pygeoapi-config/base.yml`: server, metadata in French, limits)
plus one collection per layer of every dataset the anonymous viewer may see, with id
`Layer.collection_id`. `pygeoapi-config/` is package data (`niaouli.pygeoapi_config`).
The result is also written under the data directory (`<data dir>/pygeoapi/`), never
into the source tree, so that people can inspect what is served; the server itself never
reads that copy back.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from niaouli.catalogue import columns, service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.models import Layer
from niaouli.resources import package_dir
from niaouli.services.ogc import offered_crs, records_collection, tileprovider
from niaouli.settings import Settings, get_settings

PROVIDER = "niaouli.services.ogc.provider.LayerProvider"
WORLD = [-180.0, -90.0, 180.0, 90.0]
PACKAGE_DIR = package_dir("niaouli.services.ogc")


def config_dir() -> Path:
    """`pygeoapi-config/` as installed with the package, or `NIAOULI_PYGEOAPI_CONFIG_DIR`."""
    return get_settings().pygeoapi_config_dir or package_dir("niaouli.pygeoapi_config")


def generated_dir(settings: Settings) -> Path:
    """Where the generated configuration is written for inspection: the data directory,
    never the checkout (generated files do not belong in the source tree)."""
    return settings.data_dir / "pygeoapi"


@functools.cache
def ogc_locale_dir() -> str:
    """pygeoapi's `server.locale_dir`: its templates read compiled gettext catalogues.

    `pygeoapi-config/locale/<lang>/*.po` (pygeoapi.po: pygeoapi's own translations, which
    its wheel does not ship; then niaouli.po, which completes and overrides it) merged and
    compiled once per process into a temporary directory: no .mo file in the tree.
    English needs none (the message ids are English).
    """
    target = Path(tempfile.mkdtemp(prefix="niaouli-ogc-locale-"))
    atexit.register(shutil.rmtree, target, True)
    for folder in sorted((config_dir() / "locale").iterdir()):
        if not folder.is_dir():
            continue
        strings: dict[Any, Any] = {}  # later files win (Catalog.add would keep the first)
        for po in sorted(folder.glob("*.po"), key=lambda p: (p.name != "pygeoapi.po", p.name)):
            with po.open("rb") as handle:
                for message in read_po(handle, locale=folder.name):
                    if message.id and message.string and not message.fuzzy:
                        strings[message.id] = message.string
        merged = Catalog(locale=folder.name)
        for key, string in strings.items():
            merged.add(key, string)
        out = target / folder.name / "LC_MESSAGES"
        out.mkdir(parents=True)
        with (out / "messages.mo").open("wb") as handle:
            write_mo(handle, merged)
    return str(target)


def load_base(path: Path | None = None) -> dict[str, Any]:
    with open(path or config_dir() / "base.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def time_field(attribute_schema: Iterable[dict[str, str]]) -> str | None:
    """The first date or date-time attribute: what `datetime=` filters on."""
    for attribute in attribute_schema:
        if attribute["type"] in ("datetime", "date"):
            return attribute["name"]
    return None


def layer_resource(layer: Layer, portal_url: str | None = None) -> dict[str, Any]:
    """One pygeoapi collection for one layer (the dataset is already known visible)."""
    dataset = layer.dataset
    title = dataset.title if len(dataset.layers) == 1 else f"{dataset.title} — {layer.name}"
    bbox = list(layer.extent) if layer.extent else WORLD
    provider: dict[str, Any] = {
        "type": "feature",
        "name": PROVIDER,
        "data": layer.table_name,
        "id_field": "fid",
        "storage_crs": offered_crs.CRS84,
        "crs": offered_crs.supported_crs(layer.native_crs),
        "layer": {
            "attributes": [dict(a) for a in layer.attribute_schema],
            "has_geometry": layer.geometry_type is not None,
            "feature_count": int(layer.feature_count),
            "columns": columns.described(layer),  # titles in queryables and schema
        },
    }
    field = time_field(layer.attribute_schema)
    if field:
        provider["time_field"] = field
    resource: dict[str, Any] = {
        "type": "collection",
        "title": title,
        "description": dataset.description or title,
        "keywords": [str(k) for k in (dataset.keywords or [])] or ["Nouvelle-Calédonie"],
        "extents": {"spatial": {"bbox": bbox, "crs": offered_crs.CRS84}},
        "links": [],
        "providers": [provider],
    }
    if layer.geometry_type is not None:  # OGC API Tiles (vector tiles made by tile_routes.py)
        resource["providers"].append(
            tileprovider.tile_provider(
                layer.collection_id, layer.table_name, layer.attribute_schema, bbox
            )
        )
    if portal_url:
        resource["links"].append(
            {
                "type": "text/html",
                "rel": "describedby",
                "title": "Fiche du jeu de données sur le portail",
                "href": f"{portal_url.rstrip('/')}/jeux-de-donnees/{dataset.slug}",
                "hreflang": "fr",
            }
        )
    return resource


def published_layers(engine: Engine) -> list[Layer]:
    """Layers of the datasets an anonymous visitor may see, with their dataset loaded."""
    with Session(engine) as session:
        layers = list(service.list_layers(session, ANONYMOUS))
        for layer in layers:
            _ = layer.dataset.layers  # loaded before the session closes
        session.expunge_all()
    return layers


def build_config(
    base: dict[str, Any], layers: Iterable[Layer], url: str, portal_url: str | None = None
) -> dict[str, Any]:
    """The full pygeoapi configuration for `layers`, served at `url`."""
    config = copy.deepcopy(base)
    server = config.setdefault("server", {})
    server["url"] = url.rstrip("/")
    server["locale_dir"] = ogc_locale_dir()
    # "URL" and the contact's address lead to this platform, not to another site.
    home = (portal_url or url.rstrip("/").removesuffix("/ogc")).rstrip("/") + "/"
    config.setdefault("metadata", {}).setdefault("identification", {})["url"] = home
    config["metadata"].setdefault("contact", {})["url"] = home
    templates = server.setdefault("templates", {})
    templates.setdefault("path", str(config_dir() / "templates"))
    templates.setdefault("static", str(PACKAGE_DIR / "static"))
    layers = list(layers)
    config["resources"] = {
        layer.collection_id: layer_resource(layer, portal_url) for layer in layers
    }
    # OGC API Records: the whole catalogue (its slug is reserved: no layer can take it).
    config["resources"][records_collection.COLLECTION_ID] = records_collection.collection_resource(
        url, portal_url, layers
    )
    return config


GENERATED_HEADER = b"# Generated by Niaouli from the catalogue (for inspection; JSON is YAML).\n"
GENERATED_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def write_generated(config: dict[str, Any], folder: Path) -> Path:
    """Write `config` as YAML for inspection, atomically (readers never see half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "pygeoapi-config.yml"
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".pygeoapi-config-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            # As indented JSON, which is YAML too (pygeoapi's loader reads it): PyYAML
            # took 27 s of CPU for 10,000 collections (4 s with libyaml's emitter), on
            # every catalogue change, in the request path; orjson takes a tenth of one.
            handle.write(GENERATED_HEADER)
            handle.write(orjson.dumps(config, option=GENERATED_JSON, default=str))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
