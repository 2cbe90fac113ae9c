"""The harvest pages of an organisation in English (`?lang=en`), French staying the default.

Labels, counts and notices come from the catalogue; job messages and per-record reasons
are stored in French and translated when shown when they were made from a known
template (`runner.STORED_MESSAGES`), with their values; free text a harvester or a
remote wrote is shown as it was stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from niaouli.accounts import users
from niaouli.catalogue import service
from niaouli.catalogue.models import utcnow
from niaouli.i18n import set_language
from niaouli.ingest.harvest import fetch, runner
from niaouli.ingest.harvest.harvest_tables import (
    HarvestJob,
    HarvestJobItem,
    HarvestSource,
    JobStatus,
)
from niaouli.portal.harvest_pages import stored_text
from niaouli.web import create_app
from tests.accounts_support import PASSWORD, csrf_of, sign_in
from tests.conftest import Backend
from tests.harvest_support import FakeCsw, FakeRemote, add_source_for, harvest, real_iso_records
from tests.portal_support import validate_html5

ORG = "province-sud"
ADMIN = "admin-moisson@exemple.nc"
TIMED_OUT = "http://catalogue.exemple.nc/donnees.zip"
PARTIAL_MESSAGE = runner.INCOMPLETE % {
    "detail": runner.FEWER_THAN_ANNOUNCED % {"expected": 5, "read": 3}
}


@dataclass
class Site:
    client: TestClient
    base: str
    source_page: str
    first_job: int
    partial_job: int


@pytest.fixture
def site(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    # Sessions are checked with the secret key kept in the data directory.
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    with backend.session() as session, session.begin():
        org = service.create_organisation(session, ORG, "Province Sud", "province")
        user = users.create_user(session, ADMIN, "Administratrice", PASSWORD)
        users.set_membership(session, org, user, "admin")
    remote = FakeRemote(FakeCsw(real_iso_records()))
    try:
        add_source_for(backend, ORG, remote.url + "/csw", "sud-csw", "csw")
        first = harvest(backend, "sud-csw")
    finally:
        remote.close()
    assert first.counts["created"] == 3
    with backend.session() as session, session.begin():
        source = session.scalar(select(HarvestSource).where(HarvestSource.slug == "sud-csw"))
        source.schedule = "daily"
        partial = HarvestJob(
            source_id=source.id,
            status=JobStatus.PARTIAL,
            finished_at=utcnow(),
            unchanged=1,
            failed=3,
            message=PARTIAL_MESSAGE,
        )
        session.add(partial)
        session.flush()
        session.add_all(
            [
                HarvestJobItem(job_id=partial.id, remote_id="fiche-a", action="unchanged"),
                HarvestJobItem(
                    job_id=partial.id,
                    remote_id="fiche-b",
                    action="failed",
                    reason=runner.DUPLICATE % {"kept": 1, "position": 3},
                ),
                HarvestJobItem(
                    job_id=partial.id,
                    remote_id="fiche-c",
                    action="failed",
                    reason=runner.DATA_NOT_COPIED % {"detail": fetch.TIMEOUT % {"url": TIMED_OUT}},
                ),
                HarvestJobItem(
                    job_id=partial.id,
                    remote_id="fiche-d",
                    action="failed",
                    reason="titre illisible : balise gmd:title absente",
                ),
            ]
        )
        source_id, partial_id = source.id, partial.id
    # The whole application: its middleware resolves who the session cookie belongs to.
    client = TestClient(create_app(), raise_server_exceptions=False, follow_redirects=False)
    assert sign_in(client, ADMIN).status_code == 303
    base = f"/organisations/{ORG}/moissonnage"
    yield Site(client, base, f"{base}/{source_id}", first.job_id, partial_id)
    client.close()


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="(\w+)"', text)
    assert match, text[:200]
    return match.group(1)


def test_sources_source_and_job_pages_in_english(site: Site, tmp_path: Path) -> None:
    listing = site.client.get(site.base, params={"lang": "en"})
    assert listing.status_code == 200
    html = listing.text
    assert html_lang(html) == "en"
    assert "<h1>Harvesting</h1>" in html
    assert "The remote catalogues this organisation harvests" in html
    assert 'titre">1 source</caption>' in html
    assert '<th scope="col">Last harvest</th>' in html and "<td>daily</td>" in html
    # The last job is the partial one: its status label in English.
    assert "</time>: partial —" in html
    assert "0 created, 0 updated, 1 unchanged, 0 deleted, 3 failed" in html
    assert "Moissonnage" not in html and "Dernière moisson" not in html
    assert "partielle" not in html and "inchangée(s)" not in html

    # The choice sticks (cookie): the source page without ?lang= is English too.
    html = site.client.get(site.source_page).text
    assert html_lang(html) == "en"
    assert "<h2>Start a harvest</h2>" in html and "Start now</button>" in html
    assert "Dry run</button>" in html
    assert "A dry run reads the source and reports what would be created" in html
    assert "<h2>Harvest history</h2>" in html and 'titre">2 harvests</caption>' in html
    assert f">#{site.first_job}</a>" in html
    assert "<td>succeeded</td>" in html
    assert (
        "<td>partial: incomplete listing, nothing deleted: the server announced 5 record(s), "
        "3 could be read</td>"
    ) in html
    assert "<dt>Schedule</dt><dd>daily</dd>" in html
    for french in ("Lancer maintenant", "Historique des moissons", "réussie", "liste incomplète"):
        assert french not in html, french

    job_page = site.client.get(f"{site.source_page}/taches/{site.partial_job}").text
    assert html_lang(job_page) == "en"
    assert f"<h1>Harvest #{site.partial_job}</h1>" in job_page
    assert "<dt>Status</dt><dd>partial: incomplete listing, nothing deleted:" in job_page
    assert 'titre">4 records</caption>' in job_page
    assert '<th scope="col">Remote identifier</th>' in job_page
    assert "duplicate identifier in the source: record no. 1, read first" in job_page
    assert f"<td>record saved but data not copied: timed out reading {TIMED_OUT}</td>" in job_page
    assert "<td>failed</td>" in job_page and "<td>unchanged</td>" in job_page
    # Free text from a harvester is shown as it was stored.
    assert "<td>titre illisible : balise gmd:title absente</td>" in job_page
    for french in ("Identifiant distant", "identifiant en double", "données non copiées", "Bilan"):
        assert french not in job_page, french

    pages = {"sources": listing.text, "source": html, "job": job_page}
    assert validate_html5(pages, tmp_path) == []


def test_refused_form_and_busy_notice_in_english(site: Site, backend: Backend) -> None:
    site.client.get(site.source_page, params={"lang": "en"})
    # A start request without a valid CSRF token: refused, in English, nothing run.
    refused = site.client.post(f"{site.source_page}/lancer", data={"csrf": "faux"})
    assert refused.status_code == 403
    assert html_lang(refused.text) == "en"
    assert "This form has expired or does not come from this site" in refused.text
    assert "Ce formulaire a expiré" not in refused.text
    # A run of the source under way: a second request is not started, and says why.
    with backend.session() as session, session.begin():
        source = session.scalar(select(HarvestSource).where(HarvestSource.slug == "sud-csw"))
        session.add(HarvestJob(source_id=source.id, status=JobStatus.RUNNING))
    token = csrf_of(site.client.get(site.source_page).text)
    started = site.client.post(f"{site.source_page}/lancer", data={"csrf": token})
    assert started.status_code == 303
    assert started.headers["location"] == f"{site.source_page}?etat=occupee"
    html = site.client.get(started.headers["location"]).text
    assert '<p class="notice" role="status">A harvest of this source is already running.</p>' in (
        html
    )
    assert "<p>A harvest of this source is running.</p>" in html
    assert "<td>running</td>" in html
    assert "Une moisson de cette source" not in html and "en cours" not in html


def test_french_stays_the_default(site: Site) -> None:
    html = site.client.get(site.source_page).text
    assert html_lang(html) == "fr"
    assert "<h2>Lancer une moisson</h2>" in html and "<td>réussie</td>" in html
    assert f"<td>partielle : {PARTIAL_MESSAGE}</td>" in html
    assert (
        "liste incomplète, aucune suppression : le serveur annonçait 5 fiche(s), 3 ont pu être lues"
        in html
    )
    assert "<dt>Calendrier</dt><dd>chaque jour</dd>" in html
    assert "Start a harvest" not in html
    job_page = site.client.get(f"{site.source_page}/taches/{site.partial_job}").text
    assert "identifiant en double dans la source : la fiche n° 1, lue la première" in job_page
    assert 'titre">4 fiches</caption>' in job_page
    assert "fiche enregistrée mais données non copiées : délai dépassé en lisant" in job_page
    listing = site.client.get(site.base).text
    assert "</time> : partielle —" in listing
    assert "0 créée(s), 0 mise(s) à jour, 1 inchangée(s), 0 supprimée(s), 3 en échec" in listing


def test_stored_messages_read_back_in_english() -> None:
    dropped = runner.DROPPED % {"before": 120, "after": 40}
    refused = fetch.PRIVATE_REFUSED % {"host": "intranet", "address": "10.0.0.2"}
    unknown = "page 2 du catalogue : réponse vide du serveur (http://x.nc)"
    try:
        set_language("fr")
        assert stored_text(dropped) == dropped  # French readers get the stored text
        set_language("en")
        assert stored_text(dropped) == (
            "the number of records fell from 120 to 40 (a drop of more than half): "
            "nothing deleted, check the source"
        )
        assert stored_text(refused).startswith("address refused: intranet resolves to 10.0.0.2")
        assert stored_text(runner.INCOMPLETE % {"detail": unknown}) == (
            f"incomplete listing, nothing deleted: {unknown}"
        )
        assert stored_text(unknown) == unknown
        assert stored_text("") == ""
        # Every template reads back as itself with its values, in English.
        for template in runner.STORED_MESSAGES:
            names = re.findall(r"%\((\w+)\)s", template)
            values = {name: f"<{name}>" for name in names}
            english = stored_text(template % values)
            assert english != template % values, template
            for value in values.values():
                assert value in english, (template, english)
    finally:
        set_language("fr")
