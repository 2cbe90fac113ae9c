"""Calls for projects through the portal and /api (issue 22 §1), on both backends, in
process (Starlette TestClient on `niaouli.web.create_app`): the journey open → apply →
edit → deadline → edit refused → score → laureates → laureate public; who sees an
application on every interface (team, other applicant, organiser, other organisation,
anonymous, platform admin); never in search, DCAT, sitemap or statistics while private;
a hostile attachment refused by the form.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from niaouli.catalogue.access import Viewer
from niaouli.catalogue.community import reuses
from niaouli.db.engine import writing
from tests.accounts_support import csrf_of
from tests.call_support import (
    EVENT,
    GOOD_PDF,
    HOSTILE_PDFS,
    SUMMARY,
    build_call,
    email_of,
    session_cookie,
)

PEOPLE = ("lead", "teammate", "rival", "editor_a", "editor_b", "admin")
BASE = f"/evenements/{EVENT}/appel"
API = f"/api/events/{EVENT}/call"
SECRET = "Projet-Confidentiel-Lagon"
TRAP = "Autre projet <img src=x onerror=alert(1)>"  # rows S20–S21: shown as text


@pytest.fixture
def web(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.setenv("NIAOULI_STATS", "off")
    site = build_call(backend)
    from niaouli.web import create_app

    app = create_app()
    clients = {"anonymous": TestClient(app, raise_server_exceptions=False, follow_redirects=False)}
    for name in PEOPLE:
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        client.cookies.set(*session_cookie(backend, name))
        clients[name] = client
    yield site, clients
    for client in clients.values():
        client.close()


def post(client: TestClient, page: str, url: str, fields: dict, **extra):  # noqa: ANN201
    """Posts `fields` to `url` with the CSRF token of `page`."""
    token = csrf_of(client.get(page).text)
    return client.post(url, data={**fields, "csrf": token}, **extra)


def api(site, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[name]}"} if name != "anonymous" else {}


def test_journey_and_access_on_every_interface(web, backend):
    site, c = web
    lead = c["lead"]
    # The call is public; applying needs an account.
    page = c["anonymous"].get(BASE)
    assert page.status_code == 200 and "Candidatures ouvertes" in page.text
    english = c["anonymous"].get(BASE + "?lang=en").text  # the English catalogue (calls.po)
    assert "Call for projects: Appel" in english and "Applications open" in english
    assert "Selection criteria" in english and "Candidatures" not in english
    assert "Impact" in page.text and "Communes" in page.text
    assert c["anonymous"].get(BASE + "/candidater").status_code == 303
    form = lead.get(BASE + "/candidater")
    assert 'name="picked" value="communes"' in form.text
    fields = {
        "project_name": SECRET,
        "summary": SUMMARY,
        "picked": "communes",
        "datasets": "",
        "members": email_of("teammate"),
    }
    made = post(lead, BASE + "/candidater", BASE + "/candidater", fields)
    assert made.status_code == 303, made.text[:2000]
    url = made.headers["location"]
    app_id = url.rsplit("/", 1)[1]
    rival = c["rival"].post(
        API + "/applications",
        json={"project_name": TRAP, "summary": SUMMARY},
        headers=api(site, "rival"),
    )
    assert rival.status_code == 201
    rival_id = rival.json()["id"]

    # The team edits (a teammate too) and attaches a PDF; a hostile one is refused.
    edited = post(c["teammate"], url, url, {**fields, "project_name": SECRET + " v2"})
    assert edited.status_code == 303
    attach = url + "/pieces"
    files = {"piece": ("dossier.pdf", GOOD_PDF, "application/pdf")}
    assert post(lead, url, attach, {}, files=files).status_code == 303
    bad = {"piece": ("piege.pdf", HOSTILE_PDFS["javascript"], "application/pdf")}
    refused = post(lead, url, attach, {}, files=bad)
    assert refused.status_code == 400 and "JavaScript" in refused.text
    piece = re.search(r'href="(/evenements/[^"]+/pieces/\d+)"', lead.get(url).text).group(1)
    download = lead.get(piece)
    assert download.content == GOOD_PDF
    second = post(lead, url, attach, {}, files={"piece": ("b.pdf", GOOD_PDF, "application/pdf")})
    assert second.status_code == 303 and lead.get(url).text.count("/retirer") == 2
    removed = re.findall(r'action="([^"]+/retirer)"', lead.get(url).text)[-1]
    assert post(c["rival"], "/compte", removed, {}).status_code == 404
    assert post(lead, url, removed, {}).status_code == 303
    assert lead.get(url).text.count("/retirer") == 1
    assert download.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in download.headers["content-security-policy"]

    # Who sees the application, before the results: pages, attachment and API alike.
    sees = {"lead", "teammate", "editor_a", "admin"}
    for name, client in c.items():
        want = 200 if name in sees else 404
        assert client.get(url).status_code == want, name
        assert client.get(piece).status_code == want, name
        answer = client.get(f"{API}/applications/{app_id}", headers=api(site, name))
        assert answer.status_code == want, name
        listed = client.get(API + "/applications", headers=api(site, name)).json()
        assert any(SECRET in a["project_name"] for a in listed) is (name in sees), name
    assert "averages" in c["editor_a"].get(f"{API}/applications/{app_id}", headers=api(
        site, "editor_a")).json()  # fmt: skip
    assert "averages" not in lead.get(f"{API}/applications/{app_id}", headers=api(
        site, "lead")).json()  # fmt: skip
    _nowhere_public(c["anonymous"], SECRET)
    assert c["editor_a"].get(BASE + "/jury").status_code == 200
    assert c["rival"].get(BASE + "/jury").status_code == 403

    # The deadline passes: no more changes, on any interface.
    site.close()
    late = post(lead, "/compte", url, {**fields, "project_name": "Trop tard"})
    assert late.status_code == 409 and "date limite" in late.text
    assert post(lead, "/compte", attach, {}, files=files).status_code == 409
    patch = lead.patch(
        f"{API}/applications/{app_id}", json={"summary": SUMMARY}, headers=api(site, "lead")
    )
    assert patch.status_code == 409
    assert c["rival"].post(
        API + "/applications", json={"project_name": "Tard", "summary": SUMMARY},
        headers=api(site, "rival"),
    ).status_code == 409  # fmt: skip

    # The organisers score and publish; the other organisation and applicants cannot.
    assert (
        post(c["editor_a"], url, url + "/noter", {"note-0": "9", "note-1": "7"}).status_code == 303
    )
    marks = {"scores": {"Impact": 5}}
    assert c["editor_b"].post(
        f"{API}/applications/{rival_id}/scores", json=marks, headers=api(site, "editor_b")
    ).status_code == 404  # fmt: skip
    assert c["admin"].post(
        f"{API}/applications/{rival_id}/scores", json=marks, headers=api(site, "admin")
    ).status_code == 200  # fmt: skip
    jury = c["editor_a"].get(BASE + "/jury").text
    assert "16.0" in jury and "Autre projet &lt;img src=x onerror=alert(1)&gt;" in jury
    assert TRAP not in jury
    assert c["rival"].post(
        API + "/laureates", json={"applications": [rival_id]}, headers=api(site, "rival")
    ).status_code == 403  # fmt: skip
    published = post(c["editor_a"], BASE + "/jury", BASE + "/laureats", {"laureat": app_id})
    assert published.status_code == 303

    # The laureate is public; the other application stays private.
    public = c["anonymous"].get(BASE)
    assert SECRET + " v2" in public.text and "Autre projet" not in public.text
    assert c["anonymous"].get(url).status_code == 200
    assert c["anonymous"].get(f"{API}/applications/{rival_id}").status_code == 404
    assert (
        c["lead"].get(f"{API}/applications/{rival_id}", headers=api(site, "lead")).status_code
        == 404
    )
    laureates = c["anonymous"].get(API).json()["laureates"]
    assert [a["project_name"] for a in laureates] == [SECRET + " v2"]
    assert "averages" not in laureates[0]  # marks stay the jury's
    _nowhere_public(c["anonymous"], "Autre projet")

    # It ships: the reuse it became links back to the call, and the call to it.
    with Session(writing(backend.engine)) as session, session.begin():
        reuse = reuses.submit_reuse(
            session, Viewer.system(), "Carte des communes", "application",
            "https://exemple.nc/carte", dataset_slugs=["communes"], approved=True,
        )  # fmt: skip
        slug = reuse.slug
    assert post(lead, url, url + "/realisation", {"reuse": slug, "code": ""}).status_code == 303
    assert f"/reutilisations/{slug}" in c["anonymous"].get(BASE).text
    assert f'href="{BASE}"' in c["anonymous"].get(f"/reutilisations/{slug}").text
    assert post(c["rival"], "/compte", url + "/realisation", {"reuse": slug}).status_code == 403


def _nowhere_public(client: TestClient, text: str) -> None:
    """Not in search (asked for words of its summary), DCAT, the sitemap, statistics or
    feeds."""
    for path in (
        "/recherche?q=services+habitants",
        "/recherche?q=communes",
        "/jeux-de-donnees?q=communes",
        "/catalog.ttl",
        "/catalog.jsonld",
        "/sitemap.xml",
        "/statistiques",
        "/statistiques.json",
        "/feeds/datasets.atom",
        "/evenements",
        "/api/datasets?q=habitants",
    ):
        answer = client.get(path)
        assert answer.status_code in (200, 404), path
        assert text not in answer.text, path
