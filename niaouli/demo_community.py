"""Demo code projects, reuse and events (`niaouli demo load`), idempotent by slug.

Honest examples: the platform's own code (its forge address is a placeholder, said so),
free tools it really uses or documents (pygeoapi, pycsw, QGIS: licences and repositories
as published by those projects), a reuse pointing at the platform's own map, and events
marked « exemple ». They are catalogued by the demo organisation, which neither
maintains nor claims the third-party tools.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from niaouli.catalogue import service
from niaouli.catalogue.models import CodeProject, Event, ModerationStatus, Reuse
from niaouli.db.engine import writing
from niaouli.localtime import NOUMEA, as_utc

NIAOULI_PUBLICCODE = {
    "publiccodeYmlVersion": "0.4",
    "name": "Niaouli",
    "url": "https://forge.example.org/niaouli/niaouli",
    "developmentStatus": "beta",
    "softwareType": "standalone/web",
    "platforms": ["web"],
    "legal": {"license": "AGPL-3.0-or-later"},
    "localisation": {"localisationReady": False, "availableLanguages": ["fr"]},
    "description": {
        "fr": {
            "shortDescription": (
                "Plateforme de données ouvertes pour les administrations de Nouvelle-Calédonie."
            ),
            "features": [
                "Catalogue de jeux de données avec niveaux d'accès",
                "API OGC Features, Tiles et Records",
                "Catalogue CSW pour QGIS MetaSearch",
                "Carte publique des couches",
                "Exports GeoJSON, GeoPackage, Shapefile et CSV",
            ],
        }
    },
}
CODE_PROJECTS = [
    {
        "slug": "niaouli",
        "name": "Niaouli",
        "description": (
            "Le code de cette plateforme : catalogue, API OGC, catalogue CSW, portail et "
            "moissonnage.\n\n"
            "Exemple de démonstration : l'adresse du dépôt est provisoire "
            "(forge.example.org), la forge définitive n'est pas encore choisie."
        ),
        "repository_url": "https://forge.example.org/niaouli/niaouli",
        "licence": "AGPL-3.0-or-later",
        "languages": ["Python", "JavaScript", "HTML", "CSS"],
        "status": "beta",
        "topics": ["open-data", "ogc-api", "csw"],
        "publiccode": NIAOULI_PUBLICCODE,
        "datasets": ["communes-nc", "population-communes-nc"],
    },
    {
        "slug": "pygeoapi",
        "name": "pygeoapi",
        "description": (
            "Serveur Python des standards OGC API, projet de l'OSGeo. Niaouli s'en sert "
            "pour son API OGC Features (/ogc).\n\n"
            "Référencé ici comme outil utilisé par la plateforme (exemple de démonstration) ; "
            "il est développé par sa propre communauté."
        ),
        "repository_url": "https://github.com/geopython/pygeoapi",
        "licence": "MIT",
        "languages": ["Python"],
        "status": "stable",
        "topics": ["ogc-api"],
        "releases": [
            {
                "version": "0.24.0",
                "name": "pygeoapi 0.24.0 (version utilisée par Niaouli)",
                "url": "https://pypi.org/project/pygeoapi/0.24.0/",
            }
        ],
    },
    {
        "slug": "pycsw",
        "name": "pycsw",
        "description": (
            "Serveur Python de catalogue CSW (OGC), projet de l'OSGeo. Niaouli s'en sert "
            "pour son catalogue CSW (/csw).\n\n"
            "Référencé ici comme outil utilisé par la plateforme (exemple de démonstration) ; "
            "il est développé par sa propre communauté."
        ),
        "repository_url": "https://github.com/geopython/pycsw",
        "licence": "MIT",
        "languages": ["Python"],
        "status": "stable",
        "topics": ["csw", "metadata"],
        "releases": [
            {
                "version": "2.6.2",
                "name": "pycsw 2.6.2 (version utilisée par Niaouli)",
                "url": "https://pypi.org/project/pycsw/2.6.2/",
            }
        ],
    },
    {
        "slug": "qgis",
        "name": "QGIS",
        "description": (
            "Système d'information géographique libre pour le poste de travail. Les pages "
            "des jeux de données expliquent comment y ajouter les couches de la plateforme "
            "(API OGC Features, catalogue CSW avec MetaSearch).\n\n"
            "Référencé ici comme outil (exemple de démonstration) ; il est développé par "
            "le projet QGIS."
        ),
        "repository_url": "https://github.com/qgis/QGIS",
        "licence": "GPL-2.0-or-later",
        "languages": ["C++", "Python"],
        "status": "stable",
        "topics": ["sig"],
        "default_branch": "master",
        "datasets": ["communes-nc"],
    },
]
CODE_PROJECTS.append(
    {
        "slug": "dsi-ville-noumea",
        "name": "DSI de la Ville de Nouméa (organisation GitHub)",
        "organisation": "ville-de-noumea",
        "description": (
            "La direction des systèmes d'information de la Ville de Nouméa publie son code "
            "source sur GitHub, dans l'organisation DSI-Ville-Noumea : des dizaines de "
            "dépôts (systèmes de ressources humaines, services web, archétypes).\n\n"
            "Référencée ici comme une seule forge (exemple de démonstration) ; une source "
            "de moissonnage « github » en ferait un projet par dépôt."
        ),
        "repository_url": "https://github.com/DSI-Ville-Noumea",
    }
)
BATHING = ["baignade-noumea-points", "baignade-noumea-releves", "baignade-noumea-etat"]
REUSES = [
    {
        "slug": "carte-des-communes-exemple",
        "title": "Carte des communes (exemple)",
        "kind": "visualisation",
        "url": "/carte",
        "author": "Équipe Niaouli",
        "description": (
            "La carte publique de la plateforme affiche les limites des 33 communes ; "
            "la population se joint par le code INSEE.\n\n"
            "Réutilisation d'exemple de la démonstration."
        ),
        "datasets": ["communes-nc", "population-communes-nc"],
        "by_demo_organisation": True,
    },
    {
        "slug": "edb-noumea",
        "title": "edb-noumea : la qualité des eaux de baignade de Nouméa en Python",
        "kind": "api",
        "url": "https://github.com/adriens/edb-noumea",
        "author": "adriens",
        "description": (
            "Bibliothèque Python publiée sur PyPI qui lit les résultats de la surveillance "
            "des eaux de baignade publiés par la Ville de Nouméa. Son dépôt compagnon "
            "adriens/edb-noumea-data les relève chaque jour en CSV : les derniers relevés "
            "et l'état des plages de cette démonstration en viennent."
        ),
        "datasets": BATHING,
    },
    {
        "slug": "carte-qualite-eaux-noumea",
        "title": "Carte de la qualité des eaux de baignade de Nouméa",
        "kind": "visualisation",
        "url": "https://github.com/Betree/noumea-water-quality-map",
        "author": "Betree",
        "description": (
            "Carte web des points de prélèvement et des secteurs de plage de Nouméa avec "
            "leurs résultats : les points de prélèvement de cette démonstration viennent "
            "de son fichier data/geojson/simple.geojson."
        ),
        "datasets": ["baignade-noumea-points"],
    },
]
EVENTS = [
    {
        "slug": "cartopartie-communes-exemple",
        "title": "Cartopartie des communes (exemple)",
        "kind": "cartoparty",
        "starts_at": datetime(2027, 3, 13, 8, 30, tzinfo=NOUMEA),
        "ends_at": datetime(2027, 3, 13, 12, 0, tzinfo=NOUMEA),
        "location": "Nouméa (lieu d'exemple)",
        "description": (
            "Événement d'exemple de la démonstration : une matinée pour comparer les "
            "limites des communes avec OpenStreetMap et noter les écarts."
        ),
        "datasets": ["communes-nc"],
    },
    {
        "slug": "rencontre-donnees-ouvertes-exemple",
        "title": "Rencontre données ouvertes (exemple)",
        "kind": "gathering",
        "starts_at": datetime(2026, 10, 15, 17, 30, tzinfo=NOUMEA),
        "ends_at": datetime(2026, 10, 15, 19, 0, tzinfo=NOUMEA),
        "location": "Nouméa (lieu d'exemple)",
        "description": "Événement passé d'exemple de la démonstration.",
        "results": (
            "Exemple de résultats : la liste des jeux de données demandés par les "
            "participants, publiée sur la plateforme."
        ),
        "datasets": ["population-communes-nc"],
    },
]
# Dated at load time, always to come: a newcomer sees an upcoming event.
UPCOMING_EVENT = {
    "slug": "hackathon-eaux-de-baignade-exemple",
    "title": "Hackathon eaux de baignade (exemple)",
    "kind": "hackathon",
    "location": "Nouméa (lieu d'exemple)",
    "description": (
        "Événement d'exemple de la démonstration, daté à chaque chargement six semaines "
        "plus tard : une journée pour joindre les points de prélèvement aux derniers "
        "relevés et cartographier l'état des plages de Nouméa."
    ),
    "datasets": BATHING,
}


def upcoming_dates(now: datetime) -> tuple[datetime, datetime]:
    """A Saturday at least six weeks after `now`, 8:30 to 17:00 in Nouméa."""
    day = now.astimezone(NOUMEA).date() + timedelta(days=42)
    day += timedelta(days=(5 - day.weekday()) % 7)
    return (
        datetime.combine(day, time(8, 30), tzinfo=NOUMEA),
        datetime.combine(day, time(17, 0), tzinfo=NOUMEA),
    )


def load_community(engine: Engine, organisation: str, echo: Callable[[str], None]) -> None:
    """Create what is missing (by slug); existing entries are left as they are."""
    with Session(writing(engine)) as session, session.begin():
        org = service.get_organisation(session, organisation)

        def datasets(slugs: list[str]) -> list:
            return [d for d in (service.find_dataset(session, s) for s in slugs) if d]

        for item in CODE_PROJECTS:
            if session.scalar(select(CodeProject.id).where(CodeProject.slug == item["slug"])):
                continue
            fields = {
                k: v
                for k, v in item.items()
                if k not in ("slug", "name", "datasets", "organisation")
            }
            owner = (
                service.get_organisation(session, item["organisation"])
                if "organisation" in item
                else org
            )
            project = service.create_code_project(
                session, owner, item["slug"], item["name"], **fields
            )
            project.datasets = datasets(item.get("datasets", []))
            echo(f"projet de code créé : {item['name']}")
        for item in REUSES:
            if session.scalar(select(Reuse.id).where(Reuse.slug == item["slug"])):
                continue
            fields = {k: item[k] for k in ("url", "author", "description")}
            service.create_reuse(
                session,
                item["slug"],
                item["title"],
                item["kind"],
                datasets=datasets(item["datasets"]),
                organisation_id=org.id if item.get("by_demo_organisation") else None,
                status=ModerationStatus.APPROVED,
                **fields,
            )
            echo(f"réutilisation créée : {item['title']}")
        for item in EVENTS:
            if session.scalar(select(Event.id).where(Event.slug == item["slug"])):
                continue
            fields = {
                k: item[k] for k in ("ends_at", "location", "description", "results") if k in item
            }
            service.create_event(
                session,
                item["slug"],
                item["title"],
                item["kind"],
                item["starts_at"],
                datasets=datasets(item["datasets"]),
                organisation_id=org.id,
                **fields,
            )
            echo(f"événement créé : {item['title']}")
        message = _upcoming_event(session, org.id, datasets(UPCOMING_EVENT["datasets"]))
        if message:
            echo(message)


def _upcoming_event(session: Session, organisation_id: int, datasets: list) -> str | None:
    """Create the upcoming event, or move it forward once its date has passed."""
    starts_at, ends_at = upcoming_dates(datetime.now(UTC))
    event = session.scalar(select(Event).where(Event.slug == UPCOMING_EVENT["slug"]))
    if event is None:
        fields = {k: UPCOMING_EVENT[k] for k in ("location", "description")}
        service.create_event(
            session,
            UPCOMING_EVENT["slug"],
            UPCOMING_EVENT["title"],
            UPCOMING_EVENT["kind"],
            starts_at,
            datasets=datasets,
            organisation_id=organisation_id,
            ends_at=ends_at,
            **fields,
        )
        return f"événement créé : {UPCOMING_EVENT['title']}"
    if as_utc(event.starts_at) > datetime.now(UTC):
        return None
    event.starts_at, event.ends_at = as_utc(starts_at), as_utc(ends_at)
    return f"événement redaté : {UPCOMING_EVENT['title']}"
