"""The demo catalogue of New Caledonia (`niaouli demo load`), idempotent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from niaouli.catalogue import service
from niaouli.catalogue.models import Dataset
from niaouli.db.engine import get_engine, writing
from niaouli.ingest import IngestReport, ingest_file
from niaouli.resources import package_dir
from niaouli.settings import Settings, load_settings

GEODATA = package_dir("niaouli.geodata")  # geodata/, shipped with the package
ORGANISATION = {
    "slug": "gouvernement-nc",
    "name": "Gouvernement de la Nouvelle-Calédonie",
    "kind": "government",
    "description": "Gouvernement de la Nouvelle-Calédonie — organisation de démonstration.",
    "website": "https://gouv.nc",
}
# The other publishers of the demo (real organisations, neutral descriptions: the demo
# says nothing about them beyond what its data show).
ORGANISATIONS = [
    ORGANISATION,
    {
        "slug": "province-sud",
        "name": "Province Sud",
        "kind": "province",
        "description": "Province Sud — organisation de démonstration.",
    },
    {
        "slug": "ville-de-noumea",
        "name": "Ville de Nouméa",
        "kind": "commune",
        "description": (
            "Ville de Nouméa — organisation de démonstration. Ses jeux de données ci-dessous "
            "sont les résultats de la surveillance des eaux de baignade qu'elle publie."
        ),
    },
]
BATHING_LINEAGE_2017 = (
    "Résultats publiés par la Ville de Nouméa (décembre 2016 – février 2017), compilés "
    "dans le dépôt GitHub Betree/noumea-water-quality-map (data/geojson/simple.geojson)."
)
BATHING_LINEAGE_2025 = (
    "Résultats publiés par la Ville de Nouméa, relevés chaque jour dans le dépôt GitHub "
    "adriens/edb-noumea-data (%s ; instantané du 13 novembre 2025)."
)
DATASETS = [
    {
        "file": "nc_communes.geojson",
        "slug": "communes-nc",
        "title": "Communes de Nouvelle-Calédonie — limites simplifiées",
        "description": (
            "Limites terrestres simplifiées des 33 communes de Nouvelle-Calédonie "
            "(données Géorep, conditionnées par le paquet R cartoutremer de l'ARCEP)."
        ),
        "metadata": {
            "themes": ["Limites administratives"],
            "keywords": ["communes", "limites administratives", "Nouvelle-Calédonie"],
            "licence": "Licence Ouverte 2.0",
            "producer": "Gouvernement de la Nouvelle-Calédonie (Géorep)",
            # A service's address (never a person's); exemple.nc: the docs' example domain.
            "contact_name": "Service de la géomatique (Géorep)",
            "contact_email": "georep@exemple.nc",
            "update_frequency": "irregular",
            "lineage": (
                "data.gouv.nc, jeu « communes-nc-limites-terrestres-simplifiees » ; "
                "conversion GeoJSON depuis cartoutremer (COMM_NC.rda)."
            ),
        },
    },
    {
        "file": "nc_communes_population.csv",
        "slug": "population-communes-nc",
        "title": "Population des communes de Nouvelle-Calédonie",
        "description": (
            "Code INSEE, nom, code postal et dernière population connue des 33 communes "
            "(total 264 596 habitants). Se joint aux limites des communes par le code."
        ),
        "metadata": {
            "themes": ["Population et société"],
            "keywords": ["population", "communes", "recensement"],
            "licence": "Licence Ouverte 2.0",  # one licence, one name (issue 15 §6)
            "producer": "INSEE / ISEE",
            "contact_name": "Service des statistiques",
            "contact_email": "statistiques@exemple.nc",
            "update_frequency": "annual",
            "lineage": "datagouv/decoupage-administratif, sources/collectivites-outremer.csv",
        },
    },
    {
        "file": "noumea_baignade_points_2017.geojson",
        "slug": "baignade-noumea-points",
        "organisation": "ville-de-noumea",
        "title": "Eaux de baignade de Nouméa — points de prélèvement et secteurs de plage",
        "description": (
            "Les 17 points de prélèvement des plages de Nouméa, chacun avec ses résultats "
            "datés (Escherichia coli et entérocoques intestinaux, en NPP/100 ml, de "
            "décembre 2016 à février 2017), et les 13 secteurs de plage qu'ils surveillent. "
            "Le code du point (colonne « name ») se joint aux derniers relevés "
            "(jeu « baignade-noumea-releves », colonne « id_point_prelevement »)."
        ),
        "metadata": {
            "themes": ["Santé", "Environnement"],
            "keywords": ["eaux de baignade", "plages", "qualité de l'eau", "Nouméa"],
            "licence": "MIT (compilation) ; résultats publiés par la Ville de Nouméa",
            "producer": "Ville de Nouméa",
            "contact_name": "Ville de Nouméa",
            "update_frequency": "notplanned",
            "temporal_start": date(2016, 12, 1),
            "temporal_end": date(2017, 2, 20),
            "lineage": BATHING_LINEAGE_2017,
        },
        "columns": {
            "name": {
                "label": "Code du point de prélèvement",
                "description": (
                    "Code du point (P18050…) : clé de jointure avec la colonne "
                    "id_point_prelevement du jeu « baignade-noumea-releves »."
                ),
            },
            "data": {
                "label": "Résultats datés",
                "description": (
                    "Tableau JSON des prélèvements : date (JJ/MM/AAAA hh:mm:ss), "
                    "escherichia_coli et intestinal_enterococci (NPP/100 ml), "
                    "source_file (le bulletin PDF de la Ville)."
                ),
            },
            "points": {
                "label": "Points du secteur",
                "description": (
                    "Pour un secteur de plage : tableau des codes des points de prélèvement "
                    "qui le surveillent (même clé que « name »)."
                ),
            },
        },
    },
    {
        "file": "noumea_baignade_releves.csv",
        "slug": "baignade-noumea-releves",
        "organisation": "ville-de-noumea",
        "title": "Eaux de baignade de Nouméa — derniers relevés par point de prélèvement",
        "description": (
            "Le dernier résultat de chacun des 16 points de prélèvement des plages de "
            "Nouméa (site, point, date, heure, E. coli et entérocoques en NPP/100 ml). "
            "Table sans géométrie : elle se joint aux points de prélèvement "
            "(jeu « baignade-noumea-points ») par le code du point."
        ),
        "metadata": {
            "themes": ["Santé", "Environnement"],
            "keywords": ["eaux de baignade", "plages", "qualité de l'eau", "Nouméa"],
            "licence": "Non précisée (information sanitaire publique de la Ville de Nouméa)",
            "producer": "Ville de Nouméa",
            "contact_name": "Ville de Nouméa",
            "update_frequency": "daily",
            "temporal_start": date(2025, 10, 30),
            "temporal_end": date(2025, 11, 12),
            "lineage": BATHING_LINEAGE_2025 % "data/details.csv",
        },
        "columns": {
            "id_point_prelevement": {
                "label": "Code du point de prélèvement",
                "description": (
                    "Clé de jointure avec la colonne « name » des points de prélèvement "
                    "(jeu « baignade-noumea-points »)."
                ),
            },
            "e_coli_npp_100ml": {"label": "Escherichia coli", "unit": "NPP/100 ml"},
            "enterocoques_npp_100ml": {"label": "Entérocoques intestinaux", "unit": "NPP/100 ml"},
            "site": {"label": "Plage"},
        },
    },
    {
        "file": "noumea_baignade_etat.csv",
        "slug": "baignade-noumea-etat",
        "organisation": "ville-de-noumea",
        "title": "Eaux de baignade de Nouméa — état sanitaire des plages",
        "description": (
            "L'état sanitaire de chacune des six plages surveillées de Nouméa "
            "(« Baignade autorisée »…), au 13 novembre 2025."
        ),
        "metadata": {
            "themes": ["Santé", "Environnement"],
            "keywords": ["eaux de baignade", "plages", "Nouméa"],
            "licence": "Non précisée (information sanitaire publique de la Ville de Nouméa)",
            "producer": "Ville de Nouméa",
            "contact_name": "Ville de Nouméa",
            "update_frequency": "daily",
            "temporal_start": date(2025, 11, 13),
            "temporal_end": date(2025, 11, 13),
            "lineage": BATHING_LINEAGE_2025 % "data/resume.csv",
        },
        "columns": {
            "plage": {
                "label": "Plage",
                "description": (
                    "Nom de la plage ; correspond à la colonne « site » des derniers relevés "
                    "(écrite en capitales, sans trait d'union)."
                ),
            },
            "etat_sanitaire": {"label": "État sanitaire"},
        },
    },
]


def _unchanged(session: Session, slug: str, path: Path) -> bool:
    """True when the dataset already holds this exact file (idempotent re-runs)."""
    import hashlib

    dataset = service.find_dataset(session, slug)
    if dataset is None:
        return False
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return any(r.role == "source" and r.checksum == digest for r in dataset.resources)


def load_demo(
    settings: Settings | None = None, echo: Callable[[str], None] = print
) -> list[IngestReport]:
    """Load what is missing or changed; a second run writes nothing (it runs at every
    start). Returns the reports of the files ingested by this run."""
    settings = settings or load_settings()
    engine = get_engine(settings)
    with Session(writing(engine)) as session, session.begin():
        for organisation in ORGANISATIONS:
            try:
                service.get_organisation(session, organisation["slug"])
            except service.NotFoundError:
                service.create_organisation(session, **organisation)
                echo(f"organisation créée : {organisation['name']}")
    reports = []
    for item in DATASETS:
        path = GEODATA / item["file"]
        with Session(engine) as session:
            if _unchanged(session, item["slug"], path):
                echo(f"déjà chargé : {item['title']}")
                continue
        report = ingest_file(
            path,
            organisation=item.get("organisation", ORGANISATION["slug"]),
            dataset=item["slug"],
            title=item["title"],
            description=item["description"],
            settings=settings,
            engine=engine,
        )
        with Session(writing(engine)) as session, session.begin():
            dataset: Dataset = service.find_dataset(session, item["slug"])
            service.update_dataset(session, dataset, **item["metadata"])
            _describe_columns(dataset, item.get("columns", {}))
        reports.append(report)
        echo(f"chargé : {item['title']} ({report.feature_count} entités)")
        for layer in report.layers:
            for note in layer.notes:
                echo(f"  - {note}")
    from niaouli.catalogue.gazetteer import use_layer  # place names for the search

    echo(f"répertoire des lieux : {use_layer(engine, 'communes-nc', None, 'LIBGEO')} lieux")
    from niaouli.demo_community import load_community  # code projects, reuses, events
    from niaouli.demo_harvest import load_harvest  # a harvest replayed from a snapshot

    load_harvest(engine, settings, echo)
    load_community(engine, ORGANISATION["slug"], echo)
    from niaouli.demo_campaign import load_campaign  # a cartoparty campaign, open

    load_campaign(engine, "ville-de-noumea", echo)
    return reports


def _describe_columns(dataset: Dataset, columns: dict[str, dict[str, str]]) -> None:
    """The demo's column descriptions (what an editor writes on …/colonnes)."""
    from niaouli.catalogue.columns import column_names, normalise

    for layer in dataset.layers:
        names = set(column_names(layer))
        layer.column_descriptions = {
            name: normalise(entry, name) for name, entry in columns.items() if name in names
        }
