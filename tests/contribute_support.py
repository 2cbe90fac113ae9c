"""A cartoparty campaign to contribute to, for the volunteer page's tests.

An organisation with an editor and two volunteers, a dataset with a point layer
(fire hydrants), and an open campaign on it over Nouméa, whose schema has a required
text, an enumeration, a number and a boolean. The campaign row is written through the
tables (`campaign_tables.py`), so these tests depend only on the model, not on how
campaigns are created in the portal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import shapely
from geoalchemy2.shape import from_shape

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.campaigns.campaign_tables import Campaign, CampaignState
from niaouli.ingest import ingest_file
from tests.conftest import Backend

PASSWORD = "mot-de-passe-de-test"
ORG = "ville-de-noumea"
SLUG = "bornes-incendie-2026"
VOLUNTEER = "benevole@exemple.nc"
OTHER = "autre-benevole@exemple.nc"
EDITOR = "editrice@exemple.nc"
VOLUNTEER_NAME = "Jeanne Bénévole"
NOUMEA = (166.38, -22.33, 166.52, -22.20)
INSIDE = (166.4572, -22.2758)  # Baie de la Moselle
SCHEMA = [
    {
        "name": "nom",
        "type": "string",
        "required": True,
        "max_length": 100,
        "label": {"fr": "Nom de la borne", "en": "Hydrant name"},
        "help": {"fr": "Le numéro peint sur la borne.", "en": "The number painted on it."},
    },
    {
        "name": "type_borne",
        "type": "enum",
        "enum": ["poteau", "bouche"],
        "required": True,
        "label": {"fr": "Type", "en": "Type"},
    },
    {"name": "debit", "type": "number", "label": {"fr": "Débit (m³/h)", "en": "Flow (m³/h)"}},
    {"name": "accessible", "type": "boolean", "label": {"fr": "Accessible", "en": "Accessible"}},
]


@dataclass(frozen=True)
class CampaignSite:
    slug: str
    campaign_id: int
    user_ids: dict[str, int]


def make_campaign(backend: Backend, folder: Path, geometry_type: str = "Point") -> CampaignSite:
    points = folder / "bornes.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [166.44, -22.27]},
                        "properties": {"nom": "B-001", "type_borne": "poteau"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    with backend.session() as session, session.begin():
        service.create_organisation(session, ORG, "Ville de Nouméa", "commune")
    ingest_file(
        points,
        organisation=ORG,
        dataset="bornes-incendie",
        title="Bornes incendie",
        access_level="public",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, ORG)
        ids = {}
        for email, name in (
            (VOLUNTEER, VOLUNTEER_NAME),
            (OTHER, "Paul Autre"),
            (EDITOR, "Édith Éditrice"),
        ):
            user = users.create_user(session, email, name, PASSWORD)
            ids[email] = user.id
            if email == EDITOR:
                users.set_membership(session, org, user, "editor")
        dataset = service.find_dataset(session, "bornes-incendie")
        west, south, east, north = NOUMEA
        campaign = Campaign(
            slug=SLUG,
            title="Bornes incendie de Nouméa",
            description="Relevez les bornes incendie de votre quartier.",
            organisation_id=org.id,
            dataset_id=dataset.id,
            layer_name=dataset.layers[0].name,
            geometry_type=geometry_type,
            attribute_schema=SCHEMA,
            area=from_shape(
                shapely.MultiPolygon([shapely.box(west, south, east, north)]), srid=4326
            ),
            area_source="Nouméa",
            licence="odbl",
            state=CampaignState.OPEN,
            collection_id=f"campagne-{SLUG}",
            created_by_id=ids[EDITOR],
        )
        session.add(campaign)
        session.flush()
        return CampaignSite(SLUG, campaign.id, ids)
