// Map previews on dataset pages: each `.map[data-preview]` element gets a MapLibre map
// drawing its layer's simplified GeoJSON over a plain background (no external basemap:
// the page must work offline and load nothing from other sites). A click or a tap on a
// feature shows its attributes as on the public map (carte-popup.js).
import { Map as MapLibreMap, NavigationControl, Popup } from "/static/vendor/maplibre-gl/maplibre-gl.mjs";
import { featuresAt, openPopup, popupContent } from "/static/js/carte-popup.js";

const COLOURS = { fill: "#1f8a70", line: "#0b5c4b", point: "#c2410c" };
const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const MAPLIBRE_LOCALE = {
  fr: {
    "NavigationControl.ZoomIn": "Zoomer",
    "NavigationControl.ZoomOut": "Dézoomer",
    "NavigationControl.ResetBearing": "Réorienter vers le nord",
    "Popup.Close": "Fermer",
    "CooperativeGesturesHandler.WindowsHelpText": "Maintenez Ctrl et faites défiler pour zoomer",
    "CooperativeGesturesHandler.MacHelpText": "Maintenez ⌘ et faites défiler pour zoomer",
    "CooperativeGesturesHandler.MobileHelpText": "Utilisez deux doigts pour déplacer la carte",
  },
  en: {
    "NavigationControl.ZoomIn": "Zoom in",
    "NavigationControl.ZoomOut": "Zoom out",
    "NavigationControl.ResetBearing": "Reset bearing to north",
    "Popup.Close": "Close",
    "CooperativeGesturesHandler.WindowsHelpText": "Hold Ctrl and scroll to zoom the map",
    "CooperativeGesturesHandler.MacHelpText": "Hold ⌘ and scroll to zoom the map",
    "CooperativeGesturesHandler.MobileHelpText": "Use two fingers to move the map",
  },
};
const MESSAGES = {
  fr: { noWebGL: "La carte ne peut pas s'afficher dans ce navigateur (WebGL indisponible)." },
  en: { noWebGL: "The map cannot be shown in this browser (WebGL is not available)." },
}[LANG];

function layersFor(geometry) {
  const kind = (geometry || "").toLowerCase();
  if (kind.includes("point")) {
    return [{
      id: "points", type: "circle", source: "couche",
      paint: {
        "circle-radius": 4, "circle-color": COLOURS.point,
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
      },
    }];
  }
  if (kind.includes("line")) {
    return [{ id: "lignes", type: "line", source: "couche", paint: { "line-color": COLOURS.line, "line-width": 2 } }];
  }
  return [
    { id: "surfaces", type: "fill", source: "couche", paint: { "fill-color": COLOURS.fill, "fill-opacity": 0.35 } },
    { id: "contours", type: "line", source: "couche", paint: { "line-color": COLOURS.line, "line-width": 1 } },
  ];
}

function bounds(element) {
  const values = (element.dataset.bbox || "").split(",").map(Number);
  if (values.length !== 4 || values.some((v) => !Number.isFinite(v))) {
    return [[163.5, -22.9], [168.2, -19.5]]; // New Caledonia
  }
  return [[values[0], values[1]], [values[2], values[3]]];
}

function showError(element, message) {
  element.classList.add("map-error");
  element.textContent = message;
}

function preview(element) {
  let map;
  try {
    map = new MapLibreMap({
      container: element,
      style: {
        version: 8,
        // Absolute URL: the GeoJSON is fetched by a worker whose base URL is not the page's.
        sources: { couche: { type: "geojson", data: new URL(element.dataset.preview, window.location.href).href } },
        layers: [
          { id: "fond", type: "background", paint: { "background-color": "#e8f1f4" } },
          ...layersFor(element.dataset.geometry),
        ],
      },
      bounds: bounds(element),
      fitBoundsOptions: { padding: 20 },
      attributionControl: false,
      locale: MAPLIBRE_LOCALE[LANG],
      cooperativeGestures: true,
    });
  } catch (error) {
    showError(element, MESSAGES.noWebGL);
    return;
  }
  map.addControl(new NavigationControl({ showCompass: false }));
  map.on("error", () => element.classList.add("map-warning"));
  element.mapPreview = map; // for tests and the browser console
  showAttributes(map, element);
}

function columnsOf(element) {
  try {
    return JSON.parse(element.dataset.columns || "{}");
  } catch {
    return {};
  }
}

function showAttributes(map, element) {
  const columns = columnsOf(element);
  const layerIds = () => map.getStyle().layers.filter((l) => l.source === "couche").map((l) => l.id);
  const popup = new Popup({ maxWidth: "22rem", focusAfterOpen: true, padding: 10, closeOnClick: false });
  map.on("click", (event) => {
    const features = featuresAt(map, event.point, layerIds(), () => "couche");
    if (!features.length) {
      popup.remove();
      return;
    }
    const sections = features.slice(0, 5).map((feature) => ({
      title: element.dataset.title || "",
      properties: feature.properties,
      columns,
    }));
    openPopup(map, popup, event.lngLat, popupContent(sections));
  });
  map.on("mousemove", (event) => {
    const hit = featuresAt(map, event.point, layerIds(), () => "couche").length > 0;
    map.getCanvas().style.cursor = hit ? "pointer" : "";
  });
}

document.querySelectorAll(".map[data-preview]").forEach(preview);
