// The queue of a volunteer's contributions (/campagnes/{slug}/contribuer), shared by the
// page (contribute.js) and its service worker (contribute-sw.js, through importScripts).
//
// Every contribution is first written to IndexedDB with its client uid, then sent; what
// cannot be sent (no connection, server unreachable) stays "pending" and is sent again
// when the connection comes back. The server keeps uids idempotent, so sending the same
// item twice (the page and the worker both trying) never makes two contributions; a
// Web Lock keeps them from trying at the same time anyway. A photo waits in IndexedDB as
// a Blob until it can be uploaded (the server re-encodes it and strips its metadata).
//
// Item: {uid, campaign, user, endpoints: {send, photo}, csrf, feature: {uid, geometry,
// properties}, photo (Blob|null), photoName, photoKey, displayName, source,
// status: "pending" | "sent" | "refused", problems: [{field, message}], message,
// contribution (its id once sent), created, sentAt}.
(function (root) {
  "use strict";
  const DB_NAME = "niaouli-contribuer";
  const STORE = "envois";
  const LOCK = "niaouli-contribuer-envois";
  // Answers that wait for the volunteer (sign in again, reload, the right account).
  const HOLD = new Set(["AuthenticationRequired", "CsrfTokenInvalid", "OtherAccount"]);

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  let opened = null;
  function database() {
    if (opened) return opened;
    const req = root.indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(STORE)) {
        db.createObjectStore(STORE, { keyPath: "uid" }).createIndex("campaign", "campaign");
      }
    };
    opened = request(req);
    return opened;
  }

  async function put(item) {
    const db = await database();
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(item);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    return item;
  }

  async function all(filter) {
    const db = await database();
    const items = await request(db.transaction(STORE).objectStore(STORE).getAll());
    return items
      .filter((i) => !filter || (i.campaign === filter.campaign && i.user === filter.user))
      .sort((a, b) => a.created - b.created);
  }

  async function remove(uid) {
    const db = await database();
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).delete(uid);
    await new Promise((resolve) => { tx.oncomplete = resolve; tx.onerror = resolve; });
  }

  // A refusal by the server: the item will not be sent again.
  async function refuse(item, message, problems) {
    item.status = "refused";
    item.message = message || "";
    item.problems = problems || [];
    item.sentAt = Date.now();
    await put(item);
    return "done";
  }

  async function answer(response) {
    try {
      return await response.json();
    } catch {
      return {};
    }
  }

  // Send one item: "done" (sent or refused), "retry" (server trouble: later), or
  // "stop" (offline, or the volunteer must sign in / reload: the others wait too).
  async function sendOne(item) {
    // The account that queued it: the server refuses to credit another (shared phones).
    const headers = { "X-CSRF-Token": item.csrf, "X-Niaouli-User": String(item.user) };
    try {
      if (item.photo && !item.photoKey) {
        const response = await fetch(item.endpoints.photo, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            ...headers,
            "Content-Type": item.photo.type || "application/octet-stream",
            "X-Filename": encodeURIComponent(item.photoName || "photo"),
          },
          body: item.photo,
        });
        const body = await answer(response);
        if (HOLD.has(body.code) || response.status === 401) return await hold(item, body);
        if (response.status >= 500) return "retry";
        if (!response.ok) return await refuse(item, body.error, []);
        item.photoKey = body.key;
        item.photo = null;
        await put(item);
      }
      const feature = { ...item.feature, photo_key: item.photoKey || null };
      const response = await fetch(item.endpoints.send, {
        method: "POST",
        credentials: "same-origin",
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify({ features: [feature], display_name: item.displayName, source: item.source }),
      });
      const body = await answer(response);
      if (HOLD.has(body.code) || response.status === 401) return await hold(item, body);
      if (response.status >= 500) return "retry";
      if (!response.ok) return await refuse(item, body.error, []);
      const result = (body.results || []).find((r) => r.uid === item.uid);
      if (!result || result.status !== "sent") {
        return await refuse(item, "", result ? result.problems : []);
      }
      item.status = "sent";
      item.contribution = result.id;
      item.problems = result.problems || [];
      item.message = "";
      item.sentAt = Date.now();
      await put(item);
      return "done";
    } catch (error) {
      if (error instanceof TypeError) return "stop"; // no connection: fetch itself failed
      throw error;
    }
  }

  // The session or the page expired: keep the item, say why, stop until the page reloads.
  async function hold(item, body) {
    item.message = body.error || "";
    await put(item);
    return "stop";
  }

  // Send every pending item (of one campaign and user, or all for the worker); true when
  // something changed.
  async function flush(filter) {
    const run = async () => {
      let changed = false;
      for (const item of await all(filter)) {
        if (item.status !== "pending") continue;
        const outcome = await sendOne(item);
        if (outcome === "done") changed = true;
        if (outcome === "stop") break;
      }
      return changed;
    };
    const locks = root.navigator && root.navigator.locks;
    return locks ? locks.request(LOCK, run) : run();
  }

  // A page loaded with a new CSRF token lends it to the items it queued before.
  async function renew(filter, csrf) {
    for (const item of await all(filter)) {
      if (item.status === "pending" && item.csrf !== csrf) {
        item.csrf = csrf;
        item.message = "";
        await put(item);
      }
    }
  }

  root.NiaouliQueue = { put, all, remove, flush, renew };
})(self);
