"""The public map (/carte) and the statistics pages in English, French still the default.

Server side on both backends (TestClient): page texts, the map's background credit, the
statistics' metric names, chart title and axis numbers, month names in the chart and its
data table, the organisation and dataset statistics pages, and a JSON whose keys do not
move with the language. In the browser (SQLite, desktop): the map's own texts (legend,
MapLibre controls, layer count, popup close button, "nothing here" message) in English.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from babel.dates import format_date
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from niaouli.catalogue import service
from niaouli.i18n import set_language
from niaouli.portal.app import create_app
from niaouli.portal.public_map import parse_background
from niaouli.settings import DEFAULT_MAP_BACKGROUND
from niaouli.stats.middleware import today
from niaouli.stats.table import usage_daily
from tests.browser_support import (
    TRAP_POINT,
    chromium,  # noqa: F401 - fixture
    live_site,
    visit,
)
from tests.portal_support import populate, validate_html5

ENGLISH_MONTH = re.compile(r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b")


def client_for(backend, background: str = "none") -> TestClient:
    settings = backend.settings.model_copy(update={"map_background": background})
    return TestClient(create_app(settings), raise_server_exceptions=False)


def english(client: TestClient, url: str, **params: str) -> str:
    response = client.get(url, params={**params, "lang": "en"})
    assert response.status_code == 200, (url, response.status_code)
    assert '<html lang="en">' in response.text
    assert response.headers["content-language"] == "en"
    return response.text


# --- the map, server side ---------------------------------------------------------------


def test_map_page_in_english(backend):
    populate(backend)
    with client_for(backend, DEFAULT_MAP_BACKGROUND) as client:
        html = english(client, "/carte")
        for text in (
            '<h1 class="carte-titre" id="carte-titre">Data map</h1>',
            'aria-label="Map layers"',
            "Search for a layer",
            'placeholder="e.g. communes"',
            # the demo's communes and Nouméa's bathing-water sampling points
            '<p class="meta" id="carte-compte" aria-live="polite">2 layers</p>',
            "Zoom to layer",
            "Dataset page",
            "No layer matches this search.",
            "Share this view",
            "Link to the current view (position, zoom and layers shown)",
            "Copy link",
            "© OpenStreetMap contributors. If the background cannot be reached",
            'aria-label="Interactive map of the public layers"',
            "The interactive map needs JavaScript.",
            'served as vector tiles by the <a href="/ogc">OGC API</a>.',
        ):
            assert text in html, text
        assert re.search(r"· [\d,]+ features \(polygons\)</p>", html)
        assert "“Communes de Nouvelle-Calédonie" in html  # screen-reader quote marks
        for french in ("Zoom sur la couche", "Partager cette vue", "Copier le lien", "objets"):
            assert french not in html, french
        config = json.loads(re.search(r'id="carte-config">(.*?)</script>', html).group(1))
        assert config["background"]["attribution"] == "© OpenStreetMap contributors"

        client.cookies.clear()  # ?lang=en set the language cookie
        french_html = client.get("/carte").text  # French is still the default
        assert '<html lang="fr">' in french_html
        assert "Zoom sur la couche" in french_html and "Zoom to layer" not in french_html
        assert "© les contributeurs d’OpenStreetMap. Sans connexion au fond" in french_html
        assert "2 couches</p>" in french_html


def test_map_page_in_english_is_valid_html5(backend, tmp_path):
    populate(backend)
    with client_for(backend) as client:
        html = english(client, "/carte")
        assert "Plain background with the commune boundaries" in html
        messages = validate_html5({"carte-en": html}, tmp_path)
    assert messages == [], "\n".join(messages)


def test_own_background_credit_follows_the_language():
    own = parse_background("https://tuiles.example.nc/fond/{z}/{x}/{y}.png")
    assert own is not None
    set_language("en")
    try:
        assert own.attribution == "Background: tuiles.example.nc"
    finally:
        set_language("fr")
    assert own.attribution == "Fond : tuiles.example.nc"


# --- statistics -------------------------------------------------------------------------


def add_usage(backend) -> None:
    """Visits over the last days: enough to put thousands on the chart's axis."""
    with backend.engine.begin() as conn:
        session = Session(bind=conn)
        org = service.get_organisation(session, "gouvernement-nc")
        dataset = service.find_dataset(session, "communes-nc")
        rows = [
            ("page", 1500, 1800),
            ("download", 40, 55),
            ("ogc_tiles", 300, 900),
            ("api", 7, 9),
        ]
        for back in (0, 3):
            for interface, visits, hits in rows:
                conn.execute(
                    usage_daily.insert().values(
                        day=today() - timedelta(days=back),
                        interface=interface,
                        dataset_id=dataset.id,
                        organisation_id=org.id,
                        hits=hits,
                        unique_visits=visits,
                    )
                )


