"""Headless Chromium for the portal's browser tests (map, accessibility).

Debian's `chromium` driven by Playwright for Python (`executable_path`, never
`playwright install`, which would download a browser). Two viewports: a phone (390x844,
touch) and a desktop (1366x900). WebGL runs on SwiftShader, so MapLibre works headless.

Every page is opened in a fresh context that lets only the live server through: any other
request (the OpenStreetMap background, a CDN by mistake) is aborted and recorded, so the
tests show the site works offline and loads nothing from elsewhere. Console errors and
uncaught exceptions are collected; screenshots go to tests/artifacts/screenshots/ (git
ignored; CI keeps them as artefacts), named `<backend>-<viewport>-<page>.png`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from niaouli.ingest import ingest_file
from niaouli.settings import Settings
from tests.conftest import REPO, Backend, fresh_backend
from tests.portal_support import LiveServer, populate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 1,
    },
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}
TRAP = "<img src=x onerror=alert(1)>"
TRAP_POINT = (166.4572, -22.2758)  # Nouméa, Baie de la Moselle
TRAP_SLUG = "points-pieges"
NOUMEA_VIEW = "12/-22.2758/166.4572"


def required() -> bool:
    """Under scripts/test (and so in CI) the browser is installed: missing is a failure."""
    return os.environ.get("NIAOULI_REQUIRE_POSTGIS") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module.

    Not per session: Playwright's sync API runs an event loop while it is started, so a
    browser kept alive across modules would break any other test that drives one.
    """
    if CHROMIUM is None:
        if required():
            pytest.fail("chromium is not installed (scripts/install test installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    args = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--lang=fr-FR"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@dataclass
class MapBackend(Backend):
    """A backend whose live server gets extra environment (the map background)."""

    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(self.extra_env)
        return env


@dataclass
class Site:
    url: str
    backend: str
    background: bool  # a (blocked) background is configured, not `none`
    settings: Settings | None = None  # to change the catalogue under the live server


def add_trap_layer(backend: Backend, folder: Path) -> None:
    """A public point layer whose attributes are HTML (the popup must show them as text)."""
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(TRAP_POINT)},
                "properties": {"nom": TRAP, "note": "<script>alert(2)</script>", "rang": 1},
            }
        ],
    }
    path = folder / "points-pieges.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    ingest_file(
        path,
        organisation="gouvernement-nc",
        dataset=TRAP_SLUG,
        title="Points <b>piégés</b>",
        settings=backend.settings,
        engine=backend.engine,
        progress="none",
    )


@contextmanager
def live_site(
    request: pytest.FixtureRequest, name: str, folder: Path, background: str
) -> Iterator[Site]:
    """A `niaouli serve` over the portal test data plus the trap layer, on backend `name`."""

    def factory(name: str, settings: Settings, engine: Engine) -> MapBackend:
        return MapBackend(name, settings, engine, {"NIAOULI_MAP_BACKGROUND": background})

    with fresh_backend(request, name, folder, factory) as backend:
        populate(backend)
        add_trap_layer(backend, folder)
        with LiveServer(backend) as server:
            yield Site(server.url, name, background != "none", backend.settings)


class Visit:
    """One page in a fresh browser context, with what went wrong collected."""

    def __init__(self, browser: Any, site: Site, viewport: str, axe: bool = False) -> None:
        self.site = site
        self.viewport = viewport
        self.context = browser.new_context(base_url=site.url, locale="fr-FR", **VIEWPORTS[viewport])
        if axe:  # an init script is not subject to the page's CSP, unlike a <script> tag
            self.context.add_init_script(path=str(AXE))
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route(lambda url: not url.startswith(site.url), self._block)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"exception: {exc}"))
        self.page.on("dialog", self._dialog)
        self.page.on("requestfailed", self._failed)

    def _failed(self, request: Any) -> None:
        # MapLibre cancels the tile requests it no longer needs when the view moves.
        if request.url.startswith(self.site.url) and request.failure != "net::ERR_ABORTED":
            self.errors.append(f"failed: {request.url} ({request.failure})")

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort()

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url", "")
        if source and not source.startswith(self.site.url):
            return  # the aborted load of a blocked (background) URL
        if "Failed to load resource" in message.text and not source:
            return
        self.errors.append(f"console: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        return response

    def wait_for_map(self, timeout: float = 60_000) -> None:
        """Until the map has its style, its tiles and stopped moving."""
        self.page.wait_for_function(
            "() => { const m = window.niaouliMap;"
            " return m && m.loaded() && m.areTilesLoaded() && !m.isMoving(); }",
            timeout=timeout,
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.site.backend}-{self.viewport}-{name}.png"
        self.page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    def accessibility_violations(self) -> list[dict[str, Any]]:
        """axe-core's violations on the current page (WCAG 2.1 A/AA and best practices)."""
        return self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
                }));
            }"""
        )

    def external_requests(self) -> list[str]:
        """Blocked requests other than the configured background's tiles."""
        return [u for u in self.blocked if not u.startswith("https://tile.openstreetmap.org/")]

    def close(self) -> None:
        self.context.close()


@contextmanager
def visit(browser: Any, site: Site, viewport: str, axe: bool = False) -> Iterator[Visit]:
    page = Visit(browser, site, viewport, axe)
    try:
        yield page
    finally:
        page.close()
