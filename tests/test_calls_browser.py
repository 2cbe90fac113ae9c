"""The application form of a call for projects on a phone, in headless Chromium: a
signed-in applicant fills it in (the call's dataset ticked, a teammate named), sends
it, attaches a PDF on the application's page, and nothing overflows the screen's width
or fails in the console. SQLite; the access rules and the deadline are the other
tests' (test_calls_core.py, test_calls_web.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import Site, chromium, visit  # noqa: F401 - fixture
from tests.call_support import EVENT, GOOD_PDF, SUMMARY, build_call, email_of, session_cookie
from tests.conftest import fresh_backend
from tests.portal_support import LiveServer


@pytest.fixture
def call_site(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    with fresh_backend(request, "sqlite", tmp_path) as backend:
        build_call(backend)
        cookie = session_cookie(backend, "lead")
        with LiveServer(backend) as server:
            yield Site(server.url, "sqlite", False, backend.settings), cookie


def test_applying_on_a_phone(chromium, call_site, tmp_path) -> None:  # noqa: ANN001, F811
    site, (name, value) = call_site
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(GOOD_PDF)
    with visit(chromium, site, "phone") as v:
        v.context.add_cookies([{"name": name, "value": value, "url": site.url}])
        v.open(f"/evenements/{EVENT}/appel")
        v.page.click(f"a[href='/evenements/{EVENT}/appel/candidater']")
        v.page.wait_for_selector("form.call-form")
        v.page.fill("#project_name", "Carte des services")
        v.page.fill("#summary", SUMMARY)
        v.page.check("input[name=picked][value=communes]")
        v.page.fill("#members", email_of("teammate"))
        overflow = "() => document.documentElement.scrollWidth - window.innerWidth"
        assert v.page.evaluate(overflow) <= 0  # the form fits a 390 px wide screen
        v.screenshot("candidature")
        v.page.click("form.call-form button[type=submit]")
        v.page.wait_for_selector("h1:has-text('Carte des services')")
        assert "/candidatures/" in v.page.url
        v.page.set_input_files("#piece", str(pdf))
        v.page.click("form[enctype='multipart/form-data'] button[type=submit]")
        v.page.wait_for_selector("a[download]:has-text('dossier.pdf')")
        assert v.page.evaluate(overflow) <= 0
        assert v.page.input_value("#members") == email_of("teammate")
        v.screenshot("candidature-envoyee")
        assert v.errors == [] and v.blocked == []
