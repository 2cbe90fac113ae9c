"""The dataset page in English (`?lang=en`), on both backends; French stays the default.

A layer page and a table page, an attached CSV preview, the licence in plain words,
dates in English, harvest provenance, the "Use this data" box (its captions are
translated, its code is the same in both languages: only the comments change), the
JavaScript messages, and HTML5 validity of the English pages.
"""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from starlette.testclient import TestClient

from niaouli.catalogue import service
from niaouli.catalogue.models import Resource, ResourceKind
from niaouli.i18n import set_language
from niaouli.portal import licences
from niaouli.portal.app import create_app
from tests.portal_support import populate, validate_html5
from tests.test_portal_dataset_page import HOSTILE_SLUG, add_hostile_layers, snippets

ENGLISH = '<html lang="en">'


@pytest.fixture
def site(backend, tmp_path):
    populate(backend)
    add_hostile_layers(backend, tmp_path)  # a point layer with an attached CSV, a table
    with backend.session() as session, session.begin():
        dataset = service.find_dataset(session, "tribus-hienghene")
        dataset.temporal_start = date(2020, 1, 5)
        dataset.temporal_end = date(2024, 12, 31)
        dataset.licence = "CC-BY 4.0"
        dataset.provenance = {
            "harvest_source": "georep-csw",
            "harvest_source_name": "Géorep CSW",
            "source_url": "https://example.org/fiche/1",
            "harvested_at": "2026-11-25T10:00:00",
            "record_identifier": "fiche-1",
        }
        dataset.resources.append(
            Resource(title="Documentation", kind=ResourceKind.LINK, url="https://example.org/doc")
        )
        dataset.resources.append(
            Resource(title="Lien piégé", kind=ResourceKind.LINK, url="javascript:alert(1)")
        )
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    yield client
    client.close()


def page(client: TestClient, url: str, language: str | None = None) -> str:
    client.cookies.clear()  # the language comes from `?lang=` only, never a previous page
    params = {"lang": language} if language else None
    response = client.get(url, params=params)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response.text


