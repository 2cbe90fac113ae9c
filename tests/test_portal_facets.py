"""Search everything with facets (/recherche, /jeux-de-donnees), live server, both backends.

The corpus mixes what must be found (accented and unaccented titles, plurals, every kind
of object, a layer's attribute names) with what must never be seen or counted by the
wrong viewer (registered, organisation-only and draft datasets; an organisation whose
only dataset is a draft; a reuse awaiting moderation).
"""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import shapely
from geoalchemy2.elements import WKTElement
from sqlalchemy import text
from sqlalchemy.orm import Session

from niaouli.accounts import tokens, users
from niaouli.catalogue import service
from niaouli.catalogue.models import Resource, ResourceKind, Reuse
from niaouli.catalogue.search import fulltext
from niaouli.ingest import ingest_file
from niaouli.stats.table import usage_daily
from tests.conftest import GEODATA, Backend
from tests.portal_support import LiveServer, validate_html5

HIENGHENE = (164.9, -20.75, 165.0, -20.65)
LIFOU = (167.0, -21.2, 167.5, -20.7)
PASSWORD = "mot-de-passe-de-test"
PUBLIC = {"ecole-hienghene", "ecoles-privees", "communes", "routes-lifou"}
HIDDEN = {"lycees-inscrits", "ecoles-internes", "ecoles-brouillon"}


def _dataset(session, org, slug, title, *, box=None, formats=(), **fields):
    dataset = service.create_dataset(session, org, slug, title, **fields)
    if box is not None:
        dataset.spatial_coverage = WKTElement(shapely.box(*box).wkt, srid=4326)
        dataset.is_spatial = True
    for fmt in formats:
        dataset.resources.append(
            Resource(
                title=f"Fichier {fmt}",
                kind=ResourceKind.LINK,
                url=f"https://exemple.nc/{slug}.{fmt.lower()}",
                format=fmt,
            )
        )
    return dataset


