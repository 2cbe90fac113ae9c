"""Metadata worth reading (issue 15 §6), on both backends.

Producer, contact (a service's address), update frequency, temporal coverage and
lineage are written through the real portal form (with CSRF) and the writing API; the
licence, frequency and themes come from the controlled lists
(`niaouli.catalogue.vocabularies`) and anything else is refused in French, the form
shown again with what was typed. The dataset page says each fact once; the demo's
licence facet shows one name per licence; the DCAT export (checked against the DCAT-AP
3.0.0 shapes) and the ISO record say what the form said; older rows get the one name
by a migration.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import httpx
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from sqlalchemy import text
from starlette.testclient import TestClient

from niaouli.catalogue import service, vocabularies
from niaouli.dcat.vocabularies import DATA_THEME, FREQUENCY, VCARD
from niaouli.demo import load_demo
from niaouli.portal.app import create_app
from tests.accounts_support import LoggedServer, build_matrix, csrf_of, email_of, sign_in
from tests.api_support import ApiSite, snapshot, start_api_site
from tests.portal_support import validate_html5
from tests.test_dcat import DCAT_AP_3, shacl_results
from tests.test_portal_facets import facets

SLUG = "province-sud--arrets-de-bus"
ODBL = "Open Database License (ODbL) 1.0"
FORM = {
    "organisation": "province-sud",
    "title": "Arrêts de bus",
    "description": "Les arrêts",
    "licence": ODBL,
    "themes": ["Transports", "Régions et villes"],
    "keywords": "bus, arrêts",
    "access_level": "draft",
    "producer": "Direction des transports",
    "contact_name": "Service SIG",
    "contact_email": "sig@province-sud.nc",
    "update_frequency": "monthly",
    "temporal_start": "2020-01-01",
    "temporal_end": "2024-12-31",
    "lineage": "Relevés GPS des arrêts, vérifiés sur le terrain.",
}


@pytest.fixture
def server(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


@contextmanager
def editor(server, language: str | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert sign_in(http, email_of("editor_a")).status_code == 303
        if language:
            assert http.get(f"/compte?lang={language}").status_code == 200
        yield http


def stored(backend, slug: str = SLUG) -> dict:
    with backend.session() as session:
        d = service.find_dataset(session, slug)
        assert d is not None
        return {
            "licence": d.licence,
            "themes": list(d.themes),
            "producer": d.producer,
            "contact_name": d.contact_name,
            "contact_email": d.contact_email,
            "update_frequency": d.update_frequency,
            "temporal_start": d.temporal_start,
            "temporal_end": d.temporal_end,
            "lineage": d.lineage,
        }


def selected(page: str, name: str) -> list[str]:
    """The values a select or the checkboxes of `name` have selected."""
    found = re.findall(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    if found:
        return [html.unescape(v) for v in re.findall(r'value="([^"]*)" selected', found[0])]
    boxes = re.findall(rf'name="{name}" value="([^"]*)" checked', page)
    return [html.unescape(v) for v in boxes]


def options(page: str, name: str) -> list[str]:
    (body,) = re.findall(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    return [html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', body)]


def test_form_round_trip_of_every_field(server, backend, tmp_path):
    with editor(server) as http:
        new = http.get("/jeux-de-donnees/nouveau").text
        assert options(new, "licence") == [
            "Licence Ouverte 2.0",
            ODBL,
            "CC BY 4.0",
            "CC BY-SA 4.0",
            "CC0 1.0",
        ]
        assert options(new, "update_frequency")[:3] == ["", "continual", "daily"]
        assert len(re.findall(r'type="checkbox" name="themes"', new)) == 13
        assert "jamais une adresse personnelle" in new
        token = csrf_of(new)
        made = http.post("/jeux-de-donnees/nouveau", data={**FORM, "csrf": token})
        assert made.status_code == 303, made.text[:800]
        assert stored(backend) == {
            "licence": ODBL,
            "themes": ["Transports", "Régions et villes"],
            "producer": "Direction des transports",
            "contact_name": "Service SIG",
            "contact_email": "sig@province-sud.nc",
            "update_frequency": "monthly",
            "temporal_start": date(2020, 1, 1),
            "temporal_end": date(2024, 12, 31),
            "lineage": "Relevés GPS des arrêts, vérifiés sur le terrain.",
        }
        edit = http.get(f"/jeux-de-donnees/{SLUG}/modifier").text
        assert selected(edit, "licence") == [ODBL]
        assert selected(edit, "update_frequency") == ["monthly"]
        assert set(selected(edit, "themes")) == {"Transports", "Régions et villes"}
        for shown in (
            'value="Direction des transports"',
            'value="Service SIG"',
            'value="sig@province-sud.nc"',
            'value="2020-01-01"',
            'value="2024-12-31"',
            "Relevés GPS des arrêts, vérifiés sur le terrain.</textarea>",
        ):
            assert shown in edit, shown
        changed = {
            **FORM,
            "title": "Arrêts de bus",
            "licence": "CC BY 4.0",
            "themes": ["Environnement"],
            "producer": "",
            "contact_name": "Cellule données",
            "contact_email": "donnees@province-sud.nc",
            "update_frequency": "biannual",
            "temporal_start": "2021-06-01",
            "temporal_end": "",
            "lineage": "Numérisé.",
            "csrf": token,
        }
        saved = http.post(f"/jeux-de-donnees/{SLUG}/modifier", data=changed)
        assert saved.status_code == 303, saved.text[:800]
        assert stored(backend) == {
            "licence": "CC BY 4.0",
            "themes": ["Environnement"],
            "producer": None,
            "contact_name": "Cellule données",
            "contact_email": "donnees@province-sud.nc",
            "update_frequency": "biannual",
            "temporal_start": date(2021, 6, 1),
            "temporal_end": None,
            "lineage": "Numérisé.",
        }
        page = http.get(f"/jeux-de-donnees/{SLUG}").text
        assert "semestrielle" in page and "depuis le 1 juin 2021" in page
        assert 'Cellule données, <a href="mailto:donnees@province-sud.nc">' in page
        assert validate_html5({"new": new, "edit": edit}, tmp_path) == []


BAD = [
    ({"licence": "MIT"}, "Licence inconnue « MIT » : choisissez parmi Licence Ouverte 2.0"),
    ({"themes": ["Loisirs"]}, "Thème inconnu « Loisirs »"),
    ({"update_frequency": "parfois"}, "Fréquence de mise à jour inconnue « parfois »"),
    ({"contact_email": "Jean Dupont"}, "« Jean Dupont » n'est pas une adresse électronique"),
    (
        {"temporal_start": "2024-01-01", "temporal_end": "2023-12-31"},
        "La période couverte finit le 2023-12-31, avant son début le 2024-01-01.",
    ),
]


def test_form_refuses_values_off_the_lists_in_french_and_keeps_what_was_typed(server, backend):
    with editor(server) as http:
        token = csrf_of(http.get("/jeux-de-donnees/nouveau").text)
        before = snapshot(backend)
        for change, message in BAD:
            refused = http.post("/jeux-de-donnees/nouveau", data={**FORM, **change, "csrf": token})
            assert refused.status_code == 400, change
            assert message in html.unescape(refused.text), (change, refused.text[-3000:])
            # What was typed is in the form again.
            assert "Relevés GPS des arrêts, vérifiés sur le terrain.</textarea>" in refused.text
            assert 'value="Service SIG"' in refused.text
        assert snapshot(backend) == before
        assert http.post("/jeux-de-donnees/nouveau", data={**FORM, "csrf": token}).is_redirect
        for change, message in BAD:
            refused = http.post(
                f"/jeux-de-donnees/{SLUG}/modifier", data={**FORM, **change, "csrf": token}
            )
            assert refused.status_code == 400 and message in html.unescape(refused.text)
    with editor(server, "en") as http:
        token = csrf_of(http.get("/jeux-de-donnees/nouveau").text)
        english = http.post(
            "/jeux-de-donnees/nouveau",
            data={
                **FORM,
                "temporal_start": "2024-01-01",
                "temporal_end": "2023-12-31",
                "csrf": token,
            },
        )
        assert english.status_code == 400
        assert "The period covered ends on 2023-12-31, before it starts on 2024-01-01." in (
            html.unescape(english.text)
        )
        page = http.get("/jeux-de-donnees/nouveau").text
        for words in (
            "Update frequency",
            "Lineage",
            "never a personal address",
            "Regions and cities",
        ):
            assert words in html.unescape(page), words
        for french in ("Fréquence de mise à jour", "Généalogie", "Régions et villes</label>"):
            assert french not in page, french


@pytest.fixture
def api_site(backend, tmp_path):
    with start_api_site(backend, tmp_path) as site:
        yield site


def test_api_round_trip_controlled_lists_dcat_and_iso(api_site: ApiSite, backend):
    body = {
        "organisation": "province-sud",
        "title": "Arrêts de bus",
        "licence": "odbl",  # a known spelling: stored under the licence's one name
        "themes": ["TRAN", "régions et villes"],
        "update_frequency": "ANNUAL_2",  # an EU code
        "producer": "Direction des transports",
        "contact_name": "Service SIG",
        "contact_email": "sig@province-sud.nc",
        "temporal_start": "2020-01-01",
        "temporal_end": "2024-12-31",
        "lineage": "Relevés GPS.",
    }
    expected = {
        "licence": ODBL,
        "themes": ["Transports", "Régions et villes"],
        "update_frequency": "biannual",
        "producer": "Direction des transports",
        "contact_name": "Service SIG",
        "contact_email": "sig@province-sud.nc",
        "temporal_start": "2020-01-01",
        "temporal_end": "2024-12-31",
        "lineage": "Relevés GPS.",
    }
    with api_site.client("editor_a") as http:
        document = http.get("/api/openapi.json").json()
        fields = document["components"]["schemas"]["DatasetCreate"]["properties"]
        assert "ANNUAL_2" in fields["update_frequency"]["description"]
        assert ODBL in fields["licence"]["description"]
        assert "REGI" in fields["themes"]["description"]
        created = http.post("/api/datasets", json=body)
        assert created.status_code == 201, created.text
        assert {k: created.json()[k] for k in expected} == expected
        slug = created.json()["slug"]
        shown = http.get(f"/api/datasets/{slug}").json()
        assert {k: shown[k] for k in expected} == expected
        before = snapshot(backend)
        for change, message in [
            ({"licence": "Licence maison"}, "licence inconnue « Licence maison »"),
            ({"themes": ["Loisirs"]}, "thème inconnu « Loisirs »"),
            ({"update_frequency": "sometimes"}, "fréquence de mise à jour inconnue"),
            ({"contact_email": "jean"}, "« jean » n'est pas une adresse électronique"),
            ({"temporal_end": "2019-12-31"}, "finit le 2019-12-31, avant son début le 2020-01-01"),
        ]:
            refused = http.patch(f"/api/datasets/{slug}", json=change)
            assert refused.status_code == 422, (change, refused.text)
            assert message in refused.json()["description"], refused.json()
        assert snapshot(backend) == before
        assert http.post(f"/api/datasets/{slug}/publish", json={}).status_code == 200
    with api_site.client("anonymous") as http:
        response = http.get("/catalog.ttl")
        assert response.status_code == 200
        graph = Graph().parse(data=response.content, format="turtle")
    node = next(n for n in graph.subjects(RDF.type, DCAT.Dataset) if slug in str(n))
    assert graph.value(node, DCTERMS.accrualPeriodicity) == FREQUENCY.ANNUAL_2
    themes = set(graph.objects(node, DCAT.theme))
    assert {DATA_THEME.TRAN, DATA_THEME.REGI} <= themes
    contact = graph.value(node, DCAT.contactPoint)
    assert graph.value(contact, VCARD.hasEmail) == URIRef("mailto:sig@province-sud.nc")
    period = graph.value(node, DCTERMS.temporal)
    assert str(graph.value(period, DCAT.startDate)).startswith("2020-01-01")
    licences = {graph.value(d, DCTERMS.license) for d in graph.objects(node, DCAT.distribution)}
    licences.discard(None)
    assert licences <= {URIRef("https://opendatacommons.org/licenses/odbl/1-0/")}
    assert shacl_results(graph, DCAT_AP_3) == []
    # The ISO record (CSW) says the same frequency, period and contact.
    from niaouli.services.csw import iso
    from niaouli.services.csw.view import load_views

    with backend.engine.connect() as conn:
        (view,) = [v for v in load_views(conn) if v.slug == slug]
    record = iso.render(view)
    assert 'codeListValue="biannually"' in record
    assert "sig@province-sud.nc" in record and "2020-01-01" in record
    assert "Data theme (EU Vocabularies)" in record


@pytest.fixture
def demo(backend):
    load_demo(backend.settings, echo=lambda _m: None)
    client = TestClient(create_app(backend.settings), raise_server_exceptions=True)
    yield client
    client.close()


def facts(page: str) -> dict[str, list[str]]:
    """{term: [definitions]} of every `dl.facts` of the page, tags removed."""
    found: dict[str, list[str]] = {}
    for term, value in re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S):
        clean = html.unescape(re.sub(r"<[^>]+>", "", value)).strip()
        found.setdefault(html.unescape(term), []).append(clean)
    return found


def test_the_page_says_each_fact_once_in_french_and_english(demo, backend):
    with backend.session() as session, session.begin():  # a dataset with none of them
        bare = service.find_dataset(session, "population-communes-nc")
        service.update_dataset(session, bare, producer=None, contact_name=None, contact_email=None)
    communes = demo.get("/jeux-de-donnees/communes-nc").text
    shown = facts(communes)
    for term in ("Producteur", "Contact", "Licence", "Mise à jour", "Période couverte"):
        assert len(shown[term]) == 1, (term, shown.get(term))
    assert shown["Producteur"] == ["Gouvernement de la Nouvelle-Calédonie (Géorep)"]
    assert shown["Contact"] == ["Service de la géomatique (Géorep), georep@exemple.nc"]
    assert shown["Mise à jour"] == ["irrégulière"]
    assert "non renseigné<" not in communes
    population = demo.get("/jeux-de-donnees/population-communes-nc").text
    shown = facts(population)
    # No producer or contact given: the organisation, once, never « non renseigné ».
    assert shown["Producteur"] == ["Gouvernement de la Nouvelle-Calédonie"]
    assert shown["Contact"] == ["Gouvernement de la Nouvelle-Calédonie"]
    assert "non renseigné<" not in population
    english = demo.get("/jeux-de-donnees/population-communes-nc?lang=en").text
    # (the schema.org block is data in French, `inLanguage: fr`: left out)
    english = re.sub(r'<script type="application/ld\+json">.*?</script>', "", english, flags=re.S)
    shown = facts(english)
    assert shown["Update frequency"] == ["annual"]
    assert shown["Themes"] == ["Population and society"]
    for french in ("Producteur", "Période couverte", "Population et société", "annuelle"):
        assert french not in english, french


def test_demo_licence_facet_has_one_name_per_licence(demo):
    page = demo.get("/jeux-de-donnees").text
    shown = {k: v[0] for k, v in facets(page)["Licence"].items()}
    assert shown["Licence Ouverte 2.0"] >= 2 and "Licence Ouverte" not in shown
    # One licence, one name (a demo grown later too): a known licence is shown under the
    # platform's name for it and no two entries are spellings of the same licence. Real
    # data whose licence is on no list (Nouméa's bathing-water results state none) keeps
    # its own words.
    known = [(name, vocabularies.licence(name)) for name in shown]
    assert all(x is None or x.name == name for name, x in known), shown
    names = [x.name for _name, x in known if x is not None]
    assert len(names) == len(set(names)), shown
    english = demo.get("/jeux-de-donnees?lang=en").text
    assert "Population and society" in facets(english)["Theme"]


def test_migration_gives_older_rows_the_licence_s_one_name(tmp_path):
    from niaouli.db import schema
    from niaouli.db.engine import make_engine
    from niaouli.settings import Settings

    path = tmp_path / "before.sqlite"
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{path}", spatialite_library="mod_spatialite"
    )
    engine = make_engine(settings)
    schema.upgrade(engine, "0019_dataset_versions")
    written = ["Licence Ouverte", "ODbL 1.0", "CC-BY 4.0", "Licence Ouverte 2.0", "Licence maison"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (slug, name, kind, description, created_at, updated_at)"
                " VALUES ('o', 'Commune', 'commune', '', '2026-01-01', '2026-01-01')"
            )
        )
        for n, licence in enumerate(written):
            conn.execute(
                text(
                    "INSERT INTO datasets (slug, organisation_id, title, description, themes,"
                    " keywords, licence, lineage, provenance, access_level, is_spatial,"
                    " created_at, updated_at) VALUES (:slug, 1, 'Jeu', '', '[]', '[]',"
                    " :licence, '', '{}', 'public', 0, '2026-01-01', '2026-01-01')"
                ),
                {"slug": f"d{n}", "licence": licence},
            )
    schema.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT licence FROM datasets ORDER BY slug")).scalars().all()
    engine.dispose()
    assert rows == [
        "Licence Ouverte 2.0",
        ODBL,
        "CC BY 4.0",
        "Licence Ouverte 2.0",
        "Licence maison",
    ]


def test_dcat_licence_of_every_offered_licence_is_an_iri():
    """Each licence the form offers has its IRI in the DCAT export (« ODbL 1.0 » and
    « CC0 1.0 », as the form used to store them, were published as bare labels)."""
    from niaouli.dcat import vocabularies as voc

    for name in ("Licence Ouverte 2.0", "ODbL 1.0", "CC-BY 4.0", "CC0 1.0", ODBL, "CC BY-SA 4.0"):
        iri, _label = voc.licence(name)
        assert iri and iri.startswith("https://"), name
    assert voc.licence("Licence maison") == (None, "Licence maison")


def test_an_imported_iso_record_gets_the_licence_s_one_name(backend, tmp_path):
    """`niaouli records import` stores a known licence spelling under its one name."""
    from niaouli.services.csw.importer import import_records
    from tests.csw_support import ISO_RECORD

    with backend.session() as session, session.begin():
        service.create_organisation(session, "gouvernement-nc", "Gouvernement", "government")
    record = re.sub(
        r"<gco:CharacterString>Usage libre[^<]*</gco:CharacterString>",
        "<gco:CharacterString>Licence Ouverte</gco:CharacterString>",
        ISO_RECORD.read_text(encoding="utf-8"),
    )
    assert "<gco:CharacterString>Licence Ouverte</gco:CharacterString>" in record
    path = tmp_path / "fiche.xml"
    path.write_text(record, encoding="utf-8")
    (imported,) = import_records(backend.engine, [path], "gouvernement-nc")
    with backend.session() as session:
        assert service.find_dataset(session, imported.slug).licence == "Licence Ouverte 2.0"


def test_theme_code_knows_a_theme_by_code_iri_or_label_in_any_spelling():
    """`vocabularies.theme_code` (labels normalised once): the code, its IRI, the French
    label with or without accents and capitals, and nothing for another theme."""
    iri = vocabularies.THEME_IRI + "educ"
    assert vocabularies.theme_code("EDUC") == vocabularies.theme_code(iri) == "EDUC"
    assert vocabularies.theme_code("  Éducation, culture et sport ") == "EDUC"
    assert vocabularies.theme_code("EDUCATION,  CULTURE ET SPORT") == "EDUC"
    assert vocabularies.theme_code("Energie") == "ENER"
    assert vocabularies.theme_code("Éducation") is None
    assert vocabularies.theme_code("Transport") is None