def test_statistics_overview_in_english(backend, tmp_path):
    populate(backend)
    add_usage(backend)
    with client_for(backend) as client:
        html = english(client, "/statistiques")
        start = today() - timedelta(days=29)
        period = (
            f"From {format_date(start, 'd MMM yyyy', locale='en')} "
            f"to {format_date(today(), 'd MMM yyyy', locale='en')}."
        )
        for text in (
            "<h1>Usage statistics</h1>",
            period,
            'without any personal data (see <a href="#methode">the method</a>).',
            ">Last 30 days</a>",
            ">Last 12 months</a>",
            ">by week</a>",
            "<h2>What is available</h2>",
            " code project",
            "<h2>Use over the period</h2>",
            "<strong>3,000</strong> page views",
            "(3,600 requests)",
            "Downloads",
            "OGC calls (features, tiles, records)",
            "Search engine crawlers (counted separately)",
            "<summary>The chart's data as a table</summary>",
            'titre">De-duplicated visits per day</caption>',
            '<th scope="col">Day</th><th scope="col">Page views</th>',
            "<h2>By organisation</h2>",
            "<h2>Most used datasets</h2>",
            '<h2 id="methode">How these figures are counted</h2>',
            "the read and write API (<code>/api</code>)",
            "The figures shown are <strong>visits</strong>:",
            "statistics in JSON format</a>.",
        ):
            assert text in html, text
        # the chart: title, description, axis numbers and legend in English
        assert '<title id="courbe-usage-t">Use of Niaouli — Last 30 days, by day</title>' in html
        assert "De-duplicated visits per day: Page views (total 3000)" in html
        assert "The detailed figures are in the table that follows.</desc>" in html
        assert 'fill="#333">2,000</text>' in html  # the y axis's top
        assert f'fill="#333">{format_date(today(), "d MMM", locale="en")}</text>' in html
        assert "<title>API calls</title>" in html  # each line's name
        # the data table: dates with English month names
        assert f'<th scope="row">{format_date(today(), "d MMM yyyy", locale="en")}</th>' in html
        assert ENGLISH_MONTH.search(html)
        for french in (
            "Pages vues",
            "Téléchargements",
            "Utilisation sur la période",
            "Visites dédupliquées",
            "derniers jours",
            "par semaine",
            "Comment ces chiffres",
        ):
            assert french not in html, french

        weekly = english(client, "/statistiques", jours="90")
        assert '<th scope="col">Week of</th>' in weekly
        assert 'titre">De-duplicated visits per week</caption>' in weekly
        assert "Use of Niaouli — Last 90 days, by week</title>" in weekly
        assert re.search(r'font-size="12" fill="#333">week of \d{1,2} [A-Z][a-z]{2}</text>', weekly)
        assert "sem. du" not in weekly

        data = client.get("/statistiques.json", params={"lang": "en"}).json()
        assert set(data) >= {"periode", "catalogue", "totaux", "organisations", "series"}
        assert data["totaux"]["vues"] == {"visites": 3000, "requetes": 3600}

        messages = validate_html5({"stats-en": html, "stats-en-90": weekly}, tmp_path)
    assert messages == [], "\n".join(messages)


def test_statistics_stay_french_by_default(backend):
    populate(backend)
    add_usage(backend)
    with client_for(backend) as client:
        html = client.get("/statistiques").text
        assert '<html lang="fr">' in html
        assert "<h1>Statistiques d'utilisation</h1>" in html
        assert f"Du {(today() - timedelta(days=29)).strftime('%d/%m/%Y')} au" in html
        assert "<strong>3\u202f000</strong> pages vues" in html
        assert "(3\u202f600 requêtes)" in html
        assert 'fill="#333">2\u202f000</text>' in html
        assert f'<th scope="row">{today().strftime("%d/%m/%Y")}</th>' in html
        assert f'fill="#333">{today().strftime("%d/%m")}</text>' in html
        assert "Utilisation de Niaouli — 30 derniers jours, par jour</title>" in html
        assert "Visites dédupliquées par jour : Pages vues (total 3000)" in html
        assert "Page views" not in html and "Downloads" not in html
        weekly = client.get("/statistiques?jours=90").text
        assert '<th scope="col">Semaine du</th>' in weekly
        assert re.search(r'fill="#333">sem\. du \d\d/\d\d</text>', weekly)


