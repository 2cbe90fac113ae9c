"""The demo catalogue of New Caledonia (`niaouli demo load`), idempotent."""

from __future__ import annotations

from collections.abc import Callable
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
    settings = settings or load_settings()
    engine = get_engine(settings)
    with Session(writing(engine)) as session, session.begin():
        try:
            service.get_organisation(session, ORGANISATION["slug"])
        except service.NotFoundError:
            service.create_organisation(session, **ORGANISATION)
            echo(f"organisation créée : {ORGANISATION['name']}")
    reports = []
    for item in DATASETS:
        path = GEODATA / item["file"]
        with Session(engine) as session:
            if _unchanged(session, item["slug"], path):
                echo(f"déjà chargé : {item['title']}")
                continue
        report = ingest_file(
            path,
            organisation=ORGANISATION["slug"],
            dataset=item["slug"],
            title=item["title"],
            description=item["description"],
            settings=settings,
            engine=engine,
        )
        with Session(writing(engine)) as session, session.begin():
            dataset: Dataset = service.find_dataset(session, item["slug"])
            service.update_dataset(session, dataset, **item["metadata"])
        reports.append(report)
        echo(f"chargé : {item['title']} ({report.feature_count} entités)")
        for layer in report.layers:
            for note in layer.notes:
                echo(f"  - {note}")
    from niaouli.catalogue.gazetteer import use_layer  # place names for the search

    echo(f"répertoire des lieux : {use_layer(engine, 'communes-nc', None, 'LIBGEO')} lieux")
    from niaouli.demo_community import load_community  # code projects, reuse, events

    load_community(engine, ORGANISATION["slug"], echo)
    return reports
