// The public map (/carte): every public layer as vector tiles from /ogc, over a
// configurable raster background (or none), with the communes outline always drawn so the
// map stays readable offline. The layer list is server-rendered HTML (real checkboxes);
// this module wires it to MapLibre. Data from features is only ever set as textContent.
// Raster layers are map tiles read through their TileJSON (which carries the legend), with
// an opacity slider each; a click asks each shown raster its values at that point.
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  Popup,
  ScaleControl,
} from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { featuresAt as hitFeatures, openPopup, popupContent, text } from "/static/js/carte-popup.js";

// The page's language (French unless the portal served it in English): the texts this
// module writes and MapLibre's own control labels follow it.
const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const MAPLIBRE_LOCALE = {
  fr: {
    "AttributionControl.ToggleAttribution": "Afficher ou masquer les crédits",
    "Map.Title": "Carte",
    "NavigationControl.ZoomIn": "Zoomer",
    "NavigationControl.ZoomOut": "Dézoomer",
    "NavigationControl.ResetBearing": "Réorienter vers le nord",
    "Popup.Close": "Fermer",
    "ScaleControl.Meters": "m",
    "ScaleControl.Kilometers": "km",
  },
  en: {
    "AttributionControl.ToggleAttribution": "Show or hide credits",
    "Map.Title": "Map",
    "NavigationControl.ZoomIn": "Zoom in",
    "NavigationControl.ZoomOut": "Zoom out",
    "NavigationControl.ResetBearing": "Reset bearing to north",
    "Popup.Close": "Close",
    "ScaleControl.Meters": "m",
    "ScaleControl.Kilometers": "km",
  },
};
const MESSAGES = {
  fr: {
    noWebGL: "La carte ne peut pas s'afficher dans ce navigateur (WebGL indisponible).",
    legend: "Légende",
    noLayerShown: "Aucune couche affichée.",
    backgroundUnreachable: "Fond de carte injoignable : affichage sur fond uni.",
    layers: (n) => `${n} couche${n === 1 ? "" : "s"}`,
    layersOf: (shown, total) => `${shown} couche${shown === 1 ? "" : "s"} sur ${total}`,
    copied: "Lien copié.",
    copyByHand: "Sélectionnez le lien et copiez-le (Ctrl+C).",
    more: (n) => `… et ${n} autres objets ici.`,
    nothingAtCentre: "Aucun objet au centre de la carte.",
    noData: "pas de donnée",
  },
  en: {
    noWebGL: "The map cannot be shown in this browser (WebGL is unavailable).",
    legend: "Legend",
    noLayerShown: "No layer shown.",
    backgroundUnreachable: "Background map unreachable: showing a plain background.",
    layers: (n) => `${n} layer${n === 1 ? "" : "s"}`,
    layersOf: (shown, total) => `${shown} of ${total} layer${total === 1 ? "" : "s"}`,
    copied: "Link copied.",
    copyByHand: "Select the link and copy it (Ctrl+C).",
    more: (n) => `… and ${n} more feature${n === 1 ? "" : "s"} here.`,
    nothingAtCentre: "No feature at the centre of the map.",
    noData: "no data",
  },
}[LANG];
const SEA = "#dbe9ee";
const LAND = "#f6f4ec";
const OUTLINE = "#8a8470";
const MAX_POPUP_FEATURES = 5;

const config = JSON.parse(document.getElementById("carte-config").textContent);
const layout = document.getElementById("carte-layout");
const container = document.getElementById("carte");
const items = Array.from(document.querySelectorAll(".carte-couche"));
const byCollection = new Map(items.map((item) => [item.dataset.collection, item]));
// Absolute URLs (tiles are fetched by a worker), built by hand: URL() would encode {z}.
const absolute = (path) => window.location.origin + path;

// --- the hash: MapLibre keeps `map=zoom/lat/lon`, we keep `layers=a,b` beside it ------

