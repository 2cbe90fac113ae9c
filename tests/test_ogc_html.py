"""OGC API HTML pages: escaped (S20, S21), no CDN, a CSP without inline script, assets
served locally."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote

import httpx

from tests.ogc_support import XSS, ogc  # noqa: F401 - fixture

PAGES = [
    "/",
    "/conformance",
    "/collections",
    "/collections/sites-visites",
    "/collections/sites-visites/items",
    "/collections/sites-visites/items/4",
    "/collections/sites-visites/queryables",
    "/collections/sites-visites/schema",
    "/collections/population-communes-nc/items",
    "/openapi",
]


class _Assets(HTMLParser):
    """Collects script sources, style sheets and inline script bodies of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.sources.append(values["src"] or "")
            self._in_script = values.get("type") or "text/javascript"
        elif tag == "link" and values.get("rel") in ("stylesheet", "icon"):
            self.sources.append(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script and self._in_script != "application/json" and data.strip():
            self.inline_scripts.append(data)


def _html(server, path: str) -> httpx.Response:  # noqa: ANN001
    response = httpx.get(f"{server.url}{path}", params={"f": "html"}, timeout=30)
    assert response.status_code == 200, (path, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return response


def test_pages_use_local_assets_only(ogc):  # noqa: F811
    for path in PAGES:
        response = _html(ogc, path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        parser = _Assets()
        parser.feed(response.text)
        assert parser.inline_scripts == [], path
        for source in parser.sources:
            assert source.startswith(f"{ogc.url}/static/"), (path, source)
            asset = httpx.get(source, timeout=30)
            assert asset.status_code == 200, source
        assert not re.search(r"unpkg\.com|cdnjs|jsdelivr|googleapis", response.text), path


def test_data_is_escaped_in_pages(ogc):  # noqa: F811
    for path in ("/collections", "/collections/sites-visites", "/collections/sites-visites/items"):
        page = _html(ogc, path).text
        assert XSS not in page and "<script>alert" not in page, path
        assert "&lt;script&gt;" in page, path
    item = _html(ogc, "/collections/sites-visites/items/4").text
    assert "<script>alert" not in item
    # The map data block is JSON with <, > escaped: it cannot close its <script> element.
    block = re.search(r'<script type="application/json" id="item-data">(.*?)</script>', item, re.S)
    assert block and "\\u003cscript\\u003e" in block.group(1)


def test_hostile_paths_are_escaped(ogc):  # noqa: F811
    for path in (
        "/collections/<script>alert(1)</script>/items",
        "/collections/<script>alert(1)</script>",
        "/collections/sites-visites/items/<img src=x onerror=alert(1)>",
    ):
        response = httpx.get(f"{ogc.url}{quote(path)}", params={"f": "html"}, timeout=30)
        assert response.status_code in (400, 404), path
        assert "<script>alert" not in response.text and "<img src=x" not in response.text


# Every HTML page under /ogc in one language (issue 15 §7): pygeoapi's own labels in
# French, Niaouli's in English, chosen like the portal's (`?lang=`, the niaouli_lang
# cookie, else French whatever the browser's Accept-Language).
LANGUAGE_PAGES = [
    *PAGES,
    "/collections/catalogue/items",
    "/tileMatrixSets",
    "/tileMatrixSets/WebMercatorQuad",
]
NOT_FRENCH = ["Terms of service", "Contact point", "Matching features", "powered by", "Home"]
NOT_ENGLISH = ["Conditions d'utilisation", "Portail Niaouli", "propulsé par", "Accueil"]


class _Texts(HTMLParser):
    """The visible text nodes of a page (no script, no style), stripped."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def _labels() -> list[tuple[str, str]]:
    """(English, French) of every label the pages may show, where the two differ."""
    from babel.messages.pofile import read_po

    from tests.conftest import REPO

    pairs: dict[str, str] = {}
    for name in ("pygeoapi.po", "niaouli.po"):
        with (REPO / "pygeoapi-config" / "locale" / "fr" / name).open("rb") as handle:
            for message in read_po(handle, locale="fr"):
                if isinstance(message.id, str) and message.id and message.string:
                    pairs[message.id] = message.string
    return [(en, fr) for en, fr in pairs.items() if en.lower() != fr.lower() and "%(" not in en]


def test_pages_speak_one_language(ogc):  # noqa: F811
    labels = _labels()
    home = ogc.url.removesuffix("/ogc") + "/"
    for path in LANGUAGE_PAGES:
        for how, language in (
            ({"headers": {"Accept-Language": "en-US,en;q=0.9"}}, "fr"),  # not followed
            ({"cookies": {"niaouli_lang": "fr"}}, "fr"),
            ({"cookies": {"niaouli_lang": "en"}}, "en"),
            ({"params": {"lang": "en"}}, "en"),
        ):
            params = {"f": "html", **how.get("params", {})}
            response = httpx.get(
                f"{ogc.url}{path}",
                params=params,
                headers=how.get("headers"),
                cookies=how.get("cookies"),
                timeout=30,
            )
            assert response.status_code == 200, (path, how)
            page = response.text
            assert f'<html lang="{language}">' in page, (path, how)
            parser = _Texts()
            parser.feed(page)
            texts = set(parser.texts)
            if language == "fr":
                wrong = sorted(en for en, _fr in labels if en in texts)
                wrong += [w for w in NOT_FRENCH if any(w in t for t in texts)]
            else:
                wrong = sorted(fr for _en, fr in labels if fr in texts)
                wrong += [w for w in NOT_ENGLISH if any(w in t for t in texts)]
            assert wrong == [], (path, how, wrong)
    # the landing page's « URL » and contact lead to this platform's portal
    for language in ("fr", "en"):
        landing = httpx.get(f"{ogc.url}/", params={"f": "html", "lang": language}, timeout=30).text
        assert f'href="{home}"' in landing
        assert "data.gouv.nc" not in landing
    french = _html(ogc, "/").text
    assert "Conditions d&#39;utilisation" in french or "Conditions d'utilisation" in french
