"""The search and listing pages in English (?lang=en), and French left as it was.

/recherche with words and facets, /jeux-de-donnees, /organisations, /organisations/<slug>,
paging, empty results, the access facet of a signed-in member, and the shared partials
(dataset cards, "En bref", the editor's dataset status). Starlette TestClient, both
backends; the corpus is the facet tests' one (every kind of object, restricted datasets).
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from niaouli.accounts.middleware import AccountsMiddleware
from niaouli.i18n import set_language
from niaouli.portal import search_pages
from niaouli.portal.app import create_app
from niaouli.portal.rendering import make_environment
from tests.portal_support import validate_html5
from tests.test_portal_facets import build, facets, slugs, total

ENGLISH = '<html lang="en"'


@pytest.fixture
def site(backend):
    secrets = build(backend)
    # Tokens are resolved as `niaouli serve` does it (niaouli/web.py), for the access facet.
    app = AccountsMiddleware(create_app(backend.settings), backend.engine, "clef-de-test")
    client = TestClient(app, raise_server_exceptions=False)
    yield client, secrets
    client.close()


def get(client: TestClient, url: str, token: str | None = None, **params) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(url, params=params or None, headers=headers)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.text


def english(client: TestClient, url: str, token: str | None = None, **params) -> str:
    page = get(client, url, token, lang="en", **params)
    assert ENGLISH in page
    return page


def text_of(page: str) -> str:
    """The page's visible text, tags removed, spaces squeezed (for whole sentences)."""
    main = page.split('<main id="contenu"', 1)[-1]
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def test_search_everything_in_english(site, tmp_path):
    client, _secrets = site
    page = english(client, "/recherche", q="écoles", theme="Éducation", tri="populaire")
    words = text_of(page)
    assert "<title>Search “écoles”" in page
    assert "<h1>Search</h1>" in page
    assert "Search datasets, code, reuses, organisations, events" in words
    assert 'placeholder="e.g. population, communes, Nouméa"' in page
    assert "Sort by" in words and ">Most used</option>" in page and ">Relevance</option>" in page
    assert '<button type="submit" class="secondary">Apply</button>' in page
    assert "2 results for “écoles”" in words
    assert total(page) == 2
    # Facets: names and the platform's own values in English, the data as it is.
    shown = facets(page)
    assert {"Type", "Organisation", "Theme", "Format", "Licence", "Spatial data"} <= set(shown)
    assert set(shown["Type"]) == {"Datasets"}
    assert "Éducation" in shown["Theme"]  # a theme is data: never translated
    assert set(shown["Spatial data"]) <= {"Spatial", "Non-spatial"}
    assert "(active filter, select to remove it)" in page
    assert '<summary id="filtres-titre">Filters (1 active)</summary>' in page
    assert "Clear all filters" in words
    # Result cards
    assert '<span class="kind">Dataset</span>' in page
    assert "updated " in words
    # The map box
    assert "Geographic area" in words and "Search this area" in page
    assert 'aria-label="Map to choose an area"' in page
    for french in (
        "Trier par",
        "Appliquer",
        "Rechercher",
        "résultat",
        "Thème",
        "Retirer tous les filtres",
        "filtre actif",
        "Filtres",
        "Jeu de données",
        "mis à jour le",
        "Zone géographique",
        "Plus utilisés",
    ):
        assert french not in page, french
    assert validate_html5({"recherche-en": page}, tmp_path) == []


def test_every_kind_and_its_labels_in_english(site):
    client, _secrets = site
    page = english(client, "/recherche", q="écoles")
    assert {k: v[0] for k, v in facets(page)["Type"].items()} == {
        "Datasets": 2,
        "Code": 1,
        "Reuses": 1,
        "Events": 1,
    }
    kinds = set(re.findall(r'<span class="kind">([^<]+)</span>', page))
    assert kinds == {"Dataset", "Code", "Reuse", "Event"}
    words = text_of(page)
    assert "5 results for “écoles”" in words
    assert "Event · on December 5, 2026 · Koné" in words
    organisations = english(client, "/recherche", q="enseignement", type="organisations")
    assert "Organisation · 2 datasets" in text_of(organisations)  # public ones only


def test_datasets_listing_sorts_and_empty_results_in_english(site):
    client, _secrets = site
    page = english(client, "/jeux-de-donnees")
    words = text_of(page)
    assert "<h1>Datasets</h1>" in page and "<title>Datasets" in page
    assert "Search for a dataset" in words
    assert "4 datasets" in words
    assert "Relevance" not in page  # no words, no relevance
    assert ">Most recent</option>" in page
    assert "Type" not in facets(page)  # one kind only
    assert '<span class="tag tag-geo">Spatial</span>' in page
    assert "Géographique" not in page and "Jeux de données" not in page
    one = english(client, "/jeux-de-donnees", q="lifou")
    assert "1 dataset for “lifou”" in text_of(one)
    none = text_of(english(client, "/jeux-de-donnees", q="introuvablexyz"))
    assert (
        "No dataset matches “introuvablexyz”. Try another word, fewer words or fewer filters."
        in none
    )
    nothing = text_of(english(client, "/recherche", q="introuvablexyz"))
    assert "No results for “introuvablexyz”. Try another word" in nothing
    filtered = text_of(english(client, "/jeux-de-donnees", theme="Inexistant"))
    assert "No dataset matches. Try another word" in filtered
    assert "Filters (1 active)" in filtered