function hashParts() {
  return window.location.hash.replace(/^#/, "").split("&").filter(Boolean);
}

function requestedLayers() {
  const part = hashParts().find((p) => p.startsWith("layers="));
  if (part === undefined) return null;
  return part.slice("layers=".length).split(",").filter(Boolean).map(decodeURIComponent);
}

function shownCollections() {
  return items.filter((item) => item.querySelector("input").checked).map((item) => item.dataset.collection);
}

function layersPart() {
  return "layers=" + shownCollections().map(encodeURIComponent).join(",");
}

function writeLayersToHash() {
  const parts = hashParts().filter((p) => !p.startsWith("layers="));
  parts.push(layersPart());
  history.replaceState(history.state, "", "#" + parts.join("&"));
}

// --- style --------------------------------------------------------------------------

function colourOf(item) {
  return getComputedStyle(item.querySelector(".swatch")).backgroundColor || "#0b5c4b";
}

function bboxOf(item) {
  const values = (item.dataset.bbox || "").split(",").map(Number);
  if (values.length !== 4 || values.some((v) => !Number.isFinite(v))) return null;
  const [west, south, east, north] = values;
  return [Math.max(west, -180), Math.max(south, -85), Math.min(east, 180), Math.min(north, 85)];
}

function sourceId(collection) {
  return `couche:${collection}`;
}

const isRaster = (item) => item.dataset.kind === "raster";

function opacityOf(item) {
  const slider = item.querySelector("[data-opacite]");
  return slider ? Number(slider.value) / 100 : 1;
}

function styleLayers(item, visible) {
  const collection = item.dataset.collection;
  if (isRaster(item)) {
    return [{
      id: `${collection}:raster`, type: "raster", source: sourceId(collection),
      layout: { visibility: visible ? "visible" : "none" },
      paint: { "raster-opacity": opacityOf(item), "raster-fade-duration": 0 },
      metadata: { "niaouli:collection": collection },
    }];
  }
  const colour = colourOf(item);
  const common = {
    source: sourceId(collection),
    "source-layer": collection,
    layout: { visibility: visible ? "visible" : "none" },
    metadata: { "niaouli:collection": collection },
  };
  const polygons = ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]];
  const points = ["in", ["geometry-type"], ["literal", ["Point", "MultiPoint"]]];
  const fill = { ...common, id: `${collection}:surface`, type: "fill", paint: { "fill-color": colour, "fill-opacity": 0.35 } };
  const line = { ...common, id: `${collection}:ligne`, type: "line", paint: { "line-color": colour, "line-width": 1.5 } };
  const circle = {
    ...common, id: `${collection}:point`, type: "circle",
    paint: { "circle-radius": 5, "circle-color": colour, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.2 },
  };
  switch (item.dataset.kind) {
    case "polygon": return [fill, line];
    case "line": return [{ ...line, paint: { ...line.paint, "line-width": 2.5 } }];
    case "point": return [circle];
    default: return [{ ...fill, filter: polygons }, line, { ...circle, filter: points }];
  }
}

function buildStyle(visible) {
  const sources = {
    communes: { type: "geojson", data: absolute(config.outline) },
  };
  // Sea, land from the communes, then the background tiles over them when they load.
  const layers = [
    { id: "fond-uni", type: "background", paint: { "background-color": SEA } },
    { id: "communes-terre", type: "fill", source: "communes", paint: { "fill-color": LAND } },
  ];
  if (config.background) {
    sources.fond = {
      type: "raster", tiles: [config.background.tiles], tileSize: 256, maxzoom: 19,
      attribution: config.background.attribution,
    };
    layers.push({ id: "fond", type: "raster", source: "fond" });
  }
  layers.push({
    id: "communes-limites", type: "line", source: "communes",
    paint: { "line-color": OUTLINE, "line-width": 0.8 },
  });
  const data = [];
  for (const item of items) {
    const collection = item.dataset.collection;
    const name = encodeURIComponent(collection);
    const tiles = config.tiles.replace("{collection}", name);
    const source = isRaster(item)
      ? { type: "raster", url: absolute(config.rasterTileJson.replace("{collection}", name)), tileSize: 256 }
      : { type: "vector", tiles: [absolute(tiles)], minzoom: 0, maxzoom: 16 };
    const bbox = bboxOf(item);
    if (bbox) source.bounds = bbox;
    sources[sourceId(collection)] = source;
    data.push(...styleLayers(item, visible.has(collection)));
  }
  // Rasters under surfaces under lines under points: nothing hides a point.
  const rank = { raster: -1, fill: 0, line: 1, circle: 2 };
  data.sort((a, b) => rank[a.type] - rank[b.type]);
  return { version: 8, sources, layers: [...layers, ...data] };
}

