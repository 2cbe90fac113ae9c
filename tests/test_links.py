"""One link rule for every stored URL, at every entry point (SECURITY-CASES S22).

Issue 13: an organisation's `website` took `javascript:alert(...)` through
`PATCH /api/organisations/{slug}` and the API served it back, while dataset, reuse and
code URLs were refused. Every stored link now goes through `niaouli.links`: the API,
the portal forms, the command line, the harvest mapping and the OpenID Connect settings.
Each is tried with `javascript:`, `data:`, `vbscript:`, mixed case, and whitespace or
control characters in front; nothing hostile may be stored.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from niaouli import links
from niaouli.accounts import tokens, users
from niaouli.accounts.account_tables import User
from niaouli.catalogue import service
from niaouli.catalogue.models import CodeProject, Dataset, Event, Organisation, Resource, Reuse
from niaouli.ingest.harvest.base import Harvester, RemoteRecord
from niaouli.ingest.harvest.harvest_tables import HarvestedRecord, HarvestSource
from tests.accounts_support import PASSWORD, csrf_of

# What a browser would run or render as a document, spelled as attackers spell it.
HOSTILE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\t\njavascript:alert(1)",
    "\x01javascript:alert(1)",
    "\u200bjavascript:alert(1)",
    "\u00a0javascript:alert(1)",
    "java\tscript:alert(1)",
    "javascript://exemple.nc/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    " data:text/html,x",
    "vbscript:msgbox(1)",
    "VbScRiPt:msgbox(1)",
    "\x00vbscript:msgbox(1)",
    "https://exemple.nc/\u202eeval",
    "https:\\\\evil.example/x",
    "//evil.example/x",
    "/chemin/relatif",
    "https://",
    "http://exemple.nc:port/",
    "ftp://exemple.nc/fichier.zip",
    "file:///etc/passwd",
]
# The spellings every entry point is tried with (the list above goes through the rule).
ENTRY_VARIANTS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " \tjavascript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "VBScript:msgbox(1)",
]


def _stored_urls(backend) -> list[str]:  # noqa: ANN001
    """Every stored link of the catalogue and the harvest tables."""
    found: list[str] = []
    with backend.session() as session:
        for column in (
            Organisation.website,
            Resource.url,
            Reuse.url,
            Event.url,
            CodeProject.repository_url,
            HarvestSource.url,
            HarvestedRecord.original_url,
        ):
            found += [u for u in session.scalars(select(column)).all() if u is not None]
        for provenance in session.scalars(select(Dataset.provenance)).all():
            if (provenance or {}).get("source_url"):
                found.append(provenance["source_url"])
        for releases in session.scalars(select(CodeProject.releases)).all():
            for release in releases or []:
                found += [release[k] for k in ("url", "archive_url") if k in release]
    return found


def _no_hostile_link(backend) -> None:  # noqa: ANN001
    for url in _stored_urls(backend):
        assert links.web_link(url) == url, f"stored: {url!r}"


# --- the rule --------------------------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE)
def test_the_rule_refuses_every_spelling(url):
    """S22: not an absolute http(s) URL with a host, or with a character a browser would
    drop or read otherwise — refused, never stored."""
    assert links.web_link(url) is None
    with pytest.raises(links.LinkError, match="adresse invalide"):
        links.check_link(url, 1000)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://data.gouv.nc/jeux", "https://data.gouv.nc/jeux"),
        ("  http://exemple.nc/a?b=c#d \n", "http://exemple.nc/a?b=c#d"),
        ("HTTPS://Exemple.NC", "HTTPS://Exemple.NC"),
        ("https://métropole.nc/données", "https://métropole.nc/données"),
        ("http://[2001:db8::1]:8080/", "http://[2001:db8::1]:8080/"),
    ],
)
def test_the_rule_keeps_web_addresses(given, stored):
    assert links.check_link(given, 1000) == stored
    assert links.optional_link("  ", 1000) is None and links.optional_link(None, 1000) is None
    with pytest.raises(links.LinkError, match="trop longue"):
        links.check_link("https://exemple.nc/" + "x" * 1000, 1000)


# --- the API ---------------------------------------------------------------------------


@pytest.fixture
def site(backend, monkeypatch):
    """The whole application in process, an organisation, a public dataset, a platform
    admin with a write token (`api`) and a signed-in session (`portal`)."""
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.setenv("NIAOULI_STATS", "off")
    with backend.session() as session, session.begin():
        org = service.create_organisation(
            session, "province-nord", "Province Nord", "government", website="https://nord.nc"
        )
        service.create_dataset(session, org, "communes", "Communes du Nord")
        admin = users.create_user(
            session, "admin@exemple.nc", "Admin", PASSWORD, is_platform_admin=True
        )
        users.set_membership(session, org, admin, "admin")
        _token, secret = tokens.create_token(session, admin, "écriture", "write")
    from niaouli.web import create_app

    app = create_app()
    api = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    api.headers["Authorization"] = f"Bearer {secret}"
    portal = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = csrf_of(portal.get("/connexion").text)
    signed_in = portal.post(
        "/connexion",
        data={"csrf": token, "email": "admin@exemple.nc", "password": PASSWORD, "next": "/"},
    )
    assert signed_in.status_code == 303
    yield {"api": api, "portal": portal}
    api.close()
    portal.close()


def test_api_organisation_website(backend, site):
    """S22, issue 13: `PATCH /api/organisations/{slug}` stored `javascript:` as the
    website and the API served it back. Now a 422 at creation and change."""
    api = site["api"]
    for url in ENTRY_VARIANTS:
        created = api.post(
            "/api/organisations",
            json={"slug": "piege", "name": "Piège", "kind": "association", "website": url},
        )
        assert created.status_code == 422, (url, created.text)
        assert "adresse invalide" in created.json()["description"]
        changed = api.patch("/api/organisations/province-nord", json={"website": url})
        assert changed.status_code == 422, (url, changed.text)
    shown = api.get("/api/organisations/province-nord").json()
    assert shown["website"] == "https://nord.nc"
    assert api.get("/api/organisations/piege").status_code == 404
    # A web address is stored as typed (spaces around removed); empty means none.
    changed = api.patch("/api/organisations/province-nord", json={"website": " https://n.nc "})
    assert changed.status_code == 200 and changed.json()["website"] == "https://n.nc"
    cleared = api.patch("/api/organisations/province-nord", json={"website": None})
    assert cleared.status_code == 200 and cleared.json()["website"] is None
    english = api.patch(
        "/api/organisations/province-nord?lang=en", json={"website": "javascript:alert(1)"}
    )
    assert english.status_code == 422 and "invalid address" in english.json()["description"]
    _no_hostile_link(backend)


def test_api_resource_reuse_code_and_event_links(backend, site):
    """S22 at every other API write that stores a URL: resource links, reuses, code
    projects, events — created and changed."""
    api = site["api"]
    reuse = api.post(
        "/api/reuses",
        json={"title": "Carte", "kind": "application", "url": "https://carte.nc",
              "datasets": ["communes"]},
    )  # fmt: skip
    code = api.post(
        "/api/code", json={"organisation": "province-nord", "name": "Outil", "slug": "outil"}
    )
    event = api.post(
        "/api/events",
        json={"title": "Atelier", "kind": "hackathon", "starts_at": "2027-03-01T09:00",
              "organisation": "province-nord"},
    )  # fmt: skip
    assert {reuse.status_code, code.status_code, event.status_code} == {201}, (
        reuse.text + code.text + event.text
    )
    reuse_slug, event_slug = reuse.json()["slug"], event.json()["slug"]
    for url in ENTRY_VARIANTS:
        attempts = {
            "resource": api.post(
                "/api/datasets/communes/resources", json={"title": "Lien", "url": url}
            ),
            "reuse": api.post(
                "/api/reuses",
                json={
                    "title": "Piège",
                    "kind": "application",
                    "url": url,
                    "datasets": ["communes"],
                },
            ),  # fmt: skip
            "reuse change": api.patch(f"/api/reuses/{reuse_slug}", json={"url": url}),
            "code": api.post(
                "/api/code",
                json={"organisation": "province-nord", "name": "Piège", "repository_url": url},
            ),
            "code change": api.patch("/api/code/outil", json={"repository_url": url}),
            "event": api.post(
                "/api/events",
                json={
                    "title": "Piège",
                    "kind": "hackathon",
                    "starts_at": "2027-03-01T09:00",
                    "url": url,
                },
            ),  # fmt: skip
            "event change": api.patch(f"/api/events/{event_slug}", json={"url": url}),
        }
        for what, response in attempts.items():
            assert response.status_code == 422, (what, url, response.text)
    with backend.session() as session:
        assert session.scalars(select(Reuse.title)).all() == ["Carte"]
        assert session.scalars(select(CodeProject.name)).all() == ["Outil"]
        assert session.scalars(select(Event.title)).all() == ["Atelier"]
        assert session.scalars(select(Resource.id)).all() == []
    _no_hostile_link(backend)


# --- the portal forms ------------------------------------------------------------------


def test_portal_forms(backend, site):
    """S22 in the portal's forms: code project, event and reuse (the organisation has
    no portal form; its website is set through the API and the command line)."""
    portal = site["portal"]

    def post(path: str, **fields: str):  # noqa: ANN202
        token = csrf_of(portal.get(path).text)
        return portal.post(path, data={"csrf": token, **fields})

    for url in ENTRY_VARIANTS:
        responses = {
            "code": post(
                "/code/ajouter",
                organisation="province-nord",
                name="Piège",
                repository_url=url,
                default_branch="",
                licence="",
                languages="",
                status="stable",
                description="",
                datasets="",
            ),  # fmt: skip
            "event": post(
                "/evenements/ajouter",
                organisation="province-nord",
                title="Piège",
                kind="hackathon",
                starts="2027-03-01 09:00",
                ends="",
                location="",
                url=url,
                description="",
                results="",
                datasets="",
            ),  # fmt: skip
            "reuse": post(
                "/reutilisations/proposer",
                title="Piège",
                kind="application",
                url=url,
                description="",
                datasets="communes",
            ),  # fmt: skip
        }
        for what, response in responses.items():
            assert response.status_code == 400, (what, url, response.status_code)
            assert "adresse invalide" in response.text.replace("&#39;", "'").lower(), what
    with backend.session() as session:
        for model in (CodeProject, Event, Reuse):
            assert session.scalars(select(model.id)).all() == []


# --- the command line ------------------------------------------------------------------


def test_command_line(backend):
    """S22 on the command line: `org create --website`, `harvest add URL`, `reuse add
    --url`, `code add --repository`, `event add --url`; each fails, nothing is stored."""
    from niaouli.cli import main

    runner = CliRunner(env=backend.env(), catch_exceptions=False)
    assert (
        runner.invoke(
            main, ["org", "create", "nord", "--name", "Nord", "--kind", "government"]
        ).exit_code
        == 0
    )
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, "nord")
        service.create_dataset(session, org, "communes", "Communes")
    for url in ENTRY_VARIANTS:
        commands = {
            "org": ["org", "create", "piege", "--name", "P", "--kind", "association",
                    "--website", url],
            "harvest": ["harvest", "add", "nord", "ckan", url, "--slug", "piege"],
            "reuse": ["reuse", "add", "Piège", "--kind", "api", "--url", url,
                      "--dataset", "communes"],
            "code": ["code", "add", "piege", "Piège", "--org", "nord", "--repository", url],
            "event": ["event", "add", "piege", "Piège", "--kind", "hackathon",
                      "--starts", "2027-03-01 09:00", "--url", url],
        }  # fmt: skip
        for what, args in commands.items():
            result = runner.invoke(main, args)
            assert result.exit_code != 0, (what, url, result.output)
            assert "invalide" in result.output, (what, url, result.output)
    with backend.session() as session:
        assert session.scalars(select(Organisation.slug)).all() == ["nord"]
        for model in (HarvestSource, CodeProject, Event, Reuse):
            assert session.scalars(select(model.id)).all() == []


# --- the harvest mapping ---------------------------------------------------------------


class HostileHarvester(Harvester):
    """A remote whose records carry every spelling, beside one good link each."""

    type = "test-hostile"

    def enumerate(self):  # noqa: ANN201
        for n, url in enumerate(ENTRY_VARIANTS):
            yield RemoteRecord(
                remote_id=f"jeu-{n}",
                title=f"Jeu {n}",
                links=[
                    {"url": url, "title": "Piège", "format": "HTML"},
                    {"url": " https://exemple.nc/donnees.csv ", "title": "CSV"},
                ],
                original_url=url,
            )
            yield RemoteRecord(
                remote_id=f"code-{n}",
                title=f"Code {n}",
                kind="code_project",
                fields={
                    "repository_url": url,
                    "releases": [
                        {"version": "v2", "url": url, "archive_url": url},
                        {"version": "v1", "url": "https://exemple.nc/v1"},
                    ],
                },
                original_url=url,
            )


def test_harvest_mapping(backend, monkeypatch):
    """S22 in the harvest mapping: a remote decides what its records say. A hostile
    link is dropped (the record is kept with its good links), a hostile page address
    falls back to the source's, a hostile repository or release address is not kept.
    A harvest source's own URL follows the same rule."""
    from niaouli.ingest.harvest import registry
    from niaouli.ingest.harvest.base import HarvestError
    from niaouli.ingest.harvest.service import add_source
    from tests.harvest_support import harvest

    monkeypatch.setitem(registry.BUILTIN, "test-hostile", f"{__name__}:HostileHarvester")
    with backend.session() as session, session.begin():
        service.create_organisation(session, "nord", "Nord", "government")
        for url in ENTRY_VARIANTS:
            with pytest.raises(HarvestError, match="adresse de source invalide"):
                add_source(session, "nord", "test-hostile", url, slug="piege")
        add_source(session, "nord", "test-hostile", "https://remote.example/", slug="remote")
    report = harvest(backend, "remote")
    assert report.counts["created"] == 2 * len(ENTRY_VARIANTS), report.summary()
    with backend.session() as session:
        datasets = session.scalars(select(Dataset)).all()
        assert {r.url for d in datasets for r in d.resources} == {"https://exemple.nc/donnees.csv"}
        assert {d.provenance["source_url"] for d in datasets} == {"https://remote.example/"}
        projects = session.scalars(select(CodeProject)).all()
        assert {p.repository_url for p in projects} == {None}
        for project in projects:
            assert project.releases == [
                {"version": "v2"},
                {"version": "v1", "url": "https://exemple.nc/v1"},
            ]
        assert set(session.scalars(select(HarvestedRecord.original_url)).all()) == {None}
    _no_hostile_link(backend)


# --- OpenID Connect --------------------------------------------------------------------


def test_openid_connect_issuer(backend, monkeypatch):
    """S22 for OpenID Connect: the configured issuer and the `iss` stored on an account."""
    from niaouli.accounts import oidc
    from niaouli.accounts.users import AccountError

    monkeypatch.setenv("NIAOULI_OIDC_CLIENT_ID", "niaouli")
    for url in ENTRY_VARIANTS:
        monkeypatch.setenv("NIAOULI_OIDC_ISSUER", url)
        if url.strip():
            with pytest.raises(ValueError, match="NIAOULI_OIDC_ISSUER"):
                oidc.oidc_settings()
        claims = {"iss": url, "sub": "1", "email": "a@exemple.nc", "email_verified": True}
        with backend.session() as session, pytest.raises(AccountError):
            oidc.user_for_identity(session, claims)
    monkeypatch.setenv("NIAOULI_OIDC_ISSUER", "https://sso.gouv.nc/realms/nc")
    assert oidc.oidc_settings().issuer == "https://sso.gouv.nc/realms/nc"
    with backend.session() as session:
        assert session.scalars(select(User.id)).all() == []
