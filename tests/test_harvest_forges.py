"""Code forges: an organisation's public repositories (and publiccode.yml) -> code projects."""

from __future__ import annotations

from sqlalchemy import select

from niaouli.catalogue.models import CodeProject, CodeStatus
from niaouli.ingest.harvest.harvest_tables import JobStatus
from tests.harvest_support import FakeForge, FakeRemote, add_source_for, harvest


def projects(backend) -> dict[str, CodeProject]:
    with backend.session() as session:
        return {p.repository_url: p for p in session.scalars(select(CodeProject)).all()}


def test_github_organisation(backend, org):
    remote = FakeRemote(FakeForge())
    try:
        slug = add_source_for(
            backend,
            org,
            remote.url + "/orgs/gouv-nc",
            "github-gouv",
            "github",
            raw_url=remote.url + "/raw",
        )
        report = harvest(backend, slug)
        assert report.status == JobStatus.SUCCESS, (report.message, report.items)
        assert report.counts["created"] == 2  # the fork and the archived one are skipped
        found = projects(backend)
        niaouli = found["https://github.com/gouv-nc/niaouli"]
        assert niaouli.name == "Niaouli"  # from publiccode.yml
        assert niaouli.description == "Plateforme des données ouvertes de Nouvelle-Calédonie"
        assert niaouli.licence == "AGPL-3.0-or-later" and niaouli.status == CodeStatus.BETA
        assert niaouli.languages == ["Python", "JavaScript"]
        assert niaouli.releases[0]["version"] == "v0.3.0"
        assert niaouli.publiccode["softwareType"] == "standalone/web"
        other = found["https://github.com/gouv-nc/carto-communes"]
        assert (
            other.licence == "MIT" and other.publiccode == {} and other.languages == ["JavaScript"]
        )
        assert harvest(backend, slug).counts["unchanged"] == 2

        remote.handler.public_repos = 9  # GitHub says 9, lists 4: incomplete
        report = harvest(backend, slug)
        assert report.status == JobStatus.PARTIAL and report.counts["deleted"] == 0
        remote.inject("500", lambda p, _q: p == "/orgs/gouv-nc/repos")
        report = harvest(backend, slug)
        assert report.status == JobStatus.FAILED and len(projects(backend)) == 2
    finally:
        remote.close()


def test_gitlab_group(backend, org):
    remote = FakeRemote(FakeForge())
    try:
        slug = add_source_for(backend, org, remote.url + "/province-sud", "gitlab-sud", "gitlab")
        report = harvest(backend, slug)
        assert report.status == JobStatus.SUCCESS, (report.message, report.items)
        found = projects(backend)
        sig = found["https://gitlab.example/province-sud/sig-sud"]
        assert sig.name == "SIG Sud" and sig.status == CodeStatus.BETA
        assert sig.languages == ["Python", "Shell"]
        bus = found["https://gitlab.example/province-sud/transports/horaires"]
        assert bus.licence is None and bus.status == CodeStatus.STABLE
        asked = [q for p, q in remote.requests if p.endswith("/projects")]
        assert asked[0]["include_subgroups"] == "true" and asked[0]["visibility"] == "public"
    finally:
        remote.close()
