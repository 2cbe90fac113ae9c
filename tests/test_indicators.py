"""The plan's indicators `/indicateurs` (issue 22 §3), on both backends: the numbers follow
the database as datasets, reuses, events, code and usage are added; private datasets,
pending reuses and their usage are never counted; the page's table, the CSV and the JSON
hold the same numbers; the page reads in English with the same figures."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from niaouli.accounts import audit
from niaouli.catalogue import service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.models import ModerationStatus
from niaouli.catalogue.partners import partnerships
from niaouli.i18n import LOCALES_DIR
from niaouli.portal import i18n_catalog
from niaouli.portal.app import create_app
from niaouli.stats.middleware import today
from niaouli.stats.table import usage_daily
from tests.partners_support import pdf, small_catalogue

PLATFORM = Viewer(is_platform_admin=True)


@pytest.fixture
def client(backend):
    small_catalogue(backend)
    with TestClient(create_app(backend.settings), raise_server_exceptions=False) as made:
        yield made


def figures(client: TestClient) -> dict:
    response = client.get("/indicateurs.json")
    assert response.status_code == 200
    return response.json()


def table_rows(html: str) -> list[list[int]]:
    """The monthly table's numbers, as the page shows them."""
    body = re.search(r'<table id="indicateurs-mois">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        [int(re.sub(r"\D", "", cell)) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr .*?</tr>", body, re.S)
    ]


def add_activity(backend) -> None:  # noqa: ANN001
    """A public dataset published three months ago, a draft, an approved application and a
    pending reuse, a cartoparty and a hackathon with participants, a code project, usage
    of public and private datasets."""
    now = datetime.now(UTC)
    with backend.session() as session, session.begin():
        noumea = service.get_organisation(session, "ville-de-noumea")
        old = service.create_dataset(session, noumea, "plages-noumea", "Plages de Nouméa")
        old.published_at = now - timedelta(days=92)
        service.create_dataset(
            session, noumea, "brouillon-noumea", "Brouillon", access_level="draft"
        )
        public = service.find_dataset(session, "baignade-noumea")
        private = service.find_dataset(session, "dumbea-interne")
        service.create_reuse(
            session,
            "appli-plages",
            "Appli plages",
            "application",
            datasets=[public],
            status=ModerationStatus.APPROVED,
        )
        service.create_reuse(session, "en-attente", "En attente", "visualisation")
        service.create_event(
            session,
            "cartopartie-plages",
            "Cartopartie",
            "cartoparty",
            now - timedelta(hours=1),
            participants=12,
        )
        service.create_event(
            session,
            "hackathon",
            "Hackathon",
            "hackathon",
            now - timedelta(days=61),
            participants=30,
        )
        service.create_event(  # announced: not counted yet
            session,
            "plus-tard",
            "Plus tard",
            "gathering",
            now + timedelta(days=400),
            participants=99,
        )
        service.create_code_project(session, noumea, "appli-code", "Code de l'appli")
        day = today()
        session.execute(
            usage_daily.insert(),
            [
                {
                    "day": day,
                    "interface": "download",
                    "dataset_id": public.id,
                    "organisation_id": noumea.id,
                    "hits": 9,
                    "unique_visits": 5,
                },
                {
                    "day": day,
                    "interface": "download",
                    "dataset_id": private.id,
                    "organisation_id": private.organisation_id,
                    "hits": 7,
                    "unique_visits": 7,
                },
                {
                    "day": day,
                    "interface": "api",
                    "dataset_id": None,
                    "organisation_id": None,
                    "hits": 4,
                    "unique_visits": 3,
                },
                {
                    "day": day,
                    "interface": "ogc_features",
                    "dataset_id": public.id,
                    "organisation_id": noumea.id,
                    "hits": 2,
                    "unique_visits": 2,
                },
            ],
        )


