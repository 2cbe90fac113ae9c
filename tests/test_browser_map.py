"""The public map (/carte) in headless Chromium, on a phone and a desktop, on both backends.

What is checked goes through MapLibre's own API (`queryRenderedFeatures`, `getCenter`),
not only screenshots: the communes are drawn from the OGC vector tiles, a layer toggled
off leaves the rendered features, a shared link restores the view and the layers, and
a popup shows HTML attributes as text. SQLite runs with `NIAOULI_MAP_BACKGROUND=none`;
PostGIS with the default OpenStreetMap background, which the browser cannot reach (every
request off the live server is aborted): the layers and communes must draw all the same.

A tap picks polygons by containment (a tap inside Thio lists Thio alone), the pop-up fits
the window at 390 px (a sheet along the bottom on phones) and shows the labels editors gave
the columns, never `fid` nor hidden columns; the dataset page's preview has the same
pop-up; the phone legend leaves the credits, the scale and the buttons uncovered.

Cost: about three minutes per backend on 2 cores (SwiftShader WebGL). Both viewports run
everything on SQLite; on PostGIS only what the backend or the background changes: the
communes drawn from its vector tiles with the background blocked, the background's
credits, and the tap picking a commune out of its tiles' polygons. The rest is the page's
script over the same tiles: what PostGIS puts in them (the features, their attributes,
each commune where it should be) is checked without a browser by tests/test_ogc_tiles.py
on both backends, the layers listed and their extents by tests/test_portal_map.py and
tests/test_ogc_features.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from niaouli.catalogue.models import Layer
from niaouli.db.engine import make_engine
from niaouli.settings import DEFAULT_MAP_BACKGROUND
from tests.browser_support import (
    NOUMEA_VIEW,
    TRAP,
    TRAP_POINT,
    TRAP_SLUG,
    Site,
    Visit,
    chromium,  # noqa: F401 - fixture
    live_site,
    visit,
)

VIEWPORTS = ["phone", "desktop"]
COMMUNES = "communes-nc"
COLUMN_NOTES = {
    "LIBGEO": {"label": "Nom de la commune", "description": "Nom officiel (INSEE)"},
    "INSEE_DEP": {"hidden": True},
}
THIO = (166.2242, -21.6872)  # 10 km inside Thio from Boulouparis
CANALA = (165.9155, -21.5279)  # 6-9 km inside Canala from Kouaoua, La Foa and Sarraméa
SHOWN_NAME = "Nom de la commune"


# The page's script alone (see the module's docstring): the SQLite site only.
SCRIPT_ONLY = pytest.mark.parametrize("site", ["sqlite"], indirect=True)


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def site(request, tmp_path_factory):
    background = "none" if request.param == "sqlite" else DEFAULT_MAP_BACKGROUND
    folder = tmp_path_factory.mktemp(f"carte-{request.param}")
    with live_site(request, request.param, folder, background) as live:
        describe_communes(live)
        yield live


def describe_communes(site: Site) -> None:
    """What an editor would write on the columns page (tests/test_portal_columns.py)."""
    engine = make_engine(site.settings)
    try:
        with Session(engine) as session, session.begin():
            layer = session.scalar(select(Layer).where(Layer.collection_id == COMMUNES))
            layer.column_descriptions = COLUMN_NOTES
    finally:
        engine.dispose()


def rendered(v: Visit, style_layer: str, attribute: str = "fid") -> list:
    return v.page.evaluate(
        "([layer, attribute]) => window.niaouliMap"
        ".queryRenderedFeatures({layers: [layer]}).map(f => f.properties[attribute])",
        [style_layer, attribute],
    )


def trap_collection(v: Visit) -> str:
    return v.page.eval_on_selector(
        f'.carte-couche:has(a[href="/jeux-de-donnees/{TRAP_SLUG}"])', "e => e.dataset.collection"
    )


def open_drawer_on_phone(v: Visit) -> None:
    toggle = v.page.locator("#carte-tiroir")
    if v.viewport == "phone":
        assert toggle.is_visible()
        assert not v.page.locator("#carte-filtre").is_visible()  # the drawer starts closed
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        panel = v.page.locator("#carte-panneau").bounding_box()
        assert panel["height"] > 400 and panel["width"] > 300  # a drawer, not a sliver
    else:
        assert not toggle.is_visible()  # the panel is always there on a desktop
    assert v.page.locator("#carte-filtre").is_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_map_draws_public_layers_and_communes(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open(f"/carte#map={NOUMEA_VIEW}")
        v.wait_for_map()
        listed = v.page.eval_on_selector_all(
            ".carte-couche", "els => els.map(e => e.dataset.title)"
        )
        assert any(t.startswith("Communes de Nouvelle-Calédonie") for t in listed)
        assert "Points <b>piégés</b>" in listed  # shown as text, not markup
        assert not any("Secret" in t for t in listed)  # draft / organisation-only layers
        assert v.page.locator(".carte-couche label b").count() == 0

        communes = rendered(v, f"{COMMUNES}:surface", "LIBGEO")
        assert "Nouméa" in communes
        assert "Belep" not in communes  # only what is in view is rendered
        outline = rendered(v, "communes-limites", "nom")  # bundled, under the layers
        assert "Nouméa" in outline
        assert len(rendered(v, f"{trap_collection(v)}:point")) == 1

        if site.background:  # configured but unreachable: tried, blocked, map drawn anyway
            assert any(u.startswith("https://tile.openstreetmap.org/") for u in v.blocked)
        else:
            assert v.blocked == []
        assert v.external_requests() == []
        assert v.errors == []
        v.screenshot("carte")


@SCRIPT_ONLY
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_toggling_a_layer_removes_its_features(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open(f"/carte#map={NOUMEA_VIEW}")
        v.wait_for_map()
        assert rendered(v, f"{COMMUNES}:surface")
        legend = v.page.locator(".carte-legende")
        assert legend.is_visible() == (viewport == "phone")  # the panel is the legend on desktops
        assert "Communes de Nouvelle-Calédonie" in legend.text_content()
        open_drawer_on_phone(v)
        v.screenshot("carte-couches")
        box = v.page.locator(f'.carte-couche[data-collection="{COMMUNES}"] input[type=checkbox]')
        box.uncheck()
        v.page.wait_for_function(
            "(layer) => window.niaouliMap.queryRenderedFeatures({layers: [layer]}).length === 0",
            arg=f"{COMMUNES}:surface",
        )
        hash_ = v.page.evaluate("() => location.hash")
        assert "layers=" in hash_ and COMMUNES not in hash_.split("layers=")[1]
        assert rendered(v, f"{trap_collection(v)}:point")  # the other layer stays
        assert "Communes" not in legend.text_content()
        box.check()
        v.page.wait_for_function(
            "(layer) => window.niaouliMap.queryRenderedFeatures({layers: [layer]}).length > 0",
            arg=f"{COMMUNES}:surface",
        )
        assert COMMUNES in v.page.evaluate("() => location.hash")
        assert v.errors == []


@SCRIPT_ONLY
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_share_link_restores_the_view(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/carte")
        v.wait_for_map()
        trap = trap_collection(v)
        v.page.evaluate(
            "() => window.niaouliMap.jumpTo({center: [165.8123, -21.4567], zoom: 9.25})"
        )
        open_drawer_on_phone(v)
        shown = v.page.eval_on_selector_all(
            ".carte-couche input:checked", "els => els.map(e => e.value)"
        )
        assert COMMUNES in shown and trap in shown
        for collection in shown:  # all but the trap layer (the demo has several)
            if collection != trap:
                v.page.locator(f'.carte-couche[data-collection="{collection}"] input').uncheck()
        v.page.wait_for_function(
            "() => document.getElementById('carte-lien').value.includes('map=9.25/')"
        )
        link = v.page.input_value("#carte-lien")
        assert link.startswith(f"{site.url}/carte#map=9.25/-21.45")
        assert link.endswith(f"&layers={trap}")
        assert v.errors == []

    # the English alias, as someone pasting the link with /map would have it
    shared = link.replace("/carte#", "/map#")
    with visit(chromium, site, viewport) as v:
        v.open(shared)
        v.wait_for_map()
        assert v.page.evaluate("() => location.pathname") == "/carte"
        centre = v.page.evaluate("() => window.niaouliMap.getCenter().toArray()")
        assert centre == pytest.approx([165.8123, -21.4567], abs=1e-3)
        assert v.page.evaluate("() => window.niaouliMap.getZoom()") == pytest.approx(9.25)
        checked = v.page.eval_on_selector_all(
            ".carte-couche input:checked", "els => els.map(e => e.value)"
        )
        assert checked == [trap]
        assert rendered(v, f"{COMMUNES}:surface") == []
        assert v.errors == []


@SCRIPT_ONLY
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_popup_shows_attributes_as_text(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        lon, lat = TRAP_POINT
        v.open(f"/carte#map=14/{lat}/{lon}")  # every layer shown (there are few)
        v.wait_for_map()
        x, y = v.page.evaluate(
            "([lon, lat]) => { const m = window.niaouliMap; const p = m.project([lon, lat]);"
            " const r = m.getCanvas().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; }",
            [lon, lat],
        )
        if viewport == "phone":
            v.page.touchscreen.tap(x, y)
        else:
            v.page.mouse.click(x, y)
        popup = v.page.locator(".maplibregl-popup")
        popup.wait_for(timeout=10_000)
        text = popup.inner_text()
        assert TRAP in text and "<script>alert(2)</script>" in text
        assert "Points <b>piégés</b>" in text
        assert popup.locator("img, script, b").count() == 0
        v.page.wait_for_timeout(300)  # time for an injected onerror to fire, if any
        assert v.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert v.dialogs == []
        assert v.errors == []
        v.screenshot("carte-popup")

    if viewport == "desktop":  # the same from the keyboard: Enter on the focused map
        with visit(chromium, site, viewport) as v:
            v.open(f"/carte#map=14/{lat}/{lon}")
            v.wait_for_map()
            v.page.focus(".maplibregl-canvas")
            v.page.keyboard.press("Enter")
            popup = v.page.locator(".maplibregl-popup")
            popup.wait_for(timeout=10_000)
            assert TRAP in popup.inner_text()
            v.page.evaluate("() => window.niaouliMap.jumpTo({center: [160, -25]})")  # open sea
            v.page.focus(".maplibregl-canvas")
            v.page.keyboard.press("Enter")
            assert v.page.inner_text("#carte-annonce") == "Aucun objet au centre de la carte."
            assert v.errors == []


@SCRIPT_ONLY
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_search_and_zoom_to_layer(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/carte")
        v.wait_for_map()
        total = v.page.locator(".carte-couche").count()
        assert total >= 2
        open_drawer_on_phone(v)
        v.page.fill("#carte-filtre", "PIEGE")  # case and accents ignored
        visible = v.page.locator(".carte-couche:visible")
        assert visible.count() == 1
        assert v.page.inner_text("#carte-compte") == f"1 couche sur {total}"
        visible.get_by_role("button", name="Zoom sur la couche").click()
        if viewport == "phone":  # the drawer gives the map back
            assert v.page.get_attribute("#carte-tiroir", "aria-expanded") == "false"
        v.wait_for_map()
        bounds = v.page.evaluate("() => window.niaouliMap.getBounds().toArray()")
        (west, south), (east, north) = bounds
        lon, lat = TRAP_POINT
        assert west < lon < east and south < lat < north
        assert v.page.evaluate("() => window.niaouliMap.getZoom()") >= 14

        if viewport == "phone":
            v.page.click("#carte-tiroir")
        v.page.fill("#carte-filtre", "aucune couche de ce nom")
        assert v.page.locator(".carte-couche:visible").count() == 0
        assert v.page.locator("#carte-aucune").is_visible()
        assert v.errors == []


def screen_point(v: Visit, lon: float, lat: float) -> tuple[float, float]:
    return v.page.evaluate(
        "([lon, lat]) => { const m = window.niaouliMap; const p = m.project([lon, lat]);"
        " const r = m.getCanvas().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; }",
        [lon, lat],
    )


def tap(v: Visit, x: float, y: float) -> None:
    if v.viewport == "phone":
        v.page.touchscreen.tap(x, y)
    else:
        v.page.mouse.click(x, y)


def popup_communes(v: Visit, popup: str = ".maplibregl-popup") -> list[str]:
    """The commune names the pop-up lists, in its order, once it shows them."""
    v.page.locator(popup).wait_for(timeout=10_000)
    return v.page.eval_on_selector_all(
        f"{popup} tr",
        "rows => rows.filter(r => r.querySelector('th').textContent === 'Nom de la commune')"
        ".map(r => r.querySelector('td').textContent)",
    )


def assert_popup_fits(v: Visit, popup: str = ".maplibregl-popup") -> None:
    """Whole in the window, and every attribute name visible (none under another control)."""
    width, height = v.page.evaluate("() => [window.innerWidth, window.innerHeight]")
    box = v.page.locator(popup).bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, box
    close = v.page.locator(f"{popup} .maplibregl-popup-close-button")
    inside = close.bounding_box()
    assert inside["x"] + inside["width"] <= width and inside["y"] >= 0
    colour = close.evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(255, 255, 255)"  # the site's button style made it white on white
    heads = v.page.eval_on_selector_all(f"{popup} th", "els => els.map(e => e.textContent)")
    assert SHOWN_NAME in heads and "CODGEO" in heads  # described, and not described
    assert not {"fid", "LIBGEO", "INSEE_DEP"} & set(heads)  # technical, renamed, hidden


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_tap_picks_the_commune_under_it_and_popup_fits(chromium, site, viewport):  # noqa: F811
    """At the whole-territory zoom, a tap 10 km inside Thio listed Thio and Boulouparis and
    one inside Canala four communes, Canala last (a 6-pixel box around the tap hit the
    neighbours' surfaces and outlines); on a phone the pop-up ran off the screen."""
    with visit(chromium, site, viewport) as v:
        lon, lat = THIO
        v.open(f"/carte#map=5.5/{lat}/{lon}&layers={COMMUNES}")
        v.wait_for_map()
        tap(v, *screen_point(v, *THIO))
        assert popup_communes(v) == ["Thio"]
        assert_popup_fits(v)
        v.screenshot("carte-popup-thio")

        # Canala near the map's left edge, where the pop-up used to start off-screen.
        v.page.evaluate(
            "([lon, lat]) => { const m = window.niaouliMap; const p = m.project([lon, lat]);"
            " m.panBy([p.x - 40, 0], {animate: false}); }",
            list(CANALA),
        )
        v.wait_for_map()
        tap(v, *screen_point(v, *CANALA))
        v.page.wait_for_function(
            "() => { const p = document.querySelector('.maplibregl-popup');"
            " return p && !p.textContent.includes('Thio'); }"
        )
        assert popup_communes(v) == ["Canala"]
        assert_popup_fits(v)
        v.screenshot("carte-popup-canala")
        assert v.errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_legend_leaves_the_credits_visible(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open("/carte")
        v.wait_for_map()
        legend = v.page.locator(".carte-legende")
        credits = v.page.locator(".maplibregl-ctrl-attrib")
        if site.background:  # the OpenStreetMap credit line, shown in full
            assert credits.is_visible()
            if "maplibregl-compact-show" not in (credits.get_attribute("class") or ""):
                credits.locator(".maplibregl-ctrl-attrib-button").click()
            assert "OpenStreetMap" in credits.inner_text()
        if viewport == "desktop":
            assert not legend.is_visible()  # the panel is the legend
            return
        legend.locator("summary").click()  # opened: the widest it gets
        assert "Communes de Nouvelle-Calédonie" in legend.inner_text()
        v.screenshot("carte-legende")
        boxes = [
            c.bounding_box()
            for c in (
                credits,
                v.page.locator(".maplibregl-ctrl-scale"),
                v.page.locator("#carte-tiroir"),
                v.page.locator(".maplibregl-ctrl-zoom-in"),
            )
            if c.is_visible()
        ]
        assert len(boxes) >= 3
        for box in boxes:
            assert not overlaps(legend.bounding_box(), box), (legend.bounding_box(), box)


@SCRIPT_ONLY
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_dataset_preview_has_the_same_popup(chromium, site, viewport):  # noqa: F811
    with visit(chromium, site, viewport) as v:
        v.open(f"/jeux-de-donnees/{COMMUNES}")
        preview = ".map[data-preview]"
        v.page.locator(preview).scroll_into_view_if_needed()
        v.page.wait_for_function(
            "(s) => { const m = document.querySelector(s).mapPreview;"
            " return m && m.loaded() && m.areTilesLoaded() && !m.isMoving(); }",
            arg=preview,
            timeout=60_000,
        )
        v.page.wait_for_function(
            "(s) => document.querySelector(s).mapPreview"
            ".queryRenderedFeatures({layers: ['surfaces']}).length > 0",
            arg=preview,
            timeout=60_000,
        )
        x, y = v.page.evaluate(
            "([s, lon, lat]) => { const m = document.querySelector(s).mapPreview;"
            " const p = m.project([lon, lat]); const r = m.getCanvas().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; }",
            [preview, *THIO],
        )
        tap(v, x, y)
        popup = f"{preview} .maplibregl-popup"
        assert popup_communes(v, popup) == ["Thio"]
        assert_popup_fits(v, popup)
        v.screenshot("apercu-popup")
        assert v.errors == []
