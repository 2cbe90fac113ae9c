"""Calls for projects in the core (issue 22 §1), on both backends: the whole journey
from the open call to a public laureate, deadline enforcement on the server's clock,
and hostile attachments (rows S6–S9: no XML is read; the PDF checks of
`niaouli.pdfguard`). Who sees an application, on every interface: test_calls_web.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli import pdfguard, storage
from niaouli.accounts.audit import AuditEvent
from niaouli.catalogue.community import calls, reuses
from niaouli.catalogue.lifecycle import cleanup
from niaouli.cli import main
from niaouli.db.engine import writing
from niaouli.errors import ConflictError, ForbiddenError, NotFoundError
from tests.call_support import (
    EVENT,
    GOOD_PDF,
    HOSTILE_PDFS,
    SUMMARY,
    build_call,
    email_of,
    pdf,
)


@pytest.fixture
def site(backend):
    return build_call(backend)


def _apply(site, name: str = "lead", members=("teammate",)) -> int:
    with Session(writing(site.backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        made = calls.apply(
            session,
            site.viewer(session, name),
            call,
            project_name=f"Projet de {name}",
            summary=SUMMARY,
            dataset_slugs=["communes"],
            member_emails=[email_of(m) for m in members],
        )
        return made.id


def test_journey_from_open_call_to_public_laureate(site, backend, tmp_path):
    mine, other = _apply(site), _apply(site, "rival", ())
    attachment = tmp_path / "dossier.pdf"
    attachment.write_bytes(GOOD_PDF)
    with Session(writing(backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        app = calls.get_application(session, site.viewer(session, "teammate"), call, str(mine))
        calls.change_application(
            session, site.viewer(session, "teammate"), app, project_name="Carte des communes"
        )
        kept = calls.add_attachment(
            session, backend.settings, site.viewer(session, "lead"), app, attachment, "dossier"
        )
        assert kept.pages == 1 and kept.filename == "dossier.pdf"
        key = kept.storage_key
        with pytest.raises(ForbiddenError):  # only the lead changes the team
            calls.change_application(session, site.viewer(session, "teammate"), app, members=[])
        with pytest.raises(ConflictError):  # the jury waits for the deadline
            calls.score(session, site.viewer(session, "editor_a"), app, {"Impact": 5})
    site.close()  # the deadline passed a minute ago
    with Session(writing(backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        lead = site.viewer(session, "lead")
        app = calls.get_application(session, lead, call, str(mine))
        assert calls.phase(call) == calls.Phase.CLOSED
        with pytest.raises(ConflictError):
            calls.change_application(session, lead, app, summary=SUMMARY + " Encore.")
        with pytest.raises(ConflictError):
            calls.add_attachment(session, backend.settings, lead, app, attachment, "x.pdf")
        with pytest.raises(ConflictError):
            calls.apply(session, lead, call, project_name="Trop tard", summary=SUMMARY)
        with pytest.raises(ForbiddenError):  # applicants do not score
            calls.score(session, site.viewer(session, "rival"), app, {"Impact": 5})
        with pytest.raises(ForbiddenError):  # nor editors of another organisation
            calls.score(session, site.viewer(session, "editor_b"), app, {"Impact": 5})
        calls.score(session, site.viewer(session, "editor_a"), app, {"Impact": 8, "Faisabilité": 6})
        calls.score(session, site.viewer(session, "admin"), app, {"Impact": 6})
        assert calls.averages(app) == {"Impact": 7.0, "Faisabilité": 6.0}
        assert calls.total(app) == 13.0
        assert calls.laureates(session, call) == []
    # The command line lists them as the jury does, and publishes (as the platform).
    env = {"NIAOULI_DATABASE_URL": backend.settings.database_url,
           "NIAOULI_DATA_DIR": str(backend.settings.data_dir)}  # fmt: skip
    listed = CliRunner().invoke(main, ["call", "applications", EVENT], env=env)
    assert listed.exit_code == 0 and "Carte des communes\tNom lead\t13" in listed.output
    refused = CliRunner().invoke(main, ["call", "publish", EVENT, "999999"], env=env)
    assert refused.exit_code == 1 and "parmi les candidatures" in refused.output
    published = CliRunner().invoke(main, ["call", "publish", EVENT, str(mine)], env=env)
    assert published.output == "lauréats publiés : Carte des communes\n"
    with Session(writing(backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        anonymous = site.viewer(session, "anonymous")
        assert [a.project_name for a in calls.laureates(session, call)] == ["Carte des communes"]
        assert calls.get_application(session, anonymous, call, str(mine)).laureate
        with pytest.raises(NotFoundError):  # not a laureate: still private
            calls.get_application(session, anonymous, call, str(other))
        with pytest.raises(ConflictError):  # results are final
            calls.score(session, site.viewer(session, "editor_a"), calls.get_application(
                session, anonymous, call, str(mine)), {"Impact": 1})  # fmt: skip
        # The shipped project: a reuse, linked back to the call.
        lead = site.viewer(session, "lead")
        reuse = reuses.submit_reuse(
            session, lead, "Carte des communes", "application", "https://exemple.nc/carte",
            dataset_slugs=["communes"],
        )  # fmt: skip
        app = calls.get_application(session, lead, call, str(mine))
        calls.link_shipped(session, lead, app, reuse_slug=reuse.slug)
        assert calls.call_of_shipped(session, reuse_id=reuse.id).id == mine
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith("call.")] == [
        "call.configure",
        "call.apply",
        "call.apply",
        "call.application.update",
        "call.attachment.add",
        "call.score",
        "call.score",
        "call.laureates",  # by the command line
        "call.shipped",
    ]
    # The attachment is a stored file that the cleanup keeps.
    assert key not in cleanup(backend.engine, backend.settings, 0).files
    assert storage.stat(backend.settings, key, "dossier.pdf").size == len(GOOD_PDF)


def test_deadline_is_the_servers_in_utc_whatever_the_typed_zone(site, backend):
    """Dates typed without offset are Nouméa time (UTC+11)."""
    with Session(writing(backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        calls.configure_call(
            session,
            site.viewer(session, "editor_a"),
            call.event,
            rules="",
            criteria=["Impact"],
            opens="2027-03-01 08:00",
            deadline="2027-03-31 18:00",
        )
        assert calls.phase(call) == calls.Phase.UPCOMING
        assert call.deadline_at.strftime("%Y-%m-%d %H:%M") == "2027-03-31 07:00"
        from datetime import UTC, datetime

        just_before = datetime(2027, 3, 31, 6, 59, tzinfo=UTC)
        just_after = datetime(2027, 3, 31, 7, 0, tzinfo=UTC)
        assert calls.phase(call, just_before) == calls.Phase.OPEN
        assert calls.phase(call, just_after) == calls.Phase.CLOSED
        lead = site.viewer(session, "lead")
        with pytest.raises(ConflictError):
            calls.apply(session, lead, call, project_name="Tôt", summary=SUMMARY)
        calls.apply(session, lead, call, project_name="Juste", summary=SUMMARY, now=just_before)
        with pytest.raises(ForbiddenError):  # only the organisers set the call
            calls.configure_call(
                session, lead, call.event, rules="", criteria=["x"], opens="2027-01-01 00:00",
                deadline="2027-02-01 00:00",
            )  # fmt: skip


WORDS = {
    "not": "n'est pas un PDF",
    "javascript": "JavaScript",
    "launch": "lancement",
    "embedded": "incorporé",
    "encrypted": "chiffrement",
    "too": "trop",
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_hostile_attachments_are_refused_and_not_stored(site, backend, tmp_path):
    """Not a PDF, JavaScript (plain, #-escaped, hidden in an object stream), a launch
    action, embedded files, encryption, too heavy, too many pages (rows S20–S21: the
    names are never shown raw; the page escapes them)."""
    mine = _apply(site)
    cases = {**HOSTILE_PDFS}
    cases["too-many-pages"] = pdf(*[b"<< /Type /Page /Parent 2 0 R >>"] * calls.MAX_PAGES)
    cases["too-large"] = GOOD_PDF[:-7] + b" " * pdfguard.MAX_PDF_BYTES + b"%%EOF\n"
    with Session(writing(backend.engine)) as session, session.begin():
        call = calls.get_call(session, EVENT)
        lead = site.viewer(session, "lead")
        app = calls.get_application(session, lead, call, str(mine))
        for reason, data in cases.items():
            path = tmp_path / f"{reason}.pdf"
            path.write_bytes(data)
            with pytest.raises(pdfguard.UnsafePdfError) as refused:
                calls.add_attachment(session, backend.settings, lead, app, path, path.name)
            assert WORDS[reason.split("-")[0]] in str(refused.value), reason
        assert app.attachments == []
    files = backend.settings.files_dir
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))


def test_a_pdf_checks_out_and_counts_its_pages():
    data = pdf(b"<< /Type /Page /Parent 2 0 R >>")
    pdfguard.check_pdf(data)
    assert calls.page_count(data) == 2
    with pytest.raises(pdfguard.UnsafePdfError):
        pdfguard.check_pdf(data.replace(b"%%EOF", b""))
