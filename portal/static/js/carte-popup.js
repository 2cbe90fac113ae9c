// What a click or a tap on a map shows, shared by the public map (carte.js) and the dataset
// pages' previews (apercu-carte.js): which features were hit, and their attributes under the
// labels the editors gave the columns. Data from features is only ever set as textContent.

const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const NUMBER_LOCALE = LANG === "en" ? "en-GB" : "fr-FR";
const WORDS = {
  fr: { yes: "oui", no: "non", nothing: "Aucun attribut à afficher." },
  en: { yes: "yes", no: "no", nothing: "No attribute to show." },
}[LANG];
const TOLERANCE = 6; // pixels around a click or a tap, for points and lines only
const LINES = new Set(["LineString", "MultiLineString"]);
// Never shown: the feature identifier of the OGC API (the dataset page documents it).
const TECHNICAL = new Set(["fid"]);
// A pop-up narrower than this map would not fit beside a tap: a sheet along its bottom.
const SHEET_BELOW = 560;

/**
 * The features under a point, the top one first. Surfaces are hit only when the point is
 * inside them (a tolerance would pick the neighbouring commune); points and lines, being
 * hard to hit on a touch screen, within a few pixels. The outline drawn around surfaces
 * is never hit: its surface answers for it.
 */
export function featuresAt(map, point, layerIds, key) {
  const byType = { circle: [], line: [], fill: [] };
  for (const id of layerIds) {
    const layer = map.getLayer(id);
    if (layer && byType[layer.type]) byType[layer.type].push(id);
  }
  const box = [[point.x - TOLERANCE, point.y - TOLERANCE], [point.x + TOLERANCE, point.y + TOLERANCE]];
  const found = [];
  if (byType.circle.length) found.push(...map.queryRenderedFeatures(box, { layers: byType.circle }));
  if (byType.line.length) {
    const lines = map.queryRenderedFeatures(box, { layers: byType.line });
    found.push(...lines.filter((f) => LINES.has(f.geometry.type)));
  }
  if (byType.fill.length) found.push(...map.queryRenderedFeatures(point, { layers: byType.fill }));
  // A feature cut across tiles comes back once per piece.
  const seen = new Set();
  return found.filter((feature) => {
    const id = `${key(feature)}/${feature.properties.fid ?? feature.id ?? JSON.stringify(feature.properties)}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

export function text(tag, content, className) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  element.textContent = content;
  return element;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return value.toLocaleString(NUMBER_LOCALE);
  if (typeof value === "boolean") return value ? WORDS.yes : WORDS.no;
  return String(value);
}

/**
 * One feature's attributes as a table: the editor's label (else the column's name), the
 * value with its unit; technical and hidden columns left out. `columns` maps a column's
 * name to {label, description, unit, hidden}, as the dataset's editors described it.
 */
export function attributeTable(properties, columns) {
  const table = document.createElement("table");
  for (const [name, value] of Object.entries(properties)) {
    const described = (columns && columns[name]) || {};
    if (TECHNICAL.has(name) || described.hidden) continue;
    const row = document.createElement("tr");
    const head = text("th", described.label || name);
    head.scope = "row";
    if (described.description) head.title = described.description;
    let shown = formatValue(value);
    if (shown && described.unit) shown = `${shown} ${described.unit}`;
    row.append(head, text("td", shown));
    table.appendChild(row);
  }
  return table.rows.length ? table : text("p", WORDS.nothing, "meta");
}

/** One section per feature: its layer's title, then its attributes. */
export function popupContent(sections) {
  const root = document.createElement("div");
  root.className = "carte-popup";
  for (const { title, properties, columns } of sections) {
    const section = document.createElement("section");
    section.append(text("h2", title), attributeTable(properties, columns));
    root.appendChild(section);
  }
  return root;
}

/**
 * Shows the content at a place: a pop-up beside it on a wide map, a sheet along the map's
 * bottom on a narrow one (a phone), where a pop-up would run off the screen.
 */
export function openPopup(map, popup, lngLat, content) {
  const sheet = map.getContainer().clientWidth < SHEET_BELOW;
  popup.setMaxWidth(sheet ? "none" : "22rem");
  popup.setLngLat(lngLat).setDOMContent(content).addTo(map);
  const element = popup.getElement();
  if (element) element.classList.toggle("carte-feuille", sheet);
}
