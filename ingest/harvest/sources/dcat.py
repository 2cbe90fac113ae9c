"""`dcat` / `arcgis-hub`: DCAT catalogues (DCAT-AP JSON-LD, Turtle, RDF/XML, data.json).

Reads an ArcGIS Hub feed (`/api/feed/dcat-ap/2.1.1.json`, JSON-LD), the legacy
`/data.json` (DCAT-US 1.1, plain JSON), data.gouv.nc's OpenDataSoft DCAT export
(`/api/explore/v2.1/catalog/exports/dcat`, RDF/XML; `ttl`) or any DCAT-AP document,
following Hydra paging (`hydra:next` / `hydra:nextPage`) when there is one.

Untrusted input: RDF/XML goes through `safexml` first (no DOCTYPE, no entity), and a
JSON-LD document naming a remote `@context` is refused (rdflib would fetch it: SSRF).

The vocabulary tables (licences, frequencies) are those of the DCAT export
(`niaouli.dcat.vocabularies`), read backwards, so that an export harvested back gives
the same catalogue fields.

Options: `format` (`auto` default, `json-ld`, `turtle`, `xml`, `data.json`), `data`
(`true`: copy the first GeoJSON, zipped Shapefile or CSV distribution through the
ingestion), `crs` (CRS of the copied files when they do not say it, e.g. EPSG:3163),
`max_pages` (default 1000).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import to_canonical_graph
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS

from niaouli import metadata_parse, safexml
from niaouli.catalogue import vocabularies as catalogue_voc
from niaouli.dcat import vocabularies as voc
from niaouli.ingest.harvest import repairs
from niaouli.ingest.harvest.base import (
    DataSource,
    EnumerationError,
    Harvester,
    RecordFailure,
    RemoteRecord,
)
from niaouli.ingest.harvest.licence_names import choose_licence

MEDIA_FORMATS = {
    "application/geo+json": "geojson",
    "application/vnd.geo+json": "geojson",
    "geojson": "geojson",
    "application/zip": "shapefile",
    "application/x-zipped-shp": "shapefile",
    "shapefile": "shapefile",
    "shp": "shapefile",
    "zip": "shapefile",
    "text/csv": "csv",
    "csv": "csv",
}
DATA_PREFERENCE = ("geojson", "shapefile", "csv")
# Licence IRI -> the one name the catalogue uses; EU frequency code -> catalogue key
# (the tables of `niaouli.catalogue.vocabularies` read backwards).
LICENCE_NAMES: dict[str, str] = {x.iri: x.name for x in catalogue_voc.LICENCES}
FREQUENCY_KEYS: dict[str, str] = {f.eu: f.key for f in catalogue_voc.FREQUENCIES}
# Turtle lines left out of the content an identifier is derived from (dates change alone).
VOLATILE = ("dct:modified", "dct:issued")
RDF_FORMATS = {
    "application/ld+json": "json-ld",
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/n-triples": "nt",
}


def _text(graph: Graph, node: Any, prop: URIRef) -> str | None:
    """The value of `prop`, French first, then untagged, then any language."""
    values = list(graph.objects(node, prop))
    if not values:
        return None
    for wanted in ("fr", None):
        for value in values:
            if isinstance(value, Literal) and value.language == wanted:
                return str(value).strip()
    return str(values[0]).strip()


def _label(graph: Graph, node: Any) -> str:
    if isinstance(node, Literal):
        return str(node).strip()
    for prop in (SKOS.prefLabel, RDFS.label, DCTERMS.title, FOAF.name):
        text = _text(graph, node, prop)
        if text:
            return text
    text = str(node)
    return text.rstrip("/").rsplit("/", 1)[-1] if isinstance(node, URIRef) else text


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _bbox_from_wkt(text: str) -> tuple[float, float, float, float] | None:
    import shapely

    try:
        if text.lstrip().startswith("{"):
            geometry = shapely.from_geojson(text)
        else:
            text = text.split(">", 1)[1] if text.lstrip().startswith("<") else text
            geometry = shapely.from_wkt(text)
    except (shapely.errors.GEOSException, ValueError):
        return None
    if geometry is None or geometry.is_empty:
        return None
    return tuple(float(v) for v in geometry.bounds)  # type: ignore[return-value]


def _bbox_from_text(text: str) -> tuple[float, float, float, float] | None:
    """data.json's "minx,miny,maxx,maxy" or a WKT/GeoJSON geometry."""
    parts = text.replace(" ", "").split(",")
    if len(parts) == 4 and not text.lstrip().startswith("{"):
        try:
            west, south, east, north = (float(p) for p in parts)
        except ValueError:
            return None
        return (west, south, east, north)
    return _bbox_from_wkt(text)


