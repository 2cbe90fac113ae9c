"""Source types: `type -> harvester class`, imported only when used.

Other packages can add types through the `niaouli.harvesters` entry point group
(`name = "package.module:Class"`).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from niaouli.ingest.harvest.base import Harvester, HarvestError

BUILTIN = {
    "csw": "niaouli.ingest.harvest.sources.csw:CswHarvester",
    "dcat": "niaouli.ingest.harvest.sources.dcat:DcatHarvester",
    "arcgis-hub": "niaouli.ingest.harvest.sources.dcat:DcatHarvester",
    "oaipmh": "niaouli.ingest.harvest.sources.oaipmh:OaiPmhHarvester",
    "ckan": "niaouli.ingest.harvest.sources.ckan:CkanHarvester",
    "arcgis": "niaouli.ingest.harvest.sources.arcgis:ArcGisHarvester",
    "ods": "niaouli.ingest.harvest.sources.ods:OdsHarvester",
    "ogcapi": "niaouli.ingest.harvest.sources.ogc:OgcApiHarvester",
    "wfs": "niaouli.ingest.harvest.sources.ogc:WfsHarvester",
    "github": "niaouli.ingest.harvest.sources.forges:GitHubHarvester",
    "gitlab": "niaouli.ingest.harvest.sources.forges:GitLabHarvester",
}
ENTRY_POINTS = "niaouli.harvesters"


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINTS):
        targets.setdefault(entry.name, entry.value)
    return targets


def types() -> list[str]:
    return sorted(_targets())


def harvester_class(kind: str) -> type[Harvester]:
    target = _targets().get(kind)
    if target is None:
        raise HarvestError(f"type de source inconnu « {kind} » (attendu : {', '.join(types())})")
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)
