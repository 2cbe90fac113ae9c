"""The search box's examples find something in the demo (issue 15 §7).

The home page suggested « écoles, Hienghène », and neither found anything in the demo a
newcomer loads from the README. Both backends: the search differs per backend.
"""

from __future__ import annotations

import html
import re

import httpx

from niaouli.demo import load_demo
from tests.conftest import Backend
from tests.portal_support import LiveServer


def test_search_examples_find_something_in_the_demo(backend: Backend):
    load_demo(backend.settings, echo=lambda _m: None)
    with LiveServer(backend) as server:
        for language in ("fr", "en"):
            home = httpx.get(f"{server.url}/", params={"lang": language}, timeout=30).text
            found = re.search(r'id="recherche-accueil"[^>]*placeholder="([^"]*)"', home)
            assert found, language
            examples = html.unescape(found.group(1)).split(maxsplit=1)[1]  # after "ex."
            words = [word.strip() for word in examples.split(",")]
            assert len(words) >= 3, words
            for word in words:
                page = httpx.get(
                    f"{server.url}/recherche", params={"q": word, "lang": language}, timeout=30
                ).text
                assert 'class="card-title"' in page, (language, word)