def coverage_of(text: str | None) -> tuple[tuple[float, float, float, float] | None, list[str]]:
    """The coverage a remote wrote (box or geometry), repaired, and the report's notes.

    Boxes with swapped corners or axes are put back in order; text that gives no box at
    all is reported (it used to become "no coverage" silently).
    """
    if not text or not any(c.isdigit() for c in str(text)):
        return None, []  # none, or a place by name only: not a box to report
    found = _bbox_from_text(str(text))
    bbox, flags = metadata_parse.repair_bbox(found) if found else (None, ["unreadable"])
    return bbox, repairs.bbox_notes(flags, str(text))


def _spatial(
    graph: Graph, dataset: Any
) -> tuple[tuple[float, float, float, float] | None, list[str]]:
    written = []
    for place in graph.objects(dataset, DCTERMS.spatial):
        values = [place] if isinstance(place, Literal) else []
        for prop in (DCAT.bbox, voc.LOCN.geometry):
            values += list(graph.objects(place, prop))
        for value in values:
            bbox, notes = coverage_of(str(value))
            if bbox:
                return bbox, notes
            written.append(str(value))
    return None, (coverage_of(written[0])[1] if written else [])


def _theme(graph: Graph, node: Any) -> str:
    """A theme's label; EU data themes by their French label, whatever the feed says
    (Hub feeds give the IRI alone, whose last segment "ENVI" is no label)."""
    if isinstance(node, URIRef) and str(node).startswith(str(voc.DATA_THEME)):
        label = repairs.theme_label(str(node))
        if label != str(node):
            return label
    return repairs.theme_label(_label(graph, node))


def _format_of(media: str | None, fmt: str | None, url: str) -> str | None:
    for value in (media, fmt):
        if value:
            key = value.lower().rstrip("/").rsplit("/", 1)[-1]
            if value.lower() in MEDIA_FORMATS:
                return MEDIA_FORMATS[value.lower()]
            if key in MEDIA_FORMATS:
                return MEDIA_FORMATS[key]
    lowered = url.lower().split("?")[0]
    for suffix, kind in ((".geojson", "geojson"), (".csv", "csv"), (".zip", "shapefile")):
        if lowered.endswith(suffix):
            return kind
    return None


def _choose_data(links: list[dict[str, str]], crs: str | None) -> DataSource | None:
    """The first GeoJSON, zipped Shapefile or CSV distribution, else the ArcGIS REST
    layer (FeatureServer first: copied once when the record links MapServer too)."""
    from niaouli.ingest.harvest.sources.esri_links import layer_link

    candidates = [(link.get("data_format"), link) for link in links if link.get("data_format")]
    for wanted in DATA_PREFERENCE:
        for kind, link in candidates:
            if kind == wanted:
                name = link["url"].split("?")[0].rstrip("/").rsplit("/", 1)[-1][:100]
                return DataSource(url=link["url"], format=kind, crs=crs, filename=name or None)
    return layer_link(links)


def _clean_links(links: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in link.items() if k != "data_format"} for link in links]


