"""Which interface a request used and which dataset or organisation it concerns.

Pure string work on the path (no database): the dataset is named by what the URL
carries (a slug, an OGC collection id, a CSW record id) and resolved to ids in batches
by `counters` when flushing. `None` means "not counted" (static files, map previews).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl

# Interfaces, as stored in usage_daily.interface
PAGE = "page"
DOWNLOAD = "download"
EXPORT = "export"
FEED = "feed"
API = "api"
OGC = "ogc"
OGC_FEATURES = "ogc_features"
OGC_TILES = "ogc_tiles"
OGC_RECORDS = "ogc_records"
CSW = "csw"
ROBOTS = "robots"
INTERFACES = (PAGE, DOWNLOAD, EXPORT, FEED, API, OGC, OGC_FEATURES, OGC_TILES, OGC_RECORDS)
INTERFACES += (CSW, ROBOTS)
OGC_INTERFACES = (OGC, OGC_FEATURES, OGC_TILES, OGC_RECORDS)

# What names the concerned object, resolved at flush time
DATASET_SLUG = "dataset"
COLLECTION = "collection"
CSW_RECORD = "csw"
ORGANISATION_SLUG = "organisation"

RECORDS_COLLECTION = "catalogue"
FEED_PATHS = ("/catalog", "/feeds/", "/sitemap.xml", "/robots.txt")
SKIPPED_PREFIXES = ("/static/", "/ogc/static/", "/api/static/", "/favicon")


class Hit(NamedTuple):
    interface: str
    kind: str | None = None
    key: str | None = None


def classify(method: str, path: str, query: bytes) -> Hit | None:
    """The counted hit for a request, or None when it is not counted at all."""
    if path.startswith(SKIPPED_PREFIXES):
        return None
    if path == "/api" or path.startswith("/api/"):
        return _api(path)
    if path == "/ogc" or path.startswith("/ogc/"):
        return _ogc(path)
    if path == "/csw" or path.startswith("/csw/"):
        return _csw(query)
    if method not in ("GET", "HEAD"):
        return None  # form submissions: the page they lead to is counted
    return _portal(path)


def _portal(path: str) -> Hit | None:
    if path.startswith(FEED_PATHS):
        return Hit(FEED)
    parts = path.strip("/").split("/")
    if parts[0] == "jeux-de-donnees" and len(parts) >= 2 and parts[1]:
        slug = parts[1]
        if len(parts) == 2:
            return Hit(PAGE, DATASET_SLUG, slug)
        if parts[2] == "ressources":
            return Hit(DOWNLOAD, DATASET_SLUG, slug)
        if parts[2] == "couches" and len(parts) == 5:
            if parts[4] == "apercu.geojson":
                return None  # the dataset page's own map preview, not a download
            return Hit(EXPORT, DATASET_SLUG, slug)
        return Hit(PAGE, DATASET_SLUG, slug)
    if parts[0] == "organisations" and len(parts) >= 2 and parts[1]:
        return Hit(PAGE, ORGANISATION_SLUG, parts[1])
    if parts[0] == "statistiques" and len(parts) == 3 and parts[1] == "jeux-de-donnees":
        return Hit(PAGE, DATASET_SLUG, parts[2])
    return Hit(PAGE)


def _api(path: str) -> Hit:
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[1] == "datasets" and parts[2]:
        return Hit(API, DATASET_SLUG, parts[2])
    return Hit(API)


def _ogc(path: str) -> Hit:
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[1] != "collections" or not parts[2]:
        return Hit(OGC)
    collection = parts[2]
    if collection == RECORDS_COLLECTION:
        if len(parts) >= 5 and parts[3] == "items":
            return Hit(OGC_RECORDS, DATASET_SLUG, parts[4])
        return Hit(OGC_RECORDS)
    if len(parts) >= 4 and parts[3] == "tiles":
        return Hit(OGC_TILES, COLLECTION, collection)
    if len(parts) >= 4 and parts[3] == "items":
        return Hit(OGC_FEATURES, COLLECTION, collection)
    return Hit(OGC, COLLECTION, collection)


def _csw(query: bytes) -> Hit:
    # Only GetRecordById names one record; anything else is a catalogue-wide call.
    if b"getrecordbyid" not in query.lower():
        return Hit(CSW)
    params = {k.lower(): v for k, v in parse_qsl(query.decode("latin-1"))}
    identifier = params.get("id", "")
    if identifier and "," not in identifier:
        return Hit(CSW, CSW_RECORD, identifier[:300])
    return Hit(CSW)