def test_indicators_follow_the_database(client, backend, tmp_path):
    before = figures(client)["totaux"]
    assert before["jeux_de_donnees"] == 1  # Nouméa's public one; Dumbéa's is private
    assert before["reutilisations"] == before["evenements"] == before["telechargements"] == 0
    assert before["communes_soumises_population"] == 12  # the population table, >= 3,500

    add_activity(backend)
    with backend.session() as session, session.begin():
        noumea = service.get_organisation(session, "ville-de-noumea")
        actor = audit.COMMAND_LINE
        partnerships.set_facts(session, PLATFORM, actor, noumea, agents=2000, commune_code="98818")
        partnerships.attach_agreement(
            session, PLATFORM, actor, noumea, pdf(), "c.pdf", backend.settings, tmp_path
        )
        partnerships.set_status(session, PLATFORM, actor, noumea, "signed", today())
        dumbea = service.get_organisation(session, "ville-de-dumbea")
        partnerships.set_status(session, PLATFORM, actor, dumbea, "discussion")
    data = figures(client)
    after = data["totaux"]
    expected = {
        "jeux_de_donnees": 2,  # + the one published three months ago, not the draft
        "projets_de_code": 1,
        "reutilisations": 1,  # the pending one is not counted
        "applications": 1,
        "telechargements": 5,  # the private dataset's 7 are not counted
        "appels_api": 3,
        "appels_ogc": 2,
        "evenements": 2,  # the one announced for next year is not counted yet
        "participants": 42,
        "participants_cartoparties": 12,
        "administrations_partenaires": 1,
        "administrations_en_cours": 1,
        "administrations_soumises": 1,
        "administrations_obligation_respectee": 1,
        "communes_obligation_respectee": 1,
    }
    assert {k: after[k] for k in expected} == expected
    series = data["series"]
    assert len(series) >= 4  # from the month published three months ago to this one
    assert series[-1]["mois"] == today().strftime("%Y-%m")
    assert [row["jeux_de_donnees"] for row in series][0] == 1
    assert series[-1]["jeux_de_donnees"] == 2 and series[-1]["telechargements"] == 5
    assert sum(row["participants"] for row in series) == 42

    # The page's table, the CSV (both addresses) and the JSON hold the same numbers.
    keys = list(data["colonnes"])[1:]
    from_json = [[row[k] for k in keys] for row in series]
    csv_text = client.get("/indicateurs.csv").text
    assert client.get("/indicateurs?format=csv").text == csv_text
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == ["mois", *keys]
    assert [r[0] for r in rows[1:]] == [row["mois"] for row in series]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == from_json
    html = client.get("/indicateurs").text
    assert table_rows(html) == from_json
    for key, value in after.items():
        shown = re.search(
            rf'<tr data-key="{key}"><th scope="row">.*?</th><td class="nombre">(.*?)</td>', html
        )
        assert int(re.sub(r"\D", "", shown.group(1))) == value, key
    assert html.count('<svg class="chart chart-wide"') == 3
    assert "Secret" not in html and "dumbea-interne" not in csv_text
    assert client.get("/indicateurs?format=json").json() == data


def test_indicators_in_english(client, backend):
    add_activity(backend)
    french = figures(client)
    response = client.get("/indicateurs?lang=en")
    assert response.status_code == 200 and '<html lang="en">' in response.text
    html = response.text
    for text in (
        "Programme indicators",
        "Datasets available",
        "Applications built",
        "Cartoparty participants",
        "The indicators by month as CSV",
        "Today",
    ):
        assert text in html, text
    for text in ("Jeux de données disponibles", "Aujourd'hui", "Par mois"):
        assert text not in html, text
    month = today().strftime("%b %Y")
    assert f'<th scope="row">{month}</th>' in html
    client.cookies.clear()
    assert figures(client) == french  # keys and numbers do not move with the language


PART = (
    "portal/templates/partenaires.html",
    "portal/templates/partenariat.html",
    "portal/templates/indicateurs.html",
    "portal/partner_pages.py",
    "portal/indicator_pages.py",
    "niaouli/stats/indicators.py",
    "niaouli/catalogue/partners/contacts.py",
    "niaouli/catalogue/partners/obligations.py",
    "niaouli/catalogue/partners/partnerships.py",
    "niaouli/pdfguard.py",
)


def test_catalogue_of_this_part_is_whole():
    """Every message of the partner and indicator pages has its English text (most in
    niaouli/locales/en/LC_MESSAGES/partners.po), and no template text is outside _()."""
    paths = [Path(i18n_catalog.PROJECT) / p for p in PART]
    assert all(p.exists() for p in paths)
    assert i18n_catalog.untranslated(paths) == {}
    bare = {p.name: i18n_catalog.bare_text(p) for p in paths if p.suffix == ".html"}
    assert not any(bare.values()), bare
    assert (LOCALES_DIR / "en" / "LC_MESSAGES" / "partners.po").exists()
