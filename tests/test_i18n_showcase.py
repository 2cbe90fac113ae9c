"""The community display pages in English: code catalogue, reuses, events, moderation.

Rendered with `?lang=en` (then the cookie) on both backends: specific English sentences
are there and their French sources are not; the data (titles, descriptions) stays as
entered. French stays the default. The catalogue checks are limited to this part's own
templates and its own .po file, so they fail for a gap here, not for another part's.
"""

from __future__ import annotations

import re
from pathlib import Path

import icalendar
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.models import ModerationStatus
from niaouli.i18n import LOCALES_DIR
from niaouli.portal import i18n_catalog
from niaouli.web import create_app
from tests.accounts_support import PASSWORD, sign_in
from tests.portal_support import populate, validate_html5

TEMPLATES = Path(i18n_catalog.PORTAL) / "templates"
PAGES = ("code", "code_project", "reuses", "reuse", "events", "event", "moderation")
PO_FILE = LOCALES_DIR / "en" / "LC_MESSAGES" / "showcase.po"


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    populate(backend)
    with backend.session() as session, session.begin():
        users.create_user(
            session, "admin@exemple.nc", "Admin Plateforme", PASSWORD, is_platform_admin=True
        )
        alice = users.create_user(session, "alice@exemple.nc", "Alice Kanak", PASSWORD)
        service.create_reuse(
            session,
            "tableau-population",
            "Tableau de la population",
            "application",
            datasets=[service.find_dataset(session, "population-communes-nc")],
            url="https://exemple.nc/tableau",
            description="Un tableau de bord 100% communes.",
            status=ModerationStatus.PENDING,
            submitted_by_id=alice.id,
        )
    # The whole site (accounts included), configured from the environment as served.
    client = TestClient(create_app(), raise_server_exceptions=False, follow_redirects=False)
    yield client
    client.close()


def english(client: TestClient, url: str) -> str:
    response = client.get(url + ("&" if "?" in url else "?") + "lang=en")
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    assert '<html lang="en">' in response.text, url
    return response.text


def french(client: TestClient, url: str) -> str:
    response = client.get(url + ("&" if "?" in url else "?") + "lang=fr")
    assert response.status_code == 200, (url, response.status_code)
    assert '<html lang="fr">' in response.text, url
    return response.text


def present_absent(html: str, present: tuple[str, ...], absent: tuple[str, ...]) -> None:
    missing = [text for text in present if text not in html]
    left = [text for text in absent if text in html]
    assert not missing and not left, {"missing English": missing, "French left": left}


def test_code_catalogue_in_english(site, tmp_path):
    pages = {}
    code = pages["code"] = english(site, "/code")
    present_absent(
        code,
        (
            "<h1>Code projects</h1>",
            "Software published or listed by the platform's organisations",
            "5 code projects",  # the demo's four plus DSI-Ville-Noumea
            "Listed by Gouvernement de la Nouvelle-Calédonie",
            ">Filter</button>",
            '<option value="beta">Beta (1)</option>',
            "<title>Code projects",
        ),
        (
            "Projets de code",
            "Référencé par",
            "Filtrer",
            "Bêta",
            "Toutes",
            "projets de code",
        ),
    )
    filtered = english(site, "/code?licence=inexistante")
    present_absent(
        filtered,
        ("No code project matches these criteria.", ">Show all</a>"),
        ("Aucun projet", "Tout afficher"),
    )

    pygeoapi = pages["pygeoapi"] = english(site, "/code/pygeoapi")
    present_absent(
        pygeoapi,
        (
            "pygeoapi — code project",
            "Download the archive",
            "source code as a ZIP file (0.24.0), served by the code forge",
            '<h2 id="versions">Releases</h2>',
            "tag <code>0.24.0</code>",
            "<h3>Datasets used</h3>",
            "No dataset listed.",
            "<dt>Licence</dt><dd>MIT</dd>",
            "Stable",
        ),
        (
            "Télécharger l'archive",
            "servi par la forge",
            "étiquette",
            "Jeux de données utilisés",
            "Aucun jeu de données indiqué",
            "projet de code",
        ),
    )
    # The project's own data is never translated.
    assert "pygeoapi 0.24.0 (version utilisée par Niaouli)" in pygeoapi

    niaouli = pages["niaouli"] = english(site, "/code/niaouli")
    present_absent(
        niaouli,
        (
            "publiccode.yml file",
            "Metadata declared by the project in its <code>publiccode.yml</code> file",
            "<dt>Software type</dt><dd>standalone web application</dd>",
            "<dt>Development status</dt><dd>Beta</dd>",
            "<dt>Available languages</dt><dd>fr</dd>",
            "<h3>Features</h3>",
            "Repository:",
        ),
        (
            "Fiche publiccode.yml",
            "Métadonnées déclarées",
            "application web autonome",
            "Type de logiciel",
            "État de développement",
            "Fonctionnalités",
            "Dépôt :",
        ),
    )
    assert "Catalogue CSW pour QGIS MetaSearch" in niaouli  # a feature: the project's text
    assert validate_html5(pages, tmp_path) == []


