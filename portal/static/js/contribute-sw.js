// Service worker of a campaign's contribution page, served at
// /campagnes/{slug}/sw-contribuer.js so that its scope covers /campagnes/{slug}/contribuer.
//
// It keeps the page usable without a connection: the page itself is fetched from the
// network first and from the cache when offline; the static files it needs (scripts,
// styles, MapLibre, the communes outline) come from the cache first. It never touches
// the JSON endpoints (writes go straight to the network, so the page sees when they
// fail and queues them). When the browser offers Background Sync, a sync event sends the
// queue (contribute-queue.js, the page's own code) even if the page was closed.
importScripts("/static/js/contribute-queue.js");

const CACHE = "niaouli-contribuer-v1";
const SHELL = [
  "/static/niaouli.css",
  "/static/contribute.css",
  "/static/favicon.svg",
  "/static/js/contribute.js",
  "/static/js/contribute-queue.js",
  "/static/vendor/maplibre-gl/maplibre-gl.css",
  "/static/vendor/maplibre-gl/maplibre-gl.mjs",
  "/static/vendor/maplibre-gl/maplibre-gl-worker.mjs",
  "/static/carte/communes-nc.geojson",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("niaouli-contribuer-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) {
    // Refresh it in the background for the next visit.
    fetch(request).then((r) => (r.ok ? cache.put(request, r) : null)).catch(() => null);
    return cached;
  }
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.endsWith("/contribuer")) {
    event.respondWith(networkFirst(request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "niaouli-contribuer") return;
  event.waitUntil(
    self.NiaouliQueue.flush(null).then(async (changed) => {
      if (!changed) return;
      for (const client of await self.clients.matchAll({ type: "window" })) {
        client.postMessage({ type: "niaouli-contribuer-envoyes" });
      }
    }),
  );
});
