// A volunteer's contribution page (/campagnes/{slug}/contribuer), made for a phone with a
// poor connection. The form is server-rendered HTML generated from the campaign's schema
// (real labels, selects, required fields); this module adds the map (tap to place a
// point, or to add the vertices of a line or a polygon; "Ma position" uses the phone's
// GPS), keeps what was typed as a draft in localStorage (it survives a reload), queues
// each contribution in IndexedDB before sending it (contribute-queue.js) and shows each
// one as pending, sent or refused with the reasons, beside what the platform holds
// (state and reviewer's comment). Field files (GPX, KML, CSV, ODK...) are sent whole
// and answered with a validation report per feature. Text from the server or the
// volunteer is only ever set as textContent.
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  ScaleControl,
} from "/static/vendor/maplibre-gl/maplibre-gl.mjs";

const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const MAPLIBRE_LOCALE = {
  fr: {
    "AttributionControl.ToggleAttribution": "Afficher ou masquer les crédits",
    "Map.Title": "Carte",
    "NavigationControl.ZoomIn": "Zoomer",
    "NavigationControl.ZoomOut": "Dézoomer",
    "NavigationControl.ResetBearing": "Réorienter vers le nord",
  },
  en: {
    "AttributionControl.ToggleAttribution": "Show or hide credits",
    "Map.Title": "Map",
    "NavigationControl.ZoomIn": "Zoom in",
    "NavigationControl.ZoomOut": "Zoom out",
    "NavigationControl.ResetBearing": "Reset bearing to north",
  },
}[LANG];
const T = {
  fr: {
    online: "En ligne",
    offline: "Hors connexion : vos contributions restent sur cet appareil et partiront au retour du réseau.",
    noWebGL: "La carte ne peut pas s'afficher dans ce navigateur (WebGL indisponible).",
    point: (lon, lat) => `Point placé : longitude ${lon}, latitude ${lat}.`,
    vertices: (n, min) => `${n} sommet${n > 1 ? "s" : ""} placé${n > 1 ? "s" : ""}` + (n < min ? ` (${min} au moins).` : "."),
    noPoint: "Aucun point placé : touchez la carte ou utilisez « Ma position ».",
    noLine: "Aucune ligne : touchez la carte pour ajouter ses sommets (deux au moins).",
    noPolygon: "Aucune surface : touchez la carte pour ajouter ses sommets (trois au moins).",
    needGeometry: "Placez d'abord l'objet sur la carte.",
    locating: "Recherche de votre position…",
    located: (m) => `Position trouvée (précision ${m} m).`,
    noLocation: "Position indisponible : autorisez la localisation ou touchez la carte.",
    noGeolocation: "Ce navigateur ne donne pas la position : touchez la carte.",
    queued: "Contribution enregistrée sur cet appareil, envoi en cours…",
    sent: "Contribution envoyée. Merci !",
    waiting: "Pas de connexion : la contribution est gardée sur cet appareil et partira au retour du réseau.",
    refusedNow: "Contribution refusée : voyez la raison dans « Mes contributions ».",
    photoTooBig: (max) => `Photo trop lourde : ${max} Mo au plus.`,
    fileTooBig: (max) => `Fichier trop gros : ${max} Mo au plus.`,
    sending: (name) => `Envoi de « ${name} »…`,
    fileOffline: "Pas de connexion : renvoyez le fichier quand le réseau revient.",
    fileFailed: "Fichier refusé : ",
    report: (name, format) => `Rapport de validation : « ${name} » (${format})`,
    counts: (sent, refused) => `${sent} objet(s) envoyé(s), ${refused} refusé(s).`,
    where: "Objet",
    status: "État",
    problems: "Problèmes",
    none: "—",
    pending: "en attente",
    sentState: "envoyée",
    refused: "refusée",
    review: (label) => `revue : ${label}`,
    comment: "Commentaire du relecteur : ",
    remove: "Retirer de cet appareil",
    untitled: (when) => `Objet du ${when}`,
    photo: "Photo de la contribution",
    warning: "attention : ",
    sentLater: "Connexion retrouvée : les contributions en attente sont envoyées.",
    yes: "oui",
    no: "non",
    colon: " : ",
  },
  en: {
    online: "Online",
    offline: "Offline: your contributions stay on this device and will be sent when the network is back.",
    noWebGL: "The map cannot be shown in this browser (WebGL is unavailable).",
    point: (lon, lat) => `Point placed: longitude ${lon}, latitude ${lat}.`,
    vertices: (n, min) => `${n} vertex${n > 1 ? "es" : ""} placed` + (n < min ? ` (at least ${min}).` : "."),
    noPoint: "No point placed: tap the map or use “My position”.",
    noLine: "No line: tap the map to add its vertices (at least two).",
    noPolygon: "No area: tap the map to add its vertices (at least three).",
    needGeometry: "Place the feature on the map first.",
    locating: "Finding your position…",
    located: (m) => `Position found (accuracy ${m} m).`,
    noLocation: "Position unavailable: allow location or tap the map.",
    noGeolocation: "This browser gives no position: tap the map.",
    queued: "Contribution saved on this device, sending…",
    sent: "Contribution sent. Thank you!",
    waiting: "No connection: the contribution is kept on this device and will be sent when the network is back.",
    refusedNow: "Contribution refused: see why under “My contributions”.",
    photoTooBig: (max) => `Photo too large: ${max} MB at most.`,
    fileTooBig: (max) => `File too large: ${max} MB at most.`,
    sending: (name) => `Sending “${name}”…`,
    fileOffline: "No connection: send the file again when the network is back.",
    fileFailed: "File refused: ",
    report: (name, format) => `Validation report: “${name}” (${format})`,
    counts: (sent, refused) => `${sent} feature(s) sent, ${refused} refused.`,
    where: "Feature",
    status: "Status",
    problems: "Problems",
    none: "—",
    pending: "pending",
    sentState: "sent",
    refused: "refused",
    review: (label) => `review: ${label}`,
    comment: "Reviewer's comment: ",
    remove: "Remove from this device",
    untitled: (when) => `Feature of ${when}`,
    photo: "Photo of the contribution",
    warning: "warning: ",
    sentLater: "Back online: the waiting contributions have been sent.",
    yes: "yes",
    no: "no",
    colon: ": ",
  },
}[LANG];
const LOCALE = LANG === "en" ? "en-GB" : "fr-FR";
const SEA = "#dbe9ee";
const LAND = "#f6f4ec";
const OUTLINE = "#8a8470";
const DRAW = "#c2410c";
const MB = 1048576;