def build(backend: Backend) -> dict[str, str]:
    """The corpus; returns the read tokens of a member of `dens` and of a mere user."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with backend.session() as session, session.begin():
        service.create_organisation(session, "ville-hienghene", "Commune de Hienghène", "commune")
        service.create_organisation(session, "dens", "Direction de l'enseignement", "government")
        service.create_organisation(session, "discrete", "Organisation discrète", "association")
    ingest_file(
        GEODATA / "nc_communes.geojson",
        organisation="ville-hienghene",
        dataset="communes",
        title="Limites des communes",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )
    with backend.session() as session, session.begin():
        commune = service.get_organisation(session, "ville-hienghene")
        dens = service.get_organisation(session, "dens")
        hidden_org = service.get_organisation(session, "discrete")
        service.find_dataset(session, "communes").themes = ["Limites administratives"]
        first = _dataset(
            session,
            commune,
            "ecole-hienghene",
            "École de Hienghène",
            box=HIENGHENE,
            formats=["CSV"],
            themes=["Éducation"],
            description="Effectifs de l'école primaire.",
        )
        privees = _dataset(
            session,
            dens,
            "ecoles-privees",
            "Ecoles privées sous contrat",
            formats=["CSV", "PDF"],
            themes=["Éducation"],
            licence="ODbL",
        )
        _dataset(
            session,
            dens,
            "routes-lifou",
            "Routes de Lifou",
            box=LIFOU,
            formats=["GeoJSON"],
            themes=["Transport"],
            description="Réseau routier des îles.",
        )
        _dataset(
            session,
            dens,
            "lycees-inscrits",
            "Lycées et écoles de la province Sud",
            themes=["Éducation"],
            formats=["XLSX"],
            access_level="registered",
        )
        _dataset(
            session,
            dens,
            "ecoles-internes",
            "Écoles : effectifs internes",
            themes=["Éducation", "Thème interne"],
            formats=["ODS"],
            access_level="organisation",
            licence="Licence interne",
        )
        _dataset(
            session,
            hidden_org,
            "ecoles-brouillon",
            "Écoles en projet Hienghène",
            box=HIENGHENE,
            themes=["Thème secret"],
            formats=["SHP"],
            access_level="draft",
            licence="Licence secrète",
        )
        # Dates for "newest": the Lifou roads are the newest, the private schools oldest.
        for slug, days in (("ecoles-privees", 30), ("ecole-hienghene", 10), ("routes-lifou", 1)):
            service.find_dataset(session, slug).published_at = now - timedelta(days=days)
        service.find_dataset(session, "communes").published_at = now - timedelta(days=20)
        service.create_code_project(
            session,
            dens,
            "carto-ecoles",
            "Cartographie des écoles",
            description="Outil libre.",
            licence="MIT",
            datasets=[privees],
        )
        approved = service.create_reuse(
            session,
            "appli-ecoles",
            "Application Mon école",
            "application",
            datasets=[first, privees],
            organisation_id=commune.id,
        )
        pending = service.create_reuse(
            session, "reuse-en-attente", "Réutilisation scolaire en attente", "article"
        )
        if hasattr(Reuse, "status"):
            approved.status = "approved"
            pending.status = "pending"
        service.create_event(
            session,
            "hackathon-ecoles",
            "Hackathon des écoles",
            "hackathon",
            datetime(2026, 12, 5, 8, tzinfo=UTC),
            location="Koné",
        )
        member = users.create_user(session, "membre@exemple.nc", "Membre", PASSWORD)
        users.set_membership(session, dens, member, "member")
        plain = users.create_user(session, "inscrit@exemple.nc", "Inscrit", PASSWORD)
        _t, member_token = tokens.create_token(session, member, "tests", "read")
        _t, plain_token = tokens.create_token(session, plain, "tests", "read")
    return {"member": member_token, "user": plain_token}


@pytest.fixture
def live(backend: Backend):
    secrets = build(backend)
    with LiveServer(backend) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        yield http, secrets


def results(page: str) -> list[str]:
    """The result links of a search page, in order."""
    return re.findall(r'<h2 class="card-title"><a href="([^"]+)"', page)


def slugs(page: str) -> set[str]:
    return {url.rsplit("/", 1)[-1] for url in results(page)}


FACET_SECTION = re.compile(
    r'<section class="facet">\s*<h2>([^<]+)</h2>\s*<ul>(.*?)</ul>', re.DOTALL
)
FACET_VALUE = re.compile(
    r'<a href="([^"]+)" rel="nofollow"( class="selected")?>(?:<span aria-hidden="true">✓ </span>)?'
    r'([^<]*?) <span class="count">([^<]+)</span>'
)


def facets(page: str) -> dict[str, dict[str, tuple[int, str]]]:
    """{facet label: {value label: (count, url)}} as shown on the page."""
    found = {}
    for label, body in FACET_SECTION.findall(page):
        found[htmllib.unescape(label)] = {
            htmllib.unescape(value): (int(count.replace("\u202f", "")), htmllib.unescape(url))
            for url, _selected, value, count in FACET_VALUE.findall(body)
        }
    return found


def total(page: str) -> int:
    match = re.search(r'<p class="result-count"[^>]*>\s*(?:<span[^>]*>)?([\d\u202f]+) ', page)
    return int(match.group(1).replace("\u202f", "")) if match else 0


def get(http: httpx.Client, url: str, token: str | None = None, **params) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.get(url, params=params or None, headers=headers)
    assert response.status_code == 200, (url, params, response.status_code)
    return response.text


def test_french_text_every_kind_and_hostile_queries(backend, live, tmp_path):
    http, _secrets = live
    schools = {"ecole-hienghene", "ecoles-privees"}
    for query in ("ecoles", "écoles", "ÉCOLE", "ecole"):
        page = get(http, "/jeux-de-donnees", q=query)
        assert slugs(page) == schools, query
        assert total(page) == 2
    page = get(http, "/jeux-de-donnees", q="Hienghene")
    assert slugs(page) == {"ecole-hienghene", "communes"}  # title; organisation name
    assert slugs(get(http, "/jeux-de-donnees", q="hienghène")) == {"ecole-hienghene", "communes"}
    # A layer's attribute names are part of its dataset's text.
    assert slugs(get(http, "/jeux-de-donnees", q="libgeo")) == {"communes"}
    # Websearch syntax, the same on both backends: phrase, exclusion, or.
    assert slugs(get(http, "/jeux-de-donnees", q='"ecoles privees"')) == {"ecoles-privees"}
    assert slugs(get(http, "/jeux-de-donnees", q="ecoles -privees")) == {"ecole-hienghene"}
    assert slugs(get(http, "/jeux-de-donnees", q="lifou or privees")) == {
        "routes-lifou",
        "ecoles-privees",
    }
    # Everything in one place: each kind is found, linked to its own page.
    page = get(http, "/recherche", q="écoles")
    assert set(results(page)) == {
        "/jeux-de-donnees/ecole-hienghene",
        "/jeux-de-donnees/ecoles-privees",
        "/code/carto-ecoles",
        "/reutilisations/appli-ecoles",
        "/evenements/hackathon-ecoles",
    }
    kinds = facets(page)["Type"]
    assert {k: v[0] for k, v in kinds.items()} == {
        "Jeux de données": 2,
        "Code": 1,
        "Réutilisations": 1,
        "Événements": 1,
    }
    assert results(get(http, "/recherche", q="enseignement", type="organisations")) == [
        "/organisations/dens"
    ]
    only_code = get(http, kinds["Code"][1])
    assert results(only_code) == ["/code/carto-ecoles"]
    # Never the reuse awaiting moderation, never a hidden dataset.
    everything = get(http, "/recherche")
    if hasattr(Reuse, "status"):
        assert "/reutilisations/reuse-en-attente" not in everything
        assert not slugs(get(http, "/recherche", q="attente"))
    assert total(everything) == 4 + 1 + 1 + 1 + 3  # datasets, code, reuse, event, orgs
    for hostile in (
        "'; DROP TABLE datasets; --",
        "%",
        "_",
        '"unbalanced',
        "ecole\"'",
        "-",
        "or",
        "-ecoles",
        "x" * 10_000,
        "é" * 3000 + " écoles",
        "\\",
        "<script>alert(1)</script>",
    ):
        for url in ("/recherche", "/jeux-de-donnees"):
            response = http.get(url, params={"q": hostile})
            assert response.status_code == 200, (url, hostile[:40])
            assert "<script>alert" not in response.text
    assert slugs(get(http, "/jeux-de-donnees", q="%")) == PUBLIC  # no words: everything
    assert slugs(get(http, "/jeux-de-donnees", q="-ecoles")) == PUBLIC - schools
    assert not results(get(http, "/jeux-de-donnees", q="'; DROP TABLE datasets; --"))
    with backend.engine.connect() as conn:  # still there
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar() == 7
    # Odd facet values and boxes are ignored or harmless, never an error.
    for params in (
        {"type": "nimporte"},
        {"bbox": "1,2,3"},
        {"bbox": "nan,1,2,3"},
        {"bbox": "10,10,0,0"},
        {"tri": "'; --"},
        {"organisation": "x" * 5000},
        {"page": "99999"},
        {"acces": "draft"},
    ):
        assert http.get("/recherche", params=params).status_code == 200, params
    assert slugs(get(http, "/recherche", acces="draft")) >= PUBLIC  # ignored for anonymous
    pages = {
        "recherche": get(http, "/recherche", q="écoles"),
        "recherche-filtres": get(http, "/recherche", theme="Éducation", tri="populaire"),
        "jeux": get(http, "/jeux-de-donnees", q="ecoles", bbox="164,-21,166,-20"),
        "vide": get(http, "/recherche", q="introuvablexyz"),
    }
    assert validate_html5(pages, tmp_path) == []


def test_facet_counts_follow_the_viewer(backend, live):
    http, secrets = live
    page = get(http, "/jeux-de-donnees")
    assert slugs(page) == PUBLIC
    shown = facets(page)
    counts = {name: {v: c for v, (c, _u) in values.items()} for name, values in shown.items()}
    assert counts["Organisation"] == {"Commune de Hienghène": 2, "Direction de l'enseignement": 2}
    assert counts["Thème"] == {"Éducation": 2, "Transport": 1, "Limites administratives": 1}
    assert counts["Format"] == {"CSV": 2, "PDF": 1, "GEOJSON": 2}  # + the original file
    assert counts["Licence"] == {"Licence Ouverte 2.0": 3, "ODbL": 1}
    assert counts["Données géographiques"] == {"Géographiques": 3, "Non géographiques": 1}
    assert "Niveau d'accès" not in counts  # anonymous: only public exists for them
    everything = get(http, "/recherche")
    for secret in ("Organisation discrète", "Thème secret", "Thème interne", "SHP", "ODS", "XLSX"):
        for values in facets(everything).values():
            assert secret not in values, secret
    assert "Licence secrète" not in everything and "Thème secret" not in everything
    # The organisation whose only dataset is a draft is findable as an organisation,
    # but no facet counts anything for it.
    assert "/organisations/discrete" in results(everything)
    assert "discrete" not in " ".join(u for _c, u in facets(everything)["Organisation"].values())

    # Counts are consistent with the results, and use the *other* facets' filters.
    education = get(http, shown["Thème"]["Éducation"][1])
    assert slugs(education) == {"ecole-hienghene", "ecoles-privees"}
    after = facets(education)
    assert {v: c for v, (c, _u) in after["Thème"].items()} == counts["Thème"]  # own facet
    assert {v: c for v, (c, _u) in after["Format"].items()} == {"CSV": 2, "PDF": 1}
    pdf = get(http, after["Format"]["PDF"][1])
    assert slugs(pdf) == {"ecoles-privees"}
    # OR within a facet, AND across facets.
    both = get(http, "/jeux-de-donnees", theme=["Éducation", "Transport"])
    assert slugs(both) == {"ecole-hienghene", "ecoles-privees", "routes-lifou"}
    assert slugs(get(http, "/jeux-de-donnees", theme=["Éducation", "Transport"], format="PDF")) == {
        "ecoles-privees"
    }
    # With no value selected in a facet, following a value gives exactly its count.
    checked = 0
    for name, values in facets(both).items():
        if name == "Thème":
            continue
        for value, (count, url) in values.items():
            assert total(get(http, url)) == count, (name, value)
            checked += 1
    assert checked >= 6
    kinds = facets(get(http, "/recherche", q="ecoles"))["Type"]
    assert sum(c for c, _u in kinds.values()) == total(get(http, "/recherche", q="ecoles"))
    # Selected values stay shown to be removed; removing them gives the first page back.
    untick = facets(pdf)["Format"]["PDF"][1]
    assert slugs(get(http, untick)) == {"ecole-hienghene", "ecoles-privees"}

    # A member of `dens` sees its organisation's restricted datasets, and the access facet.
    member = get(http, "/jeux-de-donnees", token=secrets["member"], q="écoles")
    assert slugs(member) == {
        "ecole-hienghene",
        "ecoles-privees",
        "lycees-inscrits",
        "ecoles-internes",
    }
    access = {v: c for v, (c, _u) in facets(member)["Niveau d'accès"].items()}
    assert access == {"Public": 2, "Utilisateurs inscrits": 1, "Membres de l'organisation": 1}
    internal = get(
        http,
        facets(member)["Niveau d'accès"]["Membres de l'organisation"][1],
        token=secrets["member"],
    )
    assert slugs(internal) == {"ecoles-internes"}
    assert "Organisation discrète" not in member  # the draft stays invisible
    # A signed-in user without organisation: public + registered, never the others.
    user = get(http, "/jeux-de-donnees", token=secrets["user"], q="écoles")
    assert slugs(user) == {"ecole-hienghene", "ecoles-privees", "lycees-inscrits"}
    assert {v for v in facets(user)["Niveau d'accès"]} == {"Public", "Utilisateurs inscrits"}
    assert "Thème interne" not in user and "ODS" not in user


def test_map_box_sorting_and_stable_urls(backend, live):
    http, _secrets = live
    # The box keeps datasets whose coverage intersects it (and only datasets).
    page = get(http, "/recherche", bbox="164.5,-21,165.5,-20.5")
    assert slugs(page) == {"ecole-hienghene", "communes"}  # the communes cover everything
    assert slugs(get(http, "/recherche", bbox="166.9,-21.3,167.6,-20.6")) == {
        "routes-lifou",
        "communes",
    }
    assert not results(get(http, "/recherche", bbox="100,10,101,11"))
    assert 'data-bbox="164.5,-21,165.5,-20.5"' in page
    assert "/static/js/recherche-carte.js" in page and "<script>" not in page  # no inline JS
    # Sorting: newest, most used (reuses and code projects first), relevance.
    newest = results(get(http, "/jeux-de-donnees", tri="recent"))
    assert [u.rsplit("/", 1)[-1] for u in newest] == [
        "routes-lifou",
        "ecole-hienghene",
        "communes",
        "ecoles-privees",
    ]
    # Visits (niaouli.stats) first, then reuses and code projects: 1 + 1, then 1.
    with backend.engine.begin() as conn:
        communes = service.find_dataset(Session(bind=conn), "communes").id
        conn.execute(
            usage_daily.insert().values(
                day=date.today(),
                interface="portal",
                dataset_id=communes,
                hits=90,
                unique_visits=40,
            )
        )
    used = [u.rsplit("/", 1)[-1] for u in results(get(http, "/jeux-de-donnees", tri="populaire"))]
    assert used[:3] == ["communes", "ecoles-privees", "ecole-hienghene"]
    relevant = results(get(http, "/jeux-de-donnees", q="hienghene"))
    assert relevant[0] == "/jeux-de-donnees/ecole-hienghene"  # title beats organisation
    # Stable URLs: canonical order whatever the order asked, filters kept on every link.
    page = get(
        http,
        "/recherche?tri=recent&theme=Transport&theme=%C3%89ducation&q=a&type=jeux-de-donnees",
    )
    links = [htmllib.unescape(u) for u in re.findall(r'href="(/recherche\?[^"]+)"', page)]
    links = [u for u in links if "lang=" not in u]  # the language switcher: the same page
    assert links
    order = ["q", "type", "organisation", "theme", "format", "licence", "acces", "spatial"]
    order += ["bbox", "tri", "page"]
    for link in links:
        keys = [k for k, _v in parse_qsl(urlsplit(link).query)]
        assert keys == sorted(keys, key=order.index), link
        if "tri=" in link:
            assert "tri=recent" in link
    form = re.search(r'<form class="search".*?</form>', page, re.DOTALL).group(0)
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    assert ("theme", "Transport") in hidden and ("type", "jeux-de-donnees") in hidden


def test_index_upkeep_and_stemming_match_postgresql(backend):
    """The index follows changes; on PostGIS, Python's stems equal PostgreSQL's."""
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "o", "Province Nord", "province")
        dataset = service.create_dataset(session, org, "d", "Réseaux d'eau potable")
        event = service.create_event(
            session, "e", "Cartoparty à Poum", "cartoparty", datetime(2026, 1, 1, tzinfo=UTC)
        )
        ids = {"dataset": dataset.id, "event": event.id, "organisation": org.id}
    with backend.session() as session, session.begin():
        conn = session.connection()
        assert set(fulltext.match(conn, fulltext.parse("reseau"))) == {("dataset", ids["dataset"])}
        assert set(fulltext.match(conn, fulltext.parse("poum"))) == {("event", ids["event"])}
        assert set(fulltext.match(conn, fulltext.parse("province nord"))) == {
            ("organisation", ids["organisation"]),
            ("dataset", ids["dataset"]),
        }
        service.update_dataset(session, service.find_dataset(session, "d"), title="Assainissement")
        service.get_organisation(session, "o").name = "Province des Îles"
    with backend.session() as session, session.begin():
        conn = session.connection()
        assert not fulltext.match(conn, fulltext.parse("reseau"))
        assert set(fulltext.match(conn, fulltext.parse("iles assainissement"))) == {
            ("dataset", ids["dataset"])
        }
        session.delete(service.find_dataset(session, "d"))
    with backend.session() as session:
        assert not fulltext.match(session.connection(), fulltext.parse("assainissement"))
        if backend.name != "postgis":
            return
        vocabulary = [
            w
            for line in (GEODATA / "nc_communes_population.csv").read_text().splitlines()
            for w in fulltext.words(line)
            if not w.isdigit()
        ]
        vocabulary += fulltext.words(
            "écoles lycées collèges réseaux routiers hôpitaux données géographiques "
            "population recensement cadastre parcelles forêts rivières îles Loyauté "
            "établissements publics économiques sociales nationales transports aériens"
        )
        vocabulary = sorted(set(vocabulary) - fulltext.STOP_WORDS)
        rows = session.execute(
            text("SELECT w, ts_lexize('french_stem', w) FROM unnest(CAST(:w AS text[])) AS w"),
            {"w": vocabulary},
        )
        for word, lexemes in rows:
            assert lexemes == [fulltext.stem(word)], word


def test_query_parsing():
    q = fulltext.parse('écoles "île des pins" -privées or publiques de la')
    assert q.groups == (
        (fulltext.Clause(("ecoles",)),),
        (fulltext.Clause(("ile", "des", "pins")), fulltext.Clause(("publiques",))),
    )
    assert q.excluded == (fulltext.Clause(("privees",), negated=True),)
    assert fulltext._websearch(q) == 'ecoles "ile des pins" or publiques -privees'
    assert fulltext._fts5(q.groups[1]) == '"ile de pin" OR "publiqu"'
    assert fulltext.parse("de la").empty  # stop words only
    assert fulltext.parse("%_'\"").empty
    assert len(fulltext.parse("mot " * 1000).groups) == fulltext.MAX_CLAUSES
    assert fulltext._websearch(fulltext.parse('a" -b')) == "a b"  # an opened phrase


def test_paging_keeps_every_filter(backend):
    """Page links carry the words, facets, box and sort; page 1 has no `page`."""
    from starlette.testclient import TestClient

    from niaouli.portal.app import create_app

    with backend.session() as session, session.begin():
        org = service.create_organisation(session, "commune-x", "Commune X", "commune")
        for i in range(45):
            _dataset(
                session,
                org,
                f"jeu-{i:02d}",
                f"École numéro {i:02d}",
                box=HIENGHENE,
                themes=["Éducation"] if i % 3 else ["Autre"],
            )
    url = "/recherche?q=ecole&theme=%C3%89ducation&bbox=164,-21,166,-20&tri=recent"
    with TestClient(create_app(backend.settings)) as client:
        first = client.get(url).text
        assert "30 résultats" in first and "Page 1 sur 2" in first
        following = re.search(r'rel="next" href="([^"]+)"', first).group(1)
        assert htmllib.unescape(following) == (
            "/recherche?q=ecole&theme=%C3%89ducation&bbox=164%2C-21%2C166%2C-20&tri=recent&page=2"
        )
        second = client.get(htmllib.unescape(following)).text
        assert second.count('class="card"') == 10
        previous = re.search(r'rel="prev" href="([^"]+)"', second).group(1)
        assert "page=" not in previous and "theme=" in previous and "bbox=" in previous
