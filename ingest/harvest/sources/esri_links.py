"""ArcGIS REST layer links in catalogue records (CSW, DCAT, CKAN): apart from
`sources/arcgis.py` so that a harvest's mapping process reads them without importing the
projection and geometry libraries."""

from __future__ import annotations

import re

from niaouli.ingest.harvest.base import DataSource

LAYER_LINK = re.compile(r"^(https?://[^?#]+/(MapServer|FeatureServer)/\d+)/?(?:[?#].*)?$")


def layer_link(links: list[dict[str, str]]) -> DataSource | None:
    """A record's ArcGIS REST layer link as a data source, FeatureServer first.

    Catalogue records (CSW, DCAT, CKAN) of an ArcGIS Server with feature access often
    link the layer under both MapServer and FeatureServer: the data is copied once,
    from the FeatureServer, the MapServer only when it is the only one."""
    found = [m for m in (LAYER_LINK.match(link.get("url", "")) for link in links) if m]
    found.sort(key=lambda m: m.group(2) != "FeatureServer")
    return DataSource(url=found[0].group(1), format="esri-layer") if found else None
