"""A call for projects in headless Chromium. On a phone: a signed-in applicant fills in
the application form (the call's dataset ticked, a teammate named), sends it, attaches
a PDF on the application's page, and nothing overflows the screen's width or fails in
the console. Then, the deadline passed, on a desktop: the organiser's editor opens the
jury's table, scores the application against the criteria, publishes it as laureate, and
the public call page shows it. SQLite; the access rules and the deadline are the other
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
        call = build_call(backend)
        cookies = {who: session_cookie(backend, who) for who in ("lead", "editor_a")}
        with LiveServer(backend) as server:
            yield Site(server.url, "sqlite", False, backend.settings), cookies, call


def test_applying_on_a_phone_then_the_jury_on_a_desktop(
    chromium,  # noqa: ANN001, F811
    call_site,  # noqa: ANN001
    tmp_path,  # noqa: ANN001
) -> None:
    site, cookies, call = call_site
    name, value = cookies["lead"]
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

    call.close()  # the deadline has passed: the jury's turn
    name, value = cookies["editor_a"]
    with visit(chromium, site, "desktop") as v:
        v.context.add_cookies([{"name": name, "value": value, "url": site.url}])
        v.open(f"/evenements/{EVENT}/appel/jury")
        v.page.click("table a:has-text('Carte des services')")
        v.page.wait_for_selector("#note-0")
        v.page.fill("#note-0", "8")
        v.page.fill("#note-1", "6")
        v.page.fill("#comment", "Utile et réaliste.")
        v.page.click("button:has-text('Enregistrer mes notes')")
        v.page.wait_for_selector("#evaluation ~ dl.facts dd:has-text('14')")
        v.open(f"/evenements/{EVENT}/appel/jury")
        row = v.page.locator("tbody tr", has_text="Carte des services")
        assert row.locator("td").nth(2).inner_text() == "8.0"  # Impact, then Faisabilité
        v.page.check("input[name=laureat]")
        v.screenshot("jury")
        v.page.click("button:has-text('Publier les lauréats')")
        v.page.wait_for_url(f"**/evenements/{EVENT}/appel")
        assert v.errors == [] and v.blocked == []
    with visit(chromium, site, "desktop") as v:  # anyone: the laureate is public now
        v.open(f"/evenements/{EVENT}/appel")
        laureates = v.page.locator("section[aria-labelledby=laureats]")
        assert "Carte des services" in laureates.inner_text()
