"""The quality score of a dataset: every rule in one place (docs/quality.md).

A dataset is judged on criteria, each met (`OK`), not met (`FAIL`), not applicable
(`NA`: a layer criterion for a table-only dataset) or not judged yet (`PENDING`: links
not checked yet, no Table Schema to validate against). Only met and unmet criteria count:
the score is the share of met ones among them, in percent. data.gouv.fr's nine criteria
(udata's `compute_quality_score`) come first, then what a geographic platform can also
check: the layers' CRS, extent, geometries, columns and counts, a table's schema, and
freshness against the declared frequency (the same rule for harvested datasets).

This module is pure: `evaluate(facts, now)` over plain facts (`DatasetFacts`), which
`quality_store` reads from the database inside the writing transaction. Labels and
advice are French msgids, shown in the reader's language with `_()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from niaouli.catalogue import vocabularies
from niaouli.i18n import N_

OK, FAIL, NA, PENDING = "ok", "fail", "na", "pending"
COUNTED = (OK, FAIL)
DESCRIPTION_MIN = 100  # characters, as data.gouv.fr
# New Caledonia with its islands and waters (Chesterfield to Walpole), in WGS 84.
NC_AREA = (155.0, -27.0, 175.0, -14.0)
MAX_INVALID_SHARE = 0.01  # geometries repaired at ingestion, at most 1 % of the features
# The ingestion's note when it had to guess a CRS (`niaouli.ingest.notes.CRS_*`).
CRS_GUESSED_NOTE = "aucun système de coordonnées déclaré"
# Days between updates of each frequency (`vocabularies.FREQUENCIES`); the others
# (irregular, not planned, unknown, as needed) promise no date, so "on time" does not apply.
PERIOD_DAYS = {
    "continual": 1,
    "daily": 1,
    "weekly": 7,
    "fortnightly": 14,
    "monthly": 31,
    "quarterly": 92,
    "biannual": 183,
    "annual": 366,
}
GRACE = 0.1  # a tenth of the period (at least a day) late is still on time
OPEN_FORMATS = frozenset(
    {
        "CSV",
        "JSON",
        "GEOJSON",
        "GPKG",
        "GEOPACKAGE",
        "XML",
        "GML",
        "KML",
        "KMZ",
        "GPX",
        "ODS",
        "TXT",
        "SHP",
        "SHAPEFILE",
        "ZIP",
        "TIF",
        "TIFF",
        "GEOTIFF",
        "COG",
        "PARQUET",
        "GEOPARQUET",
        "RDF",
        "TTL",
        "JSONLD",
        "WMS",
        "WFS",
        "OGC API",
    }
)
# Score bands: the search facet's values (`finder`), best first.
BANDS = (("haute", 80), ("moyenne", 50), ("basse", 0))


@dataclass(frozen=True)
class LayerFacts:
    name: str
    has_geometry: bool
    native_crs: str | None
    crs_guessed: bool
    extent: tuple[float, float, float, float] | None
    feature_count: int
    repaired: int
    # (name, type, description) of each column the readers see
    columns: tuple[tuple[str, str, str], ...] = ()
    # The Table Schema validation report of the table's current data (`niaouli.
    # tableschema`, read by `quality_store`); None: not validated against a schema.
    schema_report: dict[str, Any] | None = None


@dataclass(frozen=True)
class ResourceFacts:
    id: int
    kind: str  # "file" or "link"
    title: str
    filename: str | None
    url: str | None
    format: str | None
    media_type: str | None
    reachable: bool | None = None  # the last link check (None: not checked yet)


@dataclass(frozen=True)
class DatasetFacts:
    id: int
    licence: str | None
    description: str
    temporal_start: Any
    temporal_end: Any
    has_spatial_coverage: bool
    update_frequency: str | None
    last_update: datetime | None
    layers: tuple[LayerFacts, ...] = ()
    rasters: tuple[tuple[float, float, float, float] | None, ...] = ()  # their extents
    resources: tuple[ResourceFacts, ...] = ()

    @property
    def vector_layers(self) -> list[LayerFacts]:
        return [layer for layer in self.layers if layer.has_geometry]

    @property
    def tables(self) -> list[LayerFacts]:
        return [layer for layer in self.layers if not layer.has_geometry]


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: dict[str, Any] = field(default_factory=dict)  # values for the messages


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str  # French msgid
    advice: str  # how to meet it (French msgid)
    check: Callable[[DatasetFacts, datetime], Outcome]
    group: str = "metadata"  # "metadata", "resources", "layers", "tables"


@dataclass(frozen=True)
class Score:
    score: int | None  # percent, None when no criterion applies
    passed: int
    counted: int
    results: dict[str, Outcome]

    def as_rows(self) -> list[dict[str, Any]]:
        """The stored form: one entry per criterion, in `CRITERIA` order."""
        return [
            {"key": key, "status": outcome.status, "detail": outcome.detail}
            for key, outcome in self.results.items()
        ]


def _ok(condition: bool, **detail: Any) -> Outcome:  # noqa: ANN401
    return Outcome(OK if condition else FAIL, detail)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- data.gouv.fr's nine ------------------------------------------------------------------


def _licence(facts: DatasetFacts, _now: datetime) -> Outcome:
    return _ok(vocabularies.licence(facts.licence) is not None, licence=facts.licence or "")


def _temporal(facts: DatasetFacts, _now: datetime) -> Outcome:
    return _ok(facts.temporal_start is not None or facts.temporal_end is not None)


def _spatial(facts: DatasetFacts, _now: datetime) -> Outcome:
    extents = [layer.extent for layer in facts.layers if layer.extent] + [
        e for e in facts.rasters if e
    ]
    return _ok(facts.has_spatial_coverage or bool(extents))


def _frequency(facts: DatasetFacts, _now: datetime) -> Outcome:
    found = vocabularies.frequency(facts.update_frequency)
    return _ok(found is not None and found.key != "unknown")


def _on_time(facts: DatasetFacts, now: datetime) -> Outcome:
    found = vocabularies.frequency(facts.update_frequency)
    days = PERIOD_DAYS.get(found.key) if found is not None else None
    if days is None:
        return Outcome(NA)
    if facts.last_update is None:
        return Outcome(FAIL, {"days": days})
    allowed = timedelta(days=days + max(1.0, days * GRACE))
    late = now - _aware(facts.last_update)
    return _ok(late <= allowed, days=days, age=max(late.days, 0))


def _description(facts: DatasetFacts, _now: datetime) -> Outcome:
    length = len(" ".join((facts.description or "").split()))
    return _ok(length >= DESCRIPTION_MIN, length=length, minimum=DESCRIPTION_MIN)


def _format_of(resource: ResourceFacts) -> str:
    value = (resource.format or "").strip().upper().lstrip(".")
    if not value and resource.filename and "." in resource.filename:
        value = resource.filename.rsplit(".", 1)[-1].upper()
    return value


def _open_format(facts: DatasetFacts, _now: datetime) -> Outcome:
    if not (facts.layers or facts.rasters or facts.resources):
        return Outcome(NA)
    # Layers and rasters are served in open formats (GeoJSON, CSV, GeoPackage, COG).
    served = bool(facts.layers or facts.rasters)
    return _ok(served or any(_format_of(r) in OPEN_FORMATS for r in facts.resources))


def _reachable(facts: DatasetFacts, _now: datetime) -> Outcome:
    links = [r for r in facts.resources if r.kind == "link"]
    if not links:
        return Outcome(NA)  # stored files and layers are served by the platform itself
    broken = [r.title for r in links if r.reachable is False]
    if broken:
        return Outcome(FAIL, {"count": len(broken), "titles": ", ".join(broken[:5])})
    if any(r.reachable is None for r in links):
        return Outcome(PENDING)
    return Outcome(OK, {"count": len(links)})


def _documented(facts: DatasetFacts, _now: datetime) -> Outcome:
    if not facts.resources:
        return Outcome(NA)
    bare = [
        r.title or r.filename or ""
        for r in facts.resources
        if not r.title.strip()
        or r.title.strip() in (r.filename, r.url)
        or not (r.format or r.media_type)
    ]
    return _ok(not bare, count=len(bare), titles=", ".join(bare[:5]))


# --- layers, tables, freshness ------------------------------------------------------------


def _crs_declared(facts: DatasetFacts, _now: datetime) -> Outcome:
    layers = facts.vector_layers
    if not layers:
        return Outcome(NA)
    guessed = [layer.name for layer in layers if layer.crs_guessed or not layer.native_crs]
    return _ok(not guessed, layers=", ".join(guessed))


def _inside(extent: tuple[float, float, float, float]) -> bool:
    west, south, east, north = extent
    return NC_AREA[0] <= west and NC_AREA[1] <= south and east <= NC_AREA[2] and north <= NC_AREA[3]


def _extent_in_territory(facts: DatasetFacts, _now: datetime) -> Outcome:
    named = [(layer.name, layer.extent) for layer in facts.vector_layers if layer.extent]
    named += [("raster", e) for e in facts.rasters if e]
    if not named:
        return Outcome(NA)
    outside = [name for name, extent in named if not _inside(extent)]
    return _ok(not outside, layers=", ".join(outside))


def _valid_geometries(facts: DatasetFacts, _now: datetime) -> Outcome:
    layers = [layer for layer in facts.vector_layers if layer.feature_count > 0]
    if not layers:
        return Outcome(NA)
    repaired = sum(layer.repaired for layer in layers)
    total = sum(layer.feature_count for layer in layers)
    share = repaired / total
    return _ok(share <= MAX_INVALID_SHARE, percent=f"{share * 100:.1f}", repaired=repaired)


def _columns_documented(facts: DatasetFacts, _now: datetime) -> Outcome:
    columns = [c for layer in facts.layers for c in layer.columns]
    if not columns:
        return Outcome(NA)
    missing = [name for name, kind, description in columns if not (kind and description)]
    return _ok(not missing, count=len(missing), columns=", ".join(missing[:8]))


def _features_counted(facts: DatasetFacts, _now: datetime) -> Outcome:
    if not facts.layers:
        return Outcome(NA)
    empty = [layer.name for layer in facts.layers if layer.feature_count <= 0]
    return _ok(not empty, layers=", ".join(empty))


def table_schema_report(layer: LayerFacts) -> dict[str, Any] | None:
    """The layer's Table Schema report: {"schema": title, "valid": bool, "errors": int},
    from the kept reports of `niaouli.tableschema` (`quality_store` reads them). Until a
    file is validated against a schema the criterion is `PENDING` (not counted).
    """
    report = layer.schema_report
    return report if isinstance(report, dict) and "valid" in report else None


def _table_schema(facts: DatasetFacts, _now: datetime) -> Outcome:
    tables = facts.tables
    if not tables:
        return Outcome(NA)
    reports = [table_schema_report(t) for t in tables]
    if any(r is None for r in reports):
        return Outcome(PENDING)
    errors = sum(int(r.get("errors") or 0) for r in reports if r)
    return _ok(all(r and r["valid"] for r in reports), errors=errors)


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "licence",
        N_("Licence ouverte connue"),
        N_("Choisissez une des licences ouvertes de la plateforme dans la fiche du jeu."),
        _licence,
    ),
    Criterion(
        "temporal",
        N_("Couverture temporelle renseignée"),
        N_("Indiquez la période que couvrent les données (date de début, de fin)."),
        _temporal,
    ),
    Criterion(
        "spatial",
        N_("Couverture géographique renseignée"),
        N_("Dessinez l'emprise des données ou publiez une couche géographique."),
        _spatial,
    ),
    Criterion(
        "frequency",
        N_("Fréquence de mise à jour indiquée"),
        N_("Indiquez la fréquence de mise à jour prévue (annuelle, mensuelle…)."),
        _frequency,
    ),
    Criterion(
        "on_time",
        N_("Mis à jour à temps pour sa fréquence"),
        N_(
            "Publiez une version à jour des données, ou corrigez la fréquence si elle "
            "ne correspond plus."
        ),
        _on_time,
    ),
    Criterion(
        "description",
        N_("Description d'au moins 100 caractères"),
        N_("Décrivez le contenu, la méthode de production et les limites des données."),
        _description,
    ),
    Criterion(
        "open_format",
        N_("Au moins un format ouvert"),
        N_("Publiez les données en CSV, GeoJSON ou GeoPackage, pas seulement en PDF ou XLS."),
        _open_format,
        "resources",
    ),
    Criterion(
        "reachable",
        N_("Tous les liens répondent"),
        N_("Corrigez ou retirez les liens qui ne répondent plus (vérifiés chaque nuit)."),
        _reachable,
        "resources",
    ),
    Criterion(
        "documented",
        N_("Ressources documentées"),
        N_("Donnez à chaque fichier et lien un titre parlant et son format."),
        _documented,
        "resources",
    ),
    Criterion(
        "crs_declared",
        N_("Système de coordonnées déclaré"),
        N_("Joignez le fichier .prj ou publiez un format qui déclare son système (GeoPackage)."),
        _crs_declared,
        "layers",
    ),
    Criterion(
        "extent",
        N_("Emprise en Nouvelle-Calédonie"),
        N_(
            "Vérifiez le système de coordonnées : une emprise hors du territoire signale "
            "souvent des coordonnées mal interprétées."
        ),
        _extent_in_territory,
        "layers",
    ),
    Criterion(
        "geometries",
        N_("Géométries valides à l'origine (au plus 1 % réparées)"),
        N_("Corrigez les géométries invalides dans votre logiciel SIG avant l'envoi."),
        _valid_geometries,
        "layers",
    ),
    Criterion(
        "columns",
        N_("Colonnes décrites (description et type)"),
        N_("Décrivez chaque colonne dans la page « Colonnes » du jeu de données."),
        _columns_documented,
        "layers",
    ),
    Criterion(
        "features",
        N_("Entités comptées"),
        N_("Envoyez un fichier qui contient des entités : la couche est vide."),
        _features_counted,
        "layers",
    ),
    Criterion(
        "table_schema",
        N_("Tableau conforme à un schéma (Table Schema)"),
        N_("Associez un schéma de données au tableau et corrigez les erreurs signalées."),
        _table_schema,
        "tables",
    ),
)
BY_KEY = {c.key: c for c in CRITERIA}


def evaluate(facts: DatasetFacts, now: datetime | None = None) -> Score:
    """Every criterion's outcome for one dataset, and its score."""
    moment = now or datetime.now(UTC)
    results = {c.key: c.check(facts, moment) for c in CRITERIA}
    counted = [o for o in results.values() if o.status in COUNTED]
    passed = sum(o.status == OK for o in counted)
    score = round(100 * passed / len(counted)) if counted else None
    return Score(score, passed, len(counted), results)


def band(score: int | None) -> str | None:
    """The facet value of a score: "haute" (80+), "moyenne" (50+), "basse"."""
    if score is None:
        return None
    return next(name for name, floor in BANDS if score >= floor)
