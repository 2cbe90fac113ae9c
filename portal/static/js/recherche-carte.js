// Search page map: pan and zoom, then "Rechercher dans cette zone" ("Search this area") puts the visible box
// into the search form's `bbox` field (minx,miny,maxx,maxy in degrees) and submits it,
// so the area is part of the page's shareable URL. Plain background and the bundled
// communes outline: nothing is loaded from other sites.
import { Map as MapLibreMap, NavigationControl } from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

const NEW_CALEDONIA = [[163.5, -22.9], [168.2, -19.5]];
const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const MESSAGES = {
  fr: {
    noWebGL: "La carte ne peut pas s'afficher dans ce navigateur (WebGL indisponible).",
    controls: {
      "NavigationControl.ZoomIn": "Zoomer",
      "NavigationControl.ZoomOut": "Dézoomer",
      "NavigationControl.ResetBearing": "Réorienter vers le nord",
    },
  },
  en: {
    noWebGL: "The map cannot be shown in this browser (WebGL is not available).",
    controls: {
      "NavigationControl.ZoomIn": "Zoom in",
      "NavigationControl.ZoomOut": "Zoom out",
      "NavigationControl.ResetBearing": "Reset bearing to north",
    },
  },
}[LANG];

function boxOf(text) {
  const values = (text || "").split(",").map(Number);
  if (values.length !== 4 || values.some((v) => !Number.isFinite(v))) return null;
  return [[values[0], values[1]], [values[2], values[3]]];
}

function round(value) {
  return Math.round(value * 10000) / 10000;
}

function start() {
  const element = document.getElementById("carte-recherche");
  const button = document.getElementById("rechercher-zone");
  const form = document.getElementById("formulaire-recherche");
  const field = document.getElementById("zone-recherche");
  if (!element || !button || !form || !field) return;
  const selected = boxOf(element.dataset.bbox);
  let map;
  try {
    map = new MapLibreMap({
      container: element,
      style: {
        version: 8,
        sources: {
          communes: { type: "geojson", data: new URL(element.dataset.outline, window.location.href).href },
          ...(selected ? {
            zone: {
              type: "geojson",
              data: {
                type: "Feature", properties: {},
                geometry: {
                  type: "Polygon",
                  coordinates: [[selected[0], [selected[1][0], selected[0][1]], selected[1], [selected[0][0], selected[1][1]], selected[0]]],
                },
              },
            },
          } : {}),
        },
        layers: [
          { id: "mer", type: "background", paint: { "background-color": "#e8f1f4" } },
          { id: "terre", type: "fill", source: "communes", paint: { "fill-color": "#f4f1e8" } },
          { id: "limites", type: "line", source: "communes", paint: { "line-color": "#9aa9ad", "line-width": 0.6 } },
          ...(selected ? [{ id: "zone", type: "line", source: "zone", paint: { "line-color": "#c2410c", "line-width": 2 } }] : []),
        ],
      },
      bounds: selected || NEW_CALEDONIA,
      fitBoundsOptions: { padding: 10 },
      attributionControl: false,
      cooperativeGestures: true,
      locale: MESSAGES.controls,
    });
  } catch (error) {
    element.textContent = MESSAGES.noWebGL;
    return;
  }
  map.addControl(new NavigationControl({ showCompass: false }), "top-right");
  window.niaouliSearchMap = map; // for the browser tests
  button.hidden = false;
  button.addEventListener("click", () => {
    const b = map.getBounds();
    const west = Math.max(-180, round(b.getWest()));
    const east = Math.min(180, round(b.getEast()));
    const south = Math.max(-90, round(b.getSouth()));
    const north = Math.min(90, round(b.getNorth()));
    field.disabled = false;
    field.value = [west, south, east, north].join(",");
    form.requestSubmit();
  });
}

start();