const config = JSON.parse(document.getElementById("contribuer-config").textContent);
const root = document.getElementById("contribuer");
const csrf = root.dataset.csrf;
const form = document.getElementById("contribuer-formulaire");
const geometryType = config.geometryType;
const minimum = { Point: 1, LineString: 2, Polygon: 3 }[geometryType] || 1;
const who = { campaign: config.slug, user: config.user };
const draftKey = `niaouli-contribuer:${config.slug}:${config.user}:brouillon`;
const nameKey = `niaouli-contribuer:${config.user}:nom`;
const Queue = window.NiaouliQueue;
const $ = (id) => document.getElementById(id);
const absolute = (path) => window.location.origin + path;

function text(tag, content, className) {
  const node = document.createElement(tag);
  if (content !== undefined && content !== null) node.textContent = content;
  if (className) node.className = className;
  return node;
}

// --- the map ------------------------------------------------------------------------

let vertices = [];

function drawing() {
  const features = vertices.map((v) => ({ type: "Feature", geometry: { type: "Point", coordinates: v }, properties: {} }));
  if (geometryType === "LineString" && vertices.length >= 2) {
    features.push({ type: "Feature", geometry: { type: "LineString", coordinates: vertices }, properties: {} });
  }
  if (geometryType === "Polygon" && vertices.length >= 2) {
    const ring = vertices.length >= 3 ? [...vertices, vertices[0]] : vertices;
    features.push({
      type: "Feature",
      geometry: vertices.length >= 3 ? { type: "Polygon", coordinates: [ring] } : { type: "LineString", coordinates: ring },
      properties: {},
    });
  }
  return { type: "FeatureCollection", features };
}

function geometry() {
  if (vertices.length < minimum) return null;
  if (geometryType === "Point") return { type: "Point", coordinates: vertices[0] };
  if (geometryType === "LineString") return { type: "LineString", coordinates: vertices };
  return { type: "Polygon", coordinates: [[...vertices, vertices[0]]] };
}

