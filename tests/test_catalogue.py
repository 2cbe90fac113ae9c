"""The catalogue service: organisations, datasets with their metadata, resources, code
projects, reuses, events — and the one access rule (only `public` for anonymous)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS, Viewer, can_see
from niaouli.catalogue.lifecycle import delete_dataset
from niaouli.catalogue.models import (
    AccessLevel,
    CodeStatus,
    Dataset,
    EventKind,
    Organisation,
    OrganisationKind,
    Resource,
    ResourceKind,
    ReuseKind,
)
from niaouli.db.layers import layer_store
from tests.ingest_support import ORG, fixture, ingest, traces

METADATA = {
    "description": "Limites des 33 communes, simplifiées.",
    "themes": ["Limites administratives", "Territoire"],
    "keywords": ["communes", "Nouvelle-Calédonie", "Hienghène"],
    "licence": "Licence Ouverte 2.0",
    "producer": "Gouvernement de la Nouvelle-Calédonie (Géorep)",
    "contact_name": "Service de la géomatique",
    "contact_email": "geomatique@example.nc",
    "update_frequency": "annual",
    "temporal_start": date(2019, 1, 1),
    "temporal_end": date(2024, 12, 31),
    "lineage": "Conversion depuis cartoutremer ; simplification à 500 m.",
    "provenance": {"source": "data.gouv.nc", "identifiant": "communes-nc"},
    "original_metadata": "<gmd:MD_Metadata/>",
}


def _org(session, slug: str = ORG) -> Organisation:
    return service.get_organisation(session, slug)


# --- organisations ---------------------------------------------------------------------


def test_organisations(backend, org):
    with backend.session() as session, session.begin():
        created = service.create_organisation(
            session,
            "province-nord",
            "Province Nord",
            OrganisationKind.PROVINCE,
            description="Collectivité provinciale",
            website="https://www.province-nord.nc",
            email="contact@example.nc",
        )
        assert created.id is not None
        service.create_organisation(session, "commune-de-poum", "Commune de Poum", "commune")
    with backend.session() as session:
        assert [o.slug for o in service.list_organisations(session)] == [
            "commune-de-poum",
            "gouvernement-nc",
            "province-nord",
        ]
        nord = service.get_organisation(session, "province-nord")
        assert (nord.name, nord.kind, nord.description, nord.website, nord.email) == (
            "Province Nord",
            OrganisationKind.PROVINCE,
            "Collectivité provinciale",
            "https://www.province-nord.nc",
            "contact@example.nc",
        )
        assert nord.created_at is not None

    with backend.session() as session:
        with pytest.raises(service.CatalogueError, match="l'organisation « province-nord » existe"):
            service.create_organisation(session, "province-nord", "Autre", "province")
        with pytest.raises(service.CatalogueError, match="type d'organisation inconnu « mairie »"):
            service.create_organisation(session, "mairie", "Mairie", "mairie")
        for slug in ("../../x", "Province", "%2e%2e%2f", "a" * 10_000, "", "-x", "é"):
            with pytest.raises(service.CatalogueError, match="identifiant invalide"):
                service.create_organisation(session, slug, "X", "province")
        with pytest.raises(service.NotFoundError, match="organisation inconnue : « personne »"):
            service.get_organisation(session, "personne")
        session.rollback()
    with backend.session() as session:
        assert len(service.list_organisations(session)) == 3


# --- datasets --------------------------------------------------------------------------


def test_dataset_with_every_metadata_field(backend, org):
    with backend.session() as session, session.begin():
        dataset = service.create_dataset(
            session, _org(session), "communes-nc", "Communes de Nouvelle-Calédonie", **METADATA
        )
        assert dataset.published_at is not None
    with backend.session() as session:
        dataset = service.get_dataset(session, "communes-nc", ANONYMOUS)
        assert dataset.title == "Communes de Nouvelle-Calédonie"
        for name, value in METADATA.items():
            assert getattr(dataset, name) == value, name
        assert dataset.organisation.slug == ORG
        assert dataset.access_level is AccessLevel.PUBLIC
        assert not dataset.is_spatial
        first_update = dataset.updated_at

    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "communes-nc")
        service.update_dataset(
            session,
            dataset,
            title="Communes (limites)",
            keywords=["communes"],
            temporal_end=date(2025, 6, 30),
            provenance={"source": "Géorep"},
        )
    with backend.session() as session:
        dataset = service.find_dataset(session, "communes-nc")
        assert dataset.title == "Communes (limites)"
        assert dataset.keywords == ["communes"]
        assert dataset.temporal_end == date(2025, 6, 30)
        assert dataset.provenance == {"source": "Géorep"}
        assert dataset.lineage == METADATA["lineage"]
        assert _aware(dataset.updated_at) >= _aware(first_update)

    with backend.session() as session:
        dataset = service.find_dataset(session, "communes-nc")
        with pytest.raises(service.CatalogueError, match="champs inconnus : couleur"):
            service.update_dataset(session, dataset, couleur="rouge")
        with pytest.raises(service.CatalogueError, match="champs inconnus : couleur"):
            service.create_dataset(session, _org(session), "autre", "Autre", couleur="rouge")
        with pytest.raises(service.CatalogueError, match="« communes-nc » existe déjà"):
            service.create_dataset(session, _org(session), "communes-nc", "Encore")
        with pytest.raises(service.CatalogueError, match="identifiant invalide"):
            service.create_dataset(session, _org(session), "../communes", "Chemin")
        with pytest.raises(service.NotFoundError, match="jeu de données introuvable"):
            service.get_dataset(session, "absent", Viewer.system())


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC date-times, PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_draft_gets_published_at_when_opened(backend, org):
    with backend.session() as session, session.begin():
        draft = service.create_dataset(
            session, _org(session), "brouillon", "Brouillon", access_level="draft"
        )
        assert draft.published_at is None
        service.update_dataset(session, draft, access_level="public")
        assert draft.access_level is AccessLevel.PUBLIC and draft.published_at is not None
    with backend.session() as session:
        assert service.get_dataset(session, "brouillon", ANONYMOUS).published_at is not None


def test_resources(backend, org):
    report = ingest(backend, fixture("communes_lonlat.csv"), dataset="chefs-lieux")
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "chefs-lieux")
        dataset.resources.append(
            Resource(
                title="Page du jeu sur data.gouv.nc",
                kind=ResourceKind.LINK,
                url="https://data.gouv.nc/explore/dataset/communes-nc/",
                format="HTML",
                media_type="text/html",
            )
        )
    with backend.session() as session:
        dataset = service.get_dataset(session, "chefs-lieux", ANONYMOUS)
        source, link = dataset.resources
        assert (source.kind, source.role, source.format, source.filename) == (
            ResourceKind.FILE,
            "source",
            "CSV",
            "communes_lonlat.csv",
        )
        assert source.storage_key and source.size == fixture("communes_lonlat.csv").stat().st_size
        assert (link.kind, link.role, link.url, link.storage_key) == (
            ResourceKind.LINK,
            "attachment",
            "https://data.gouv.nc/explore/dataset/communes-nc/",
            None,
        )
        link_id = link.id
    with backend.session() as session, session.begin():
        session.delete(session.get(Resource, link_id))
    with backend.session() as session:
        assert len(service.find_dataset(session, "chefs-lieux").resources) == 1

    delete_dataset(backend.engine, backend.settings, "chefs-lieux")
    assert traces(backend) == {
        "datasets": [],
        "layers": [],
        "resources": 0,
        "tables": [],
        "files": [],
    }
    with backend.engine.connect() as conn:
        assert not layer_store(conn).exists(conn, report.layers[0].table_name)
    with pytest.raises(service.NotFoundError):
        delete_dataset(backend.engine, backend.settings, "chefs-lieux")


def test_code_projects(backend, org):
    with backend.session() as session, session.begin():
        dataset = service.create_dataset(session, _org(session), "communes", "Communes")
        project = service.create_code_project(
            session,
            _org(session),
            "geonc-client",
            "Client Géorep",
            description="Bibliothèque d'accès aux services de Géorep",
            repository_url="https://github.com/example/geonc-client",
            licence="EUPL-1.2",
            languages=["Python", "TypeScript"],
            status=CodeStatus.BETA,
            releases=[{"version": "0.3.0", "date": "2025-02-01"}],
            publiccode={"publiccodeYmlVersion": "0.4", "name": "geonc-client"},
            datasets=[dataset],
        )
        service.create_code_project(session, _org(session), "atlas", "Atlas communal")
        assert project.id is not None
    with backend.session() as session:
        projects = service.list_code_projects(session)
        assert [p.slug for p in projects] == ["atlas", "geonc-client"]
        project = projects[1]
        assert project.organisation.slug == ORG
        assert project.languages == ["Python", "TypeScript"]
        assert project.status is CodeStatus.BETA
        assert project.releases == [{"version": "0.3.0", "date": "2025-02-01"}]
        assert project.publiccode["name"] == "geonc-client"
        assert [d.slug for d in project.datasets] == ["communes"]
        assert projects[0].status is CodeStatus.STABLE and projects[0].languages == []


def _datasets_at_every_level(session) -> dict[AccessLevel, Dataset]:
    org = _org(session)
    return {
        level: service.create_dataset(
            session, org, f"jeu-{level.value}", f"Jeu {level.value}", access_level=level
        )
        for level in AccessLevel
    }


def test_reuses_show_only_visible_datasets(backend, org):
    with backend.session() as session, session.begin():
        datasets = _datasets_at_every_level(session)
        service.create_reuse(
            session,
            "carte-des-communes",
            "Carte des communes",
            ReuseKind.VISUALISATION,
            datasets=datasets.values(),
            description="Une carte interactive",
            url="https://carte.example.nc",
            organisation_id=_org(session).id,
            author="Équipe du hackathon",
        )
        service.create_reuse(session, "api-communes", "API des communes", "api")
    with backend.session() as session:
        reuses = service.list_reuses(session)
        assert [r.slug for r in reuses] == ["api-communes", "carte-des-communes"]
        carte = reuses[1]
        assert (carte.kind, carte.url, carte.author) == (
            ReuseKind.VISUALISATION,
            "https://carte.example.nc",
            "Équipe du hackathon",
        )
        assert len(carte.datasets) == 4
        assert [d.slug for d in service.reuse_datasets(session, carte, ANONYMOUS)] == ["jeu-public"]
        assert len(service.reuse_datasets(session, carte, Viewer.system())) == 4
        assert service.reuse_datasets(session, reuses[0], ANONYMOUS) == []
        with pytest.raises(ValueError, match="'jeu'"):
            service.create_reuse(session, "x", "X", "jeu")


def test_events(backend, org):
    with backend.session() as session, session.begin():
        datasets = _datasets_at_every_level(session)
        service.create_event(
            session,
            "cartoparty-2025-t2",
            "Cartoparty de Poindimié",
            EventKind.CARTOPARTY,
            datetime(2025, 6, 14, 8, tzinfo=UTC),
            datasets=[datasets[AccessLevel.PUBLIC], datasets[AccessLevel.DRAFT]],
            ends_at=datetime(2025, 6, 15, 17, tzinfo=UTC),
            location="Poindimié",
            description="Relevé des équipements publics",
        )
        service.create_event(
            session,
            "hackathon-2025",
            "Hackathon de Nouméa",
            "hackathon",
            datetime(2025, 3, 1, 9, tzinfo=UTC),
        )
    with backend.session() as session:
        events = service.list_events(session)
        assert [e.slug for e in events] == ["hackathon-2025", "cartoparty-2025-t2"]
        party = events[1]
        assert (party.kind, party.location) == (EventKind.CARTOPARTY, "Poindimié")
        assert _aware(party.starts_at) == datetime(2025, 6, 14, 8, tzinfo=UTC)
        assert _aware(party.ends_at) == datetime(2025, 6, 15, 17, tzinfo=UTC)
        assert [d.slug for d in service.event_datasets(session, party, ANONYMOUS)] == ["jeu-public"]
        assert len(service.event_datasets(session, party, Viewer.system())) == 2


# --- access ----------------------------------------------------------------------------


def test_anonymous_sees_only_public_datasets(backend, org):
    for level in AccessLevel:
        ingest(
            backend,
            fixture("communes_lonlat.csv"),
            dataset=f"jeu-{level.value}",
            access_level=level.value,
        )
    with backend.session() as session:
        assert [d.slug for d in service.list_datasets(session, ANONYMOUS)] == ["jeu-public"]
        assert service.count_datasets(session, ANONYMOUS) == 1
        assert service.count_datasets(session, ANONYMOUS, spatial=True) == 1
        assert service.count_datasets(session, ANONYMOUS, spatial=False) == 0
        assert service.get_dataset(session, "jeu-public", ANONYMOUS).slug == "jeu-public"
        for level in ("registered", "organisation", "draft"):
            with pytest.raises(service.NotFoundError) as hidden:
                service.get_dataset(session, f"jeu-{level}", ANONYMOUS)
            with pytest.raises(service.NotFoundError) as absent:
                service.get_dataset(session, "jeu-inexistant", ANONYMOUS)
            # A hidden dataset looks exactly like one that does not exist.
            assert str(hidden.value).replace(level, "x") == str(absent.value).replace(
                "inexistant", "x"
            )
        assert [layer.collection_id for layer in service.list_layers(session, ANONYMOUS)] == [
            "jeu-public"
        ]
        system = Viewer.system()
        assert service.count_datasets(session, system) == 4
        assert len(service.list_datasets(session, system)) == 4
        assert len(service.list_layers(session, system)) == 4


def test_access_rule_for_every_viewer(backend, org):
    with backend.session() as session, session.begin():
        other = service.create_organisation(session, "province-sud", "Province Sud", "province")
        datasets = _datasets_at_every_level(session)
        for level in AccessLevel:
            service.create_dataset(
                session, other, f"sud-{level.value}", f"Sud {level.value}", access_level=level
            )
        own = _org(session).id
    viewers = {
        "anonyme": (ANONYMOUS, {"jeu-public", "sud-public"}),
        "inscrit": (
            Viewer(user_id=1),
            {"jeu-public", "sud-public", "jeu-registered", "sud-registered"},
        ),
        "membre": (
            Viewer(user_id=2, member_of={own: "member"}),
            {"jeu-public", "sud-public", "jeu-registered", "sud-registered", "jeu-organisation"},
        ),
        "editeur": (
            Viewer(user_id=3, member_of={own: "editor"}),
            {
                "jeu-public",
                "sud-public",
                "jeu-registered",
                "sud-registered",
                "jeu-organisation",
                "jeu-draft",
            },
        ),
        "plateforme": (
            Viewer.system(),
            {f"{o}-{a.value}" for o in ("jeu", "sud") for a in AccessLevel},
        ),
    }
    with backend.session() as session:
        everything = session.scalars(select(Dataset)).all()
        for label, (viewer, expected) in viewers.items():
            listed = {d.slug for d in service.list_datasets(session, viewer)}
            assert listed == expected, label
            assert service.count_datasets(session, viewer) == len(expected), label
            for dataset in everything:
                assert can_see(viewer, dataset) is (dataset.slug in expected), (label, dataset.slug)
        assert len(datasets) == 4
