"""The publisher's way in, seen in headless Chromium at phone (390 px) and desktop sizes
(issue 15 §1): an editor finds « Publier des données » in the header, on screen, and it
leads to the new-dataset form; a signed-in non-editor finds, on the organisation page,
how to ask to join, and the form to do it; neither page scrolls sideways.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts_support import PASSWORD, LoggedServer, build_matrix, email_of
from tests.browser_support import VIEWPORTS, chromium  # noqa: F401 - fixture


@pytest.fixture
def server(backend, tmp_path):
    build_matrix(backend, tmp_path)
    with LoggedServer(backend, tmp_path / "server.log") as live:
        yield live


def _signed_in_page(browser: Any, server: LoggedServer, viewport: str, viewer: str) -> Any:
    context = browser.new_context(base_url=server.url, locale="fr-FR", **VIEWPORTS[viewport])
    page = context.new_page()
    page.goto("/connexion")
    page.fill("#email", email_of(viewer))
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/compte")
    return page


def _on_screen(page: Any, selector: str) -> None:
    link = page.locator(selector).first
    assert link.is_visible(), selector
    box = link.bounding_box()
    width = page.evaluate("() => window.innerWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways ({scroll} > {width})"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_way_in_is_visible_on_phone_and_desktop(chromium, server, viewport):  # noqa: F811
    page = _signed_in_page(chromium, server, viewport, "editor_a")
    try:
        _on_screen(page, "header a.publish-link")
        assert page.inner_text("header a.publish-link") == "Publier des données"
        page.click("header a.publish-link")
        page.wait_for_url("**/jeux-de-donnees/nouveau")
        assert page.locator("#title").is_visible()
    finally:
        page.context.close()

    page = _signed_in_page(chromium, server, viewport, "user")
    try:
        assert page.locator("header a.publish-link").count() == 0
        page.goto("/organisations/province-sud")
        join = "main a[href='/organisations/province-sud/rejoindre']"
        _on_screen(page, join)
        page.click(join)
        page.wait_for_url("**/organisations/province-sud/rejoindre")
        _on_screen(page, "main button[type=submit]")
        assert page.locator("input[name=role][value=editor]").is_checked()
    finally:
        page.context.close()
