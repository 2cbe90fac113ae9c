"""Catalogue -> DCAT-AP 3.0.0 (and GeoDCAT-AP): one page of the public catalogue as a graph.

The graph meets DCAT-AP 3.0.0 and GeoDCAT-AP 2.0.0 with no violation, and DCAT-AP 2.1.1
(what older harvesters validate against) except where 3.0.0 changed the rule: the
checksum algorithm (SHA-256; 2.1.1 names SHA-1 only) and the datatype of `dcat:byteSize`
(`xsd:nonNegativeInteger`; 2.1.1 said `xsd:decimal`). See docs/dcat.md.

Only what the anonymous viewer may see is published: the catalogue feeds are public
feeds for harvesters (data.gouv.fr, the EU portal), whoever fetches them, so callers
pass no viewer and `ANONYMOUS` is used on purpose (SECURITY-CASES S23).

Identifiers, titles and bounding boxes are those of the CSW records
(`niaouli.services.csw`): a harvester reading both must find the same datasets.

Nodes that DCAT-AP's range shapes require to be typed (licences, languages, media
types, frequencies, themes, landing pages...) are typed here, with a label, because a
harvester or validator does not load the EU vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import shapely
from geoalchemy2.shape import to_shape
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, selectinload

from niaouli import exports
from niaouli.catalogue import quality_store, service
from niaouli.catalogue.access import ANONYMOUS, visible_datasets
from niaouli.catalogue.models import Dataset, Layer, RasterLayer, Resource, ResourceKind
from niaouli.dcat import quality as dcat_quality
from niaouli.dcat import vocabularies as voc
from niaouli.dcat.urls import PublicUrls

CATALOGUE_TITLE = "Niaouli — données ouvertes de Nouvelle-Calédonie"
CATALOGUE_DESCRIPTION = (
    "Catalogue des jeux de données ouverts publiés par les administrations de "
    "Nouvelle-Calédonie sur la plateforme Niaouli : données géographiques et tabulaires, "
    "téléchargeables et accessibles par API OGC Features et CSW."
)
PLATFORM_NAME = "Niaouli — plateforme des données ouvertes de Nouvelle-Calédonie"
METADATA_LICENCE = "Licence Ouverte 2.0"
OGC_API_FEATURES = URIRef("http://www.opengis.net/doc/IS/ogcapi-features-1/1.0")
CSW_202 = URIRef("http://www.opengis.net/def/serviceType/ogc/csw/2.0.2")
SAFE_SCHEMES = ("http://", "https://", "ftp://")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500  # rdflib writes 1,000 datasets of Turtle in ~5 s: keep pages short


def fr(text: str) -> Literal:
    return Literal(text, lang="fr")


def dataset_identifier(dataset: Dataset) -> str:
    """The dataset's identifier, as in CSW: the producer's for imported records
    (`services.csw.iso.record_identifier`) and for records harvested from a CSW, whose
    original XML our CSW serves under its own identifier (the harvest's remote id)."""
    provenance = dataset.provenance or {}
    if provenance.get("record_identifier"):
        return str(provenance["record_identifier"])
    if provenance.get("harvest_type") == "csw" and provenance.get("remote_id"):
        return str(provenance["remote_id"])
    return dataset.slug


def dataset_bbox(dataset: Dataset) -> tuple[float, float, float, float] | None:
    """West, south, east, north (EPSG:4326): the layers' extent, else the declared coverage.

    The same rule as the CSW records (`services.csw.view.DatasetView.bbox`).
    """
    boxes = [layer.extent for layer in [*dataset.layers, *dataset.raster_layers] if layer.extent]
    if boxes:
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    if dataset.spatial_coverage is not None:
        return tuple(to_shape(dataset.spatial_coverage).bounds)  # type: ignore[return-value]
    return None


def _metric(raster: RasterLayer) -> bool:
    """Whether the raster's pixels are measured in metres (a projected CRS in metres)."""
    from pyproj import CRS

    try:
        crs = CRS.from_wkt(raster.crs_wkt)
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot read says nothing
        return False
    return crs.is_projected and all(a.unit_name in ("metre", "meter") for a in crs.axis_info)


def public_datasets(session: Session, offset: int = 0, limit: int | None = None) -> list[Dataset]:
    """The datasets anyone may see, oldest first (stable pages), with what DCAT needs."""
    query = (
        service.dataset_query(ANONYMOUS)
        .options(
            selectinload(Dataset.organisation),
            selectinload(Dataset.layers),
            selectinload(Dataset.raster_layers),
            selectinload(Dataset.resources),
        )
        .order_by(Dataset.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all())


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _datetime(value: datetime | date | None) -> Literal | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return Literal(value.astimezone(UTC).replace(microsecond=0), datatype=XSD.dateTime)
    return Literal(value, datatype=XSD.date)


class GraphBuilder:
    """Adds catalogue objects to one graph, typing shared nodes once."""

    def __init__(self, urls: PublicUrls) -> None:
        self.urls = urls
        # SimpleMemory (no contexts) and only our prefixes: both make building and writing
        # Turtle several times faster than rdflib's defaults.
        self.graph = Graph(store="SimpleMemory", bind_namespaces="core")
        self._typed: set[tuple[URIRef, tuple[URIRef, ...], str | None]] = set()
        # Stored quality scores by dataset id (`quality_store.scores`), read per page.
        self.scores: dict[int, dict] = {}
        for prefix, namespace in voc.PREFIXES.items():
            self.graph.bind(prefix, namespace)

    # --- small helpers ------------------------------------------------------------------

    def add(self, subject: URIRef | BNode, predicate: URIRef, value: object) -> None:
        if value is None or value == "":
            return
        self.graph.add((subject, predicate, value))  # type: ignore[arg-type]

    def typed(self, iri: str | URIRef, *classes: URIRef, label: str | None = None) -> URIRef:
        node = URIRef(iri)
        key = (node, classes, label)
        if key in self._typed:  # shared vocabulary nodes: typed once per graph
            return node
        self._typed.add(key)
        for cls in classes:
            self.graph.add((node, RDF.type, cls))
        if label:
            self.graph.add((node, RDFS.label, fr(label)))
        return node

    def concept(self, iri: URIRef, label: str, *classes: URIRef) -> URIRef:
        """A controlled-vocabulary term: a skos:Concept with its French label."""
        key = (iri, (SKOS.Concept, *classes), label)
        if key not in self._typed:
            self.typed(iri, SKOS.Concept, *classes)
            self.graph.add((iri, SKOS.prefLabel, fr(label)))
            self._typed.add(key)
        return iri

    def document(self, url: str) -> URIRef:
        return self.typed(url, FOAF.Document)

    def licence(self, name: str | None) -> URIRef | BNode:
        iri, label = voc.licence(name)
        if iri:
            return self.typed(iri, DCTERMS.LicenseDocument, label=label)
        node = BNode()  # a licence known by its name only
        self.graph.add((node, RDF.type, DCTERMS.LicenseDocument))
        self.graph.add((node, RDFS.label, fr(label)))
        return node

    def language(self) -> URIRef:
        return self.typed(voc.FRENCH, DCTERMS.LinguisticSystem, label="français")

    # --- catalogue ----------------------------------------------------------------------

    def catalog(self, session: Session) -> URIRef:
        catalog = URIRef(self.urls.catalog())
        g = self.graph
        g.add((catalog, RDF.type, DCAT.Catalog))
        g.add((catalog, DCTERMS.title, fr(CATALOGUE_TITLE)))
        g.add((catalog, DCTERMS.description, fr(CATALOGUE_DESCRIPTION)))
        g.add((catalog, FOAF.homepage, self.document(self.urls.home())))
        g.add((catalog, DCTERMS.language, self.language()))
        g.add((catalog, DCTERMS.license, self.licence(METADATA_LICENCE)))
        spatial = self.typed(voc.NEW_CALEDONIA, DCTERMS.Location, label="Nouvelle-Calédonie")
        g.add((catalog, DCTERMS.spatial, spatial))
        publisher = URIRef(self.urls.home() + "#plateforme")
        g.add((publisher, RDF.type, FOAF.Agent))
        g.add((publisher, RDF.type, FOAF.Organization))
        g.add((publisher, FOAF.name, fr(PLATFORM_NAME)))
        g.add((publisher, FOAF.homepage, self.document(self.urls.home())))
        g.add((catalog, DCTERMS.publisher, publisher))
        first, last = session.execute(
            select(func.min(Dataset.published_at), func.max(Dataset.updated_at)).where(
                visible_datasets(ANONYMOUS)
            )
        ).one()
        self.add(catalog, DCTERMS.issued, _datetime(first))
        self.add(catalog, DCTERMS.modified, _datetime(last))
        self.data_services(catalog)
        return catalog

    def data_services(self, catalog: URIRef) -> None:
        """OGC API Features and CSW, the catalogue's services."""
        g = self.graph
        ogc = URIRef(self.urls.ogc() + "#service")
        g.add((ogc, RDF.type, DCAT.DataService))
        g.add((ogc, DCTERMS.title, fr("API OGC Features de Niaouli")))
        g.add(
            (
                ogc,
                DCTERMS.description,
                fr("Les couches des jeux de données publics, en GeoJSON, par API OGC Features."),
            )
        )
        g.add((ogc, DCAT.endpointURL, URIRef(self.urls.ogc())))
        g.add((ogc, DCAT.endpointDescription, URIRef(self.urls.ogc() + "/openapi")))
        g.add((ogc, DCTERMS.conformsTo, self.typed(OGC_API_FEATURES, DCTERMS.Standard)))
        g.add((ogc, DCTERMS.license, self.licence(METADATA_LICENCE)))
        g.add((catalog, DCAT.service, ogc))
        csw = URIRef(self.urls.csw() + "#service")
        g.add((csw, RDF.type, DCAT.DataService))
        g.add((csw, DCTERMS.title, fr("Catalogue CSW de Niaouli")))
        g.add(
            (
                csw,
                DCTERMS.description,
                fr("Les fiches de métadonnées (ISO 19139, Dublin Core) par CSW 2.0.2 et 3.0."),
            )
        )
        g.add((csw, DCAT.endpointURL, URIRef(self.urls.csw())))
        g.add(
            (
                csw,
                DCAT.endpointDescription,
                URIRef(self.urls.csw() + "?service=CSW&request=GetCapabilities"),
            )
        )
        g.add((csw, DCTERMS.conformsTo, self.typed(CSW_202, DCTERMS.Standard)))
        g.add((catalog, DCAT.service, csw))

    def paging(self, catalog: URIRef, page: Page, extension: str) -> None:
        """Hydra paging, read by udata's DCAT harvester (both its old and new terms)."""
        g = self.graph
        here = URIRef(self.urls.catalog_page(extension, page.number, page.size))

        def link(number: int) -> URIRef:
            return URIRef(self.urls.catalog_page(extension, number, page.size))

        g.add((here, RDF.type, voc.HYDRA.PartialCollectionView))
        g.add((here, RDF.type, voc.HYDRA.PagedCollection))
        for new, old, number in (
            (voc.HYDRA.first, voc.HYDRA.firstPage, 1),
            (voc.HYDRA.last, voc.HYDRA.lastPage, page.last),
            (voc.HYDRA.next, voc.HYDRA.nextPage, page.number + 1),
            (voc.HYDRA.previous, voc.HYDRA.previousPage, page.number - 1),
        ):
            if 1 <= number <= page.last:
                g.add((here, new, link(number)))
                g.add((here, old, link(number)))
        g.add((here, voc.HYDRA.totalItems, Literal(page.total)))
        g.add((here, voc.HYDRA.itemsPerPage, Literal(page.size)))
        g.add((catalog, voc.HYDRA.totalItems, Literal(page.total)))
        g.add((catalog, voc.HYDRA.view, here))

    # --- datasets -----------------------------------------------------------------------

    def publisher(self, dataset: Dataset) -> URIRef:
        org = dataset.organisation
        node = URIRef(self.urls.organisation_page(org.slug) + "#organisation")
        g = self.graph
        g.add((node, RDF.type, FOAF.Agent))
        g.add((node, RDF.type, FOAF.Organization))
        g.set((node, FOAF.name, fr(org.name)))
        g.add((node, FOAF.homepage, self.document(self.urls.organisation_page(org.slug))))
        kind = voc.PUBLISHER_TYPES.get(str(org.kind))
        if kind:
            g.set((node, DCTERMS.type, self.concept(voc.PUBLISHER_TYPE[kind[0]], kind[1])))
        return node

    def contact_point(self, dataset: Dataset) -> BNode | None:
        """The dataset's public contact; else the organisation's own (public) address.

        No personal address other than the one the producer published as the dataset's
        contact is ever written.
        """
        org = dataset.organisation
        email = dataset.contact_email or org.email
        website = org.website if (org.website or "").startswith(SAFE_SCHEMES) else None
        if not (dataset.contact_name or email or website):
            return None
        g = self.graph
        node = BNode()
        g.add((node, RDF.type, voc.VCARD.Kind))
        g.add((node, RDF.type, voc.VCARD.Organization))
        g.add((node, voc.VCARD.fn, fr(dataset.contact_name or org.name)))
        if dataset.contact_name:
            g.add((node, voc.VCARD["organization-name"], fr(org.name)))
        if email and "@" in email and not any(c in email for c in " <>\"'\n"):
            g.add((node, voc.VCARD.hasEmail, URIRef("mailto:" + email.strip())))
        if website:
            g.add((node, voc.VCARD.hasURL, URIRef(website)))
        return node

    def spatial(self, dataset: Dataset) -> BNode | None:
        bbox = dataset_bbox(dataset)
        if bbox is None:
            return None
        box = shapely.box(*bbox)
        node = BNode()
        g = self.graph
        g.add((node, RDF.type, DCTERMS.Location))
        g.add(
            (
                node,
                DCAT.bbox,
                Literal(shapely.to_wkt(box, rounding_precision=7), datatype=voc.GSP.wktLiteral),
            )
        )
        # No `locn:geometry`: DCAT-AP 2.1.1 wants a literal there, 3.0.0 a `locn:Geometry`
        # node (unread by harvesters written for 2.x). `dcat:bbox` says the same box to all.
        return node

    def temporal(self, dataset: Dataset) -> BNode | None:
        if not (dataset.temporal_start or dataset.temporal_end):
            return None
        node = BNode()
        self.graph.add((node, RDF.type, DCTERMS.PeriodOfTime))
        self.add(node, DCAT.startDate, _datetime(dataset.temporal_start))
        self.add(node, DCAT.endDate, _datetime(dataset.temporal_end))
        return node

    def dataset(self, dataset: Dataset) -> URIRef:
        g = self.graph
        page = self.urls.dataset_page(dataset.slug)
        node = URIRef(page + "#jeu-de-donnees")
        g.add((node, RDF.type, DCAT.Dataset))
        g.add((node, DCTERMS.identifier, Literal(dataset_identifier(dataset))))
        g.add((node, DCTERMS.title, fr(dataset.title)))
        g.add((node, DCTERMS.description, fr(dataset.description or dataset.title)))
        g.add((node, DCAT.landingPage, self.document(page)))
        g.add((node, DCTERMS.language, self.language()))
        g.add(
            (
                node,
                DCTERMS.accessRights,
                self.typed(voc.PUBLIC_ACCESS, DCTERMS.RightsStatement, label="public"),
            )
        )
        g.add((node, DCTERMS.publisher, self.publisher(dataset)))
        if dataset.producer:
            creator = BNode()
            g.add((creator, RDF.type, FOAF.Agent))
            g.add((creator, FOAF.name, fr(dataset.producer)))
            g.add((node, DCTERMS.creator, creator))
        self.add(node, DCAT.contactPoint, self.contact_point(dataset))
        self.add(node, DCTERMS.issued, _datetime(dataset.published_at or dataset.created_at))
        self.add(node, DCTERMS.modified, _datetime(dataset.updated_at))
        keywords = [str(k) for k in dataset.keywords or []]
        for theme in dataset.themes or []:
            keywords.append(str(theme))
            for code in voc.data_themes(str(theme)):
                g.add((node, DCAT.theme, self.concept(voc.DATA_THEME[code], voc.DATA_THEMES[code])))
        for keyword in dict.fromkeys(k.strip() for k in keywords if k.strip()):
            g.add((node, DCAT.keyword, fr(keyword)))
        frequency = voc.frequency(dataset.update_frequency)
        if frequency:
            iri = voc.FREQUENCY[frequency[0]]
            g.add(
                (
                    node,
                    DCTERMS.accrualPeriodicity,
                    self.concept(iri, frequency[1], DCTERMS.Frequency),
                )
            )
        self.add(node, DCTERMS.temporal, self.temporal(dataset))
        self.add(node, DCTERMS.spatial, self.spatial(dataset))
        if dataset.lineage:
            statement = BNode()
            g.add((statement, RDF.type, DCTERMS.ProvenanceStatement))
            g.add((statement, RDFS.label, fr(dataset.lineage)))
            g.add((node, DCTERMS.provenance, statement))
        source_url = (dataset.provenance or {}).get("source_url")
        if isinstance(source_url, str) and source_url.startswith(SAFE_SCHEMES):
            # A page about the source, not a dcat:Dataset: foaf:page, not dct:source.
            g.add((node, FOAF.page, self.document(source_url)))
        for resource in dataset.resources:
            self.add(node, DCAT.distribution, self.resource_distribution(dataset, resource))
        for layer in dataset.layers:
            for distribution in self.layer_distributions(dataset, layer):
                g.add((node, DCAT.distribution, distribution))
        resolutions = [
            min(r.resolution_x, r.resolution_y) for r in dataset.raster_layers if _metric(r)
        ]
        if resolutions:
            value = Literal(str(round(min(resolutions), 6)), datatype=XSD.decimal)
            g.add((node, DCAT.spatialResolutionInMeters, value))
        dcat_quality.add_measurements(self, node, self.scores.get(dataset.id))
        return node

    # --- distributions ------------------------------------------------------------------

    def _distribution(
        self, iri: str, title: str, access_url: str, licence_name: str | None
    ) -> URIRef:
        g = self.graph
        node = URIRef(iri)
        g.add((node, RDF.type, DCAT.Distribution))
        g.add((node, DCTERMS.title, fr(title)))
        g.add((node, DCAT.accessURL, URIRef(access_url)))
        g.add((node, DCTERMS.license, self.licence(licence_name)))
        return node

    def _format(self, node: URIRef, label: str | None, media_type: str | None) -> None:
        g = self.graph
        code = voc.file_type(label)
        if code:
            g.add(
                (
                    node,
                    DCTERMS.format,
                    self.typed(voc.FILE_TYPE[code], DCTERMS.MediaTypeOrExtent, label=code),
                )
            )
        iana = voc.iana_media_type(media_type)
        if iana:
            g.add((node, DCAT.mediaType, self.typed(iana, DCTERMS.MediaType)))

    def resource_distribution(self, dataset: Dataset, resource: Resource) -> URIRef | None:
        page = self.urls.dataset_page(dataset.slug)
        if resource.kind == ResourceKind.LINK:
            if not (resource.url or "").startswith(SAFE_SCHEMES):
                return None
            node = self._distribution(
                f"{page}#ressource-{resource.id}", resource.title, resource.url, dataset.licence
            )
            self._format(node, resource.format, resource.media_type)
            return node
        if not (resource.storage_key and resource.filename):
            return None
        url = self.urls.resource(dataset.slug, resource.id, resource.filename)
        title = resource.title or resource.filename
        if resource.role == "source":
            title = f"{title} (fichier d'origine)"
        node = self._distribution(f"{page}#ressource-{resource.id}", title, url, dataset.licence)
        g = self.graph
        g.add((node, DCAT.downloadURL, URIRef(url)))
        self._format(node, resource.format, resource.media_type)
        if resource.size is not None:
            size = Literal(str(int(resource.size)), datatype=XSD.nonNegativeInteger)
            g.add((node, DCAT.byteSize, size))  # DCAT-AP 3.0.0's datatype (2.1.1: decimal)
        self.checksum(node, resource.checksum)
        self.add(node, DCTERMS.issued, _datetime(resource.created_at))
        self.add(node, DCTERMS.modified, _datetime(resource.updated_at))
        return node

    def checksum(self, node: URIRef, value: str | None) -> None:
        """`sha256:<hex>` as an spdx:Checksum, its algorithm typed `spdx:ChecksumAlgorithm`.

        DCAT-AP 3.0.0 accepts any SPDX algorithm; 2.1.1 named SHA-1 only (see docs/dcat.md).
        """
        algorithm, _, digest = (value or "").partition(":")
        iri = voc.CHECKSUM_ALGORITHMS.get(algorithm.lower())
        if iri is None or not digest or any(c not in "0123456789abcdefABCDEF" for c in digest):
            return
        checksum = BNode()
        g = self.graph
        g.add((checksum, RDF.type, voc.SPDX.Checksum))
        g.add((checksum, voc.SPDX.algorithm, self.typed(iri, voc.SPDX.ChecksumAlgorithm)))
        g.add((checksum, voc.SPDX.checksumValue, Literal(digest.lower(), datatype=XSD.hexBinary)))
        g.add((node, voc.SPDX.checksum, checksum))

    def layer_distributions(self, dataset: Dataset, layer: Layer) -> list[URIRef]:
        """The portal's exports of the layer, and its OGC API Features collection."""
        page = self.urls.dataset_page(dataset.slug)
        info = exports.LayerInfo.from_layer(layer)
        nodes = []
        for fmt in exports.formats_for(info):
            url = self.urls.export(dataset.slug, layer.name, layer.collection_id, fmt.key)
            node = self._distribution(
                f"{page}#export-{layer.name}-{fmt.key}",
                f"{layer.name} — export {fmt.label}",
                url,
                dataset.licence,
            )
            self.graph.add((node, DCAT.downloadURL, URIRef(url)))
            self._format(node, fmt.key, fmt.media_type)
            self.add(node, DCTERMS.modified, _datetime(layer.updated_at))
            nodes.append(node)
        if info.has_geometry:
            url = self.urls.collection(layer.collection_id)
            node = self._distribution(
                f"{page}#ogc-{layer.name}",
                f"{layer.name} — API OGC Features",
                url,
                dataset.licence,
            )
            service_node = URIRef(self.urls.ogc() + "#service")
            g = self.graph
            g.add((node, DCAT.accessService, service_node))
            g.add((node, DCTERMS.conformsTo, self.typed(OGC_API_FEATURES, DCTERMS.Standard)))
            self._format(node, "geojson", "application/geo+json")
            g.add((service_node, DCAT.servesDataset, URIRef(page + "#jeu-de-donnees")))
            nodes.append(node)
        return nodes


def catalogue_graph(
    session: Session, urls: PublicUrls, page: int, page_size: int, extension: str
) -> Graph:
    """One page of the public catalogue (dcat:Catalog, its services, its datasets)."""
    builder = GraphBuilder(urls)
    catalog = builder.catalog(session)
    total = service.count_datasets(session, ANONYMOUS)
    paging = Page(page, page_size, total)
    builder.paging(catalog, paging, extension)
    datasets = public_datasets(session, paging.offset, paging.size)
    builder.scores = quality_store.scores(session.connection(), [d.id for d in datasets])
    for dataset in datasets:
        builder.graph.add((catalog, DCAT.dataset, builder.dataset(dataset)))
    return builder.graph


def dataset_graph(dataset: Dataset, urls: PublicUrls) -> Graph:
    """One dataset alone (tests and per-dataset exports)."""
    builder = GraphBuilder(urls)
    session = object_session(dataset)
    if session is not None:
        builder.scores = quality_store.scores(session.connection(), [dataset.id])
    builder.dataset(dataset)
    return builder.graph


def datasets_in(graph: Graph) -> Sequence[URIRef]:
    return sorted(s for s in graph.subjects(RDF.type, DCAT.Dataset) if isinstance(s, URIRef))
