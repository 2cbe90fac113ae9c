"""ISO 19139 (`gmd:MD_Metadata`) records generated from the catalogue with pygeometa.

pygeometa turns an MCF dictionary into ISO 19139 with Jinja2 templates. Its own renderer
does not autoescape, so a title such as `<img src=x onerror=...>` would break the XML or
smuggle markup (row S20): we render its templates through an environment of our own with
autoescaping on, which `|e` in the templates does not double-escape, and check the result
parses as XML.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lxml import etree

from niaouli.catalogue import vocabularies
from niaouli.services.csw import grid, quality_report, stored_urls
from niaouli.services.csw.view import DatasetView

if TYPE_CHECKING:
    from jinja2 import Environment

GEOMETRY_TYPES = {
    "POINT": "point",
    "MULTIPOINT": "point",
    "LINESTRING": "curve",
    "MULTILINESTRING": "curve",
    "POLYGON": "surface",
    "MULTIPOLYGON": "surface",
}


@functools.cache
def _environment() -> Environment:
    # pygeometa (and jsonschema under it) and Jinja are imported when a record is first
    # rendered: a command that never renders one (a harvest keeps the remote's own XML)
    # skips them.
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from pygeometa import core as pygeometa_core
    from pygeometa.schemas.iso19139 import ISO19139OutputSchema

    template_dir = ISO19139OutputSchema().template_dir  # type: ignore[attr-defined]
    env = Environment(
        loader=FileSystemLoader([template_dir, pygeometa_core.SCHEMAS]),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["normalize_datestring"] = pygeometa_core.normalize_datestring
    env.filters["get_distribution_language"] = pygeometa_core.get_distribution_language
    env.filters["get_charstring"] = pygeometa_core.get_charstring
    env.filters["prune_distribution_formats"] = pygeometa_core.prune_distribution_formats
    env.filters["prune_transfer_option"] = pygeometa_core.prune_transfer_option
    env.globals.update(
        zip=zip,
        get_charstring=pygeometa_core.get_charstring,
        normalize_datestring=pygeometa_core.normalize_datestring,
        prune_distribution_formats=pygeometa_core.prune_distribution_formats,
        prune_transfer_option=pygeometa_core.prune_transfer_option,
    )
    return env


def _pygeometa_version() -> str:
    from pygeometa import __version__

    return __version__


def _iso_date(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    return value.isoformat()


def _contact(view: DatasetView) -> dict[str, Any]:
    return {
        "organization": view.producer or view.organisation_name,
        "individualname": view.contact_name or "",
        "email": view.contact_email or view.organisation_email or "",
        "url": stored_urls.safe_url(view.organisation_website) or "",
        "phone": "",
        "fax": "",
        "postalcode": "",
        "country": "Nouvelle-Calédonie",
    }


def build_mcf(view: DatasetView) -> dict[str, Any]:
    """pygeometa's metadata control file (MCF) for one dataset."""
    created = _iso_date(view.published_at or view.created_at) or _iso_date(date.today())
    revised = _iso_date(view.updated_at) or created
    keywords: dict[str, Any] = {}
    if view.keywords:
        keywords["default"] = {
            "keywords": [str(k) for k in view.keywords],
            "keywords_type": "theme",
        }
    eu_themes = [str(t) for t in view.themes if vocabularies.theme_code(str(t))]
    other_themes = [str(t) for t in view.themes if str(t) not in eu_themes]
    if eu_themes:  # the form's list: the EU data themes, as the DCAT export says
        keywords["eu-data-theme"] = {
            "keywords": eu_themes,
            "keywords_type": "theme",
            "vocabulary": {"name": "Data theme (EU Vocabularies)", "url": vocabularies.THEME_IRI},
        }
    if other_themes:
        keywords["themes"] = {
            "keywords": other_themes,
            "keywords_type": "theme",
            "vocabulary": {"name": "Thèmes Niaouli"},
        }
    bbox = view.bbox
    extents: dict[str, Any] = {"spatial": []}
    if bbox:
        extents["spatial"].append({"bbox": list(bbox), "crs": 4326})
    else:
        extents["spatial"].append({"bbox": None, "crs": 4326})
    if view.temporal_start or view.temporal_end:
        extents["temporal"] = [
            {
                "begin": _iso_date(view.temporal_start) or "",
                "end": _iso_date(view.temporal_end) or "",
            }
        ]
    distribution: dict[str, Any] = {
        "page": {
            "url": stored_urls.dataset_page(view.slug),
            "type": "WWW:LINK",
            "name": "fiche",
            "description": "Fiche du jeu de données sur le portail",
            "function": "information",
        }
    }
    for layer in view.layers:
        distribution[f"ogc-{layer.collection_id}"] = {
            "url": stored_urls.collection(layer.collection_id),
            "type": "OGC:API-Features",
            "name": layer.collection_id,
            "description": "Collection OGC API Features",
            "function": "download",
        }
    for raster in view.rasters:
        distribution[f"ogc-{raster.collection_id}"] = {
            "url": stored_urls.collection(raster.collection_id),
            "type": "OGC:API-Coverages",
            "name": raster.collection_id,
            "description": "Collection OGC API Coverages (raster)",
            "function": "download",
        }
    geometry = next((layer.geometry_type for layer in view.layers if layer.geometry_type), None)
    datatype = "vector" if view.is_spatial else "textTable"
    if view.rasters and not any(layer.geometry_type for layer in view.layers):
        datatype = "grid"
    return {
        "mcf": {"version": "1.0"},
        "metadata": {
            "identifier": record_identifier(view),
            "language": "fre",
            "language_alternate": None,
            "charset": "utf8",
            "hierarchylevel": "dataset",
            "dates": {"creation": revised},
            "dataseturi": stored_urls.dataset_page(view.slug),
        },
        "spatial": {
            "datatype": datatype,
            "geomtype": GEOMETRY_TYPES.get((geometry or "").upper(), "complex"),
        },
        "identification": {
            "language": "fre",
            "charset": "utf8",
            "title": view.title,
            "abstract": view.description or view.title,
            "dates": {"creation": created, "revision": revised},
            "keywords": keywords,
            "topiccategory": [],
            "extents": extents,
            "fees": "Aucun",
            "accessconstraints": "otherRestrictions",
            "rights": view.licence,
            "url": stored_urls.dataset_page(view.slug),
            "status": "onGoing",
            "maintenancefrequency": _maintenance(view.update_frequency),
        },
        "contact": {"pointOfContact": _contact(view), "distributor": _contact(view)},
        "distribution": distribution,
        "dataquality": {
            "scope": {"level": "dataset"},
            "lineage": {"statement": view.lineage or "Non renseignée"},
        },
    }


def _maintenance(key: str | None) -> str:
    """ISO MD_MaintenanceFrequencyCode of the catalogue's frequency (the page's, DCAT's)."""
    found = vocabularies.frequency(key)
    return found.iso if found else "unknown"


def record_identifier(view: DatasetView) -> str:
    """The CSW identifier: the producer's for imported records, else the dataset slug."""
    return str(view.provenance.get("record_identifier") or view.slug)


def render(view: DatasetView) -> str:
    """The dataset as an ISO 19139 `gmd:MD_Metadata` document (a string, UTF-8 XML)."""
    mcf = build_mcf(view)
    xml = (
        _environment()
        .get_template("main.j2")
        .render(record=mcf, pygeometa_version=_pygeometa_version())
    )
    root = etree.fromstring(
        xml.encode("utf-8"), etree.XMLParser(remove_blank_text=True, resolve_entities=False)
    )
    grid.add_grids(root, view.rasters)
    quality_report.add_reports(root, view.quality)
    etree.cleanup_namespaces(root)
    return etree.tostring(root, encoding="unicode", pretty_print=True)
