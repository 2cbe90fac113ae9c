"""Request and response bodies (pydantic v2), which also give the OpenAPI schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from niaouli.catalogue import vocabularies as voc

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$"
Slug = Field(pattern=SLUG, max_length=100)
AccessLevelName = Literal["public", "registered", "organisation", "draft"]
OrganisationKindName = Literal[
    "government", "province", "commune", "public_body", "research", "association"
]
ReuseKindName = Literal["application", "visualisation", "api", "article"]
EventKindName = Literal["hackathon", "cartoparty", "call_for_projects", "gathering"]
CodeStatusName = Literal["concept", "development", "beta", "stable", "obsolete"]
Text = Field(default=None, max_length=20_000)
Words = Field(default=None, max_length=50)


# The controlled lists (niaouli.catalogue.vocabularies), said in the OpenAPI document.
LICENCE_HELP = (
    "Une licence de la plateforme : "
    + ", ".join(voc.OFFERED_LICENCES)
    + " (ou une autre écriture connue, enregistrée sous ce nom)"
)
THEMES_HELP = (
    "Thèmes de données européens (DCAT-AP), par code ("
    + ", ".join(voc.THEMES)
    + ") ou libellé français ; enregistrés sous leur libellé"
)
FREQUENCY_HELP = (
    "Code de fréquence européen ("
    + ", ".join(f.eu for f in voc.FREQUENCIES)
    + ") ou clé du catalogue ("
    + ", ".join(f.key for f in voc.FREQUENCIES)
    + ") ; enregistrée et rendue sous sa clé"
)
CONTACT_HELP = (
    "Contact publié : le nom et l'adresse d'un service (par ex. Service SIG, "
    "sig@province-sud.nc), jamais une adresse personnelle"
)
TEMPORAL_HELP = "Période couverte par les données (AAAA-MM-JJ) ; la fin ne précède pas le début"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Error(BaseModel):
    code: str = Field(description="Code stable de l'erreur (en anglais)")
    description: str = Field(description="Explication en français")


# --- organisations -----------------------------------------------------------------------


class OrganisationCreate(Input):
    slug: str = Slug
    name: str = Field(min_length=2, max_length=300)
    kind: OrganisationKindName
    description: str = Field(default="", max_length=20_000)
    website: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=300)


class OrganisationUpdate(Input):
    name: str | None = Field(default=None, min_length=2, max_length=300)
    kind: OrganisationKindName | None = None
    description: str | None = Text
    website: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=300)
    schema_policy: Literal["refuse", "publish"] | None = Field(
        default=None,
        description="Fichier non conforme au schéma de son jeu : refusé, ou publié avec "
        "son rapport",
    )


class Organisation(BaseModel):
    slug: str
    name: str
    kind: str
    description: str
    website: str | None
    email: str | None = Field(default=None, description="Adresse de contact (admins seulement)")
    schema_policy: str = Field(
        default="refuse", description="Fichier non conforme au schéma : refuse ou publish"
    )
    datasets: int = Field(description="Jeux de données visibles par le demandeur")


# --- datasets ----------------------------------------------------------------------------


class DatasetCreate(Input):
    organisation: str = Field(description="Identifiant de l'organisation propriétaire")
    slug: str | None = Field(default=None, pattern=SLUG, max_length=100)
    title: str = Field(min_length=3, max_length=500)
    description: str = Field(default="", max_length=20_000)
    licence: str = Field(default="Licence Ouverte 2.0", max_length=200, description=LICENCE_HELP)
    themes: list[str] = Field(default_factory=list, max_length=50, description=THEMES_HELP)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    access_level: AccessLevelName = Field(
        default="draft", description="Brouillon par défaut : publier ensuite"
    )
    producer: str | None = Field(default=None, max_length=300)
    contact_name: str | None = Field(default=None, max_length=300, description=CONTACT_HELP)
    contact_email: str | None = Field(default=None, max_length=300, description=CONTACT_HELP)
    update_frequency: str | None = Field(default=None, max_length=50, description=FREQUENCY_HELP)
    temporal_start: date | None = Field(default=None, description=TEMPORAL_HELP)
    temporal_end: date | None = Field(default=None, description=TEMPORAL_HELP)
    lineage: str = Field(default="", max_length=20_000)


class DatasetUpdate(Input):
    title: str | None = Field(default=None, min_length=3, max_length=500)
    description: str | None = Text
    licence: str | None = Field(default=None, max_length=200, description=LICENCE_HELP)
    themes: list[str] | None = Field(default=None, max_length=50, description=THEMES_HELP)
    keywords: list[str] | None = Words
    access_level: AccessLevelName | None = None
    producer: str | None = Field(default=None, max_length=300)
    contact_name: str | None = Field(default=None, max_length=300, description=CONTACT_HELP)
    contact_email: str | None = Field(default=None, max_length=300, description=CONTACT_HELP)
    update_frequency: str | None = Field(default=None, max_length=50, description=FREQUENCY_HELP)
    temporal_start: date | None = Field(default=None, description=TEMPORAL_HELP)
    temporal_end: date | None = Field(default=None, description=TEMPORAL_HELP)
    lineage: str | None = Text


class Publish(Input):
    access_level: Literal["public", "registered", "organisation"] = "public"


class LayerInfo(BaseModel):
    name: str
    collection_id: str
    geometry_type: str | None
    feature_count: int
    native_crs: str | None
    notes: list[str] = Field(default_factory=list)


class Link(BaseModel):
    """A link to follow, as in OGC API and Atom: `rel` says what it leads to."""

    href: str = Field(description="Adresse absolue")
    rel: str = Field(
        description="alternate (page), describedby (fiches CSW, OGC API Records, DCAT), "
        "collection, items, tilesets-vector (OGC), enclosure (export d'une couche)"
    )
    type: str = Field(description="Type de média de la réponse")
    title: str
    layer: str | None = Field(
        default=None, description="Collection OGC de la couche concernée, le cas échéant"
    )


class ResourceInfo(BaseModel):
    id: int
    title: str
    kind: Literal["file", "link"]
    role: str
    url: str | None = Field(
        description="Adresse de téléchargement du fichier stocké, ou du lien ; "
        "null seulement pour un fichier absent"
    )
    filename: str | None
    format: str | None
    media_type: str | None
    size: int | None
    checksum: str | None = Field(description="sha256:<hex> du fichier stocké")


class Dataset(BaseModel):
    slug: str
    title: str
    organisation: str
    description: str
    licence: str
    themes: list[str]
    keywords: list[str]
    access_level: str
    producer: str | None
    update_frequency: str | None = Field(description=FREQUENCY_HELP)
    temporal_start: date | None = None
    temporal_end: date | None = None
    lineage: str = ""
    contact_name: str | None = None
    published_at: datetime | None
    published_by: str | None = Field(description="Nom de la personne qui a publié")
    updated_at: datetime | None
    layers: list[LayerInfo]
    resources: list[ResourceInfo]
    links: list[Link] = Field(
        default_factory=list,
        description="Page, collections OGC API, objets, tuiles, exports et fiches de "
        "métadonnées du jeu de données",
    )
    contact_email: str | None = Field(
        default=None, description="Dans une liste : seulement pour les admins"
    )


class DatasetList(BaseModel):
    total: int
    items: list[Dataset]


class LinkCreate(Input):
    title: str = Field(min_length=1, max_length=500)
    url: str = Field(max_length=2000)
    format: str | None = Field(default=None, max_length=50)


class IngestResult(BaseModel):
    dataset: str
    mode: Literal["replace", "append"]
    file: str
    format: str
    size: int
    checksum: str
    feature_count: int = Field(description="Objets des couches après l'envoi")
    added_count: int = Field(description="Objets lus dans ce fichier (ajoutés en mode append)")
    seconds: float
    layers: list[LayerInfo]
    repaired: int = Field(description="Géométries invalides réparées")
    rasters: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Couche raster publiée (COG) : tailles avant/après, bandes, statistiques",
    )
    privacy: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Données personnelles probables : le jeu de données est gardé en "
        "brouillon (GET /datasets/{slug}/privacy)",
    )
    validation: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Le fichier vérifié par le Table Schema du jeu de données : un rapport "
        "par table (erreurs par ligne et colonne) ; vide sans schéma",
    )


# --- code projects, reuses, events ------------------------------------------------------


class CodeProjectCreate(Input):
    organisation: str
    name: str = Field(min_length=3, max_length=300)
    slug: str | None = Field(default=None, pattern=SLUG, max_length=100)
    repository_url: str = Field(default="", max_length=1000)
    licence: str = Field(default="", max_length=100)
    languages: list[str] = Field(default_factory=list, max_length=20)
    status: CodeStatusName = "stable"
    description: str = Field(default="", max_length=20_000)
    datasets: list[str] = Field(default_factory=list, max_length=50)


class CodeProjectUpdate(Input):
    name: str | None = Field(default=None, min_length=3, max_length=300)
    repository_url: str | None = Field(default=None, max_length=1000)
    licence: str | None = Field(default=None, max_length=100)
    languages: list[str] | None = Field(default=None, max_length=20)
    status: CodeStatusName | None = None
    description: str | None = Text
    datasets: list[str] | None = Words


class CodeProject(BaseModel):
    slug: str
    name: str
    organisation: str
    description: str
    repository_url: str | None
    licence: str | None
    languages: list[str]
    status: str
    datasets: list[str]


class ReuseCreate(Input):
    title: str = Field(min_length=3, max_length=300)
    kind: ReuseKindName
    url: str = Field(max_length=1000)
    description: str = Field(default="", max_length=20_000)
    datasets: list[str] = Field(min_length=1, max_length=50)


class ReuseUpdate(Input):
    title: str | None = Field(default=None, min_length=3, max_length=300)
    kind: ReuseKindName | None = None
    url: str | None = Field(default=None, max_length=1000)
    description: str | None = Text
    datasets: list[str] | None = Words


class Reuse(BaseModel):
    slug: str
    title: str
    kind: str
    url: str | None
    description: str
    status: Literal["pending", "approved", "rejected"]
    submitted_by: str | None = Field(description="Nom (jamais l'adresse) de qui l'a proposée")
    datasets: list[str]


class EventCreate(Input):
    organisation: str | None = None
    title: str = Field(min_length=3, max_length=300)
    kind: EventKindName
    starts_at: str = Field(description="AAAA-MM-JJTHH:MM, heure de Nouméa sauf décalage")
    ends_at: str = ""
    location: str = Field(default="", max_length=300)
    url: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=20_000)
    datasets: list[str] = Field(default_factory=list, max_length=50)


class EventUpdate(Input):
    title: str | None = Field(default=None, min_length=3, max_length=300)
    kind: EventKindName | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    location: str | None = Field(default=None, max_length=300)
    url: str | None = Field(default=None, max_length=1000)
    description: str | None = Text
    results: str | None = Text
    datasets: list[str] | None = Words


class Event(BaseModel):
    slug: str
    title: str
    kind: str
    organisation: str | None
    starts_at: datetime
    ends_at: datetime | None
    location: str | None
    url: str | None
    description: str
    datasets: list[str]


# --- background jobs (uploads ingested as jobs) -----------------------------------------


class JobError(BaseModel):
    code: str = Field(description="IngestFailed, DuplicateFile, ReplaceChanges, Interrupted…")
    message: str
    details: dict | None = None


class JobStatus(BaseModel):
    """A background job someone follows: `GET /api/jobs/{id}`."""

    id: int
    kind: Literal["ingest-upload"]
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: float | None = Field(
        default=None, description="0 à 1 quand elle est connue (PostgreSQL)"
    )
    dataset: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict | None = Field(default=None, description="Le rapport d'intégration")
    error: JobError | None = None
    links: list[Link] = []


class JobAccepted(BaseModel):
    """202: the upload is stored, its ingestion queued; follow `status_url`."""

    job: JobStatus
    status_url: str
    retry_after: int
