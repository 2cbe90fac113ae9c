"""French by default, English on request: language choice, catalogue completeness.

The catalogue checks read the real templates and modules: a French sentence added to a
page without `_()` or without its English text fails here, not in front of a reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from niaouli.i18n import LOCALES_DIR, set_language
from niaouli.portal import i18n_catalog
from niaouli.portal.app import create_app
from niaouli.portal.rendering import date_fr, number_fr, size_fr
from tests.portal_support import populate, validate_html5


@pytest.fixture
def site(backend):
    info = populate(backend)
    client = TestClient(create_app(backend.settings), raise_server_exceptions=False)
    yield info, client
    client.close()


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="(\w+)"', text)
    assert match, text[:200]
    return match.group(1)


def test_french_is_the_default_whatever_the_browser_says(site):
    _info, client = site
    response = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 200
    assert html_lang(response.text) == "fr"
    assert response.headers["content-language"] == "fr"
    assert "Les données publiques de Nouvelle-Calédonie" in response.text
    assert (
        "set-cookie" not in response.headers or "niaouli_lang" not in response.headers["set-cookie"]
    )


def test_lang_parameter_gives_english_and_the_choice_sticks(site, tmp_path):
    _info, client = site
    response = client.get("/?lang=en")
    assert response.status_code == 200
    assert html_lang(response.text) == "en"
    assert response.headers["content-language"] == "en"
    assert "Cookie" in response.headers["vary"]
    assert "niaouli_lang=en" in response.headers["set-cookie"]
    assert "SameSite=Lax" in response.headers["set-cookie"]
    assert "The public data of New Caledonia" in response.text
    assert "Skip to content" in response.text
    assert "Les données publiques" not in response.text
    assert validate_html5({"home-en": response.text}, tmp_path) == []

    # The cookie now answers for the next pages, without the parameter.
    datasets = client.get("/jeux-de-donnees")
    assert html_lang(datasets.text) == "en"
    # And ?lang=fr takes it back.
    back = client.get("/?lang=fr")
    assert html_lang(back.text) == "fr"
    assert "niaouli_lang=fr" in back.headers["set-cookie"]
    assert html_lang(client.get("/").text) == "fr"


def test_language_switcher_keeps_the_page_and_its_query(site):
    _info, client = site
    text = client.get("/jeux-de-donnees?q=communes&page=1").text
    assert 'hreflang="en" lang="en"' in text
    assert "/jeux-de-donnees?q=communes&amp;page=1&amp;lang=en" in text
    # repeated filters all survive the switch, in their order
    search = client.get("/recherche?theme=A&theme=B&lang=fr").text
    assert "/recherche?theme=A&amp;theme=B&amp;lang=en" in search
    # hreflang alternates for search engines, one per language
    assert re.search(r'<link rel="alternate" hreflang="fr" href="/jeux-de-donnees\?', text)
    assert re.search(r'<link rel="alternate" hreflang="en" href="/jeux-de-donnees\?', text)


def test_calendar_feed_says_it_depends_on_the_language_cookie(site):
    _info, client = site
    response = client.get("/evenements.ics")
    assert response.status_code == 200
    assert "Cookie" in response.headers["vary"]
    assert response.headers["content-language"] == "fr"


def test_switcher_never_links_to_another_site(site):
    """A 404 page shows whatever path was asked; its language links must stay here."""
    _info, client = site
    for path in ("//evil.example/x", "/\\evil.example/x", "/%2F%2Fevil.example"):
        response = client.get(path)
        assert response.status_code == 404
        hrefs = re.findall(
            r'hreflang="\w+"(?: lang="\w+")? href="([^"]+)"|href="([^"]+)" hreflang=', response.text
        )
        links = [a or b for a, b in hrefs]
        assert links, response.text[:300]
        for link in links:
            assert link.startswith("/") and not link.startswith(("//", "/\\")), link


def test_unknown_language_and_bad_cookie_fall_back_to_french(site):
    _info, client = site
    assert html_lang(client.get("/?lang=xx").text) == "fr"
    client.cookies.set("niaouli_lang", "de")
    assert html_lang(client.get("/").text) == "fr"
    response = client.get("/", headers={"Cookie": 'niaouli_lang="; broken'})
    assert response.status_code == 200
    assert html_lang(response.text) == "fr"


def test_error_pages_speak_the_readers_language(site):
    _info, client = site
    french = client.get("/nulle-part")
    assert french.status_code == 404
    assert "Page introuvable" in french.text
    english = client.get("/nulle-part?lang=en")
    assert english.status_code == 404
    assert "Page not found" in english.text
    assert html_lang(english.text) == "en"


def test_numbers_dates_and_sizes_follow_the_language():
    from datetime import date

    try:
        set_language("fr")
        assert number_fr(264596) == "264\u202f596"
        assert date_fr(date(2026, 11, 25)) == "25 novembre 2026"
        assert size_fr(2_500_000) == "2,5\u202fMo"
        assert size_fr(1) == "1 octet"
        set_language("en")
        assert number_fr(264596) == "264,596"
        assert date_fr(date(2026, 11, 25)) == "November 25, 2026"
        assert size_fr(2_500_000) == "2.5\u202fMB"
        assert size_fr(12) == "12 bytes"
    finally:
        set_language("fr")


def test_every_message_of_the_portal_has_an_english_text():
    gaps = i18n_catalog.untranslated()
    listing = "\n".join(
        f"{key!r} at {entry.locations[0][0]}:{entry.locations[0][1]}" for key, entry in gaps.items()
    )
    assert not gaps, f"{len(gaps)} message(s) without English text:\n{listing}"
    assert not i18n_catalog.placeholder_mismatches()


def test_no_template_holds_text_outside_gettext():
    templates = sorted((Path(i18n_catalog.PORTAL) / "templates").glob("*.html"))
    assert len(templates) > 30
    bare = {path.name: found for path in templates if (found := i18n_catalog.bare_text(path))}
    assert not bare, "\n".join(f"{name}: {found[:5]}" for name, found in bare.items())


def test_the_catalogue_checks_do_catch_a_forgotten_sentence(tmp_path):
    """The two checks above must fail on a page that forgets its translation."""
    template = tmp_path / "oubli.html"
    template.write_text(
        '<p>{{ _("Une phrase sans traduction anglaise") }}</p>\n'
        '<p title="Texte oublié">Bonjour tout le monde</p>\n',
        encoding="utf-8",
    )
    assert "Une phrase sans traduction anglaise" in i18n_catalog.untranslated([template])
    found = [text for _line, text in i18n_catalog.bare_text(template)]
    assert 'title="Texte oublié"' in found
    assert "Bonjour tout le monde" in found


def test_po_files_are_well_formed_and_not_fuzzy():
    files = sorted((LOCALES_DIR / "en" / "LC_MESSAGES").glob("*.po"))
    assert files
    for po_file in files:
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale="en")
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not fuzzy, (po_file.name, fuzzy[:5])


def test_one_french_text_has_one_english_text_across_the_po_files():
    """The same words read the same everywhere; a different sense takes a context."""
    assert i18n_catalog.conflicts() == []


def test_a_translated_entry_wins_over_an_empty_one_in_any_file_order(tmp_path, monkeypatch):
    from niaouli import i18n

    folder = tmp_path / "en" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "a.po").write_text('msgid "Titre"\nmsgstr ""\n', encoding="utf-8")
    (folder / "b.po").write_text(
        'msgid "Titre"\nmsgstr "Title"\n\nmsgctxt "jeton"\nmsgid "Début"\nmsgstr "Starts with"\n'
        '\nmsgid "Début"\nmsgstr "Start"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    catalog = i18n.merged_catalog("en")
    assert catalog.get("Titre").string == "Title"
    assert catalog.get("Début").string == "Start"
    assert catalog.get("Début", context="jeton").string == "Starts with"


def test_values_inside_english_sentences_are_escaped(site):
    """Placeholders carry data into translated sentences (S20, S21): still escaped."""
    info, client = site
    page = client.get(f"/jeux-de-donnees/{info.xss_slug}?lang=en").text
    assert html_lang(page) == "en"
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    hostile = '<script>alert("q")</script>'
    for url in ("/recherche", "/jeux-de-donnees"):
        listing = client.get(url, params={"q": hostile, "lang": "en"}).text
        assert html_lang(listing) == "en"
        assert hostile not in listing and "&lt;script&gt;" in listing
    listing = client.get("/jeux-de-donnees", params={"q": "tribus", "lang": "en"}).text
    assert "<img src=x" not in listing and "&lt;img src=x" in listing
