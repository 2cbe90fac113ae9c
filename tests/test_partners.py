"""Partner administrations (issue 22 §2), on both backends: the status's path and its
audit rows, the obligation from the population table, functional contacts only, the
agreement's PDF as untrusted input, and the public page `/partenaires` (French and
English), filled through the form as platform admins and organisation admins use it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from niaouli import pdfguard
from niaouli.accounts import audit
from niaouli.accounts.account_tables import AuditEvent
from niaouli.catalogue import lifecycle, quality_store, service
from niaouli.catalogue.access import Viewer
from niaouli.catalogue.partners import contacts, listing, obligations, partnerships
from niaouli.catalogue.partners.obligations import Obligation
from niaouli.catalogue.partners.partner_tables import PartnerStatus
from niaouli.errors import CatalogueError, ForbiddenError
from niaouli.pdfguard import MAX_PDF_BYTES, UnsafePdfError, check_pdf
from niaouli.web import create_app
from tests.accounts_support import csrf_of
from tests.partners_support import ADMIN, NOUMEA_ADMIN, pdf, signed_in, small_catalogue

PLATFORM = Viewer(user_id=None, is_platform_admin=True)
ACTOR = audit.COMMAND_LINE


def _stored_files(backend) -> list[str]:  # noqa: ANN001
    folder = backend.settings.files_dir
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the agreement's PDF ---------------------------------------------------------------

HOSTILE = {
    "empty": b"",
    "not a pdf": b"\x89PNG\r\n\x1a\n" + pdf()[8:],
    "html": b"<html><script>alert(1)</script></html>%%EOF",
    "truncated": pdf()[:-40],
    "javascript": pdf(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
    "escaped name": pdf(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>"),
    "embedded file": pdf(b"/Names << /EmbeddedFiles << /Names [(a.exe) 5 0 R] >> >>"),
    "launch": pdf(b"/OpenAction << /S /Launch /F (cmd.exe) >>"),
    "xfa form": pdf(b"/AcroForm << /XFA 6 0 R >>"),
    "encrypted": pdf(b"").replace(b"trailer << ", b"trailer << /Encrypt 7 0 R "),
    "hidden in an object stream": pdf(
        streams=(b"8 0 obj << /Type /Action /S /JavaScript /JS (x) >> endobj",)
    ),
    # 2 MiB inflated against a budget lowered to 1 MiB below (64 MiB in production)
    "compression bomb": pdf(streams=(b"\0" * (2 * 1024 * 1024),)),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_pdfs_are_refused(name, monkeypatch):
    monkeypatch.setattr(pdfguard, "MAX_INFLATED_BYTES", 1024 * 1024)
    with pytest.raises(UnsafePdfError):
        check_pdf(HOSTILE[name])


def test_a_plain_pdf_passes_and_size_is_capped():
    check_pdf(pdf(streams=(b"BT /F1 12 Tf 72 712 Td (Convention) Tj ET",)))
    with pytest.raises(UnsafePdfError, match="trop lourd"):
        check_pdf(pdf(b"/Padding (" + b"x" * 2048 + b")"), max_bytes=1024)
    assert MAX_PDF_BYTES == 10 * 1024 * 1024


# --- status, facts, contacts: the core ----------------------------------------------------


def test_status_lifecycle_and_audit(backend, tmp_path):
    small_catalogue(backend)
    with backend.session() as session, session.begin():
        org = service.get_organisation(session, "ville-de-noumea")
        referent = Viewer(user_id=999, member_of={org.id: "admin"})
        partnerships.set_status(session, PLATFORM, ACTOR, org, "invited")
        partnerships.set_status(session, PLATFORM, ACTOR, org, "discussion")
        with pytest.raises(CatalogueError, match="date de signature"):
            partnerships.set_status(session, PLATFORM, ACTOR, org, "signed")
        with pytest.raises(CatalogueError, match="PDF"):
            partnerships.set_status(session, PLATFORM, ACTOR, org, "signed", date(2026, 3, 1))
        with pytest.raises(ForbiddenError):  # the programme is the platform admins'
            partnerships.set_status(session, referent, ACTOR, org, "signed", date(2026, 3, 1))
        with pytest.raises(UnsafePdfError):
            partnerships.attach_agreement(
                session,
                PLATFORM,
                ACTOR,
                org,
                HOSTILE["javascript"],
                "c.pdf",
                backend.settings,
                tmp_path,
            )
        partnerships.attach_agreement(
            session,
            PLATFORM,
            ACTOR,
            org,
            pdf(),
            "Convention Nouméa.pdf",
            backend.settings,
            tmp_path,
        )
        future = date.today() + timedelta(days=30)
        with pytest.raises(CatalogueError, match="futur"):
            partnerships.set_status(session, PLATFORM, ACTOR, org, "signed", future)
        row = partnerships.set_status(session, PLATFORM, ACTOR, org, "signed", date(2026, 3, 1))
        assert row.status == PartnerStatus.SIGNED and row.signed_on == date(2026, 3, 1)
        with pytest.raises(CatalogueError, match="ne peut pas passer"):
            partnerships.set_status(session, PLATFORM, ACTOR, org, "invited")
        partnerships.set_status(session, PLATFORM, ACTOR, org, "left")
        partnerships.set_status(session, PLATFORM, ACTOR, org, "left")  # no change, no row
        # The organisation's own admin keeps its contacts, never the status.
        partnerships.set_contacts(
            session,
            referent,
            ACTOR,
            org,
            [{"role": "Référent open data", "email": "OpenData@noumea.nc"}],
        )
        with pytest.raises(CatalogueError, match="adresse de fonction"):
            partnerships.set_contacts(
                session, referent, ACTOR, org, [{"role": "Chef", "email": "jean.dupont@noumea.nc"}]
            )
        with pytest.raises(ForbiddenError):
            partnerships.set_contacts(session, Viewer(user_id=5), ACTOR, org, [])
    with backend.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id)
        ).all()
    assert [(a, d.get("status")) for a, d in rows] == [
        ("partner.status", "invited"),
        ("partner.status", "discussion"),
        ("partner.agreement", None),
        ("partner.status", "signed"),
        ("partner.status", "left"),
        ("partner.contacts", None),
    ]
    assert rows[3][1]["signed_on"] == "2026-03-01" and rows[3][1]["previous"] == "discussion"
    assert rows[2][1]["filename"] == "Convention_Noumea.pdf"
    assert len(_stored_files(backend)) == 1  # the refused PDF was never stored
    report = lifecycle.cleanup(backend.engine, backend.settings, min_age_seconds=0)
    assert report.files == [] and len(_stored_files(backend)) == 1  # cleanup keeps it


@pytest.mark.parametrize(
    ("email", "personal"),
    [
        ("jean.dupont@noumea.nc", True),
        ("j-dupont@province-sud.nc", True),
        ("opendata@noumea.nc", False),
        ("sig.donnees@province-sud.nc", False),
        ("open-data@gouv.nc", False),
        ("service-geomatique@gouv.nc", False),
        ("mairie.belep@gmail.com", True),  # a personal mailbox provider
        ("contact@lagoon.nc", True),
    ],
)
def test_contacts_are_functional_addresses(email, personal):
    assert contacts.looks_personal(email) is personal


def test_obligation_from_the_population_table(backend):
    small_catalogue(backend)
    assert obligations.communes()["98818"].population == 85976  # Nouméa
    assert obligations.communes()["98801"].population == 686  # Belep
    facts = {
        "ville-de-noumea": (2000, "98818"),  # above both thresholds, publishes
        "commune-de-belep": (60, "98801"),  # 686 inhabitants: not subject
        "ville-de-dumbea": (300, "98805"),  # subject, only a private dataset
        "province-sud": (None, None),  # agents unknown
    }
    with backend.session() as session, session.begin():
        for slug, (agents, code) in facts.items():
            org = service.get_organisation(session, slug)
            partnerships.set_facts(session, PLATFORM, ACTOR, org, agents=agents, commune_code=code)
            partnerships.set_status(session, PLATFORM, ACTOR, org, "invited")
        with pytest.raises(CatalogueError, match="code de commune"):
            partnerships.set_facts(session, PLATFORM, ACTOR, org, agents=1, commune_code="99999")
    with backend.session() as session:
        found = {r.organisation.slug: r for r in listing.rows(session)}
    assert found["ville-de-noumea"].assessment.obligation == Obligation.MET
    assert found["ville-de-noumea"].assessment.inhabitants == 85976
    assert found["commune-de-belep"].assessment.obligation == Obligation.NOT_SUBJECT
    assert found["ville-de-dumbea"].assessment.obligation == Obligation.NOT_MET
    assert found["ville-de-dumbea"].datasets == 0  # its private dataset is not counted
    assert found["province-sud"].assessment.obligation == Obligation.UNKNOWN
    with backend.session() as session, session.begin():
        belep = service.get_organisation(session, "commune-de-belep")
        # 3,500 inhabitants or more and 50 agents: a commune of 3,511 would be subject
        partnerships.set_facts(session, PLATFORM, ACTOR, belep, agents=49, commune_code="98803")
    with backend.session() as session:
        belep_row = {r.organisation.slug: r for r in listing.rows(session)}["commune-de-belep"]
    assert belep_row.assessment.obligation == Obligation.NOT_SUBJECT  # Bourail, 49 agents


# --- the pages ---------------------------------------------------------------------------


@pytest.fixture
def site(backend, monkeypatch):
    monkeypatch.setenv("NIAOULI_DATA_DIR", str(backend.settings.data_dir))
    monkeypatch.setenv("NIAOULI_DATABASE_URL", backend.settings.database_url)
    monkeypatch.setenv("NIAOULI_STATS", "off")
    small_catalogue(backend, accounts=True)
    return create_app()


def _post(client, url: str, data: dict, pdf_bytes: bytes | None = None):  # noqa: ANN001, ANN202
    token = csrf_of(client.get(url).text)
    files = {"convention": ("convention.pdf", pdf_bytes, "application/pdf")} if pdf_bytes else None
    return client.post(url, data={"csrf": token, **data}, files=files)


def test_partner_page_filled_through_the_form(site, backend):
    url = "/organisations/ville-de-noumea/partenariat"
    with signed_in(site, ADMIN) as admin:
        form = admin.get(url).text
        assert 'name="status"' in form and 'name="convention"' in form
        refused = _post(
            admin, url, {"status": "signed", "signed_on": "2026-03-01"}, HOSTILE["launch"]
        )
        assert refused.status_code == 400
        assert "action de lancement" in refused.text
        assert _stored_files(backend) == []
        done = _post(
            admin,
            url,
            {
                "status": "signed",
                "signed_on": "2026-03-01",
                "agents": "2 000",
                "commune_code": "98818",
                "role_0": "Référent open data",
                "email_0": "opendata@noumea.nc",
            },
            pdf(),
        )
        assert done.status_code == 303, done.text[:2000]
        _post(admin, "/organisations/ville-de-dumbea/partenariat", {"status": "invited"})
        registered = listing._quality_scorer  # the quality score's, set at start-up
        listing.set_quality_scorer(lambda _s, ids: {ids[0]: 87.4} if ids else {})
        try:
            assert "87&nbsp;/&nbsp;100" in admin.get("/partenaires").text
        finally:
            listing.set_quality_scorer(registered)
    with signed_in(site, NOUMEA_ADMIN) as referent:
        form = referent.get(url).text
        assert 'name="email_0"' in form and 'name="status"' not in form  # contacts only
        personal = _post(referent, url, {"role_0": "Chef", "email_0": "marie.kanak@noumea.nc"})
        assert personal.status_code == 400 and "adresse de fonction" in personal.text
        assert referent.get("/organisations/ville-de-dumbea/partenariat").status_code == 403
        assert f'href="{url}"' in referent.get("/organisations/ville-de-noumea").text

    anonymous = TestClient(site, follow_redirects=False)
    with backend.session() as session:
        org_id = service.get_organisation(session, "ville-de-noumea").id
        noumea_score = round(quality_store.public_averages(session, [org_id])[org_id])
    html = anonymous.get("/partenaires").text
    noumea = re.search(r'<tr data-slug="ville-de-noumea">.*?</tr>', html, re.S).group(0)
    for text in (
        "Ville de Nouméa",
        "convention signée le 1 mars 2026",
        'href="/partenaires/ville-de-noumea/convention.pdf"',
        "Référent open data",
        "opendata@noumea.nc",
        '<td class="nombre">1</td>',  # its public dataset
        "obligation respectée",
        "85",  # inhabitants
        # its public dataset's quality score (niaouli.catalogue.quality_store)
        f'<td class="qualite">{noumea_score}&nbsp;/&nbsp;100</td>',
    ):
        assert text in noumea, text
    dumbea = re.search(r'<tr data-slug="ville-de-dumbea">.*?</tr>', html, re.S).group(0)
    assert "invitée" in dumbea and "à préciser" in dumbea and '<td class="nombre">0</td>' in dumbea
    assert "Province Sud" not in html  # not a partner
    download = anonymous.get("/partenaires/ville-de-noumea/convention.pdf")
    assert download.status_code == 200 and download.content == pdf()
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment")
    assert anonymous.get("/partenaires/ville-de-dumbea/convention.pdf").status_code == 404
    english = anonymous.get("/partenaires?lang=en").text
    for text in ("Partner administrations", "agreement signed on March 1, 2026", "obligation met"):
        assert text in english, text
    assert "obligation respectée" not in english
    assert anonymous.get(url).status_code == 303  # signed out: sign in first
