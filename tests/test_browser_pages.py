"""Pages that look finished, on a 390 px phone and a desktop (issue 15 §7).

Card descriptions are plain text (the « En bref » box style stays on the dataset page), no
page scrolls sideways on a phone, a wide table scrolls inside its own focusable, labelled
frame, and the statistics chart's labels are readable and do not overlap.

One backend (SQLite): what is checked is layout, the same whatever database fills the
pages; the pages' content on both backends is covered by test_browser_portal.py.
"""

from __future__ import annotations

import pytest

from tests.browser_support import (
    Visit,
    chromium,  # noqa: F401 - fixture
    live_site,
    visit,
)

VIEWPORTS = ["phone", "desktop"]
CARD_PAGES = ["/", "/code", "/reutilisations", "/evenements", "/organisations/gouvernement-nc"]
PHONE_PAGES = [
    "/code",
    "/reutilisations",
    "/evenements",
    "/jeux-de-donnees/population-communes-nc",
    "/jeux-de-donnees/communes-nc",
    "/statistiques",
]


@pytest.fixture(scope="module")
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages-sqlite")
    with live_site(request, "sqlite", folder, "none") as live:
        yield live


def page_width(v: Visit) -> tuple[int, int]:
    """(scroll width of the page, width of the screen asked for).

    The configured width, not innerWidth: a mobile Chromium widens its layout viewport to
    fit content that is too wide, so innerWidth grows with the defect.
    """
    scroll = v.page.evaluate("() => document.scrollingElement.scrollWidth")
    return scroll, v.page.viewport_size["width"]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_card_descriptions_are_not_boxes(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        for path in CARD_PAGES:
            v.open(path)
            described = v.page.locator(".card .card-summary").count()
            assert described, path
            boxed = v.page.evaluate(
                "() => [...document.querySelectorAll('.card *')]"
                ".filter(e => !e.matches('.tag, .tag *, button, input, select, textarea'))"
                ".filter(e => { const s = getComputedStyle(e);"
                " return parseFloat(s.borderTopWidth) > 0 || parseFloat(s.borderBottomWidth) > 0"
                " || parseFloat(s.borderLeftWidth) > 0; })"
                ".map(e => `${e.tagName}.${e.className}`)"
            )
            assert boxed == [], (path, boxed)
        # the dataset page keeps its « En bref » box
        v.open("/jeux-de-donnees/population-communes-nc")
        border = v.page.locator("section.summary").evaluate(
            "e => getComputedStyle(e).borderTopWidth"
        )
        assert border == "1px"
        assert not v.errors, v.errors


def test_no_sideways_scroll_on_a_phone(chromium, site):  # noqa: F811
    with visit(chromium, site, "phone") as v:
        for path in PHONE_PAGES:
            v.open(path)
            scroll, width = page_width(v)
            wide = v.page.evaluate(
                "(w) => [...document.querySelectorAll('body *')]"
                ".filter(e => !e.closest('.table-scroll, pre'))"
                ".filter(e => e.getBoundingClientRect().right > w + 1)"
                ".slice(0, 5).map(e => `${e.tagName}#${e.id}.${e.className}`)",
                width,
            )
            assert scroll <= width, (path, scroll, width, wide)
        assert not v.errors, v.errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_wide_tables_scroll_in_their_own_frame(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        for path in ("/jeux-de-donnees/population-communes-nc", "/statistiques"):
            v.open(path)
            frames = v.page.evaluate(
                "() => [...document.querySelectorAll('.table-scroll')].map(e => ({"
                " focusable: e.tabIndex === 0,"
                " label: e.getAttribute('aria-label') || (e.getAttribute('aria-labelledby')"
                "  && document.getElementById(e.getAttribute('aria-labelledby'))"
                "  ?.textContent.trim()) || '',"
                " role: e.getAttribute('role'),"
                " overflow: getComputedStyle(e).overflowX }))"
            )
            assert frames, path
            for frame in frames:
                assert frame["focusable"] and frame["label"], (path, frame)
                assert frame["role"] == "region" and frame["overflow"] == "auto", (path, frame)
        if viewport != "phone":
            return
        # the population column: off the frame at first, reached by scrolling the frame
        # (the keyboard way: focus the frame, press the right arrow), the page never moves
        v.open("/jeux-de-donnees/population-communes-nc")
        frame = v.page.locator(".table-scroll").first
        column = frame.locator("thead th", has_text="population").last

        def column_inside() -> bool:
            return frame.evaluate(
                "(f) => { const c = [...f.querySelectorAll('thead th')]"
                ".filter(t => t.textContent.includes('population')).pop()"
                ".getBoundingClientRect(), r = f.getBoundingClientRect();"
                " return c.left >= r.left - 1 && c.right <= r.right + 1; }"
            )

        assert column.count() == 1
        assert frame.evaluate("f => f.scrollWidth > f.clientWidth")
        assert not column_inside()
        frame.focus()
        v.page.keyboard.press("ArrowRight")
        v.page.wait_for_function(
            "() => document.querySelector('.table-scroll').scrollLeft > 0", timeout=5000
        )
        frame.evaluate("f => { f.scrollLeft = f.scrollWidth; }")
        assert column_inside()
        scroll, width = page_width(v)
        assert scroll <= width
        assert not v.errors, v.errors


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_statistics_chart_labels_are_readable(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/")  # at least one page view in the chart
        v.open("/statistiques")
        charts = v.page.locator(".stats-chart svg.chart:visible")
        assert charts.count() == 1  # one drawing for the screen's width
        boxes = charts.first.evaluate(
            "s => { const r = s.getBoundingClientRect();"
            " return { svg: [r.left, r.top, r.right, r.bottom],"
            " texts: [...s.querySelectorAll('text')].map(t => { const b ="
            " t.getBoundingClientRect(); return [t.textContent, b.left, b.top, b.right,"
            " b.bottom]; }) }; }"
        )
        texts = boxes["texts"]
        assert len(texts) >= 4, texts
        left, top, right, bottom = boxes["svg"]
        for name, x1, y1, x2, y2 in texts:
            assert y2 - y1 >= 11, (viewport, name, y2 - y1)  # ~12 px text, not 6
            assert x1 >= left and x2 <= right and y1 >= top and y2 <= bottom, (name, boxes)
        for i, (a, ax1, ay1, ax2, ay2) in enumerate(texts):
            for b, bx1, by1, bx2, by2 in texts[i + 1 :]:
                apart = ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1
                assert apart, (viewport, a, b, texts)
        assert not v.errors, v.errors
