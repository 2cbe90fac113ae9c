// Campaign area maps. On the summary page (`#campaign-area-map[data-area]`) the area is
// drawn over the communes' outlines; on the editors' form (`#campaign-area-editor`) a
// click adds a vertex of the polygon, which is written as GeoJSON into the `area`
// textarea (the field the form sends; it also works without this script). No external
// basemap: the page loads nothing from other sites.
import { Map as MapLibreMap, NavigationControl } from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const NO_WEBGL = {
  fr: "La carte ne peut pas s'afficher dans ce navigateur (WebGL indisponible).",
  en: "The map cannot be shown in this browser (WebGL is not available).",
}[LANG];
const NEW_CALEDONIA = [[163.5, -22.9], [168.2, -19.5]];
const EMPTY = { type: "FeatureCollection", features: [] };

function parse(text) {
  try {
    const value = JSON.parse(text || "null");
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

function boundsOf(geometry) {
  const points = [];
  const walk = (c) => (typeof c[0] === "number" ? points.push(c) : c.forEach(walk));
  if (geometry && geometry.coordinates) walk(geometry.coordinates);
  if (!points.length) return NEW_CALEDONIA;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]];
}

function makeMap(element, geometry) {
  try {
    return new MapLibreMap({
      container: element,
      style: {
        version: 8,
        sources: {
          communes: { type: "geojson", data: new URL("/static/carte/communes-nc.geojson", window.location.href).href },
          zone: { type: "geojson", data: geometry ? { type: "Feature", geometry, properties: {} } : EMPTY },
        },
        layers: [
          { id: "fond", type: "background", paint: { "background-color": "#e8f1f4" } },
          { id: "communes", type: "line", source: "communes", paint: { "line-color": "#94a3b8", "line-width": 1 } },
          { id: "zone", type: "fill", source: "zone", paint: { "fill-color": "#1f8a70", "fill-opacity": 0.3 } },
          { id: "zone-bord", type: "line", source: "zone", paint: { "line-color": "#0b5c4b", "line-width": 2 } },
          { id: "sommets", type: "circle", source: "zone", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 4, "circle-color": "#c2410c" } },
        ],
      },
      bounds: boundsOf(geometry),
      fitBoundsOptions: { padding: 20, maxZoom: 15 },
      attributionControl: false,
      cooperativeGestures: true,
    });
  } catch {
    element.classList.add("map-error");
    element.textContent = NO_WEBGL;
    return null;
  }
}

function summary(element) {
  const map = makeMap(element, parse(element.dataset.area));
  if (map) map.addControl(new NavigationControl({ showCompass: false }));
}

function editor(element) {
  const field = document.getElementById("area");
  const initial = parse(field.value);
  let ring = initial && initial.type === "Polygon" ? initial.coordinates[0].slice(0, -1) : [];
  const map = makeMap(element, initial);
  if (!map) return;
  map.addControl(new NavigationControl({ showCompass: false }));
  element.areaEditor = map; // for tests and the browser console
  const show = () => {
    const source = map.getSource("zone");
    if (!source) return;
    if (ring.length >= 3) {
      const geometry = { type: "Polygon", coordinates: [[...ring, ring[0]]] };
      field.value = JSON.stringify(geometry);
      source.setData({ type: "Feature", geometry, properties: {} });
    } else {
      source.setData({
        type: "FeatureCollection",
        features: ring.map((p) => ({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: {} })),
      });
    }
  };
  map.on("click", (event) => {
    if (ring.length === 0 && field.value.trim() && !(initial && initial.type === "Polygon")) {
      field.value = ""; // a MultiPolygon typed or taken from a commune: start a new one
    }
    ring.push([Number(event.lngLat.lng.toFixed(6)), Number(event.lngLat.lat.toFixed(6))]);
    show();
  });
  document.getElementById("area-clear").addEventListener("click", () => {
    ring = [];
    field.value = "";
    show();
  });
}

document.querySelectorAll("#campaign-area-map[data-area]").forEach(summary);
document.querySelectorAll("#campaign-area-editor").forEach(editor);
