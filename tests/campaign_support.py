"""A cartoparty to test with: organisations, people, a bus-stop layer, an open campaign.

`build_campaign(backend, tmp)` makes organisation A (`province-sud`) with a point layer
of three bus stops in Nouméa (dataset `arrets-bus`, layer `arrets`), organisation B,
a cartoparty event, an open campaign `releve-arrets` on that layer (schema: `nom`
required text, `type` enumeration abri|poteau, `bancs` integer, `accessible` boolean;
area: a box around the stops; duplicates within 5 m; edits allowed) and the people:
editor of A, two volunteers without organisation, an editor of B; each with a `write`
and a `read` token (`site.tokens[name]["write"|"read"]`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from niaouli.accounts import tokens, users
from niaouli.accounts.resolve import viewer_for_user
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.campaigns import campaigns
from niaouli.catalogue.models import EventKind, utcnow
from niaouli.ingest import ingest_file
from tests.conftest import Backend

ORG_A, ORG_B = "province-sud", "province-iles"
PASSWORD = "mot-de-passe-de-test"
PEOPLE = {
    "editor_a": (ORG_A, "editor"),
    "volunteer": None,
    "volunteer2": None,
    "editor_b": (ORG_B, "editor"),
}
STOPS = [(166.440, -22.270), (166.450, -22.275), (166.460, -22.280)]
AREA = {
    "type": "Polygon",
    "coordinates": [
        [[166.40, -22.32], [166.50, -22.32], [166.50, -22.22], [166.40, -22.22], [166.40, -22.32]]
    ],
}
SCHEMA = [
    {
        "name": "nom",
        "type": "string",
        "required": True,
        "label": {"fr": "Nom", "en": "Name"},
        "help": {"fr": "Le nom écrit sur l'arrêt", "en": "The name on the stop"},
    },
    {"name": "type", "type": "enum", "enum": ["abri", "poteau"], "label": {"fr": "Type"}},
    {"name": "bancs", "type": "integer", "label": {"fr": "Bancs", "en": "Benches"}},
    {"name": "accessible", "type": "boolean", "label": {"fr": "Accessible"}},
]


def email_of(name: str) -> str:
    return f"{name.replace('_', '-')}@exemple.nc"


@dataclass
class CampaignSite:
    backend: Backend
    campaign_slug: str
    collection_id: str
    user_ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def viewer(self, session: Session, name: str, read_only: bool = False) -> Viewer:
        return viewer_for_user(session, users.get_user(session, email_of(name)), read_only)


def stops_file(tmp: Path) -> Path:
    path = tmp / "arrets.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": list(xy)},
                        "properties": {
                            "nom": f"Arrêt {i}",
                            "type": "abri",
                            "bancs": i,
                            "accessible": True,
                        },
                    }
                    for i, xy in enumerate(STOPS)
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def build_campaign(backend: Backend, tmp: Path, *, slug: str = "releve-arrets") -> CampaignSite:
    with backend.session() as session, session.begin():
        for org_slug, name in ((ORG_A, "Province Sud"), (ORG_B, "Province des Îles")):
            service.create_organisation(session, org_slug, name, "province")
    ingest_file(
        stops_file(tmp),
        organisation=ORG_A,
        dataset="arrets-bus",
        title="Arrêts de bus",
        access_level="public",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    site = CampaignSite(backend, slug, campaigns.COLLECTION_PREFIX + slug)
    with backend.session() as session, session.begin():
        for name, role in PEOPLE.items():
            user = users.create_user(session, email_of(name), f"Nom {name}", PASSWORD)
            if role is not None:
                org = service.get_organisation(session, role[0])
                users.set_membership(session, org, user, role[1])
            session.flush()
            site.user_ids[name] = user.id
            site.tokens[name] = {
                scope: tokens.create_token(session, user, scope, scope)[1]
                for scope in ("write", "read")
            }
        service.create_event(
            session,
            "cartopartie-noumea",
            "Cartopartie de Nouméa",
            EventKind.CARTOPARTY,
            utcnow() - timedelta(days=1),
            ends_at=utcnow() + timedelta(days=2),
        )
    with backend.session() as session, session.begin():
        editor = site.viewer(session, "editor_a")
        campaign = campaigns.create_campaign(
            session,
            editor,
            organisation=ORG_A,
            slug=slug,
            title="Relevé des arrêts de bus",
            event="cartopartie-noumea",
            dataset="arrets-bus",  # its one layer (named after the file: `arrets`)
            geometry_type="Point",
            attribute_schema=SCHEMA,
            area=AREA,
            licence="odbl",
            allow_edits=True,
            duplicate_distance_m=5,
        )
        campaigns.open_campaign(session, editor, campaign)
    return site


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


class AppServer:
    """The whole web application (`niaouli.web.create_app`) served by uvicorn on a
    loopback port in a thread of the test process: real HTTP for httpx, OWSLib and
    browsers, without the seconds a `niaouli serve` subprocess (and its pycsw) takes."""

    def __init__(self, backend: Backend) -> None:
        import uvicorn

        from niaouli.web import create_app
        from tests.ports import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(backend.settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the application did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        from niaouli.settings import pin

        self.server.should_exit = True
        self.thread.join(timeout=10)
        pin(None)
