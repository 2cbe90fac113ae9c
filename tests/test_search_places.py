"""Place names in the search, and suggestions when it finds nothing (issue 15 §7).

The demo's communes layer is the gazetteer: « Nouméa » finds the datasets whose extent
meets Nouméa even when their text never names it (the bathing-water points, ingested for
real), accents and case aside, combined with the query's other words; a restricted
dataset never shows through a place or a suggestion. Both backends.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest

from niaouli.catalogue import gazetteer
from niaouli.catalogue.access import ANONYMOUS, Viewer
from niaouli.catalogue.models import ModerationStatus
from niaouli.catalogue.search import finder, suggestions
from niaouli.catalogue.service import (
    create_code_project,
    create_organisation,
    create_reuse,
    get_organisation,
)
from niaouli.demo import ORGANISATION, load_demo
from niaouli.ingest import ingest_file
from tests.conftest import GEODATA, Backend
from tests.demo_support import BATHING
from tests.portal_support import LiveServer

FIXTURES = Path(__file__).parent / "fixtures"
BEACHES = FIXTURES / "points_baignade.geojson"
DEMO_ORG = ORGANISATION["slug"]


def _load(backend: Backend) -> None:
    """The demo, bathing-water points of Nouméa (their text never names Nouméa), a
    restricted dataset in Nouméa, and words found only in a code project and a reuse."""
    load_demo(backend.settings, echo=lambda _m: None)
    common = {"settings": backend.settings, "engine": backend.engine, "progress": "none"}
    ingest_file(
        BEACHES,
        organisation=DEMO_ORG,
        dataset="points-de-prelevement",
        title="Points de prélèvement des eaux de baignade",
        description="Codes des points de surveillance sanitaire des plages.",
        **common,
    )
    with backend.session() as session, session.begin():
        create_organisation(session, "secret-org", "Organisme discret", "public_body")
    ingest_file(
        BEACHES,
        organisation="secret-org",
        dataset="capteurs-confidentiels",
        title="Capteurs confidentiels Zorglubium",
        description="Ne doit jamais apparaître.",
        access_level="organisation",
        **common,
    )
    with backend.session() as session, session.begin():
        org = get_organisation(session, DEMO_ORG)
        create_code_project(
            session, org, "itineraires-cyclables", "Calculateur d'itinéraires cyclables"
        )
        create_reuse(
            session,
            "atlas-mangroves",
            "Atlas des mangroves",
            "visualisation",
            url="https://exemple.nc/mangroves",
            organisation_id=org.id,
            status=ModerationStatus.APPROVED,
        )


def _slugs(backend: Backend, q: str, viewer: Viewer = ANONYMOUS, **params: str) -> list[str]:
    filters = finder.Filters.from_params(_Params(q=q, **params))
    with backend.session() as session:
        result = finder.search(session, viewer, filters, kinds=["dataset"], page_size=100)
        return [result.objects[("dataset", i.id)].slug for i in result.items]


def _ours(slugs: list[str]) -> list[str]:
    """`slugs` without the demo's Nouméa bathing-water datasets, which name Nouméa in
    their text and lie inside it: found by words anyway, they say nothing of places."""
    return [slug for slug in slugs if slug not in BATHING]


class _Params(dict):
    def getlist(self, name: str) -> list[str]:
        return [self[name]] if name in self else []


def test_a_place_finds_the_datasets_whose_extent_meets_it(backend: Backend):
    _load(backend)
    for q in ("Nouméa", "noumea", "NOUMEA"):
        found = _slugs(backend, q)
        assert set(BATHING) <= set(found), (q, found)
        # The points never name Nouméa; inside it, they come before the territory.
        assert _ours(found)[:2] == ["points-de-prelevement", "communes-nc"], (q, found)
        assert "capteurs-confidentiels" not in found
    assert _slugs(backend, "Hienghene") == ["communes-nc"]  # the points are elsewhere
    assert "communes-nc" in _slugs(backend, "Île des Pins")
    assert "communes-nc" in _slugs(backend, "bourail")
    # With other words: both must hold (« prélèvement » and the place).
    assert _ours(_slugs(backend, "prélèvement Nouméa")) == ["points-de-prelevement"]
    # (the demo's results table has no extent: kept, last, as tables are)
    assert _ours(_slugs(backend, "prélèvement Hienghène")) == []
    # A table without extent matching the other words may hold the place's rows: last.
    assert _ours(_slugs(backend, "population Nouméa")) == ["population-communes-nc"]
    assert _slugs(backend, "communes Poum") == ["communes-nc", "population-communes-nc"]
    # `lieu=non`: the words only.
    assert _ours(_slugs(backend, "Nouméa", lieu="non")) == []
    # Who may see the restricted dataset finds it by place too; nobody else does.
    admin = Viewer.system()
    assert "capteurs-confidentiels" in _slugs(backend, "Nouméa", admin)
    signed_in = Viewer(user_id=999)
    assert "capteurs-confidentiels" not in _slugs(backend, "Nouméa", signed_in)


def test_places_come_only_from_layers_the_viewer_may_see(backend: Backend):
    _load(backend)
    with backend.session() as session, session.begin():
        gazetteer.remove_source(session, "communes-nc")
        gazetteer.set_source(session, "capteurs-confidentiels", None, "name")
    with backend.session() as session:
        # The restricted layer's point codes are places for its organisation's members only.
        assert gazetteer.find_for(session, ANONYMOUS, "P18057") is None
        assert gazetteer.find_for(session, Viewer.system(), "P18057").place.name == "P18057"
        assert suggestions.spelling(session, ANONYMOUS, "P18O57") is None
        assert suggestions.spelling(session, ANONYMOUS, "Zorglubiun") is None
        assert suggestions.spelling(session, Viewer.system(), "Zorglubiun") == "zorglubium"


def test_a_replaced_layer_is_followed(backend: Backend, tmp_path: Path):
    _load(backend)
    assert _slugs(backend, "Koné") == ["communes-nc"]
    # The communes replaced by a file without Koné (the same columns).
    text = (GEODATA / "nc_communes.geojson").read_text(encoding="utf-8")
    import json

    collection = json.loads(text)
    collection["features"] = [
        f for f in collection["features"] if f["properties"]["LIBGEO"] != "Koné"
    ]
    smaller = tmp_path / "nc_communes.geojson"
    smaller.write_text(json.dumps(collection), encoding="utf-8")
    ingest_file(
        smaller,
        organisation=DEMO_ORG,
        dataset="communes-nc",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    assert _slugs(backend, "Koné") == []
    assert "communes-nc" in _slugs(backend, "Nouméa")


def test_spelling_suggestions(backend: Backend):
    _load(backend)
    with backend.session() as session:
        assert suggestions.spelling(session, ANONYMOUS, "Numea") == "Nouméa"
        assert suggestions.spelling(session, ANONYMOUS, "comunes") == "communes"
        assert suggestions.spelling(session, ANONYMOUS, "comunes Hienghen") == (
            "communes Hienghène"
        )
        assert suggestions.spelling(session, ANONYMOUS, "communes") is None  # known


def _page(server: LiveServer, path: str, **params: str) -> str:
    response = httpx.get(f"{server.url}{path}", params=params, timeout=30)
    assert response.status_code == 200
    return response.text


def _cards(page: str) -> list[str]:
    return re.findall(r'class="card-title"><a href="/jeux-de-donnees/([^"]+)"', page)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_search_pages_show_the_place_and_suggestions(backend: Backend, language: str):
    _load(backend)
    with LiveServer(backend) as server:
        # The home page's old example « Hienghène » now finds the communes.
        page = _page(server, "/recherche", q="Hienghène", lang=language)
        assert "communes-nc" in _cards(page)
        chip = "Lieu : Hienghène" if language == "fr" else "Place: Hienghène"
        assert chip in html.unescape(page)
        removal = re.search(r'<span class="chip">[^<]*<a href="([^"]+)"', page)
        assert removal and "lieu=non" in html.unescape(removal.group(1))
        # Once the place is turned off, a new search from the form is a fresh choice:
        # `lieu=non` is not carried over into the form's hidden fields.
        words_only = _page(server, "/recherche", q="Hienghène", lieu="non", lang=language)
        assert "Lieu : Hienghène" not in html.unescape(words_only)
        assert 'name="lieu"' not in words_only
        assert "communes-nc" not in _cards(words_only)  # found by the place alone

        page = _page(server, "/jeux-de-donnees", q="noumea", lang=language)
        assert _ours(_cards(page))[:2] == ["points-de-prelevement", "communes-nc"]
        assert "capteurs-confidentiels" not in page and "Zorglubium" not in page

        # Nothing found: a nearby spelling, with its link.
        page = html.unescape(_page(server, "/jeux-de-donnees", q="Numea", lang=language))
        assert 'id="suggestions"' in page and _cards(page) == []
        assert re.search(r'<a href="/jeux-de-donnees\?q=Noum%C3%A9a"[^>]*>Nouméa</a>', page)
        said = "Vouliez-vous dire" if language == "fr" else "Did you mean"
        assert said in page

        # Words found only in a code project and a reuse: links to them.
        page = html.unescape(_page(server, "/jeux-de-donnees", q="cyclables", lang=language))
        assert re.search(r'<a href="/recherche\?q=cyclables&type=code"', page)
        page = html.unescape(_page(server, "/jeux-de-donnees", q="mangroves", lang=language))
        assert re.search(r'<a href="/recherche\?q=mangroves&type=reutilisations"', page)

        # The API's search understands places too, within the same access rule.
        for q, expected in (
            ("noumea", {"points-de-prelevement", "communes-nc", *BATHING}),
            ("prélèvement Nouméa", {"points-de-prelevement", *BATHING} - {"baignade-noumea-etat"}),
            ("Hienghène", {"communes-nc"}),
        ):
            answer = httpx.get(f"{server.url}/api/datasets", params={"q": q}, timeout=30).json()
            assert {d["slug"] for d in answer["items"]} == expected, q
            assert answer["total"] == len(expected)

        # A restricted dataset's words are never suggested to a visitor.
        page = html.unescape(_page(server, "/recherche", q="Zorglubiun", lang=language))
        assert "Zorglubium" not in page and "zorglubium" not in page


def test_gazetteer_command_line(backend: Backend):
    load_demo(backend.settings, echo=lambda _m: None)
    wrong = backend.run("gazetteer", "set", "communes-nc", "--name-column", "NOM", check=False)
    assert wrong.returncode == 1
    assert "pas de colonne « NOM »" in wrong.stderr and "LIBGEO" in wrong.stderr
    unknown = backend.run("gazetteer", "set", "inconnu", "--name-column", "NOM", check=False)
    assert unknown.returncode == 1 and "jeu de données inconnu" in unknown.stderr
    flat = backend.run(
        "gazetteer", "set", "population-communes-nc", "--name-column", "LIBGEO", check=False
    )
    assert flat.returncode == 1 and "couche géographique" in flat.stderr
    assert backend.run("gazetteer", "unset", "communes-nc").returncode == 0
    assert _slugs(backend, "Hienghène") == []
    done = backend.run("gazetteer", "set", "communes-nc/nc-communes", "--name-column", "LIBGEO")
    assert "33 lieu(x)" in done.stdout
    listed = backend.run("gazetteer", "list").stdout
    assert "communes-nc/nc-communes (LIBGEO)" in listed and "Hienghène" in listed
    assert _slugs(backend, "Hienghène") == ["communes-nc"]
