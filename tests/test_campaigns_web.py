"""Campaigns created and changed through the portal's forms (sign-in, CSRF), the API
(tokens, OpenAPI) and the command line, on both backends; the public pages; who is
refused. The whole application is served on loopback (`campaign_support.AppServer`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from niaouli.catalogue.campaigns.campaign_tables import Campaign
from tests.accounts_support import csrf_of
from tests.campaign_support import (
    AREA,
    PASSWORD,
    AppServer,
    build_campaign,
    email_of,
)
from tests.conftest import fresh_backend

SCHEMA_TEXT = (
    "nom | texte | obligatoire | Nom | Name | Le nom écrit sur l'arrêt | The name on the stop\n"
    "type | liste: abri, poteau | | Type de l'arrêt | Kind of stop\n"
    "bancs | entier\n"
)


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def live(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"campaigns-web-{request.param}")
    with fresh_backend(request, request.param, root) as backend:
        site = build_campaign(backend, root)
        with AppServer(backend) as server:
            site.url = server.url
            yield site


@contextmanager
def _signed_in(site, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as http:
        token = csrf_of(http.get("/connexion").text)
        answer = http.post(
            "/connexion",
            data={"csrf": token, "email": email_of(who), "password": PASSWORD, "next": "/"},
        )
        assert answer.status_code == 303, answer.text[:300]
        yield http


def _count(site) -> int:
    with site.backend.session() as session:
        return session.scalar(select(func.count(Campaign.id)))


def test_editor_creates_opens_and_edits_a_campaign_in_the_portal(live):
    form_url = "/organisations/province-sud/campagnes/nouvelle"
    with _signed_in(live, "editor_a") as http:
        page = http.get(form_url)
        assert page.status_code == 200 and 'id="campaign-area-editor"' in page.text
        assert "Cartopartie de Nouméa" in page.text  # the cartoparty to attach it to
        values = {
            "csrf": csrf_of(page.text),
            "title": "Points d'eau de Nouméa",
            "description": "Fontaines et robinets publics.",
            "event": "cartopartie-noumea",
            "dataset": "arrets-bus",
            "layer": "points-eau",
            "geometry_type": "Point",
            "schema": "nom | texte | obligatoire | Nom | Name\npotable | oui/non\n",
            "area": json.dumps(AREA),
            "starts": "2026-01-01 08:00",
            "ends": "2030-12-31 17:00",
            "licence": "lov2",
            "allow_edits": "",
            "duplicate_distance_m": "3",
        }
        before = _count(live)
        bad = http.post(form_url, data={**values, "schema": "nom | couleur"})
        assert bad.status_code == 400
        assert "type de champ inconnu « couleur » (nom)" in bad.text
        assert _count(live) == before  # nothing created
        made = http.post(form_url, data=values)
        assert made.status_code == 303, made.text[:500]
        url = made.headers["location"]
        assert url == "/campagnes/points-d-eau-de-noumea"
        draft = http.get(url)
        assert draft.status_code == 200 and "brouillon" in draft.text
        assert httpx.get(live.url + url).status_code == 404  # a draft: editors only
        page = http.get(url)
        opened = http.post(url + "/ouvrir", data={"csrf": csrf_of(page.text)})
        assert opened.status_code == 303
        edit = http.get(url + "/modifier")
        assert "potable | oui/non" in edit.text  # the schema as typed
        changed = http.post(
            url + "/modifier",
            data={**values, "csrf": csrf_of(edit.text), "title": "Points d'eau potable"},
        )
        assert changed.status_code == 303
    public = httpx.get(live.url + url)
    assert public.status_code == 200
    assert "Points d&#39;eau potable" in public.text and "Licence Ouverte 2.0" in public.text
    assert 'data-area="' in public.text
    english = httpx.get(live.url + url, params={"lang": "en"})
    assert "Licence of the contributions" in english.text and ">Name" in english.text
    assert "points-d-eau-de-noumea" in httpx.get(live.url + "/campagnes").text
    event = httpx.get(live.url + "/evenements/cartopartie-noumea").text
    assert 'href="/campagnes/points-d-eau-de-noumea"' in event
    assert 'href="/campagnes"' in httpx.get(live.url + "/evenements").text
    with live.backend.session() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "points-d-eau-de-noumea"))
        assert campaign.state == "open" and campaign.creates_layer
        assert campaign.attribute_schema[1] == {
            "name": "potable",
            "type": "boolean",
            "required": False,
            "label": {"fr": "potable"},
        }
        assert campaign.duplicate_distance_m == 3.0


def test_other_organisations_cannot_use_the_forms(live):
    with _signed_in(live, "editor_b") as http:
        page = http.get("/organisations/province-sud/campagnes/nouvelle")
        assert page.status_code == 403
        edit = http.get(f"/campagnes/{live.campaign_slug}/modifier")
        assert edit.status_code == 403
    anonymous = httpx.get(live.url + "/organisations/province-sud/campagnes/nouvelle")
    assert anonymous.status_code == 303 and "/connexion" in anonymous.headers["location"]


def test_campaigns_through_the_api(live):
    def client(who: str, scope: str = "write") -> httpx.Client:
        token = live.tokens[who][scope]
        return httpx.Client(
            base_url=f"{live.url}/api", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    body = {
        "organisation": "province-sud",
        "title": "Défibrillateurs",
        "dataset": "arrets-bus",
        "layer": "defibrillateurs",
        "geometry_type": "Point",
        "attribute_schema": [
            {"name": "lieu", "type": "string", "required": True, "label": {"fr": "Lieu"}},
            {"name": "acces", "type": "enum", "enum": ["libre", "horaires"]},
        ],
        "area": AREA,
        "licence": "odbl",
    }
    before = _count(live)
    with client("editor_b") as http:
        refused = http.post("/campaigns", json=body)
        assert refused.status_code == 403, refused.text
    with client("editor_a", "read") as http:
        assert http.post("/campaigns", json=body).status_code == 403
    with client("editor_a") as http:
        bad = http.post("/campaigns", json={**body, "geometry_type": "Polygone"})
        assert bad.status_code == 422
        assert _count(live) == before
        made = http.post("/campaigns", json=body)
        assert made.status_code == 201, made.text
        slug = made.json()["slug"]
        assert made.json()["collection_id"] == f"contributions.{slug}"
        assert made.json()["state"] == "draft"
        assert made.json()["area"]["type"] == "MultiPolygon"
        patched = http.patch(f"/campaigns/{slug}", json={"allow_edits": True})
        assert patched.status_code == 200 and patched.json()["allow_edits"] is True
        assert http.post(f"/campaigns/{slug}/open").json()["state"] == "open"
    anonymous = httpx.get(f"{live.url}/api/campaigns/{slug}")
    assert anonymous.status_code == 200 and anonymous.json()["licence"] == "odbl"
    document = httpx.get(f"{live.url}/api/openapi.json").json()
    validate(document)
    assert {"/api/campaigns", "/api/campaigns/{slug}", "/api/campaigns/{slug}/open"} <= set(
        document["paths"]
    )
    schema = document["components"]["schemas"]
    assert "CampaignCreate" in schema and "CampaignView" in schema


def test_command_line(live):
    """`niaouli campaign ...` in this process (click's runner, the backend's environment):
    a subprocess per command costs seconds of start-up each."""
    from click.testing import CliRunner

    from niaouli.cli import main

    runner = CliRunner(env=live.backend.env())

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(main, list(args), catch_exceptions=False)

    schema = live.backend.settings.data_dir / "champs.json"
    schema.write_text(json.dumps([{"name": "nom", "type": "string"}]), encoding="utf-8")
    created = run(
        "campaign",
        "create",
        "releve-cli",
        "--org",
        "province-sud",
        "--title",
        "Relevé en ligne de commande",
        "--dataset",
        "arrets-bus",
        "--schema",
        str(schema),
        "--allow-edits",
    )
    assert created.exit_code == 0, created.output
    assert "contributions.releve-cli" in created.output
    assert "campagne ouverte" in run("campaign", "open", "releve-cli").output
    refused = run("campaign", "update", "releve-cli", "--geometry-type", "Polygon")
    assert refused.exit_code == 1 and "contient des Point" in refused.output
    listing = run("campaign", "list").output
    assert re.search(r"releve-cli\topen\tprovince-sud", listing)