def test_access_facet_of_a_member_in_english(site):
    client, secrets = site
    page = english(client, "/jeux-de-donnees", secrets["member"], q="écoles")
    assert slugs(page) == {
        "ecole-hienghene",
        "ecoles-privees",
        "lycees-inscrits",
        "ecoles-internes",
    }
    access = {v: c for v, (c, _u) in facets(page)["Access level"].items()}
    assert access == {"Public": 2, "Registered users": 1, "Organisation members": 1}
    assert "Niveau d'accès" not in page


def test_paging_in_english(backend):
    from niaouli.catalogue import service

    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "commune-x", "Commune X", "commune")
        for i in range(45):
            service.create_dataset(session, org, f"jeu-{i:02d}", f"Jeu numéro {i:02d} Poindimié")
    with TestClient(create_app(backend.settings)) as client:
        first = english(client, "/jeux-de-donnees", q="poindimie")
        words = text_of(first)
        assert "45 datasets for “poindimie” — 1 to 20" in words
        assert "Page 1 of 3" in words and "Next page →" in words
        assert 'aria-label="Result pages"' in first
        third = english(client, "/jeux-de-donnees", q="poindimie", page="3")
        assert "<title>Search “poindimie” (page 3)" in third
        assert "← Previous page" in third and "Next page" not in third
        org_page = english(client, "/organisations/commune-x", page="2")
        assert "Page 2 of 3" in text_of(org_page)
        assert "Page suivante" not in org_page and "Page précédente" not in org_page


def test_organisations_in_english(site, tmp_path):
    client, _secrets = site
    page = english(client, "/organisations")
    words = text_of(page)
    assert "The administrations and public bodies that publish their data on Niaouli." in words
    assert re.search(r"Commune de Hienghène</a></h2>\s*<p class=\"meta\">2 datasets", page)
    assert "jeux de données" not in page
    org = english(client, "/organisations/dens")
    words = text_of(org)
    assert 'aria-label="Breadcrumb"' in org
    assert "Published datasets" in words and "2 datasets" in words
    assert "updated " in words and "mis à jour" not in org
    assert "Jeux de données publiés" not in org
    assert validate_html5({"organisations-en": page, "organisation-en": org}, tmp_path) == []


def test_french_stays_the_default(site):
    client, _secrets = site
    page = get(client, "/recherche", q="écoles", theme="Éducation")
    assert '<html lang="fr"' in page
    words = text_of(page)
    assert "2 résultats pour « écoles »" in words
    assert "Filtres (1 actif)" in words and "Trier par" in words
    assert "Retirer tous les filtres" in words and "Zone géographique" in words
    assert {"Type", "Thème", "Données géographiques"} <= set(facets(page))
    assert '<span class="kind">Jeu de données</span>' in page
    assert "Filters" not in page and "Sort by" not in page
    listing = get(client, "/organisations")
    assert "2 jeux de données" in text_of(listing)
    one = get(client, "/jeux-de-donnees", q="lifou")
    assert "1 jeu de données pour « lifou »" in text_of(one)


def test_labels_of_the_module_follow_the_language():
    try:
        set_language("en")
        assert search_pages.SearchPages._value_label("acces", "draft", None) == "Draft"
        assert search_pages.SearchPages._value_label("spatial", "non", None) == "Non-spatial"
        # A value nobody translated (typed in the URL) comes back as it is.
        assert search_pages.SearchPages._value_label("acces", "Brouillon", None) == "Brouillon"
        set_language("fr")
        assert search_pages.SearchPages._value_label("acces", "draft", None) == "Brouillon"
    finally:
        set_language("fr")


def _status_dataset(files: int, layers: list[tuple[str, int]]) -> SimpleNamespace:
    return SimpleNamespace(
        organisation="Province Nord",
        access_label="Public",
        access_level="public",
        published_at=datetime(2026, 11, 25, tzinfo=UTC),
        published_by="Nom editor_a",
        layers=layers,
        files=[object()] * files,
        slug="communes",
    )


def test_dataset_status_in_english_and_french():
    template = make_environment().get_template("_dataset_status.html")
    try:
        set_language("en")
        html = template.render(dataset=_status_dataset(2, [("communes", 1), ("routes", 33)]))
        words = " ".join(re.sub(r"<[^>]+>", " ", htmllib.unescape(html)).split())
        assert "Organisation: Province Nord · access: Public" in words
        assert "published on November 25, 2026 by Nom editor_a" in words
        assert "Layers: “communes” (1 feature), “routes” (33 features)" in words
        assert "2 files or links" in words
        assert "View the public page" in words and "Upload files" in words
        empty = template.render(dataset=_status_dataset(0, []))
        assert "No data yet." in empty
        set_language("fr")
        html = template.render(dataset=_status_dataset(1, [("routes", 33)]))
        words = " ".join(re.sub(r"<[^>]+>", " ", htmllib.unescape(html)).split())
        assert "Organisation : Province Nord · accès : Public" in words
        assert "publié le 25 novembre 2026 par Nom editor_a" in words
        assert "Couches : « routes » (33 objets)" in words
        assert "1 fichier ou lien" in words
    finally:
        set_language("fr")


def test_dataset_summary_in_english(site):
    client, _secrets = site
    page = english(client, "/jeux-de-donnees/communes")
    words = text_of(page)
    assert '<h2 id="en-bref">At a glance</h2>' in page
    for label in ("Last modified", "Producer", "Time period covered", "Area covered"):
        assert f"<dt>{label}</dt>" in page, label
    assert "data imported on" in words
    assert "En bref" not in page and "Dernière modification" not in page