class DcatHarvester(Harvester):
    type = "dcat"
    options = {
        "format": "auto (par défaut), json-ld, turtle, xml ou data.json",
        "data": "true : copie la première distribution GeoJSON, Shapefile zippé ou CSV",
        "crs": "SCR des fichiers copiés qui ne le disent pas (ex. EPSG:3163)",
        "max_pages": "nombre maximal de pages Hydra (1000 par défaut)",
    }

    def enumerate(self) -> Iterator[RemoteRecord | RecordFailure]:
        url: str | None = self.config.url
        max_pages = int(self.option("max_pages", 1000))
        page = 0
        visited: set[str] = set()
        while url:
            page += 1
            if page > max_pages or url in visited:
                raise EnumerationError(f"pagination DCAT interrompue à la page {page}")
            visited.add(url)
            what = f"page {page} du catalogue DCAT"
            response = self.fetcher_get(url, what)
            content, media = response
            kind = self._kind(content, media)
            if kind == "data.json":
                yield from self._data_json(content, what)
                return
            graph = self._graph(content, kind, what)
            datasets = sorted(set(graph.subjects(RDF.type, DCAT.Dataset)), key=str)
            if page == 1:
                self.expected_total = self._total(graph)
            if not datasets and (page > 1 or self.expected_total):
                raise EnumerationError(f"{what} : aucun jeu de données dans la page")
            if not datasets and next(graph.subjects(RDF.type, DCAT.Catalog), None) is None:
                raise EnumerationError(f"{what} : ni dcat:Catalog ni dcat:Dataset")
            for node in datasets:
                try:
                    yield self._record(graph, node)
                except (ValueError, TypeError) as exc:
                    yield RecordFailure(str(node), f"fiche DCAT illisible : {exc}")
            url = self._next(graph)

    # --- reading ---------------------------------------------------------------------

    def fetcher_get(self, url: str, what: str) -> tuple[bytes, str]:
        from niaouli.ingest.harvest.fetch import FetchError

        accept = "application/ld+json, text/turtle;q=0.9, application/rdf+xml;q=0.8, */*;q=0.1"
        try:
            response = self.fetcher.get(url, accept=accept)
        except FetchError as exc:
            raise EnumerationError(f"{what} : {exc}") from None
        if not response.content.strip():
            raise EnumerationError(f"{what} : réponse vide du serveur ({url[:200]})")
        return response.content, response.media_type

    def _kind(self, content: bytes, media: str) -> str:
        forced = str(self.option("format", "auto"))
        if forced != "auto":
            return forced
        head = content.lstrip()[:1]
        if head in (b"{", b"["):
            try:
                data = json.loads(content)
            except ValueError as exc:
                raise EnumerationError(f"catalogue DCAT : JSON illisible ({exc})") from None
            if isinstance(data, dict) and isinstance(data.get("dataset"), list):
                return "data.json"
            return "json-ld"
        if media in RDF_FORMATS:
            return RDF_FORMATS[media]
        return "xml" if head == b"<" else "turtle"

    def _graph(self, content: bytes, kind: str, what: str) -> Graph:
        graph = Graph()
        if kind == "xml":
            try:
                safexml.parse(content)
            except safexml.UnsafeXMLError as exc:
                raise EnumerationError(f"{what} : {exc}") from None
        if kind == "json-ld":
            try:
                document = json.loads(content)
            except ValueError as exc:
                raise EnumerationError(f"{what} : JSON illisible ({exc})") from None
            if _remote_context(document):
                raise EnumerationError(
                    f"{what} : contexte JSON-LD distant (@context par adresse) non accepté"
                )
            content = json.dumps(document).encode("utf-8")
        try:
            graph.parse(data=content, format=kind, publicID=self.config.url)
        except Exception as exc:  # noqa: BLE001 - rdflib raises many kinds
            raise EnumerationError(
                f"{what} : RDF illisible ({type(exc).__name__}: {exc})"
            ) from None
        return graph

    def _total(self, graph: Graph) -> int | None:
        for prop in (voc.HYDRA.totalItems,):
            value = next(graph.objects(None, prop), None)
            if value is not None:
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def _next(self, graph: Graph) -> str | None:
        for prop in (voc.HYDRA.next, voc.HYDRA.nextPage):
            value = next(graph.objects(None, prop), None)
            if value is not None:
                return str(value)
        return None

    def _record(self, graph: Graph, node: Any) -> RemoteRecord:
        identifier = _text(graph, node, DCTERMS.identifier) or (
            str(node) if isinstance(node, URIRef) else None
        )
        derived = not identifier
        if derived:
            # A blank node without dct:identifier: an id from its canonical description
            # without its dates, the same whatever its place in the feed.
            lines = _subgraph(graph, node).splitlines()
            stable = [line for line in lines if not line.lstrip().startswith(VOLATILE)]
            identifier = repairs.derived_identifier("\n".join(stable).encode("utf-8"))
        description = _text(graph, node, DCTERMS.description) or ""
        title, notes = repairs.title_of(
            _text(graph, node, DCTERMS.title),
            identifier,
            alternate=_text(graph, node, DCTERMS.alternative),
            description=description,
        )
        if derived:
            notes.insert(0, repairs.IDENTIFIER_DERIVED % {"identifier": identifier})
        keywords = [str(k).strip() for k in graph.objects(node, DCAT.keyword) if str(k).strip()]
        themes = sorted({_theme(graph, t) for t in graph.objects(node, DCAT.theme)})
        fields: dict[str, Any] = {
            "description": description,
            "keywords": sorted(set(keywords))[:100],
            "themes": themes[:50],
        }
        publisher = graph.value(node, DCTERMS.publisher)
        if publisher is not None:
            fields["producer"] = _label(graph, publisher)[:300]
        contact = graph.value(node, DCAT.contactPoint)
        if contact is not None:
            name = _text(graph, contact, voc.VCARD.fn) or _text(
                graph, contact, voc.VCARD["organization-name"]
            )
            email = graph.value(contact, voc.VCARD.hasEmail)
            if name:
                fields["contact_name"] = name[:300]
            if email is not None:
                fields["contact_email"] = str(email).removeprefix("mailto:")[:300]
        frequency = graph.value(node, DCTERMS.accrualPeriodicity)
        if frequency is not None:
            code = str(frequency).rstrip("/").rsplit("/", 1)[-1]
            key, note = (FREQUENCY_KEYS.get(code), None)
            if key is None:
                key, note = repairs.frequency_key(str(frequency))
            if key:
                fields["update_frequency"] = key
            notes += [note] if note else []
        temporal = graph.value(node, DCTERMS.temporal)
        if temporal is not None:
            fields["temporal_start"] = _date(_text(graph, temporal, DCAT.startDate))
            fields["temporal_end"] = _date(_text(graph, temporal, DCAT.endDate))
        licence = graph.value(node, DCTERMS.license)
        links: list[dict[str, str]] = []
        # Blank-node distributions (ArcGIS Hub) have random ids on every parse: order them
        # by what they say, so that an unchanged feed maps to the same record.
        for dist in sorted(
            graph.objects(node, DCAT.distribution), key=lambda d: _distribution_key(graph, d)
        ):
            licence = licence or graph.value(dist, DCTERMS.license)
            url = graph.value(dist, DCAT.downloadURL) or graph.value(dist, DCAT.accessURL)
            if url is None or not str(url).startswith(("http://", "https://")):
                continue
            media = graph.value(dist, DCAT.mediaType)
            fmt = graph.value(dist, DCTERMS["format"])
            media_text = str(media).removeprefix(voc.IANA_MEDIA) if media is not None else ""
            fmt_text = _label(graph, fmt) if fmt is not None else ""
            links.append(
                {
                    "url": str(url),
                    "title": _text(graph, dist, DCTERMS.title) or str(url),
                    "format": fmt_text or media_text,
                    "media_type": media_text,
                    "data_format": _format_of(media_text, fmt_text, str(url)) or "",
                }
            )
        if licence is not None:
            # A licence known by its name only is a blank node with a label (what our
            # DCAT export writes for a licence it has no IRI for): its label names it.
            candidates = [_label(graph, licence)]
            if not isinstance(licence, BNode):
                candidates.insert(0, str(licence))
            name, note = choose_licence(*candidates)
            fields["licence"] = name
            notes += [note] if note else []
        bbox, bbox_notes = _spatial(graph, node)
        notes += bbox_notes
        landing = graph.value(node, DCAT.landingPage)
        modified = _text(graph, node, DCTERMS.modified) or _text(graph, node, DCTERMS.issued)
        original = _subgraph(graph, node)
        return RemoteRecord(
            remote_id=identifier[:500],
            title=title,
            fields=fields,
            bbox=bbox,
            links=_clean_links(links),
            original=original,
            original_media_type="text/turtle",
            original_url=str(landing)
            if landing is not None
            else (str(node) if isinstance(node, URIRef) else None),
            remote_modified=modified[:64] if modified else None,
            data=_choose_data(links, self.option("crs")),
            notes=notes,
        )

    def _data_json(self, content: bytes, what: str) -> Iterator[RemoteRecord | RecordFailure]:
        """DCAT-US 1.1 (`/data.json`, Project Open Data), still served by ArcGIS Hub."""
        catalogue = json.loads(content)
        items = catalogue.get("dataset")
        if not isinstance(items, list):
            raise EnumerationError(f"{what} : pas de liste « dataset »")
        self.expected_total = len(items)
        for item in items:
            if not isinstance(item, dict):
                yield RecordFailure("(sans identifiant)", "jeu data.json qui n'est pas un objet")
                continue
            ident = str(item.get("identifier") or "").strip()
            derived = not ident
            if derived:  # an id from its content without its dates, whatever its place
                stable = {k: v for k, v in item.items() if k not in ("modified", "issued")}
                content = json.dumps(stable, sort_keys=True, ensure_ascii=False)
                ident = repairs.derived_identifier(content.encode("utf-8"))
            try:
                record = self._data_json_record(item, ident)
                if derived:
                    record.notes.insert(0, repairs.IDENTIFIER_DERIVED % {"identifier": ident})
                yield record
            except (ValueError, TypeError, AttributeError) as exc:
                yield RecordFailure(ident, f"jeu data.json illisible : {exc}")

    def _data_json_record(self, item: dict[str, Any], ident: str) -> RemoteRecord:
        contact = item.get("contactPoint") or {}
        publisher = item.get("publisher") or {}
        links = []
        for dist in item.get("distribution") or []:
            url = dist.get("downloadURL") or dist.get("accessURL") or ""
            if not str(url).startswith(("http://", "https://")):
                continue
            media, fmt = dist.get("mediaType") or "", dist.get("format") or ""
            links.append(
                {
                    "url": url,
                    "title": dist.get("title") or url,
                    "format": fmt or media,
                    "media_type": media,
                    "data_format": _format_of(media, fmt, url) or "",
                }
            )
        description = str(item.get("description") or "")
        title, notes = repairs.title_of(
            str(item.get("title") or ""), ident, description=description
        )
        fields: dict[str, Any] = {
            "description": description,
            "keywords": sorted({str(k) for k in item.get("keyword") or []})[:100],
            "themes": sorted({repairs.theme_label(str(t)) for t in item.get("theme") or []})[:50],
        }
        if publisher.get("name"):
            fields["producer"] = str(publisher["name"])[:300]
        if contact.get("fn"):
            fields["contact_name"] = str(contact["fn"])[:300]
        if contact.get("hasEmail"):
            fields["contact_email"] = str(contact["hasEmail"]).removeprefix("mailto:")[:300]
        if item.get("accrualPeriodicity"):
            key, note = repairs.frequency_key(item["accrualPeriodicity"])
            if key:
                fields["update_frequency"] = key
            notes += [note] if note else []
        if item.get("license"):
            name, note = choose_licence(item["license"])
            fields["licence"] = name
            notes += [note] if note else []
        spatial = item.get("spatial")
        bbox, bbox_notes = coverage_of(spatial) if isinstance(spatial, str) else (None, [])
        notes += bbox_notes
        modified = item.get("modified") or item.get("issued")
        return RemoteRecord(
            remote_id=ident[:500],
            title=title,
            fields=fields,
            bbox=bbox,
            links=_clean_links(links),
            original=json.dumps(item, ensure_ascii=False, sort_keys=True),
            original_media_type="application/json",
            original_url=item.get("landingPage") or None,
            remote_modified=str(modified)[:64] if modified else None,
            data=_choose_data(links, self.option("crs")),
            notes=notes,
        )


