"""`ckan`: CKAN portals through the Action API (`package_search`, paged with start/rows).

Each package becomes a dataset; its resources become links (DCAT distributions) and,
with `data=true`, the first GeoJSON, zipped Shapefile or CSV resource is copied through
the ingestion. The package's `spatial` extra (GeoJSON) gives the coverage.

Options: `rows` (page size, default 100), `fq` (a CKAN filter query, e.g.
`organization:province-sud`), `data`, `crs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from niaouli.ingest.harvest import repairs
from niaouli.ingest.harvest.base import EnumerationError, Harvester, RecordFailure, RemoteRecord
from niaouli.ingest.harvest.licence_names import choose_licence
from niaouli.ingest.harvest.sources.dcat import _choose_data, _clean_links, _format_of, coverage_of

MAX_PAGES = 100_000
# Where CKAN portals keep the update frequency: ckanext-dcat and ckanext-scheming's
# `frequency` (an EU frequency IRI or words), older extras.
FREQUENCY_KEYS = ("frequency", "accrual_periodicity", "update_frequency", "frequence")


def _extras(package: dict[str, Any]) -> dict[str, str]:
    return {
        str(e.get("key")): str(e.get("value"))
        for e in package.get("extras") or []
        if isinstance(e, dict)
    }


class CkanHarvester(Harvester):
    type = "ckan"
    options = {
        "rows": "paquets par page (100 par défaut, 1000 au plus chez CKAN)",
        "fq": "filtre CKAN (ex. organization:province-sud)",
        "data": "true : copie la première ressource GeoJSON, Shapefile zippé ou CSV",
        "crs": "SCR des fichiers copiés qui ne le disent pas (ex. EPSG:3163)",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        base = self.config.url.rstrip("/")
        if not base.endswith("/api/3/action/package_search"):
            base = base.split("/api/")[0] + "/api/3/action/package_search"
        self.site = base.split("/api/")[0]
        rows = int(self.option("rows", 100))
        start = 0
        for page in range(1, MAX_PAGES):
            what = f"page {page} de package_search (à partir de {start})"
            params: dict[str, str | int] = {"rows": rows, "start": start, "sort": "name asc"}
            if self.option("fq"):
                params["fq"] = str(self.option("fq"))
            answer = self.fetch_json(base, what, params=params)
            result = answer.get("result") if isinstance(answer, dict) else None
            if (
                not isinstance(answer, dict)
                or not answer.get("success")
                or not isinstance(result, dict)
            ):
                raise EnumerationError(f"{what} : réponse CKAN sans succès")
            packages = result.get("results")
            count = result.get("count")
            if not isinstance(packages, list) or not isinstance(count, int):
                raise EnumerationError(f"{what} : réponse CKAN sans « results » ni « count »")
            if page == 1:
                self.expected_total = count
            if not packages and start < count:
                raise EnumerationError(f"{what} : page vide alors que {count} paquets annoncés")
            for package in packages:
                ident = str(package.get("id") or "") if isinstance(package, dict) else ""
                if not ident:
                    yield RecordFailure("(sans identifiant)", "paquet CKAN sans « id »")
                    continue
                try:
                    yield self._record(package, ident)
                except (TypeError, ValueError, AttributeError) as exc:
                    yield RecordFailure(ident, f"paquet CKAN illisible : {exc}")
            start += len(packages)
            if start >= count or not packages:
                return
        raise EnumerationError("trop de pages package_search")

    def _record(self, package: dict[str, Any], ident: str) -> RemoteRecord:
        links = []
        for resource in package.get("resources") or []:
            url = str(resource.get("url") or "")
            if not url.startswith(("http://", "https://")):
                continue
            fmt = str(resource.get("format") or "")
            media = str(resource.get("mimetype") or "")
            links.append(
                {
                    "url": url,
                    "title": str(resource.get("name") or url),
                    "format": fmt or media,
                    "media_type": media,
                    "data_format": _format_of(media, fmt, url) or "",
                }
            )
        organisation = package.get("organization") or {}
        fields: dict[str, Any] = {
            "description": str(package.get("notes") or ""),
            "keywords": sorted(
                {str(t.get("display_name") or t.get("name")) for t in package.get("tags") or []}
            )[:100],
            "themes": sorted(
                {str(g.get("title") or g.get("name")) for g in package.get("groups") or []}
            )[:50],
        }
        extras = _extras(package)
        name = package.get("name") or ident
        title, notes = repairs.title_of(
            str(package.get("title") or ""), str(name), description=fields["description"]
        )
        written = next(
            (v for k in FREQUENCY_KEYS for v in (package.get(k), extras.get(k)) if v), None
        )
        if written:
            frequency, note = repairs.frequency_key(written)
            if frequency:
                fields["update_frequency"] = frequency
            notes += [note] if note else []
        licence, note = choose_licence(
            package.get("license_url"), package.get("license_id"), package.get("license_title")
        )
        if licence:
            fields["licence"] = licence
        notes += [note] if note else []
        producer = organisation.get("title") or package.get("author")
        if producer:
            fields["producer"] = str(producer)[:300]
        contact = package.get("maintainer") or package.get("author")
        email = package.get("maintainer_email") or package.get("author_email")
        if contact:
            fields["contact_name"] = str(contact)[:300]
        if email:
            fields["contact_email"] = str(email)[:300]
        bbox, bbox_notes = coverage_of(extras.get("spatial"))
        notes += bbox_notes
        return RemoteRecord(
            remote_id=ident[:500],
            title=title,
            fields=fields,
            bbox=bbox,
            links=_clean_links(links),
            original=json.dumps(package, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=f"{self.site}/dataset/{name}",
            remote_modified=str(package.get("metadata_modified") or "")[:64] or None,
            data=_choose_data(links, self.option("crs")),
            notes=notes,
        )