// --- the map ------------------------------------------------------------------------

const requested = requestedLayers();
for (const item of items) {
  const box = item.querySelector("input");
  if (requested !== null) box.checked = requested.includes(item.dataset.collection);
}
const visible = new Set(shownCollections());

let map;
try {
  map = new MapLibreMap({
    container,
    style: buildStyle(visible),
    bounds: config.bounds,
    fitBoundsOptions: { padding: 10 },
    hash: "map",
    locale: MAPLIBRE_LOCALE[LANG],
    attributionControl: false,
    maxZoom: 19,
    dragRotate: false,
    touchPitch: false,
  });
} catch (error) {
  container.classList.add("map-error");
  container.textContent = MESSAGES.noWebGL;
  throw error;
}
map.touchZoomRotate.disableRotation();
map.addControl(new NavigationControl({ showCompass: false }));
// On phones the layer panel is a closed drawer: a small legend of the shown layers stays
// on the map (hidden by CSS on wider screens, where the panel is the legend), at the top
// right under the zoom buttons: at the bottom, opened, it covered the credits.
class LegendControl {
  onAdd() {
    this.element = document.createElement("div");
    this.element.className = "maplibregl-ctrl carte-legende";
    const details = document.createElement("details");
    this.list = document.createElement("ul");
    details.append(text("summary", MESSAGES.legend), this.list);
    this.element.appendChild(details);
    this.update();
    return this.element;
  }

  onRemove() {
    this.element.remove();
  }

  update() {
    const shown = items.filter((item) => item.querySelector("input").checked);
    this.list.replaceChildren(...shown.map((item) => {
      const entry = document.createElement("li");
      entry.append(item.querySelector(".swatch").cloneNode(true), document.createTextNode(item.dataset.title));
      return entry;
    }));
    if (!shown.length) this.list.appendChild(text("li", MESSAGES.noLayerShown));
  }
}
const legend = new LegendControl();
map.addControl(legend, "top-right");
map.addControl(new ScaleControl({ unit: "metric" }), "bottom-left");
map.addControl(new AttributionControl({ compact: true }), "bottom-right");
window.niaouliMap = map; // for the browser tests and the console

// Background tiles may be unreachable (offline, firewalled): the plain background and
// the communes outline stay, so that is only a notice; any other error is reported.
let backgroundWarned = false;
map.on("error", (event) => {
  if (event.sourceId === "fond") {
    if (!backgroundWarned) console.warn(MESSAGES.backgroundUnreachable);
    backgroundWarned = true;
    return;
  }
  console.error(event.error || event);
});

function dataLayerIds(collection) {
  return map.getStyle().layers
    .filter((l) => l.metadata && l.metadata["niaouli:collection"] === collection)
    .map((l) => l.id);
}

function setShown(item, shown) {
  item.querySelector("input").checked = shown;
  for (const id of dataLayerIds(item.dataset.collection)) {
    map.setLayoutProperty(id, "visibility", shown ? "visible" : "none");
  }
  legend.update();
}

function visibleDataLayerIds() {
  return map.getStyle().layers
    .filter((l) => l.type !== "raster")
    .filter((l) => l.metadata && l.metadata["niaouli:collection"] && map.getLayoutProperty(l.id, "visibility") !== "none")
    .map((l) => l.id);
}

// --- layer list: toggles, zoom, search ----------------------------------------------

for (const item of items) {
  item.querySelector("input").addEventListener("change", (event) => {
    setShown(item, event.target.checked);
    writeLayersToHash();
    updateShareLink();
  });
  const zoom = item.querySelector("[data-zoom]");
  if (zoom) {
    zoom.addEventListener("click", () => {
      const bbox = bboxOf(item);
      if (!bbox) return;
      if (!item.querySelector("input").checked) {
        setShown(item, true);
        writeLayersToHash();
      }
      closeDrawer();
      map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, maxZoom: 16 });
    });
  }
}

