"""Editors describe a layer's columns (`/jeux-de-donnees/{slug}/colonnes`), on both backends.

Through a real `niaouli serve` (httpx): the label, unit and description an editor gives a
column reach the dataset page's table and attribute list, the public map's settings
(its pop-ups' labels), the preview GeoJSON and the OGC API's queryables and schema; a
hidden column leaves the pop-ups and the preview table; a re-upload keeps them; only the
organisation's editors may, with a CSRF token; each change is audited. The pop-ups
themselves are driven in tests/test_browser_map.py.
"""

from __future__ import annotations

import json
import re

import httpx

from niaouli.ingest import ingest_file
from tests.accounts_support import (
    ORG_A,
    LoggedServer,
    audit_actions,
    build_matrix,
    csrf_of,
    email_of,
    sign_in,
    slug_of,
)
from tests.portal_support import validate_html5

SLUG = slug_of("public")
PAGE = f"/jeux-de-donnees/{SLUG}/colonnes"


def _layer(backend):
    with backend.session() as session:
        from niaouli.catalogue import service

        layer = service.find_dataset(session, SLUG).layers[0]
        return layer.name, layer.collection_id, dict(layer.column_descriptions)


def _form(token: str, layer: str, **fields: str) -> dict[str, str]:
    return {"csrf": token, "layer": layer, "column-0": "nom", **fields}


def test_editor_describes_columns(backend, tmp_path):
    build_matrix(backend, tmp_path)
    layer, collection, before = _layer(backend)
    assert before == {}
    with LoggedServer(backend, tmp_path / "server.log") as server:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert sign_in(http, email_of("editor_a")).status_code == 303
            edit = http.get(f"/jeux-de-donnees/{SLUG}/modifier")
            assert f'href="{PAGE}"' in edit.text  # reached from the edit page
            page = http.get(PAGE)
            assert page.status_code == 200
            assert "<code>nom</code>" in page.text and 'name="label-0"' in page.text
            token = csrf_of(page.text)

            fields = {"label-0": "Nom du point", "unit-0": "", "description-0": "Son  nom"}
            assert http.post(PAGE, data={**_form("x" * 64, layer), **fields}).status_code == 403
            assert _layer(backend)[2] == {}
            too_long = http.post(PAGE, data={**_form(token, layer), "label-0": "x" * 121})
            assert too_long.status_code == 400 and "120 caractères" in too_long.text
            saved = http.post(PAGE, data={**_form(token, layer), **fields})
            assert saved.status_code == 303
            assert saved.headers["location"].startswith(f"{PAGE}?ok=1")
            stored = {"nom": {"label": "Nom du point", "description": "Son nom"}}
            assert _layer(backend)[2] == stored
            shown = http.get(PAGE)
            assert 'value="Nom du point"' in shown.text
            assert validate_html5({"colonnes": shown.text, "modifier": edit.text}, tmp_path) == []

            dataset = httpx.get(f"{server.url}/jeux-de-donnees/{SLUG}").text
            assert re.search(r'<th scope="col" title="nom">Nom du point</th>', dataset)
            assert "« Nom du point »" in dataset and "Son nom" in dataset
            carte = httpx.get(f"{server.url}/carte").text
            config = json.loads(
                re.search(r'id="carte-config">(.*?)</script>', carte, re.S).group(1)
            )
            assert config["columns"][collection]["nom"]["label"] == "Nom du point"
            preview = httpx.get(
                f"{server.url}/jeux-de-donnees/{SLUG}/couches/{layer}/apercu.geojson"
            ).json()
            assert preview["features"][0]["properties"] == {"nom": "point 0"}
            for path in ("queryables", "schema"):
                schema = httpx.get(f"{server.url}/ogc/collections/{collection}/{path}?f=json")
                assert schema.status_code == 200, schema.text
                nom = schema.json()["properties"]["nom"]
                assert nom["title"] == "Nom du point" and nom["description"] == "Son nom"

            # Hidden: out of the preview's pop-ups and table, still in the attribute list.
            hidden = http.post(PAGE, data={**_form(token, layer), **fields, "hidden-0": "1"})
            assert hidden.status_code == 303
            preview = httpx.get(
                f"{server.url}/jeux-de-donnees/{SLUG}/couches/{layer}/apercu.geojson"
            ).json()
            assert preview["features"][0]["properties"] == {}
            dataset = httpx.get(f"{server.url}/jeux-de-donnees/{SLUG}").text
            assert '<th scope="col"' not in dataset and "(masquée sur la carte)" in dataset

        # Someone of the organisation who is not an editor: refused, nothing changed.
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert sign_in(http, email_of("member_a")).status_code == 303
            assert http.get(PAGE).status_code == 403
            token = csrf_of(http.get("/compte").text)
            refused = http.post(PAGE, data={**_form(token, layer), "label-0": "Pris"})
            assert refused.status_code == 403
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert http.get(PAGE).headers["location"].startswith("/connexion?suivant=")

    # A re-upload of the same columns keeps what the editors wrote.
    ingest_file(
        tmp_path / "points.geojson",
        organisation=ORG_A,
        dataset=SLUG,
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    assert _layer(backend)[2]["nom"]["label"] == "Nom du point"
    actions = [(a, who) for a, who, subject in audit_actions(backend) if subject.startswith(SLUG)]
    assert actions.count(("layer.columns", email_of("editor_a"))) == 2