function buildStyle() {
  const sources = {
    communes: { type: "geojson", data: absolute(config.outline) },
    zone: { type: "geojson", data: config.area || { type: "FeatureCollection", features: [] } },
    miennes: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
    trace: { type: "geojson", data: drawing() },
  };
  const layers = [
    { id: "fond-uni", type: "background", paint: { "background-color": SEA } },
    { id: "communes-terre", type: "fill", source: "communes", paint: { "fill-color": LAND } },
  ];
  if (config.background) {
    sources.fond = { type: "raster", tiles: [config.background.tiles], tileSize: 256, maxzoom: 19, attribution: config.background.attribution };
    layers.push({ id: "fond", type: "raster", source: "fond" });
  }
  layers.push(
    { id: "communes-limites", type: "line", source: "communes", paint: { "line-color": OUTLINE, "line-width": 0.8 } },
    { id: "zone-surface", type: "fill", source: "zone", paint: { "fill-color": "#0b5c4b", "fill-opacity": 0.06 } },
    { id: "zone-limite", type: "line", source: "zone", paint: { "line-color": "#0b5c4b", "line-width": 2, "line-dasharray": [2, 1] } },
    { id: "miennes-lignes", type: "line", source: "miennes", filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": ["get", "couleur"], "line-width": 2 } },
    { id: "miennes-points", type: "circle", source: "miennes", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 6, "circle-color": ["get", "couleur"], "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 } },
    { id: "trace-surface", type: "fill", source: "trace", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": DRAW, "fill-opacity": 0.25 } },
    { id: "trace-ligne", type: "line", source: "trace", filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": DRAW, "line-width": 3 } },
    { id: "trace-sommets", type: "circle", source: "trace", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 8, "circle-color": DRAW, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } },
  );
  return { version: 8, sources, layers };
}

const container = $("contribuer-carte");
let map = null;
try {
  map = new MapLibreMap({
    container,
    style: buildStyle(),
    bounds: config.bounds,
    fitBoundsOptions: { padding: 20 },
    locale: MAPLIBRE_LOCALE,
    attributionControl: false,
    maxZoom: 20,
    dragRotate: false,
    touchPitch: false,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new NavigationControl({ showCompass: false }));
  map.addControl(new ScaleControl({ unit: "metric" }), "bottom-left");
  map.addControl(new AttributionControl({ compact: true }), "bottom-right");
  map.on("error", (event) => {
    if (event.sourceId !== "fond") console.error(event.error || event);
  });
  map.on("click", (event) => addVertex([event.lngLat.lng, event.lngLat.lat]));
  window.niaouliMap = map; // for the browser tests and the console
} catch (error) {
  container.classList.add("map-error");
  container.textContent = T.noWebGL;
  console.warn(error);
}

function round(value) {
  return Math.round(value * 1e7) / 1e7;
}

function showGeometry() {
  if (map && map.getSource("trace")) map.getSource("trace").setData(drawing());
  const status = $("contribuer-geometrie");
  status.dataset.sommets = String(vertices.length);
  if (!vertices.length) {
    status.textContent = { Point: T.noPoint, LineString: T.noLine, Polygon: T.noPolygon }[geometryType] || T.noPoint;
  } else if (geometryType === "Point") {
    status.textContent = T.point(vertices[0][0].toFixed(6), vertices[0][1].toFixed(6));
  } else {
    status.textContent = T.vertices(vertices.length, minimum);
  }
  status.classList.remove("alert");
}

function addVertex(lngLat) {
  const vertex = [round(lngLat[0]), round(lngLat[1])];
  vertices = geometryType === "Point" ? [vertex] : [...vertices, vertex];
  showGeometry();
  saveDraft();
}

$("contribuer-centre").addEventListener("click", () => {
  if (!map) return;
  const centre = map.getCenter();
  addVertex([centre.lng, centre.lat]);
});
$("contribuer-effacer").addEventListener("click", () => {
  vertices = [];
  showGeometry();
  saveDraft();
});
if ($("contribuer-annuler")) {
  $("contribuer-annuler").addEventListener("click", () => {
    vertices = vertices.slice(0, -1);
    showGeometry();
    saveDraft();
  });
}
$("contribuer-position").addEventListener("click", () => {
  const status = $("contribuer-geometrie");
  if (!navigator.geolocation) {
    status.textContent = T.noGeolocation;
    return;
  }
  status.textContent = T.locating;
  navigator.geolocation.getCurrentPosition(
    (position) => {
      const here = [position.coords.longitude, position.coords.latitude];
      addVertex(here);
      if (map) map.flyTo({ center: here, zoom: Math.max(map.getZoom(), 17) });
      status.textContent += " " + T.located(Math.round(position.coords.accuracy || 0));
    },
    () => {
      status.textContent = T.noLocation;
    },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 10000 },
  );
});

// --- the form and its draft -----------------------------------------------------------

const inputs = () => Array.from(form.querySelectorAll("[data-kind]"));
const nameInput = $("contribuer-nom");

function properties() {
  const values = {};
  for (const input of inputs()) {
    const kind = input.dataset.kind;
    if (kind === "boolean") {
      values[input.name] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === "") continue;
    if (kind === "integer") values[input.name] = Number.parseInt(raw, 10);
    else if (kind === "number") values[input.name] = Number.parseFloat(raw.replace(",", "."));
    else values[input.name] = raw;
  }
  return values;
}

function saveDraft() {
  const fields = {};
  for (const input of inputs()) fields[input.name] = input.type === "checkbox" ? input.checked : input.value;
  try {
    localStorage.setItem(draftKey, JSON.stringify({ fields, vertices, saved: Date.now() }));
    localStorage.setItem(nameKey, nameInput.value);
  } catch {
    // Private browsing or a full storage: the page still works, without drafts.
  }
}

function restoreDraft() {
  let draft = null;
  try {
    draft = JSON.parse(localStorage.getItem(draftKey) || "null");
    const name = localStorage.getItem(nameKey);
    if (name) nameInput.value = name;
  } catch {
    draft = null;
  }
  if (!draft) return;
  for (const input of inputs()) {
    if (!(input.name in (draft.fields || {}))) continue;
    if (input.type === "checkbox") input.checked = Boolean(draft.fields[input.name]);
    else input.value = draft.fields[input.name];
  }
  if (Array.isArray(draft.vertices)) vertices = draft.vertices.filter((v) => Array.isArray(v) && v.length === 2);
}

function clearDraft() {
  form.reset();
  const name = localStorage.getItem(nameKey);
  if (name) nameInput.value = name;
  vertices = [];
  showPreview(null);
  try {
    localStorage.removeItem(draftKey);
  } catch {
    // nothing to clear
  }
  showGeometry();
}

form.addEventListener("input", saveDraft);
form.addEventListener("change", saveDraft);

const photoInput = $("contribuer-photo");
// The chosen photo's preview (an <img> made here: the page has no empty image).
function showPreview(file) {
  const preview = $("contribuer-apercu");
  const old = preview.querySelector("img");
  if (old) URL.revokeObjectURL(old.src);
  preview.replaceChildren();
  preview.hidden = !file;
  if (!file) return;
  const image = document.createElement("img");
  image.alt = preview.dataset.alt;
  image.src = URL.createObjectURL(file);
  preview.appendChild(image);
}

photoInput.addEventListener("change", () => {
  const file = photoInput.files[0];
  if (file && file.size > config.maxPhotoBytes) {
    say($("contribuer-message"), T.photoTooBig(Math.round(config.maxPhotoBytes / MB)), true);
    photoInput.value = "";
    showPreview(null);
    return;
  }
  showPreview(file || null);
});

function say(node, message, alarm) {
  node.textContent = message;
  node.classList.toggle("alert", Boolean(alarm));
}

function newUid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("contribuer-message");
  const shape = geometry();
  if (!shape) {
    say(message, T.needGeometry, true);
    $("contribuer-geometrie").classList.add("alert");
    $("contribuer-centre").focus();
    return;
  }
  if (!form.reportValidity()) return;
  const uid = newUid();
  const photo = photoInput.files[0] || null;
  const item = {
    uid,
    campaign: config.slug,
    user: config.user,
    endpoints: { send: config.endpoints.send, photo: config.endpoints.photo },
    csrf,
    feature: { uid, geometry: shape, properties: properties() },
    photo,
    photoName: photo ? photo.name : null,
    photoKey: null,
    displayName: nameInput.value.trim(),
    source: navigator.onLine ? "form" : "offline",
    status: "pending",
    problems: [],
    message: "",
    created: Date.now(),
  };
  await Queue.put(item);
  clearDraft();
  say(message, T.queued);
  await render();
  await send();
  const stored = (await Queue.all(who)).find((i) => i.uid === uid);
  if (stored.status === "sent") say(message, T.sent);
  else if (stored.status === "refused") say(message, T.refusedNow, true);
  else {
    say(message, T.waiting);
    askForSync();
  }
});

// --- sending and showing --------------------------------------------------------------

let sending = null;

async function send() {
  if (sending) return sending;
  sending = (async () => {
    let changed = false;
    try {
      changed = await Queue.flush(who);
    } finally {
      sending = null;
    }
    await refresh();
    // "Waiting for the network" under the form no longer holds once the queue is empty.
    const message = $("contribuer-message");
    const waiting = (await Queue.all(who)).some((i) => i.status === "pending");
    if (changed && !waiting && message.textContent === T.waiting) say(message, T.sentLater);
  })();
  return sending;
}

async function askForSync() {
  try {
    const registration = await navigator.serviceWorker.ready;
    if (registration.sync) await registration.sync.register("niaouli-contribuer");
  } catch {
    // No Background Sync here: the page sends the queue itself when the network is back.
  }
}

let mine = [];

async function refresh() {
  try {
    const response = await fetch(config.endpoints.mine, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) mine = (await response.json()).contributions || [];
  } catch {
    // Offline: keep the last list.
  }
  await render();
}

function problemList(problems) {
  const list = text("ul", null, "contribuer-problemes");
  for (const problem of problems || []) {
    const prefix = problem.severity === "warning" ? T.warning : "";
    list.appendChild(text("li", prefix + (problem.message || problem.code || "")));
  }
  return list;
}

function shown(value) {
  if (value === true) return T.yes;
  if (value === false) return T.no;
  return String(value);
}

function summary(values) {
  const first = Object.values(values || {}).find((v) => typeof v === "string" && v);
  return first || null;
}

function when(ms) {
  return new Date(ms).toLocaleString(LOCALE, { dateStyle: "short", timeStyle: "short" });
}

function entry(title, status, statusLabel) {
  const item = text("li", null, "contribuer-element");
  item.dataset.statut = status;
  const head = text("p", null, "contribuer-element-titre");
  head.append(text("strong", title), " ", text("span", statusLabel, `contribuer-statut statut-${status}`));
  item.appendChild(head);
  return item;
}

async function render() {
  const list = $("contribuer-mes");
  const local = await Queue.all(who);
  const known = new Map(mine.map((c) => [c.uid, c]));
  const nodes = [];
  const features = [];
  for (const item of local.slice().reverse()) {
    if (item.status === "sent" && known.has(item.uid)) continue; // shown from the server below
    const label = { pending: T.pending, sent: T.sentState, refused: T.refused }[item.status];
    const node = entry(summary(item.feature.properties) || T.untitled(when(item.created)), item.status, label);
    node.dataset.uid = item.uid;
    if (item.message) node.appendChild(text("p", item.message, "meta"));
    if (item.problems && item.problems.length) node.appendChild(problemList(item.problems));
    if (item.status === "refused") {
      const remove = text("button", T.remove, "bouton-lien");
      remove.type = "button";
      remove.addEventListener("click", async () => {
        await Queue.remove(item.uid);
        await render();
      });
      node.appendChild(remove);
    }
    nodes.push(node);
    features.push({ type: "Feature", geometry: item.feature.geometry, properties: { couleur: item.status === "refused" ? "#b91c1c" : "#6b7280" } });
  }
  for (const contribution of mine) {
    const title = summary(Object.fromEntries((contribution.properties || []).map((p) => [p.label, p.value])));
    const node = entry(title || T.untitled(when(Date.parse(contribution.created))), "sent", T.sentState);
    node.dataset.uid = contribution.uid;
    node.querySelector(".contribuer-element-titre").append(" ", text("span", T.review(contribution.state_label), "contribuer-revue"));
    const details = text("p", (contribution.properties || []).map((p) => `${p.label}${T.colon}${shown(p.value)}`).join(" · "), "meta");
    node.appendChild(details);
    if (contribution.comment) node.appendChild(text("p", T.comment + contribution.comment, "contribuer-commentaire"));
    if (contribution.problems && contribution.problems.length) node.appendChild(problemList(contribution.problems));
    if (contribution.photo) {
      const image = document.createElement("img");
      image.src = contribution.photo;
      image.alt = T.photo;
      image.loading = "lazy";
      image.className = "contribuer-vignette";
      node.appendChild(image);
    }
    nodes.push(node);
    if (contribution.geometry) features.push({ type: "Feature", geometry: contribution.geometry, properties: { couleur: "#0b5c4b" } });
  }
  list.replaceChildren(...nodes);
  $("contribuer-aucune").hidden = nodes.length > 0;
  if (map && map.getSource("miennes")) map.getSource("miennes").setData({ type: "FeatureCollection", features });
}

// --- connection ------------------------------------------------------------------------

function showConnection() {
  const status = $("contribuer-connexion");
  status.dataset.etat = navigator.onLine ? "en-ligne" : "hors-ligne";
  status.textContent = navigator.onLine ? T.online : T.offline;
}

window.addEventListener("online", () => {
  showConnection();
  send();
});
window.addEventListener("offline", showConnection);
// A network that comes back without an "online" event (captive portals, flaky links).
setInterval(async () => {
  if (!navigator.onLine) return;
  const pending = (await Queue.all(who)).some((i) => i.status === "pending");
  if (pending) send();
}, 15000);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(config.endpoints.worker, { scope: config.endpoints.scope }).catch((error) => console.warn(error));
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data && event.data.type === "niaouli-contribuer-envoyes") refresh();
  });
}

