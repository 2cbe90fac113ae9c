"""The demo shows what the platform is for (issue 15 §8), on both backends.

Several organisations (government, a province, Nouméa), Nouméa's real bathing-water data
(sampling points with their nested results, the latest results and the beach status)
whose join column is described, a harvested source replayed from a shipped snapshot,
code projects, reuses and an upcoming event; loading twice changes nothing, and the
portal's pages, the OGC API and DCAT show it all (in French and in English).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from niaouli.catalogue import service
from niaouli.catalogue.access import ANONYMOUS
from niaouli.catalogue.campaigns.campaign_tables import Campaign
from niaouli.catalogue.campaigns.campaigns import is_open
from niaouli.catalogue.models import (
    AccessLevel,
    CodeProject,
    Dataset,
    Event,
    ModerationStatus,
    Organisation,
    Reuse,
)
from niaouli.demo import load_demo
from niaouli.demo_community import upcoming_dates
from niaouli.ingest.harvest.harvest_tables import (
    HarvestedRecord,
    HarvestJob,
    HarvestSource,
    JobStatus,
)
from niaouli.localtime import as_utc
from niaouli.web import create_app
from tests.conftest import Backend
from tests.demo_support import BATHING, DEMO_HARVESTED

HARVESTED = DEMO_HARVESTED[0]  # the first record of the shipped CSW snapshot
TABLES = (Organisation, Dataset, CodeProject, Reuse, Event, HarvestSource, HarvestJob, Campaign)


def quiet(backend: Backend) -> list:
    return load_demo(backend.settings, echo=lambda _m: None)


def counts(backend: Backend) -> dict[str, int]:
    with backend.session() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in TABLES
        }


@pytest.fixture
def client(backend: Backend, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    quiet(backend)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def test_demo_has_organisations_of_each_kind_and_is_idempotent(backend: Backend):
    first = quiet(backend)
    assert [r.dataset for r in first] == [
        "communes-nc",
        "population-communes-nc",
        *BATHING,
    ]
    loaded = counts(backend)
    with backend.session() as session:
        kinds = dict(session.execute(select(Organisation.slug, Organisation.kind)).all())
    assert kinds == {
        "gouvernement-nc": "government",
        "province-sud": "province",
        "ville-de-noumea": "commune",
    }
    # A second load (every `scripts/start`) writes nothing: no dataset, no harvest job.
    assert quiet(backend) == []
    assert counts(backend) == loaded


def test_bathing_points_keep_their_nested_results(backend: Backend, client: TestClient):
    with backend.session() as session:
        points = service.find_dataset(session, "baignade-noumea-points")
        assert points.organisation.slug == "ville-de-noumea"
        assert points.access_level == AccessLevel.PUBLIC
        layer = points.layers[0]
        # Points and beach polygons in one layer: nothing dropped, nothing refused.
        assert (layer.feature_count, layer.geometry_type) == (30, "Geometry")
        types = {a["name"]: a["type"] for a in layer.attribute_schema}
        collection = layer.collection_id
    assert types == {"data": "json", "name": "string", "points": "json"}

    items = client.get(f"/ogc/collections/{collection}/items", params={"f": "json", "limit": 100})
    assert items.status_code == 200, items.text[:500]
    features = items.json()["features"]
    by_code = {f["properties"]["name"]: f for f in features if f["properties"].get("name")}
    assert len(by_code) == 17
    point = by_code["P18057"]
    assert point["geometry"]["type"] == "Point"
    results = point["properties"]["data"]
    # The nested array comes back as an array of objects, not as JSON text in a string.
    assert isinstance(results, list) and len(results) > 5, results
    assert results[0] == {
        "date": "05/12/2016 08:26:00",
        "intestinal_enterococci": 10,
        "source_file": "161206_-_resultats_surveillance_ebm.pdf",
        "escherichia_coli": 10,
    }
    sectors = [f for f in features if f["geometry"]["type"] == "Polygon"]
    assert len(sectors) == 13
    assert all(isinstance(f["properties"]["points"], list) for f in sectors)
    assert ["P18057"] in [f["properties"]["points"] for f in sectors]


def test_join_columns_are_described_both_ways(backend: Backend):
    quiet(backend)
    with backend.session() as session:
        points = service.find_dataset(session, "baignade-noumea-points").layers[0]
        latest = service.find_dataset(session, "baignade-noumea-releves")
        assert not latest.is_spatial
        results = latest.layers[0]
        assert "id_point_prelevement" in points.column_descriptions["name"]["description"]
        joined = results.column_descriptions["id_point_prelevement"]["description"]
        assert "« name »" in joined and "baignade-noumea-points" in joined
        assert results.column_descriptions["e_coli_npp_100ml"]["unit"] == "NPP/100 ml"
        assert latest.producer == "Ville de Nouméa" and latest.update_frequency == "daily"
        assert latest.temporal_start and latest.lineage.startswith("Résultats publiés")


def test_harvested_source_code_reuses_and_upcoming_event(backend: Backend):
    quiet(backend)
    now = datetime.now(UTC)
    with backend.session() as session:
        source = session.scalar(select(HarvestSource))
        assert source.type == "csw" and source.organisation.slug == "gouvernement-nc"
        job = session.scalar(select(HarvestJob).where(HarvestJob.source_id == source.id))
        assert job.status == JobStatus.SUCCESS and not job.dry_run
        records = session.scalars(select(HarvestedRecord)).all()
        assert len(records) == 2
        harvested = service.find_dataset(session, HARVESTED)
        assert harvested.access_level == AccessLevel.PUBLIC
        assert harvested.provenance["harvest_source"] == source.slug
        assert harvested.provenance["source_url"].startswith(source.url + "?")
        assert "GetRecordById" in harvested.provenance["source_url"]
        assert harvested.original_metadata and "gmd:MD_Metadata" in harvested.original_metadata

        forge = session.scalar(select(CodeProject).where(CodeProject.slug == "dsi-ville-noumea"))
        assert forge.repository_url == "https://github.com/DSI-Ville-Noumea"
        assert forge.organisation.slug == "ville-de-noumea"

        reuse = session.scalar(select(Reuse).where(Reuse.slug == "edb-noumea"))
        assert reuse.url == "https://github.com/adriens/edb-noumea"
        assert reuse.status == ModerationStatus.APPROVED
        assert {d.slug for d in reuse.datasets} == set(BATHING)

        upcoming = [e for e in session.scalars(select(Event)) if as_utc(e.starts_at) > now]
        slugs = {e.slug for e in upcoming}
        assert "hackathon-eaux-de-baignade-exemple" in slugs
        campaign = session.scalar(select(Campaign))
        assert campaign.slug == "equipements-plages-noumea-exemple"
        assert is_open(campaign) and campaign.area_source == "Nouméa"
        assert campaign.event.kind == "cartoparty"
        assert service.count_datasets(session, ANONYMOUS) == 7


def test_a_past_upcoming_event_is_moved_forward_on_the_next_load(backend: Backend):
    quiet(backend)
    with backend.session() as session, session.begin():
        event = session.scalar(select(Event).where(Event.slug.like("hackathon-eaux%")))
        event.starts_at = datetime(2020, 1, 4, 8, 30, tzinfo=UTC)
        event.ends_at = datetime(2020, 1, 4, 17, 0, tzinfo=UTC)
    quiet(backend)
    with backend.session() as session:
        event = session.scalar(select(Event).where(Event.slug.like("hackathon-eaux%")))
        assert as_utc(event.starts_at) > datetime.now(UTC)
    starts, ends = upcoming_dates(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    assert starts.weekday() == 5 and starts.date().isoformat() == "2027-01-23"
    assert (starts.hour, ends.hour) == (8, 17)


PAGES = {
    "/": ("Eaux de baignade de Nouméa", "Hackathon eaux de baignade"),
    "/organisations": ("Province Sud", "Ville de Nouméa", "Gouvernement de la Nouvelle"),
    "/organisations/ville-de-noumea": ("baignade-noumea-releves",),
    "/jeux-de-donnees": ("baignade-noumea-points", HARVESTED),
    "/code": ("DSI de la Ville de Nouméa",),
    "/reutilisations": ("edb-noumea", "carte-qualite-eaux-noumea"),
    "/evenements": ("Hackathon eaux de baignade (exemple)",),
    # A newcomer finds a campaign open to contributions, its phone page ready.
    "/campagnes": ("Équipements des plages de Nouméa (exemple)",),
    "/campagnes/equipements-plages-noumea-exemple": ("Équipement",),
    "/statistiques": ("Ville de Nouméa",),
    # The join column's description is public on the dataset page (editors write it
    # on …/colonnes), with the labels and units of the columns.
    "/jeux-de-donnees/baignade-noumea-releves": (
        "Code du point de prélèvement",
        "Escherichia coli (NPP/100 ml)",
        "Clé de jointure avec la colonne « name » des points de prélèvement",
    ),
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_main_pages_show_the_demo(client: TestClient, language: str):
    for path, expected in PAGES.items():
        response = client.get(path, params={"lang": language})
        assert response.status_code == 200, (path, language, response.text[-500:])
        for text in expected:
            assert text in response.text, (path, language, text)
    page = client.get(f"/jeux-de-donnees/{HARVESTED}", params={"lang": language}).text
    said = "Harvested from" if language == "en" else "Moissonné depuis"
    assert f"{said} Catalogue GeoNetwork (instantané de démonstration)" in page
    reuse = client.get("/reutilisations/edb-noumea", params={"lang": language}).text
    assert 'href="/jeux-de-donnees/baignade-noumea-points"' in reuse


def test_dcat_publishes_the_demo(client: TestClient):
    catalogue = client.get("/catalog.jsonld").text
    for slug in (*BATHING, HARVESTED):
        assert f"/jeux-de-donnees/{slug}" in catalogue, slug


def test_mixed_layer_exports_one_shapefile_per_geometry_kind(client: TestClient, tmp_path):
    """A Shapefile holds one geometry type: the points and the beach polygons of one
    layer made the export fail (HTTP 500); now the zip holds one Shapefile per kind."""
    import zipfile

    import pyogrio

    page = client.get("/jeux-de-donnees/baignade-noumea-points").text
    url = next(u for u in re.findall(r'href="([^"]+\.shp\.zip)"', page))
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    archive = tmp_path / "export.zip"
    archive.write_bytes(response.content)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path)
    counts = {}
    for shp in sorted(tmp_path.glob("*.shp")):
        frame = pyogrio.read_dataframe(shp)
        counts[shp.stem.rsplit("_", 1)[-1]] = (len(frame), sorted(set(frame.geom_type)))
    assert counts == {"points": (17, ["Point"]), "polygones": (13, ["Polygon"])}
