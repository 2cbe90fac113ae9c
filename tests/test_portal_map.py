"""The public map page's server side, on both backends: layers listed, access, CSP, alias.

The browser behaviour (tiles drawn, popups, share link) is in test_browser_map.py.
"""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from niaouli.portal.app import create_app
from niaouli.portal.public_map import parse_background
from niaouli.settings import DEFAULT_MAP_BACKGROUND
from tests.portal_support import populate, validate_html5


def client_for(backend, background: str) -> TestClient:
    settings = backend.settings.model_copy(update={"map_background": background})
    return TestClient(create_app(settings), raise_server_exceptions=False)


def config_of(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="carte-config">(.*?)</script>', html)
    assert match, "no map configuration block"
    return json.loads(match.group(1))


def test_map_lists_public_layers_only(backend):
    populate(backend)
    with client_for(backend, "none") as client:
        response = client.get("/carte")
        assert response.status_code == 200
        html = response.text
        collections = re.findall(r'data-collection="([^"]+)"', html)
        # the tables (population, bathing-water results and status) have no geometry
        assert sorted(collections) == ["baignade-noumea-points", "communes-nc"]
        assert "Secret" not in html  # draft and organisation-only datasets
        assert 'href="/jeux-de-donnees/communes-nc"' in html
        assert "Zoom sur la couche" in html
        assert '<script type="module" src="/static/js/carte.js">' in html
        assert re.search(r"<script>(?!</script>)", html) is None  # no inline script
        config = config_of(html)
        assert config["background"] is None and config["showAll"] is True
        assert config["tiles"] == (
            "/ogc/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}"
        )
        assert client.get(config["outline"]).json()["features"][0]["properties"]["nom"]
        csp = response.headers["content-security-policy"]
        assert "img-src 'self' data: blob:;" in csp and "connect-src 'self';" in csp
        assert '<a href="/carte" aria-current="page">Carte</a>' in html


def test_map_page_is_valid_html5(backend, tmp_path):
    populate(backend)
    with client_for(backend, DEFAULT_MAP_BACKGROUND) as client:
        messages = validate_html5({"carte": client.get("/carte").text}, tmp_path)
    assert messages == [], "\n".join(messages)


def test_background_origin_is_allowed_by_the_csp_of_the_map_only(backend):
    with client_for(backend, DEFAULT_MAP_BACKGROUND) as client:
        response = client.get("/carte")
        config = config_of(response.text)
        assert config["background"]["tiles"] == DEFAULT_MAP_BACKGROUND
        assert "OpenStreetMap" in config["background"]["attribution"]
        csp = response.headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in csp
        assert "connect-src 'self' https://tile.openstreetmap.org;" in csp
        assert "openstreetmap" not in client.get("/").headers["content-security-policy"]


def test_english_alias_redirects_keeping_the_query(backend):
    with client_for(backend, "none") as client:
        response = client.get("/map?x=1", follow_redirects=False)
        assert response.status_code == 308
        assert response.headers["location"] == "/carte?x=1"


@pytest.mark.parametrize(
    "value",
    ["javascript:alert(1)", "https://tiles.example/{z}/{x}.png", "tiles/{z}/{x}/{y}.png"],
)
def test_bad_background_setting_is_refused_at_start(value):
    with pytest.raises(ValueError, match="NIAOULI_MAP_BACKGROUND"):
        parse_background(value)


def test_background_setting_forms():
    assert parse_background("none") is None
    assert parse_background(" NONE ") is None
    own = parse_background("https://tuiles.example.nc:8443/fond/{z}/{x}/{y}.png")
    assert own is not None
    assert own.origin == "https://tuiles.example.nc:8443"
    assert own.attribution == "Fond : tuiles.example.nc"
