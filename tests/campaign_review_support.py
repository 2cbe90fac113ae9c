"""Campaign fixtures for the review and merge tests: a layer, a campaign, people, and
staged contributions written straight into the campaign tables (as `submit` stores
them), so that the tests of review and merge do not depend on the submission path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import insert, select

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns.campaign_tables import (
    Campaign,
    CampaignState,
    Contribution,
    ContributionAction,
    ContributionState,
    Submission,
)
from niaouli.catalogue.models import Dataset, Layer
from niaouli.ingest import ingest_file
from tests.conftest import Backend

ORG = "gouvernement-nc"
SCHEMA = [
    {"name": "name", "type": "string", "required": True},
    {"name": "releves", "type": "integer"},
]
PASSWORD = "un mot de passe assez long"


@dataclass
class World:
    campaign_id: int
    dataset_slug: str
    collection_id: str
    table: str
    editor_id: int  # an editor of the organisation: reviews and merges
    volunteer_ids: list[int]
    org_id: int

    def editor(self) -> Viewer:
        return Viewer(user_id=self.editor_id, member_of={self.org_id: "editor"})

    def volunteer(self, index: int = 0) -> Viewer:
        return Viewer(user_id=self.volunteer_ids[index])


def points_file(tmp: Path, count: int = 5) -> Path:
    path = tmp / "points_releves.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [166.44 + i / 1000, -22.3]},
                        "properties": {"name": f"P{i}", "releves": i},
                    }
                    for i in range(count)
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def world(backend: Backend, tmp: Path, *, volunteers: int = 2, features: int = 5) -> World:
    """An organisation, a 5-point layer, an editor, volunteers, an open campaign."""
    with backend.session() as session, session.begin():
        try:
            service.get_organisation(session, ORG)
        except service.NotFoundError:
            service.create_organisation(session, ORG, "Gouvernement", "government")
    ingest_file(
        points_file(tmp, features),
        organisation=ORG,
        dataset="points-releves",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, ORG)
        dataset = session.scalar(select(Dataset).where(Dataset.slug == "points-releves"))
        layer = dataset.layers[0]
        editor = users.create_user(session, "relectrice@example.nc", "Relectrice", PASSWORD)
        users.set_membership(session, org, editor, "editor")
        people = [
            users.create_user(session, f"benevole{i}@example.nc", f"Bénévole {i}", PASSWORD)
            for i in range(volunteers)
        ]
        campaign = Campaign(
            slug="cartopartie-releves",
            title="Cartopartie des relevés",
            organisation_id=org.id,
            dataset_id=dataset.id,
            layer_name=layer.name,
            geometry_type="Point",
            attribute_schema=SCHEMA,
            licence="odbl",
            allow_edits=True,
            state=CampaignState.OPEN,
            collection_id="cartopartie-releves-contributions",
            created_by_id=editor.id,
        )
        session.add(campaign)
        session.flush()
        return World(
            campaign.id,
            dataset.slug,
            layer.collection_id,
            layer.table_name,
            editor.id,
            [p.id for p in people],
            org.id,
        )


def submission(backend: Backend, w: World, contributor_id: int, name: str = "Jeanne") -> int:
    with backend.session() as session, session.begin():
        row = Submission(
            campaign_id=w.campaign_id,
            contributor_id=contributor_id,
            display_name=name,
            source="form",
        )
        session.add(row)
        session.flush()
        return row.id


def contributions(
    session: Any,  # noqa: ANN401
    w: World,
    submission_id: int,
    contributor_id: int,
    items: list[dict[str, Any]],
    state: ContributionState = ContributionState.APPROVED,
) -> list[int]:
    """Stage `items` ({"uid", "wkt", "properties", "action", "target_fid"}) in one insert."""
    rows = [
        {
            "campaign_id": w.campaign_id,
            "uid": item["uid"],
            "submission_id": submission_id,
            "contributor_id": contributor_id,
            "action": item.get("action", ContributionAction.CREATE),
            "target_fid": item.get("target_fid"),
            "geom": WKTElement(item["wkt"], srid=4326) if item.get("wkt") else None,
            "properties": item.get("properties", {}),
            "state": state,
            "problems": item.get("problems", []),
        }
        for item in items
    ]
    ids = []
    for start in range(0, len(rows), 1000):
        result = session.execute(
            insert(Contribution).returning(Contribution.id), rows[start : start + 1000]
        )
        ids += [r[0] for r in result]
    return ids


def points(prefix: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "uid": f"{prefix}-{i}",
            "wkt": f"POINT({166.45 + (i % 100) / 10000} {-22.29 - (i // 100) / 10000})",
            "properties": {"name": f"{prefix} {i}", "releves": i},
        }
        for i in range(start, start + count)
    ]


def layer_row(backend: Backend, w: World) -> Layer:
    with backend.session() as session:
        layer = session.scalar(select(Layer).where(Layer.collection_id == w.collection_id))
        session.expunge(layer)
        return layer