def test_reuses_and_moderation_in_english(site, tmp_path):
    pages = {}
    reuses = pages["reuses"] = english(site, "/reutilisations")
    present_absent(
        reuses,
        (
            "Each one is reviewed by the platform team before publication.",
            ">Submit a reuse</a>",
            "3 reuses",  # the demo's approved ones (alice's is pending)
            '<option value="visualisation">Visualisation</option>',
            "Visualisation · submitted on ",
        ),
        ("Proposer une réutilisation", "proposée le", "Chacune est relue", "1 réutilisation"),
    )
    assert re.search(r"submitted on [A-Z][a-z]+ \d{1,2}, \d{4}", reuses)
    unknown = english(site, "/reutilisations?jeu=inconnu")
    present_absent(unknown, ("Unknown dataset: no reuses to show.",), ("Jeu de données inconnu",))
    of_dataset = english(site, "/reutilisations?jeu=communes-nc")
    assert "Reuses of the dataset" in of_dataset
    assert "Réutilisations du jeu de données" not in of_dataset

    reuse = pages["reuse"] = english(site, "/reutilisations/carte-des-communes-exemple")
    present_absent(
        reuse,
        (
            "Carte des communes (exemple) — reuse",
            ">View the reuse</a>",
            "submitted on ",
            " by Équipe Niaouli",
            '<h2 id="donnees">Datasets used</h2>',
            'aria-label="Breadcrumb"',
        ),
        ("Voir la réutilisation", " par Équipe Niaouli", "Fil d'Ariane"),
    )

    assert sign_in(site, "admin@exemple.nc").status_code == 303
    queue = pages["moderation"] = english(site, "/admin/reutilisations")
    present_absent(
        queue,
        (
            "<h1>Reuse moderation</h1>",
            "Reuses submitted by users, awaiting review. Only approved reuses are public.",
            "Application · submitted on ",
            " by Alice Kanak",
            'Address: <a href="https://exemple.nc/tableau"',
            "Data: <a",
            ">Approve</button>",
            ">Reject</button>",
            "Un tableau de bord 100% communes.",  # data, with its percent sign, untouched
        ),
        ("Modération des réutilisations", "Approuver", "Refuser", "Adresse :", "Données :"),
    )
    pending = pages["pending"] = english(site, "/reutilisations/tableau-population")
    present_absent(
        pending,
        ("<strong>awaiting moderation</strong>",),
        ("en attente de modération",),
    )
    assert validate_html5(pages, tmp_path) == []

    # Editors (here a platform admin) are offered the edit forms, in English.
    for url in ("/code/pygeoapi", "/evenements/cartopartie-communes-exemple"):
        html = english(site, url)
        assert f'href="{url}/modifier">Edit this ' in html and "Modifier l" not in html, url

    # The admin's choice of English sticks (cookie); ?lang=fr takes French back.
    assert "Reuse moderation" in site.get("/admin/reutilisations").text
    back = french(site, "/admin/reutilisations")
    assert "Modération des réutilisations" in back and ">Approuver</button>" in back