// --- rasters: opacity and legend (from the layer's TileJSON) --------------------------

const NUMBER_LOCALE = LANG === "en" ? "en-GB" : "fr-FR";
const formatNumber = (value) => Number(value).toLocaleString(NUMBER_LOCALE, { maximumFractionDigits: 2 });

function drawLegend(item, legend) {
  const box = item.querySelector("[data-legende]");
  if (!box || !legend) return;
  if (legend.kind === "ramp" && legend.stops && legend.stops.length) {
    const bar = document.createElement("div");
    bar.className = "carte-rampe";
    bar.style.background = `linear-gradient(to right, ${legend.stops.map((s) => s.colour).join(", ")})`;
    const ends = document.createElement("p");
    ends.className = "meta carte-rampe-bornes";
    ends.append(text("span", formatNumber(legend.stops[0].value)),
      text("span", formatNumber(legend.stops[legend.stops.length - 1].value)));
    box.replaceChildren(bar, ends);
  } else if (legend.kind === "classes" && legend.classes) {
    const list = document.createElement("ul");
    list.className = "carte-classes";
    for (const entry of legend.classes) {
      const line = document.createElement("li");
      const swatch = text("span", "", "swatch");
      swatch.style.background = entry.colour;
      line.append(swatch, document.createTextNode(String(entry.value)));
      list.appendChild(line);
    }
    box.replaceChildren(list);
  }
}

for (const item of items.filter(isRaster)) {
  const slider = item.querySelector("[data-opacite]");
  slider.addEventListener("input", () => {
    map.setPaintProperty(`${item.dataset.collection}:raster`, "raster-opacity", opacityOf(item));
  });
  const url = config.rasterTileJson.replace("{collection}", encodeURIComponent(item.dataset.collection));
  fetch(url).then((r) => (r.ok ? r.json() : null)).then((tilejson) => {
    if (tilejson) drawLegend(item, tilejson.legend);
  }).catch(() => {});
}

async function rasterSectionsAt(lngLat) {
  const shown = items.filter((item) => isRaster(item) && item.querySelector("input").checked);
  const answers = await Promise.all(shown.map(async (item) => {
    const path = config.rasterValue.replace("{collection}", encodeURIComponent(item.dataset.collection));
    try {
      const response = await fetch(`${path}?lon=${lngLat.lng}&lat=${lngLat.lat}`);
      if (!response.ok) return null;
      const answer = await response.json();
      if (answer.bands.every((band) => band.value === null)) return null;
      const properties = {};
      for (const band of answer.bands) {
        const value = band.value === null ? MESSAGES.noData : formatNumber(band.value);
        properties[band.name] = band.unit && band.value !== null ? `${value} ${band.unit}` : value;
      }
      return { title: item.dataset.title, properties, columns: {} };
    } catch {
      return null;
    }
  }));
  return answers.filter(Boolean);
}

const filter = document.getElementById("carte-filtre");
const count = document.getElementById("carte-compte");
const none = document.getElementById("carte-aucune");
const fold = (text) => text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase().trim();

filter.addEventListener("input", () => {
  const words = fold(filter.value).split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const item of items) {
    const match = words.every((w) => item.dataset.search.includes(w));
    item.hidden = !match;
    if (match) shown += 1;
  }
  count.textContent = words.length
    ? MESSAGES.layersOf(shown, items.length)
    : MESSAGES.layers(items.length);
  none.hidden = shown > 0 || items.length === 0;
});

// --- the drawer on phones -----------------------------------------------------------

const drawer = document.getElementById("carte-tiroir");
layout.classList.add("carte-js");

// The map fills the window below the site header, however many lines the header takes.
function fitToWindow() {
  const top = layout.getBoundingClientRect().top + window.scrollY;
  layout.style.setProperty("--carte-haut", `${Math.round(top)}px`);
  map.resize();
}
window.addEventListener("resize", fitToWindow);
fitToWindow();

function closeDrawer() {
  drawer.setAttribute("aria-expanded", "false");
  layout.classList.remove("carte-tiroir-ouvert");
}