def test_organisation_and_dataset_statistics_in_english(backend, tmp_path):
    populate(backend)
    add_usage(backend)
    with client_for(backend) as client:
        org = english(client, "/statistiques/organisations/gouvernement-nc")
        assert (
            '<nav class="breadcrumb" aria-label="Breadcrumb"><a href="/statistiques">Statistics</a>'
            in org
        )
        assert re.search(r"<h1>Statistics — [^<]+</h1>", org)
        assert "View the organisation</a>" in org
        assert "<h2>Most used datasets</h2>" in org
        assert "<strong>3,000</strong> page views" in org
        assert "Use of Gouvernement" in org
        assert "Search engine crawlers (counted separately)" not in org  # site-wide only
        assert "Voir l'organisation" not in org

        dataset = english(client, "/statistiques/jeux-de-donnees/communes-nc")
        assert re.search(r"<h1>Statistics for the dataset “[^<]+”</h1>", dataset)
        assert "View the dataset</a>" in dataset
        assert "<strong>3,000</strong> page views" in dataset
        assert "<h2>What is available</h2>" not in dataset
        assert ENGLISH_MONTH.search(dataset)
        assert "Statistiques du jeu de données" not in dataset

        assert client.get("/statistiques/jeux-de-donnees/nexiste-pas?lang=en").status_code == 404
        messages = validate_html5({"org-en": org, "dataset-en": dataset}, tmp_path)
    assert messages == [], "\n".join(messages)


# --- the map in a browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def map_site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("carte-en")
    with live_site(request, "sqlite", folder, "none") as live:
        yield live


def test_map_in_english_in_the_browser(chromium, map_site):  # noqa: F811
    lon, lat = TRAP_POINT
    with visit(chromium, map_site, "desktop") as v:
        v.open(f"/carte?lang=en#map=14/{lat}/{lon}")
        v.wait_for_map()
        assert v.page.evaluate("() => document.documentElement.lang") == "en"
        assert v.page.text_content(".carte-legende summary") == "Legend"  # hidden on desktops
        assert v.page.get_attribute(".maplibregl-ctrl-zoom-in", "aria-label") == "Zoom in"
        assert v.page.get_attribute(".maplibregl-ctrl-zoom-out", "aria-label") == "Zoom out"

        total = v.page.locator(".carte-couche").count()
        v.page.fill("#carte-filtre", "PIEGE")
        assert v.page.inner_text("#carte-compte") == f"1 of {total} layers"
        v.page.fill("#carte-filtre", "")
        assert v.page.inner_text("#carte-compte") == f"{total} layers"

        x, y = v.page.evaluate(
            "([lon, lat]) => { const m = window.niaouliMap; const p = m.project([lon, lat]);"
            " const r = m.getCanvas().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; }",
            [lon, lat],
        )
        v.page.mouse.click(x, y)
        popup = v.page.locator(".maplibregl-popup")
        popup.wait_for(timeout=10_000)
        assert "Points <b>piégés</b>" in popup.inner_text()  # data is not translated
        assert popup.locator(".maplibregl-popup-close-button").get_attribute("aria-label") == (
            "Close"
        )

        v.page.click("#carte-copier")
        status = v.page.locator("#carte-copie-statut")
        v.page.wait_for_function("() => document.getElementById('carte-copie-statut').textContent")
        assert status.inner_text() in ("Link copied.", "Select the link and copy it (Ctrl+C).")
        assert "lang=en" in v.page.input_value("#carte-lien")  # the shared view stays English

        v.page.evaluate("() => window.niaouliMap.jumpTo({center: [160, -25]})")  # open sea
        v.page.focus(".maplibregl-canvas")
        v.page.keyboard.press("Enter")
        assert v.page.inner_text("#carte-annonce") == "No feature at the centre of the map."
        assert v.errors == []