// --- field files ---------------------------------------------------------------------

const fileForm = $("contribuer-envoi-fichier");
fileForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = $("contribuer-fichier-message");
  const report = $("contribuer-rapport");
  const file = $("contribuer-fichier").files[0];
  if (!file) return;
  if (file.size > config.maxFileBytes) {
    say(message, T.fileTooBig(Math.round(config.maxFileBytes / MB)), true);
    return;
  }
  say(message, T.sending(file.name));
  report.replaceChildren();
  let response;
  try {
    response = await fetch(config.endpoints.file, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": csrf,
        "X-Filename": encodeURIComponent(file.name),
        "X-Display-Name": encodeURIComponent(nameInput.value.trim()),
        "X-Niaouli-User": String(config.user),
        "Content-Type": "application/octet-stream",
      },
      body: file,
    });
  } catch {
    say(message, T.fileOffline, true);
    return;
  }
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    say(message, T.fileFailed + (body.error || response.status), true);
    return;
  }
  say(message, T.counts(body.sent, body.refused));
  showReport(report, file.name, body);
  await refresh();
});

function showReport(report, name, body) {
  report.appendChild(text("h3", T.report(name, body.format || "")));
  report.appendChild(text("p", T.counts(body.sent, body.refused), "meta"));
  if (body.notes && body.notes.length) {
    const notes = text("ul", null, "contribuer-notes");
    for (const note of body.notes) notes.appendChild(text("li", note));
    report.appendChild(notes);
  }
  const table = document.createElement("table");
  table.className = "contribuer-tableau";
  const head = table.createTHead().insertRow();
  for (const title of [T.where, T.status, T.problems]) {
    const cell = text("th", title);
    cell.scope = "col";
    head.appendChild(cell);
  }
  const rows = table.createTBody();
  for (const result of body.results || []) {
    const row = rows.insertRow();
    row.dataset.statut = result.status;
    row.appendChild(text("td", result.where || result.uid));
    row.appendChild(text("td", result.status === "sent" ? T.sentState : T.refused, `contribuer-statut statut-${result.status}`));
    const cell = row.insertCell();
    if (result.problems && result.problems.length) cell.appendChild(problemList(result.problems));
    else cell.textContent = T.none;
  }
  report.appendChild(table);
}

// --- start ---------------------------------------------------------------------------------

restoreDraft();
showGeometry();
showConnection();
if (map) map.on("load", () => showGeometry());
await Queue.renew(who, csrf);
await render();
send();
