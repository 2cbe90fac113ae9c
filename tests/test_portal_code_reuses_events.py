"""Code catalogue, reuses and events on a live `niaouli serve`, on both backends.

Real HTTP (httpx), real sign-in with CSRF tokens, real iCalendar parsing (icalendar).
The site holds the demo data plus hostile entries (SECURITY-CASES S20-S22) and links to
datasets the visitor may not see, which must never show.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from sqlalchemy import func, select

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.models import CodeProject, Event, ModerationStatus, Reuse
from niaouli.demo import load_demo
from tests.accounts_support import PASSWORD, csrf_of, sign_in
from tests.portal_support import LiveServer, links, populate, validate_html5

NOUMEA = ZoneInfo("Pacific/Noumea")
HOSTILE = '<img src=x onerror="alert(1)"> Outil, de; test\n<script>alert(2)</script>'
HOSTILE_TEXT = "Voir <b onmouseover=alert(3)>ceci</b> et [lien](javascript:alert(4))."
ESCAPED = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"


def add_hostile_entries(backend) -> None:  # noqa: ANN001
    """Code, reuse and event with hostile text, each linked to a public and a private set."""
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, "province-nord")
        public = service.find_dataset(session, "communes-nc")
        private = service.find_dataset(session, "communes-interne")
        project = service.create_code_project(
            session,
            org,
            "outil-hostile",
            HOSTILE,
            description=HOSTILE_TEXT,
            repository_url="javascript:alert(5)",
            licence="EUPL-1.2",
            languages=["Rust"],
            releases=[{"version": "v1", "name": "<b>v1</b>", "url": "javascript:alert(6)"}],
            publiccode={
                "name": "<script>alert(7)</script>",
                "landingURL": "javascript:alert(8)",
                "maintenance": {
                    "type": "community",
                    "contacts": [{"name": "Léa", "email": "lea@x.nc"}],
                },
            },
        )
        project.datasets = [public, private]
        service.create_reuse(
            session,
            "reutilisation-hostile",
            HOSTILE,
            "article",
            datasets=[public, private],
            url="javascript:alert(9)",
            description=HOSTILE_TEXT,
            status=ModerationStatus.APPROVED,
        )
        service.create_event(
            session,
            "evenement-hostile",
            HOSTILE,
            "hackathon",
            datetime(2027, 1, 20, 9, 0, tzinfo=NOUMEA),
            datasets=[public, private],
            ends_at=datetime(2027, 1, 21, 17, 0, tzinfo=NOUMEA),
            location="Koné, <i>salle</i>",
            url="javascript:alert(10)",
            description=HOSTILE_TEXT,
        )


def no_hostile_markup(html: str) -> None:
    assert "<script>alert" not in html and 'onerror="alert' not in html
    assert "<b onmouseover" not in html and "<i>salle</i>" not in html
    assert not [h for h in links(html) if h.lower().startswith(("javascript:", "data:"))]
    # Never a private dataset, even as a link from public content (S23).
    assert "communes-interne" not in html and "communes-brouillon" not in html
    assert "Secret" not in html


@pytest.fixture
def site(backend):
    populate(backend)
    add_hostile_entries(backend)
    with LiveServer(backend) as server:
        yield server


def get(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def card_titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="card-title"><a href="[^"]+">([^<]*)', html)


def test_lists_filters_details_escaping_and_html5(backend, site, tmp_path):
    pages: dict[str, str] = {}
    with httpx.Client(base_url=site.url) as client:
        code = pages["code"] = get(client, "/code")
        assert {"Niaouli", "pygeoapi", "pycsw", "QGIS"} <= set(card_titles(code))
        assert ESCAPED in code
        assert card_titles(get(client, "/code?langage=C%2B%2B")) == ["QGIS"]
        assert card_titles(get(client, "/code?licence=MIT")) == ["pycsw", "pygeoapi"]
        assert card_titles(get(client, "/code?statut=beta")) == ["Niaouli"]
        by_org = get(client, "/code?organisation=province-nord")
        assert len(card_titles(by_org)) == 1 and ESCAPED in by_org
        assert "Aucun projet" in get(client, "/code?licence=inexistante")

        pygeoapi = pages["code-pygeoapi"] = get(client, "/code/pygeoapi")
        assert (
            'href="https://github.com/geopython/pygeoapi/archive/refs/tags/0.24.0.zip"' in pygeoapi
        )
        assert "Télécharger l'archive" in pygeoapi
        assert 'href="https://pypi.org/project/pygeoapi/0.24.0/"' in pygeoapi
        qgis = get(client, "/code/qgis")
        assert 'href="https://github.com/qgis/QGIS/archive/refs/heads/master.zip"' in qgis
        assert 'href="/jeux-de-donnees/communes-nc"' in qgis
        niaouli = pages["code-niaouli"] = get(client, "/code/niaouli")
        assert "Fiche publiccode.yml" in niaouli and "application web autonome" in niaouli
        assert "AGPL-3.0-or-later" in niaouli and "provisoire" in niaouli
        assert "Télécharger l'archive" not in niaouli  # unknown forge: no invented URL
        hostile = pages["code-hostile"] = get(client, "/code/outil-hostile")
        assert ESCAPED in hostile and "Léa" in hostile and "lea@x.nc" not in hostile
        assert "Télécharger l'archive" not in hostile

        reuses = pages["reuses"] = get(client, "/reutilisations")
        assert "Carte des communes (exemple)" in card_titles(reuses)
        articles = get(client, "/reutilisations?type=article")
        assert len(card_titles(articles)) == 1 and ESCAPED in articles
        assert "Carte des communes" not in articles
        of_population = get(client, "/reutilisations?jeu=population-communes-nc")
        assert card_titles(of_population) == ["Carte des communes (exemple)"]
        hidden = get(client, "/reutilisations?jeu=communes-interne")
        assert "Jeu de données inconnu" in hidden and card_titles(hidden) == []
        demo_reuse = pages["reuse"] = get(client, "/reutilisations/carte-des-communes-exemple")
        assert 'href="/carte"' in demo_reuse and "Équipe Niaouli" in demo_reuse
        pages["reuse-hostile"] = get(client, "/reutilisations/reutilisation-hostile")

        events = pages["events"] = get(client, "/evenements")
        assert card_titles(get(client, "/evenements?quand=passes")) == [
            "Rencontre données ouvertes (exemple)"
        ]
        upcoming = get(client, "/evenements?quand=a-venir")
        assert "Cartopartie des communes (exemple)" in card_titles(upcoming)
        assert "Rencontre données ouvertes (exemple)" not in card_titles(upcoming)
        assert card_titles(get(client, "/evenements?type=cartoparty")) == [
            "Cartopartie des communes (exemple)"
        ]
        assert "13 mars 2027 à 08:30" in events
        event = pages["event"] = get(client, "/evenements/cartopartie-communes-exemple")
        assert "13 mars 2027 à 08:30" in event and "13 mars 2027 à 12:00" in event
        assert 'datetime="2027-03-13T08:30:00+11:00"' in event
        assert 'href="/evenements/cartopartie-communes-exemple.ics"' in event
        hostile_event = pages["event-hostile"] = get(client, "/evenements/evenement-hostile")
        assert "20 janvier 2027 à 09:00" in hostile_event

        dataset = pages["dataset"] = get(client, "/jeux-de-donnees/communes-nc")
        for href in (
            "/reutilisations/carte-des-communes-exemple",
            "/code/niaouli",
            "/code/qgis",
            "/evenements/cartopartie-communes-exemple",
        ):
            assert f'href="{href}"' in dataset
        assert 'href="/reutilisations/proposer?jeu=communes-nc"' in dataset

        for name, html in pages.items():
            no_hostile_markup(html)
            assert ESCAPED in html or name in {
                "code-pygeoapi",
                "code-niaouli",
                "reuse",
                "event",
            }, name

        for english, french in (
            ("/reuses?type=api", "/reutilisations?type=api"),
            ("/events", "/evenements"),
            ("/events.ics", "/evenements.ics"),
            ("/events/evenement-hostile", "/evenements/evenement-hostile"),
        ):
            response = client.get(english)
            assert response.status_code == 308 and response.headers["location"] == french
        for missing in ("/code/inconnu", "/reutilisations/inconnue", "/evenements/inconnu"):
            assert client.get(missing).status_code == 404
        assert client.get("/evenements/inconnu.ics").status_code == 404

    messages = validate_html5(pages, tmp_path)
    assert messages == [], "\n".join(messages)


def test_icalendar_feeds(site):
    with httpx.Client(base_url=site.url) as client:
        response = client.get("/evenements.ics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        again = client.get("/evenements.ics").content
        single = client.get("/evenements/cartopartie-communes-exemple.ics")
    calendar = icalendar.Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Pacific/Noumea"]
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {
        "Cartopartie des communes (exemple)",
        "Rencontre données ouvertes (exemple)",
        "Hackathon eaux de baignade (exemple)",  # the demo's upcoming one (issue 15 §8)
        HOSTILE,  # commas, semicolons and the newline escaped, and read back exactly
    }
    party = events["Cartopartie des communes (exemple)"]
    start, end = party.decoded("DTSTART"), party.decoded("DTEND")
    assert start == datetime(2027, 3, 12, 21, 30, tzinfo=UTC)  # 08:30 in Nouméa
    assert str(start.tzinfo) == "Pacific/Noumea" and start.hour == 8 and start.minute == 30
    assert end == datetime(2027, 3, 13, 1, 0, tzinfo=UTC)
    assert "DTSTART;TZID=Pacific/Noumea:20270313T083000" in response.text
    assert str(party["LOCATION"]) == "Nouméa (lieu d'exemple)"
    assert "Communes de Nouvelle-Calédonie" in str(party["DESCRIPTION"])
    hostile = events[HOSTILE]
    assert "Secret" not in str(hostile["DESCRIPTION"])  # the private dataset's title
    assert str(hostile["URL"]).endswith("/evenements/evenement-hostile")  # not javascript:
    uids = sorted(str(e["UID"]) for e in calendar.walk("VEVENT"))
    assert len(set(uids)) == 4
    assert uids == sorted(str(e["UID"]) for e in icalendar.Calendar.from_ical(again).walk("VEVENT"))
    one = icalendar.Calendar.from_ical(single.content).walk("VEVENT")
    assert len(one) == 1 and str(one[0]["UID"]) == str(party["UID"])
    assert single.headers["content-disposition"] == (
        'inline; filename="cartopartie-communes-exemple.ics"'
    )


def make_users(backend) -> None:  # noqa: ANN001
    with backend.session() as session, session.begin():
        users.create_user(session, "alice@exemple.nc", "Alice Kanak", PASSWORD)
        users.create_user(
            session, "admin@exemple.nc", "Admin Plateforme", PASSWORD, is_platform_admin=True
        )
        member = users.create_user(session, "membre@exemple.nc", "Membre Nord", PASSWORD)
        users.set_membership(
            session, service.get_organisation(session, "province-nord"), member, "member"
        )


def submit(client: httpx.Client, **fields: str) -> httpx.Response:
    token = csrf_of(client.get("/reutilisations/proposer").text)
    data = {"title": "", "kind": "application", "url": "", "description": "", "datasets": ""}
    return client.post("/reutilisations/proposer", data={**data, "csrf": token, **fields})


def test_reuse_submission_and_moderation(backend, tmp_path):
    populate(backend)
    make_users(backend)
    good = {
        "title": "Quiz des communes <b>",
        "kind": "application",
        "url": "https://quiz.exemple.nc/communes",
        "description": "Un quiz.\n\nAvec les données des communes.",
        "datasets": "communes-nc\npopulation-communes-nc",
    }
    with LiveServer(backend) as server:
        anonymous = httpx.Client(base_url=server.url)
        alice = httpx.Client(base_url=server.url)
        admin = httpx.Client(base_url=server.url)
        member = httpx.Client(base_url=server.url)
        for who, email in ((alice, "alice"), (admin, "admin"), (member, "membre")):
            assert sign_in(who, f"{email}@exemple.nc").status_code == 303

        response = anonymous.get("/reutilisations/proposer?jeu=communes-nc")
        assert response.status_code == 303
        assert response.headers["location"] == (
            "/connexion?suivant=/reutilisations/proposer%3Fjeu%3Dcommunes-nc"
        )
        assert anonymous.post("/reutilisations/proposer", data=good).status_code == 303
        form = alice.get("/reutilisations/proposer?jeu=communes-nc").text
        assert ">communes-nc</textarea>" in form

        # CSRF: missing or foreign token → 403, nothing stored
        assert alice.post("/reutilisations/proposer", data=good).status_code == 403
        foreign = csrf_of(anonymous.get("/connexion").text)
        forged = alice.post("/reutilisations/proposer", data={**good, "csrf": foreign})
        assert forged.status_code == 403
        # Validation: each refusal is a 400 with a French message, nothing stored
        for fields, message in (
            ({"url": "javascript:alert(1)"}, "adresse invalide"),
            ({"url": "ftp://exemple.nc/x"}, "adresse invalide"),
            ({"url": "https://"}, "adresse invalide"),
            ({"title": "ab"}, "de 3 à 300 caractères"),
            ({"title": "x" * 301}, "de 3 à 300 caractères"),
            ({"kind": "virus"}, "type de réutilisation inconnu"),
            ({"datasets": ""}, "au moins un jeu de données"),
            ({"datasets": "communes-nc inexistant"}, "inconnu : « inexistant »"),
            ({"datasets": "communes-interne"}, "inconnu : « communes-interne »"),
        ):
            refused = submit(alice, **{**good, **fields})
            assert refused.status_code == 400, fields
            assert message in refused.text.replace("&#39;", "'").lower(), fields
        with backend.session() as session:
            # the demo's three (issue 15 §8: two reuses of the bathing-water data)
            assert session.scalar(select(func.count()).select_from(Reuse)) == 3

        created = submit(alice, **good)
        assert created.status_code == 303
        location = created.headers["location"]
        # A proposal's slug: its title's words and a random tail (tests/test_slug_oracle.py)
        assert re.fullmatch(
            r"/reutilisations/quiz-des-communes-b-[0-9a-f]{6}\?proposee=1", location
        )
        quiz = location.split("?")[0]
        own = alice.get(location).text
        assert "en attente de modération" in own and "Merci" in own
        assert "Quiz des communes &lt;b&gt;" in own
        # Pending: invisible to anyone else, absent from lists and dataset pages
        assert anonymous.get(quiz).status_code == 404
        assert member.get(quiz).status_code == 404
        assert "Quiz" not in anonymous.get("/reutilisations").text
        assert "Quiz" not in anonymous.get("/jeux-de-donnees/communes-nc").text

        # Moderation is for platform admins only
        assert alice.get("/admin/reutilisations").status_code == 403
        queue_response = admin.get("/admin/reutilisations")
        assert queue_response.status_code == 200
        queue = queue_response.text
        assert "Quiz des communes &lt;b&gt;" in queue and "Alice Kanak" in queue
        assert "alice@exemple.nc" not in queue
        reuse_id = re.search(r'action="/admin/reutilisations/(\d+)/approuver"', queue).group(1)
        approve = f"/admin/reutilisations/{reuse_id}/approuver"
        alice_token = csrf_of(alice.get("/reutilisations/proposer").text)
        assert alice.post(approve, data={"csrf": alice_token}).status_code == 403
        assert anonymous.post(approve, data={}).status_code == 303  # → sign in
        assert admin.post(approve, data={"x": "1"}).status_code == 403  # no CSRF token
        with backend.session() as session:
            assert session.scalar(select(Reuse.status).where(Reuse.id == int(reuse_id))) == (
                ModerationStatus.PENDING
            )
        done = admin.post(approve, data={"csrf": csrf_of(queue)})
        assert done.status_code == 303 and done.headers["location"] == "/admin/reutilisations"
        assert "Quiz" not in admin.get("/admin/reutilisations").text

        public = anonymous.get(quiz)
        assert public.status_code == 200
        assert "par Alice Kanak" in public.text and "alice@exemple.nc" not in public.text
        assert 'href="https://quiz.exemple.nc/communes"' in public.text
        assert "Quiz des communes &lt;b&gt;" in anonymous.get("/reutilisations").text
        dataset_page = anonymous.get("/jeux-de-donnees/communes-nc").text
        assert f'href="{quiz}"' in dataset_page

        # A member may link their organisation's restricted dataset; once approved, the
        # public page of the reuse does not reveal it to others.
        linked = submit(
            member,
            **{**good, "title": "Étude interne", "datasets": "communes-interne communes-nc"},
        )
        assert linked.status_code == 303
        study = linked.headers["location"].split("?")[0]
        queue = admin.get("/admin/reutilisations").text
        reuse_id = re.search(r'action="/admin/reutilisations/(\d+)/approuver"', queue).group(1)
        admin.post(f"/admin/reutilisations/{reuse_id}/approuver", data={"csrf": csrf_of(queue)})
        seen_by_member = member.get(study).text
        assert 'href="/jeux-de-donnees/communes-interne"' in seen_by_member
        seen_by_anonymous = anonymous.get(study).text
        assert "communes-interne" not in seen_by_anonymous and "Secret" not in seen_by_anonymous
        assert 'href="/jeux-de-donnees/communes-nc"' in seen_by_anonymous

        # Rejected: never public
        spam = submit(alice, **{**good, "title": "Publicité"})
        assert spam.status_code == 303
        advert = spam.headers["location"].split("?")[0]
        queue = admin.get("/admin/reutilisations").text
        reuse_id = re.search(r'action="/admin/reutilisations/(\d+)/rejeter"', queue).group(1)
        admin.post(f"/admin/reutilisations/{reuse_id}/rejeter", data={"csrf": csrf_of(queue)})
        assert anonymous.get(advert).status_code == 404
        assert "refusée" in alice.get(advert).text
        for client in (anonymous, alice, admin, member):
            client.close()


def test_demo_load_is_idempotent_and_cli(backend):
    def counts() -> tuple[int, int, int]:
        with backend.session() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(model))
                for model in (CodeProject, Reuse, Event)
            )

    # Issue 15 §8: Nouméa's code forge, two reuses of its bathing-water data and an
    # upcoming hackathon join the platform's four projects, one reuse and two events.
    load_demo(backend.settings, echo=lambda _m: None)
    assert counts() == (5, 3, 3)
    load_demo(backend.settings, echo=lambda _m: None)
    assert counts() == (5, 3, 3)

    backend.run(
        "event", "add", "hackathon-test", "Hackathon test", "--kind", "hackathon",
        "--starts", "2026-12-05 08:30", "--ends", "2026-12-05 18:00",
        "--dataset", "communes-nc", "--location", "Koné",
    )  # fmt: skip
    with backend.session() as session:
        event = session.scalar(select(Event).where(Event.slug == "hackathon-test"))
        starts = event.starts_at.replace(tzinfo=event.starts_at.tzinfo or UTC)
        assert starts == datetime(2026, 12, 5, 8, 30, tzinfo=NOUMEA)
        assert [d.slug for d in event.datasets] == ["communes-nc"]
    bad = backend.run(
        "event", "add", "x-test", "Mauvais", "--kind", "hackathon",
        "--starts", "2026-12-05 08:30", "--ends", "2026-12-04 08:30", check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "finit avant de commencer" in bad.stderr
    refused = backend.run(
        "reuse", "add", "Lien piégé", "--kind", "api", "--url", "javascript:alert(1)",
        "--dataset", "communes-nc", check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "adresse invalide" in refused.stderr
    backend.run(
        "code", "add", "outil-gitlab", "Outil GitLab", "--org", "gouvernement-nc",
        "--repository", "https://gitlab.com/exemple/outil", "--default-branch", "main",
        "--language", "Python", "--licence", "MIT", "--dataset", "communes-nc",
    )  # fmt: skip
    from niaouli.catalogue.community import projects

    with backend.session() as session:
        project = projects.get_code_project(session, "outil-gitlab")
        assert projects.archive_url(project) == (
            "https://gitlab.com/exemple/outil/-/archive/main/outil-main.zip",
            "main",
        )
    assert counts() == (6, 3, 4)  # the demo's (5, 3, 3), one project and one event added


def test_editors_add_code_projects_and_events(backend, tmp_path):
    populate(backend)
    make_users(backend)
    with backend.session() as session, session.begin():
        editor = users.create_user(session, "editeur@exemple.nc", "Éditeur Nord", PASSWORD)
        org = service.get_organisation(session, "province-nord")
        users.set_membership(session, org, editor, "editor")
    project = {
        "organisation": "province-nord",
        "name": "Géoportail Nord",
        "repository_url": "https://gitlab.com/province-nord/geoportail",
        "default_branch": "main",
        "licence": "EUPL-1.2",
        "languages": "Python, JavaScript",
        "status": "beta",
        "description": "Un portail.",
        "datasets": "communes-interne\ncommunes-nc",
    }
    event = {
        "organisation": "province-nord",
        "title": "Hackathon du Nord",
        "kind": "hackathon",
        "starts": "2027-02-01T09:00",
        "ends": "2027-02-02T17:30",
        "location": "Koné",
        "url": "https://exemple.nc/hackathon",
        "description": "Deux jours.",
        "results": "",
        "datasets": "communes-nc",
    }
    with LiveServer(backend) as server:
        anonymous = httpx.Client(base_url=server.url)
        member = httpx.Client(base_url=server.url)
        editor = httpx.Client(base_url=server.url)
        assert sign_in(member, "membre@exemple.nc").status_code == 303
        assert sign_in(editor, "editeur@exemple.nc").status_code == 303

        assert anonymous.get("/code/ajouter").status_code == 303
        assert member.get("/code/ajouter").status_code == 403
        assert member.get("/evenements/ajouter").status_code == 403
        assert "/code/ajouter" not in member.get("/code").text
        assert 'href="/code/ajouter"' in editor.get("/code").text
        assert 'href="/evenements/ajouter"' in editor.get("/evenements").text

        admin = httpx.Client(base_url=server.url)
        assert sign_in(admin, "admin@exemple.nc").status_code == 303
        alice = httpx.Client(base_url=server.url)
        assert sign_in(alice, "alice@exemple.nc").status_code == 303
        forms = {
            "code-form": editor.get("/code/ajouter").text,
            "event-form": editor.get("/evenements/ajouter").text,
            "reuse-form": alice.get("/reutilisations/proposer?jeu=communes-nc").text,
            "reuse-refused": submit(alice, title="x", url="https://exemple.nc").text,
            "moderation-empty": admin.get("/admin/reutilisations").text,
        }
        submit(alice, title="Quiz", url="https://exemple.nc/quiz", datasets="communes-nc")
        forms["moderation"] = admin.get("/admin/reutilisations").text
        assert "Quiz" in forms["moderation"]
        messages = validate_html5(forms, tmp_path)
        assert messages == [], "\n".join(messages)

        form = editor.get("/code/ajouter").text
        assert 'value="province-nord"' in form and "gouvernement-nc" not in form
        assert editor.post("/code/ajouter", data=project).status_code == 403  # no CSRF
        for fields, message in (
            ({"organisation": "gouvernement-nc"}, "organisation dont vous êtes éditeur"),
            ({"repository_url": "javascript:alert(1)"}, "adresse invalide"),
            ({"licence": "<b>"}, "identifiant spdx"),
            ({"datasets": "inexistant"}, "inconnu"),
        ):
            refused = editor.post(
                "/code/ajouter", data={**project, **fields, "csrf": csrf_of(form)}
            )
            assert refused.status_code == 400, fields
            assert message in refused.text.replace("&#39;", "'").lower(), fields
        created = editor.post("/code/ajouter", data={**project, "csrf": csrf_of(form)})
        assert created.status_code == 303
        assert created.headers["location"] == "/code/geoportail-nord"
        page = anonymous.get("/code/geoportail-nord").text
        assert (
            'href="https://gitlab.com/province-nord/geoportail/-/archive/main/geoportail-main.zip"'
            in page
        )
        assert 'href="/jeux-de-donnees/communes-nc"' in page
        assert "communes-interne" not in page  # the organisation's dataset, hidden from others
        assert (
            'href="/jeux-de-donnees/communes-interne"' in member.get("/code/geoportail-nord").text
        )

        form = editor.get("/evenements/ajouter").text
        late = {**event, "ends": "2027-01-31T09:00", "csrf": csrf_of(form)}
        assert "finit avant de commencer" in editor.post("/evenements/ajouter", data=late).text
        created = editor.post("/evenements/ajouter", data={**event, "csrf": csrf_of(form)})
        assert created.status_code == 303
        assert created.headers["location"] == "/evenements/hackathon-du-nord"
        page = anonymous.get("/evenements/hackathon-du-nord").text
        assert "1 février 2027 à 09:00" in page and "2 février 2027 à 17:30" in page
        assert 'href="/organisations/province-nord"' in page
        ics = icalendar.Calendar.from_ical(
            anonymous.get("/evenements/hackathon-du-nord.ics").content
        )
        start = ics.walk("VEVENT")[0].decoded("DTSTART")
        assert start == datetime(2027, 1, 31, 22, 0, tzinfo=UTC)
        for client in (anonymous, member, editor, admin, alice):
            client.close()


def test_pending_reuses_per_user_are_capped(backend):
    from niaouli.accounts.resolve import viewer_for_user
    from niaouli.catalogue.community import reuses

    populate(backend)
    make_users(backend)
    with backend.session() as session, session.begin():
        alice = users.find_user(session, "alice@exemple.nc")
        viewer = viewer_for_user(session, alice)
        for i in range(reuses.MAX_PENDING_PER_USER):
            reuses.submit_reuse(
                session, viewer, f"Essai {i}", "article", "https://x.nc", "", ["communes-nc"]
            )
        with pytest.raises(service.CatalogueError, match="en attente de relecture"):
            reuses.submit_reuse(
                session, viewer, "Un de trop", "article", "https://x.nc", "", ["communes-nc"]
            )
        first = session.scalar(select(Reuse).where(Reuse.title == "Essai 0"))
        reuses.moderate(session, first, None, approve=True)
        reuses.submit_reuse(
            session, viewer, "Après modération", "article", "https://x.nc", "", ["communes-nc"]
        )