drawer.addEventListener("click", () => {
  const open = drawer.getAttribute("aria-expanded") !== "true";
  drawer.setAttribute("aria-expanded", String(open));
  layout.classList.toggle("carte-tiroir-ouvert", open);
  if (open) filter.focus();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && layout.classList.contains("carte-tiroir-ouvert")) {
    closeDrawer();
    drawer.focus();
  }
});

// --- share link ---------------------------------------------------------------------

const shareInput = document.getElementById("carte-lien");
const copyStatus = document.getElementById("carte-copie-statut");

function shareUrl() {
  const zoom = Math.round(map.getZoom() * 100) / 100;
  const centre = map.getCenter();
  // Same precision as MapLibre's own hash: enough digits for a pixel at this zoom.
  const scale = 10 ** Math.ceil((zoom * Math.LN2 + Math.log(512 / 360 / 0.5)) / Math.LN10);
  const round = (value) => Math.round(value * scale) / scale;
  const view = `${zoom}/${round(centre.lat)}/${round(centre.lng)}`;
  const url = new URL(window.location.href);
  url.hash = `map=${view}&${layersPart()}`;
  return url.href;
}

function updateShareLink() {
  shareInput.value = shareUrl();
}

map.on("moveend", updateShareLink);
map.on("load", updateShareLink);
updateShareLink();

document.getElementById("carte-copier").addEventListener("click", async () => {
  updateShareLink();
  try {
    await navigator.clipboard.writeText(shareInput.value);
    copyStatus.textContent = MESSAGES.copied;
  } catch {
    shareInput.select();
    copyStatus.textContent = MESSAGES.copyByHand;
  }
});

// A pasted link with other layers: follow it (MapLibre follows the view itself).
window.addEventListener("hashchange", () => {
  const wanted = requestedLayers();
  if (wanted === null) return;
  for (const item of items) setShown(item, wanted.includes(item.dataset.collection));
  updateShareLink();
});

// --- popups -------------------------------------------------------------------------

const collectionOf = (feature) => feature.layer.metadata["niaouli:collection"];

function popupSections(features) {
  return features.map((feature) => {
    const collection = collectionOf(feature);
    const item = byCollection.get(collection);
    return {
      title: item ? item.dataset.title : collection,
      properties: feature.properties,
      columns: (config.columns || {})[collection],
    };
  });
}

function featuresAt(point) {
  const layers = visibleDataLayerIds();
  return layers.length ? hitFeatures(map, point, layers, collectionOf) : [];
}

const announce = document.getElementById("carte-annonce");
// The click handler below replaces or removes the pop-up itself: MapLibre's own
// closeOnClick, run after it on the same click, closed the pop-up it had just opened.
const popup = new Popup({ maxWidth: "22rem", focusAfterOpen: true, padding: 10, closeOnClick: false });

async function showFeaturesAt(point, lngLat) {
  const features = featuresAt(point);
  const rasters = await rasterSectionsAt(lngLat);
  if (!features.length && !rasters.length) {
    popup.remove();
    return false;
  }
  const shown = features.slice(0, MAX_POPUP_FEATURES);
  const content = popupContent([...popupSections(shown), ...rasters]);
  if (features.length > shown.length) {
    content.appendChild(text("p", MESSAGES.more(features.length - shown.length), "meta"));
  }
  openPopup(map, popup, lngLat, content);
  return true;
}

map.on("click", (event) => showFeaturesAt(event.point, event.lngLat));
// Keyboard: the arrows and +/- move the map (MapLibre); Enter shows what is at its centre.
map.getCanvas().addEventListener("keydown", (event) => {
  if (event.key !== "Enter") return;
  event.preventDefault(); // else the same key press activates the popup's close button
  const centre = map.getCenter();
  showFeaturesAt(map.project(centre), centre).then((found) => {
    announce.textContent = found ? "" : MESSAGES.nothingAtCentre;
  });
});
let hover = null; // one feature query per frame at most
map.on("mousemove", (event) => {
  if (hover === null) {
    requestAnimationFrame(() => {
      map.getCanvas().style.cursor = featuresAt(hover).length ? "pointer" : "";
      hover = null;
    });
  }
  hover = event.point;
});