def _remote_context(document: Any) -> bool:
    """True when a JSON-LD document (anywhere) names a context by address."""
    if isinstance(document, dict):
        context = document.get("@context")
        contexts = context if isinstance(context, list) else [context]
        if any(isinstance(c, str) for c in contexts) or "@import" in document:
            return True
        return any(_remote_context(v) for v in document.values())
    if isinstance(document, list):
        return any(_remote_context(v) for v in document)
    return False


def _distribution_key(graph: Graph, dist: Any) -> tuple[str, ...]:
    """A sort key for a distribution that does not depend on blank-node identifiers."""
    values = (
        graph.value(dist, DCAT.downloadURL),
        graph.value(dist, DCAT.accessURL),
        graph.value(dist, DCTERMS.title),
        graph.value(dist, DCAT.mediaType),
        graph.value(dist, DCTERMS["format"]),
    )
    key = tuple("" if v is None else str(v) for v in values)
    return (*key, "" if isinstance(dist, BNode) else str(dist))


def _subgraph(graph: Graph, node: Any) -> str:
    """The dataset's description (itself, its blank nodes and distributions) in Turtle.

    Written from rdflib's canonical form (`to_canonical_graph`: blank nodes named from
    their content), so the same description always gives the same text and the same
    record hash, whatever identifiers the parser gave its blank nodes this time.
    """
    sub = Graph()
    for prefix, namespace in voc.PREFIXES.items():
        sub.bind(prefix, namespace)
    todo, done = [node], set()
    while todo:
        current = todo.pop()
        if current in done:
            continue
        done.add(current)
        for prop, value in graph.predicate_objects(current):
            sub.add((current, prop, value))
            if isinstance(value, BNode) or prop == DCAT.distribution:
                todo.append(value)
    canonical = Graph()
    for prefix, namespace in voc.PREFIXES.items():
        canonical.bind(prefix, namespace)
    for triple in to_canonical_graph(sub):
        canonical.add(triple)
    return canonical.serialize(format="turtle")
