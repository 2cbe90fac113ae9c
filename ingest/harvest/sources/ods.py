"""`ods`: OpenDataSoft portals (data.gouv.nc) through the Explore API v2.1.

The catalogue is read from `/api/explore/v2.1/catalog/datasets`, paged with
limit/offset (100 a page, the API's maximum). Data, when asked, come from the uncapped
exports (`/catalog/datasets/{id}/exports/geojson` for datasets with geometry, `csv`
otherwise) — never from the `records` endpoint, which stops at 100 records a call and
an offset of 10,000.

Options: `data` (`true`: copy each dataset's export through the ingestion), `where`
(an ODSQL filter on the catalogue, e.g. `publisher="DITTT"`), `limit` (page size).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

from niaouli.ingest.harvest.base import (
    DataSource,
    EnumerationError,
    Harvester,
    RecordFailure,
    RemoteRecord,
)
from niaouli.ingest.harvest.licence_names import choose_licence

CATALOG = "/api/explore/v2.1/catalog/datasets"
MAX_PAGES = 10_000
TAG = re.compile(r"<[^>]+>")


def plain_text(value: str) -> str:
    """ODS descriptions are HTML: keep the text, paragraphs on their own lines."""
    value = re.sub(r"</p>|<br\s*/?>", "\n\n", value, flags=re.IGNORECASE)
    text = html.unescape(TAG.sub("", value))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


class OdsHarvester(Harvester):
    type = "ods"
    options = {
        "data": "true : copie l'export GeoJSON (ou CSV) de chaque jeu via l'ingestion",
        "where": 'filtre ODSQL sur le catalogue (ex. publisher="DITTT")',
        "limit": "jeux par page (100 au plus)",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        self.site = self.config.url.split("/api/")[0].rstrip("/")
        url = self.site + CATALOG
        limit = min(int(self.option("limit", 100)), 100)
        offset = 0
        for page in range(1, MAX_PAGES):
            what = f"page {page} du catalogue OpenDataSoft (à partir de {offset})"
            params: dict[str, str | int] = {"limit": limit, "offset": offset}
            if self.option("where"):
                params["where"] = str(self.option("where"))
            answer = self.fetch_json(url, what, params=params)
            if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
                raise EnumerationError(f"{what} : réponse sans « results »")
            total = answer.get("total_count")
            if not isinstance(total, int):
                raise EnumerationError(f"{what} : réponse sans « total_count »")
            if page == 1:
                self.expected_total = total
            results = answer["results"]
            if not results and offset < total:
                raise EnumerationError(f"{what} : page vide alors que {total} jeux annoncés")
            for item in results:
                ident = str(item.get("dataset_id") or "") if isinstance(item, dict) else ""
                if not ident:
                    yield RecordFailure("(sans identifiant)", "jeu OpenDataSoft sans dataset_id")
                    continue
                try:
                    yield self._record(item, ident)
                except (TypeError, ValueError, AttributeError) as exc:
                    yield RecordFailure(ident, f"jeu OpenDataSoft illisible : {exc}")
            offset += len(results)
            if offset >= total or not results:
                return
        raise EnumerationError("trop de pages dans le catalogue OpenDataSoft")

    def _record(self, item: dict[str, Any], ident: str) -> RemoteRecord:
        metas = (item.get("metas") or {}).get("default") or {}
        geo = "geo" in (item.get("features") or [])
        exports = f"{self.site}{CATALOG}/{ident}/exports"
        fmt = "geojson" if geo else "csv"
        fields: dict[str, Any] = {
            "description": plain_text(str(metas.get("description") or "")),
            "keywords": sorted(set(_list(metas.get("keyword"))))[:100],
            "themes": sorted(set(_list(metas.get("theme"))))[:50],
        }
        licence, note = choose_licence(metas.get("license_url"), metas.get("license"))
        if licence:
            fields["licence"] = licence
        if metas.get("publisher"):
            fields["producer"] = str(metas["publisher"])[:300]
        links = [
            {"url": f"{exports}/{kind}", "title": f"Export {label}", "format": label}
            for kind, label in (("geojson", "GeoJSON"), ("csv", "CSV"), ("shp", "Shapefile"))
            if geo or kind == "csv"
        ]
        modified = metas.get("modified") or metas.get("data_processed")
        return RemoteRecord(
            remote_id=ident[:500],
            title=str(metas.get("title") or ident),
            fields=fields,
            links=links,
            original=json.dumps(item, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=f"{self.site}/explore/dataset/{ident}/",
            remote_modified=str(modified)[:64] if modified else None,
            data=DataSource(url=f"{exports}/{fmt}", format=fmt, filename=f"{ident}.{fmt}"),
            notes=[note] if note else [],
        )