def test_events_in_english(site, tmp_path):
    pages = {}
    events = pages["events"] = english(site, "/evenements")
    present_absent(
        events,
        (
            "Times are Nouméa time.",
            "Subscribe to the calendar (iCalendar)",
            'title="Events (iCalendar)"',
            "March 13, 2027 at 08:30",
            "Mapping party · <time",
            '<option value="cartoparty">Mapping party</option>',
            '<option value="a-venir">Upcoming</option>',
            ">Upcoming and past</option>",
            "3 events",  # with the demo's upcoming hackathon
            '<span class="tag">past</span>',
        ),
        (
            "S'abonner",
            "Heures de Nouméa",
            "13 mars 2027",
            " à 08:30",
            ">Cartopartie<",
            ">À venir<",
            "2 événements",
            ">passé<",
        ),
    )
    event = pages["event"] = english(site, "/evenements/cartopartie-communes-exemple")
    present_absent(
        event,
        (
            "Cartopartie des communes (exemple) — event",
            ">Add to my calendar</a>",
            "<dt>Time zone</dt><dd>Nouméa time (UTC+11)</dd>",
            "<dt>Start</dt><dd><time",
            "<dt>End</dt><dd><time",
            "March 13, 2027 at 12:00",
            "<dt>Location</dt><dd>Nouméa (lieu d&#39;exemple)</dd>",
        ),
        (
            "Ajouter à mon agenda",
            "heure de Nouméa",
            "Fuseau horaire",
            "13 mars 2027",
            "<dt>Lieu</dt>",
        ),
    )
    past = pages["past"] = english(site, "/evenements/rencontre-donnees-ouvertes-exemple")
    assert "October 15, 2026 at 17:30" in past and "Meetup · " in past
    assert "Exemple de résultats" in past  # the event's own text
    assert validate_html5(pages, tmp_path) == []

    # English pages link to the English feeds: a calendar application sends no cookie.
    assert 'href="/evenements.ics?lang=en"' in events
    assert 'href="/evenements/cartopartie-communes-exemple.ics?lang=en"' in event
    body = site.get("/evenements.ics?lang=en").content
    assert str(icalendar.Calendar.from_ical(body)["X-WR-CALNAME"]) == "Niaouli — events"
    feed = feed_events(body)
    party = feed["Cartopartie des communes (exemple)"]
    assert [str(c) for c in party["CATEGORIES"].cats] == ["Mapping party"]
    assert "Datasets: Communes de Nouvelle-Calédonie" in str(party["DESCRIPTION"])
    meeting = str(feed["Rencontre données ouvertes (exemple)"]["DESCRIPTION"])
    assert "Results: Exemple de résultats" in meeting and "Résultats :" not in meeting


def feed_events(body: bytes) -> dict[str, icalendar.Event]:
    return {str(e["SUMMARY"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def test_french_stays_the_default(site):
    response = site.get("/evenements")
    assert '<html lang="fr">' in response.text
    assert "13 mars 2027 à 08:30" in response.text
    assert "S'abonner au calendrier (iCalendar)" in response.text
    assert ">Cartopartie</option>" in response.text
    code = site.get("/code/pygeoapi").text
    assert '<html lang="fr">' in code and "Télécharger l'archive" in code
    assert "code source au format ZIP (0.24.0), servi par la forge" in code
    assert "Download the archive" not in code
    assert "/modifier" not in code  # no edit link for an anonymous visitor
    niaouli = site.get("/code/niaouli").text
    assert "<dt>Type de logiciel</dt><dd>application web autonome</dd>" in niaouli
    assert 'href="/evenements.ics"' in response.text
    feed = feed_events(site.get("/evenements.ics").content)
    party = feed["Cartopartie des communes (exemple)"]
    assert [str(c) for c in party["CATEGORIES"].cats] == ["Cartopartie"]
    assert "Jeux de données : Communes" in str(party["DESCRIPTION"])
    meeting = str(feed["Rencontre données ouvertes (exemple)"]["DESCRIPTION"])
    assert "Résultats : Exemple de résultats" in meeting


def test_catalogue_of_this_part_is_whole():
    templates = [TEMPLATES / f"{name}.html" for name in PAGES]
    bare = {str(p.name): i18n_catalog.bare_text(p) for p in templates}
    assert not any(bare.values()), bare
    # Every message of these templates and of the calendar feeds has its English text in
    # this part's own file (not only through another part's), context included, with the
    # same placeholders.
    with PO_FILE.open("rb") as handle:
        messages = list(read_po(handle))
    own = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in messages}
    sources = [*templates, Path(i18n_catalog.PORTAL) / "ical.py"]
    found = 0
    for path in sources:
        method = "jinja2.ext:babel_extract" if path.suffix == ".html" else "python"
        options = i18n_catalog.JINJA_OPTIONS if path.suffix == ".html" else {}
        for _line, message, _comments, context in extract_from_file(
            method, str(path), keywords=i18n_catalog.KEYWORDS, options=options
        ):
            key = message[0] if isinstance(message, tuple) else message
            assert (context, key) in own, (path.name, context, key)
            entry = own[(context, key)]
            texts = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            assert all(texts) and not entry.fuzzy, key
            wanted = set(re.findall(r"%\((\w+)\)s", key))
            for text in texts:
                assert set(re.findall(r"%\((\w+)\)s", text)) == wanted, (key, text)
            found += 1
    assert found > 100