def text(markup: str) -> str:
    """The page's words without tags, entities decoded, spaces normalised."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def test_layer_page_in_english(site):
    en = page(site, "/jeux-de-donnees/communes-nc", "en")
    words = text(en)
    assert ENGLISH in en
    # the licence in plain words, in English; the licence name stays as it is
    assert "Licence Ouverte 2.0 (Etalab)" in en
    assert "You may copy, modify, publish and use this data, including for commercial" in en
    assert "Condition: credit the source (the producer) and the date of the last update." in en
    assert "Vous pouvez copier" not in en and "citer la source" not in en
    # headings, layer facts, map and table captions
    assert "Layer “nc-communes”" in en and "33 features (polygons)" in words
    assert "collection identifier communes-nc" in words
    assert 'aria-label="Map preview of the layer nc-communes"' in en
    assert "Simplified preview, without a basemap. Coordinates in WGS 84 (EPSG:4326)." in en
    assert "The first 10 rows (attributes, without the geometry)" in en
    assert 'aria-label="Preview of the first rows of nc-communes"' in en
    assert "<h3>Download</h3>" in en and "Attributes (3)" in en
    assert "The <code>fid</code> attribute is the feature identifier in the OGC API." in en
    assert "original file · GeoJSON" in words
    assert "SHA-256</abbr> checksum: <code>" in en
    # the side facts, dates in English (Month day, year)
    updated = re.search(r"updated (\w+ \d{1,2}, \d{4})", words)
    assert updated and updated.group(1).split()[0] in (
        "January February March April May June July August September October November December"
    )
    assert re.search(r"Published on</dt><dd>\w+ \d{1,2}, \d{4}</dd>", en)
    assert "Geographic coverage</dt><dd>west 163.5697, south -22.7115" in en
    assert "New Caledonia" in words and "Nouvelle-Calédonie</dd>" not in en  # area covered
    assert "Reuses and code projects" in en and "Suggest a reuse of this dataset" in en
    for french in (
        "Utiliser ces données",
        "Télécharger",
        "Aperçu simplifié",
        "Couverture géographique",
        "identifiant de collection",
        "premières lignes",
        "Empreinte",
        "Proposer une réutilisation",
        "au-delà de la Nouvelle-Calédonie",
    ):
        assert french not in en, french


def test_use_box_captions_in_english_code_unchanged(site):
    fr = page(site, "/jeux-de-donnees/communes-nc")
    en = page(site, "/jeux-de-donnees/communes-nc", "en")
    assert "Use this data" in en and '<h3 id="qgis">Use in QGIS</h3>' in en
    assert "No download needed: straight from the platform" in en
    assert "<strong>Layer › Add Layer › Add WFS / OGC API - Features Layer</strong>" in en
    assert "Select the collection <code>communes-nc</code> and click <strong>Add</strong>." in en
    assert "<strong>Web › MetaSearch</strong>" in en
    assert '<label for="url-csw">CSW catalogue</label>' in en
    assert "Vector tiles “communes-nc”" in en
    assert 'Web map with <a href="https://maplibre.org/maplibre-gl-js/docs/"' in en
    assert "(source layer <code>communes-nc</code>)" in en
    assert re.search(
        r"GeoJSON from OGC API Features, with a CQL2 filter \(<code>[^<]+</code>\) or in "
        r"Lambert New Caledonia \(EPSG:3163\)\.",
        en,
    )
    assert "With GDAL (OAPIF driver) through pyogrio and geopandas, or with requests." in en
    assert "In a browser or in Node.js (fetch)." in en
    assert "Metadata record (OGC API Records):" in en
    for french in ("Utiliser dans QGIS", "Sélectionnez la collection", "Carte web avec"):
        assert french not in en, french

    # the same code in both languages; only the comments follow the reader
    fr_codes, en_codes = snippets(fr), snippets(en)
    assert fr_codes.keys() == en_codes.keys() and len(en_codes) == 4
    for key, code in en_codes.items():
        commands = [line for line in code.splitlines() if not line.startswith("#")]
        assert commands == [line for line in fr_codes[key].splitlines() if not line.startswith("#")]
    curl = en_codes["code-1-curl"]
    assert "# The first 100 features (GeoJSON)" in curl
    assert re.search(r"^# CQL2 filter: CODGEO='\d+'$", curl, re.M)
    assert "# Coordinates in Lambert New Caledonia (EPSG:3163)" in curl
    assert "# or without GDAL:" in en_codes["code-1-python"]
    assert "# Les 100 premiers objets (GeoJSON)" in fr_codes["code-1-curl"]


def test_table_and_attached_csv_in_english(site, tmp_path):
    table = page(site, "/jeux-de-donnees/population-communes-nc", "en")
    words = text(table)
    assert ENGLISH in table
    assert "Table “nc-communes-population”" in table and "33 rows" in words
    assert "The first 20 rows</caption>" in table
    assert "CSV export (UTF-8, comma-separated)." in table
    assert "Use this data" in table and "Use in QGIS" not in table
    # a table: a CQL2 filter but no other coordinate system
    assert re.search(
        r"GeoJSON from OGC API Features, with a CQL2 filter \(<code>[^<]+</code>\)\.<", table
    )

    hostile = page(site, f"/jeux-de-donnees/{HOSTILE_SLUG}", "en")
    # an attached CSV (not ingested): its preview's summary, region name and caption
    assert "Table preview (first 2 rows)" in hostile
    assert 'aria-label="Preview of Annexe (CSV joint, non importé)"' in hostile
    assert "The first 2 rows of annexe.csv</caption>" in hostile
    assert "Aperçu du tableau" not in hostile and "premières lignes de" not in hostile
    # an unknown licence, in plain words; the title of the data stays French (data)
    assert "Licence not specified: contact the producer before reusing the data." in hostile
    assert "Licence non précisée" not in hostile
    assert "Annexe (CSV joint, non importé)" in hostile

    errors = validate_html5(
        {
            "communes-en": page(site, "/jeux-de-donnees/communes-nc", "en"),
            "table-en": table,
            "hostile-en": hostile,
            "tribus-en": page(site, "/jeux-de-donnees/tribus-hienghene", "en"),
        },
        tmp_path,
    )
    assert errors == []


def test_harvested_dataset_in_english(site):
    en = page(site, "/jeux-de-donnees/tribus-hienghene", "en")
    words = text(en)
    assert "Harvested from Géorep CSW — see the original" in words
    # (said once, in « In brief », since issue 15 §6)
    assert "Time period covered</dt><dd>from January 5, 2020 to December 31, 2024</dd>" in en
    assert "Harvested on</dt>" in en and "November 25, 2026" in en
    assert re.search(r"<dt>Record identifier</dt>\s*<dd>fiche-1</dd>", en)
    assert "<dt>Harvest source</dt>" in en and "<h3>Lineage</h3>" in en
    assert "Documentation</a>" in en and "external link" in en
    assert "(address not shown: only http, https and ftp links are published)" in en
    # CC BY: the licence explained in English, and Creative Commons' English deed
    assert "Creative Commons Attribution 4.0 (CC BY 4.0)" in en
    assert "Conditions: credit the author, name the licence and indicate your changes." in en
    assert 'href="https://creativecommons.org/licenses/by/4.0/deed.en"' in en
    for french in ("Moissonné", "du 5 janvier", "lien externe", "Généalogie", "citer l'auteur"):
        assert french not in en, french


def test_french_stays_the_default(site):
    fr = page(site, "/jeux-de-donnees/tribus-hienghene")
    assert '<html lang="fr">' in fr
    assert "Moissonné depuis Géorep CSW" in fr and "du 5 janvier 2020 au 31 décembre 2024" in fr
    words = text(fr)
    assert "Obligation : citer l'auteur, indiquer la licence et signaler vos modifications" in words
    assert 'href="https://creativecommons.org/licenses/by/4.0/deed.fr"' in fr
    assert "Harvested from" not in fr and "external link" not in fr
    communes = page(site, "/jeux-de-donnees/communes-nc")
    assert "Utiliser ces données" in communes and "Use this data" not in communes
    assert "Vous pouvez copier, modifier, publier et exploiter ces données" in communes
    # English is a choice that sticks (cookie), and French can be chosen back
    site.cookies.clear()
    site.get("/jeux-de-donnees/communes-nc", params={"lang": "en"})
    assert "Use this data" in site.get("/jeux-de-donnees/communes-nc").text
    back = site.get("/jeux-de-donnees/communes-nc", params={"lang": "fr"}).text
    assert "Utiliser ces données" in back and '<html lang="fr">' in back
    site.cookies.clear()


def test_scripts_carry_english_messages(site):
    copier = site.get("/static/js/copier.js").text
    assert 'document.documentElement.lang === "en"' in copier
    assert "Copied to the clipboard." in copier and "Copié dans le presse-papiers." in copier
    preview = site.get("/static/js/apercu-carte.js").text
    assert "MAPLIBRE_LOCALE[LANG]" in preview and '"Zoom in"' in preview
    assert "The map cannot be shown in this browser" in preview


def test_licence_in_words_follows_the_language():
    try:
        set_language("en")
        shown = licences.describe("ODbL").in_words()
        assert shown.name == licences.ODBL.name  # a name, not translated
        assert shown.may.startswith("You may copy, modify and use this database")
        assert "share-alike" in shown.must
        unknown = licences.describe("Licence maison").in_words()
        assert unknown.name == "Licence not specified" and not unknown.must
        cc0 = licences.describe("CC0").in_words()
        assert cc0.url == "https://creativecommons.org/publicdomain/zero/1.0/deed.en"
    finally:
        set_language("fr")
    assert licences.describe("ODbL").in_words() == licences.ODBL  # French: as written
