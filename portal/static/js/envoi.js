// Upload page (/jeux-de-donnees/{slug}/envoyer): send the file to the writing API with
// the session and the CSRF header, show the upload progress, then the ingestion report.
// Text only goes through textContent: nothing from the server is parsed as HTML.
// The page's language (French unless the portal served it in English) picks the texts
// below; the API is asked for its messages in that language too (`?lang=`), since it
// does not read the portal's language cookie.
(function () {
  "use strict";
  const form = document.getElementById("envoi");
  if (!form) return;
  const LANG = document.documentElement.lang === "en" ? "en" : "fr";
  const LOCALE = LANG === "en" ? "en-GB" : "fr-FR";
  const MESSAGES = {
    fr: {
      bytes: (n) => n + (n === "1" ? " octet" : " octets"),
      kibibytes: "Kio",
      mebibytes: "Mio",
      added: (count, total) => count + " objet(s) ajouté(s) ; " + total + " au total.",
      layers: "Couches : ",
      layerCount: (name, count) => "« " + name + " » (" + count + " objet" + (count === "1" ? ")" : "s)"),
      confirmTitle: {
        DuplicateFile: "Ce fichier a déjà été ajouté",
        ReplaceChanges: "Ce remplacement change beaucoup les données",
      },
      before: "Avant",
      after: "Après",
      columns: "Colonnes",
      rows: "Objets",
      removedColumns: "Colonnes supprimées : ",
      addedColumns: "Colonnes nouvelles : ",
      cancelled: "Envoi annulé : rien n'a été modifié.",
      result: "Résultat",
      fileAdded: (title, size) => "Fichier « " + title + " » ajouté (" + size + ").",
      checksum: "Empreinte : ",
      loaded: (count, seconds) => count + " objet(s) intégré(s) en " + seconds + " s.",
      fileChecksum: "Empreinte du fichier : ",
      repaired: (n) => n + " géométrie(s) invalide(s) réparée(s).",
      layer: (name, count) => "Couche « " + name + " » : " + count + " objet(s)",
      raster: (name, width, height, bands, crs) => "Raster « " + name + " » : " + width + " × " + height + " pixels, " + bands + " bande(s), " + (crs || "SCR inconnu"),
      rasterSizes: (before, after) => "Taille : " + before + " → " + after + " (Cloud Optimized GeoTIFF)",
      schemaError: (row, column, message) => "Ligne " + row + ", colonne « " + column + " » : " + message,
      edit: "Publier ou modifier la fiche",
      failed: "Échec",
      failedStatus: "Échec.",
      unchanged: "Rien n'a été modifié : les données précédentes restent en ligne.",
      tooBig: (size, max) => "Fichier trop gros : " + size + " pour " + max + " au plus.",
      sending: (name, size) => "Envoi de « " + name + " » (" + size + ")…",
      receivedAttachment: "Fichier reçu, enregistrement…",
      receivedData: "Fichier reçu, intégration des données en cours…",
      queued: "Fichier reçu : son intégration attend son tour…",
      running: (p) => "Intégration des données en cours" + (p === null ? "…" : " : " + p + "."),
      landing: "Données intégrées : ouverture de la page du jeu de données…",
      done: "Terminé.",
      error: (status) => "Erreur " + status + ".",
      interrupted: "La connexion a été interrompue pendant l'envoi.",
      // The API's own descriptions are French: nothing to replace.
      codes: {},
    },
    en: {
      bytes: (n) => n + (n === "1" ? " byte" : " bytes"),
      kibibytes: "KiB",
      mebibytes: "MiB",
      added: (count, total) => count + (count === "1" ? " feature" : " features") + " added; " + total + " in all.",
      layers: "Layers: ",
      layerCount: (name, count) => "“" + name + "” (" + count + (count === "1" ? " feature)" : " features)"),
      confirmTitle: {
        DuplicateFile: "This file was already added",
        ReplaceChanges: "This replacement changes the data a lot",
      },
      before: "Before",
      after: "After",
      columns: "Columns",
      rows: "Features",
      removedColumns: "Columns removed: ",
      addedColumns: "New columns: ",
      cancelled: "Upload cancelled: nothing was changed.",
      result: "Result",
      fileAdded: (title, size) => "File “" + title + "” added (" + size + ").",
      checksum: "Checksum: ",
      loaded: (count, seconds) =>
        count + (count === "1" ? " feature" : " features") + " loaded in " + seconds + " s.",
      fileChecksum: "File checksum: ",
      repaired: (n) => n + (n === 1 ? " invalid geometry repaired." : " invalid geometries repaired."),
      layer: (name, count) => "Layer “" + name + "”: " + count + (count === "1" ? " feature" : " features"),
      raster: (name, width, height, bands, crs) => "Raster “" + name + "”: " + width + " × " + height + " pixels, " + bands + " band(s), " + (crs || "unknown CRS"),
      rasterSizes: (before, after) => "Size: " + before + " → " + after + " (Cloud Optimized GeoTIFF)",
      schemaError: (row, column, message) => "Row " + row + ", column “" + column + "”: " + message,
      edit: "Publish or edit the record",
      failed: "Failed",
      failedStatus: "Failed.",
      unchanged: "Nothing was changed: the previous data stay online.",
      tooBig: (size, max) => "File too large: " + size + ", the limit is " + max + ".",
      sending: (name, size) => "Sending “" + name + "” (" + size + ")…",
      receivedAttachment: "File received, saving…",
      receivedData: "File received, loading the data…",
      queued: "File received: its ingestion waits its turn…",
      running: (p) => "Ingesting the data" + (p === null ? "…" : ": " + p + "."),
      landing: "Data ingested: opening the dataset's page…",
      done: "Done.",
      error: (status) => "Error " + status + ".",
      interrupted: "The connection was lost during the upload.",
      // Refusals whose description the API only writes in French (by their stable code);
      // the others (file and data errors) come from the API in English (`?lang=en`).
      codes: {
        AuthenticationRequired: "You are no longer signed in: sign in again, then send the file.",
        CsrfTokenInvalid: "The page has expired: reload it and try again.",
        ReadOnlyToken: "This token can only read.",
        Forbidden: "Only the organisation's editors can change this dataset.",
        NotFound: "Dataset not found.",
      },
    },
  };
  const T = MESSAGES[LANG];
  const state = document.getElementById("envoi-etat");
  const bar = document.getElementById("envoi-progression");
  const percent = document.getElementById("envoi-pourcent");
  const message = document.getElementById("envoi-message");
  const result = document.getElementById("envoi-resultat");
  const button = form.querySelector("button[type=submit]");
  const input = document.getElementById("fichier");

  function say(text) {
    message.textContent = text;
  }

  function add(parent, tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function pct(value) {
    return LANG === "en" ? value + "%" : value + " %";
  }

  function number(value) {
    return value.toLocaleString(LOCALE);
  }

  // Sizes people read: « 45 octets », « 12,3 Kio », « 4,5 Mio » (a 45-byte file was « 0 Mio »).
  function mebibytes(count) {
    if (count < 1024) return T.bytes(number(count));
    if (count < 1048576) {
      return (count / 1024).toLocaleString(LOCALE, { maximumFractionDigits: 1 }) + " " + T.kibibytes;
    }
    return (count / 1048576).toLocaleString(LOCALE, { maximumFractionDigits: 1 }) + " " + T.mebibytes;
  }

  // The status line above the form follows the layers just loaded (it said « Pas encore
  // de données » after a success).
  function status(layers) {
    const line = document.getElementById("etat-couches");
    if (!line || !layers) return;
    line.textContent =
      T.layers + layers.map((layer) => T.layerCount(layer.name, number(layer.feature_count))).join(", ");
  }

  function comparison(body) {
    const box = document.getElementById("confirmation-comparaison");
    box.replaceChildren();
    if (!body.before || !body.after) return;
    const table = add(box, "table");
    const head = add(add(table, "thead"), "tr");
    for (const text of ["", T.before, T.after]) add(head, "th", text).scope = "col";
    const rows = add(table, "tbody");
    const total = (layers) => number(layers.reduce((sum, layer) => sum + layer.feature_count, 0));
    const names = (layers) => layers.map((layer) => layer.columns.join(", ")).join(" | ");
    for (const [label, fn] of [[T.rows, total], [T.columns, names]]) {
      const row = add(rows, "tr");
      add(row, "th", label).scope = "row";
      add(row, "td", fn(body.before));
      add(row, "td", fn(body.after));
    }
    if (body.removed_columns && body.removed_columns.length) {
      add(box, "p", T.removedColumns + body.removed_columns.join(", "));
    }
    if (body.added_columns && body.added_columns.length) {
      add(box, "p", T.addedColumns + body.added_columns.join(", "));
    }
  }

  function report(body, mode) {
    result.replaceChildren();
    add(result, "h2", T.result);
    if (mode === "attachment") {
      add(result, "p", T.fileAdded(body.title, mebibytes(body.size)));
      add(result, "p", T.checksum + body.checksum);
      return;
    }
    const added = body.added_count === undefined ? body.feature_count : body.added_count;
    add(result, "p", T.loaded(number(added), number(body.seconds)));
    if (mode === "append") add(result, "p", T.added(number(added), number(body.feature_count)));
    status(body.layers);
    add(result, "p", T.fileChecksum + body.checksum);
    if (body.repaired) add(result, "p", T.repaired(body.repaired));
    const list = add(result, "ul");
    for (const layer of body.layers) {
      const item = add(list, "li", T.layer(layer.name, number(layer.feature_count)));
      if (layer.notes.length) {
        const notes = add(item, "ul");
        for (const note of layer.notes) add(notes, "li", note);
      }
    }
    for (const raster of body.rasters || []) {
      const item = add(list, "li", T.raster(raster.collection_id, number(raster.width), number(raster.height), raster.band_count, raster.crs));
      add(add(item, "ul"), "li", T.rasterSizes(mebibytes(raster.size_before), mebibytes(raster.size_after)));
    }
    for (const check of body.validation || []) schemaReport(check);
    const link = add(add(result, "p"), "a", T.edit);
    link.href = "/jeux-de-donnees/" + form.dataset.slug + "/modifier";
  }

  // A file checked against its dataset's Table Schema: the summary and the first errors
  // by row and column (the sentences come from the API, in the page's language).
  function schemaReport(check) {
    add(result, "p", check.summary);
    if (!check.errors || !check.errors.length) return;
    const list = add(result, "ul");
    for (const error of check.errors.slice(0, 20)) {
      add(list, "li", T.schemaError(error.row === null ? "—" : error.row, error.column || "—", error.message));
    }
  }

  function failure(text, body) {
    result.replaceChildren();
    add(result, "h2", T.failed);
    const alert = add(result, "p", text);
    alert.className = "alert";
    alert.setAttribute("role", "alert");
    for (const check of (body && body.validation) || []) schemaReport(check);
    add(result, "p", T.unchanged);
  }

  const confirmation = document.getElementById("envoi-confirmation");
  const yes = document.getElementById("confirmation-oui");
  const no = document.getElementById("confirmation-non");
  let pending = null; // the file and mode waiting for the editor's confirmation

  function ask(body, file, mode) {
    pending = { file: file, mode: mode };
    document.getElementById("confirmation-titre").textContent =
      T.confirmTitle[body.code] || T.confirmTitle.ReplaceChanges;
    document.getElementById("confirmation-message").textContent = body.description || "";
    comparison(body);
    confirmation.hidden = false;
    yes.focus();
  }

  yes.addEventListener("click", function () {
    confirmation.hidden = true;
    if (pending) send(pending.file, pending.mode, true);
    pending = null;
  });
  no.addEventListener("click", function () {
    confirmation.hidden = true;
    pending = null;
    say(T.cancelled);
    result.replaceChildren();
  });

  // A large file is ingested as a background job (202): follow GET /api/jobs/{id}
  // until it ends, then land on the dataset's page (or say why it failed).
  function follow(url, mode, confirmed, file) {
    button.disabled = true;
    bar.removeAttribute("value");
    say(T.queued);
    const poll = function () {
      fetch(url + "?lang=" + LANG, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => response.json().then((job) => ({ status: response.status, job: job })))
        .then(function ({ status: code, job }) {
          if (code !== 200) {
            button.disabled = false;
            say(T.failedStatus);
            failure(job.description || T.error(code));
            return;
          }
          if (job.state === "succeeded") {
            bar.value = 100;
            percent.textContent = pct(100);
            say(T.landing);
            window.location.assign("/jeux-de-donnees/" + encodeURIComponent(form.dataset.slug));
          } else if (job.state === "failed") {
            button.disabled = false;
            const error = job.error || {};
            if (!confirmed && Object.hasOwn(T.confirmTitle, error.code)) {
              say(T.confirmTitle[error.code] + ".");
              ask(Object.assign({ code: error.code, description: error.message }, error.details || {}), file, mode);
            } else {
              say(T.failedStatus);
              failure(error.message || T.failedStatus, error.details);
            }
          } else {
            if (job.state === "running" && job.progress !== null) {
              const done = Math.round(job.progress * 100);
              bar.value = done;
              percent.textContent = pct(done);
              say(T.running(pct(done)));
            } else {
              say(job.state === "running" ? T.running(null) : T.queued);
            }
            setTimeout(poll, 2000);
          }
        })
        .catch(function () {
          setTimeout(poll, 4000);
        });
    };
    setTimeout(poll, 1000);
  }

  function send(file, mode, confirmed) {
    const base = "/api/datasets/" + encodeURIComponent(form.dataset.slug);
    const url =
      (mode === "attachment" ? base + "/resources?" : base + "/layers?mode=" + mode + "&") +
      (confirmed ? "confirm=true&" : "") +
      "lang=" + LANG;
    const data = new FormData();
    data.append("file", file, file.name);
    const sheet = document.getElementById("feuille");
    if (sheet && sheet.value.trim() && mode !== "attachment") data.append("sheet", sheet.value.trim());
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.responseType = "json";
    state.hidden = false;
    confirmation.hidden = true;
    bar.value = 0;
    percent.textContent = pct(0);
    result.replaceChildren();
    button.disabled = true;
    say(T.sending(file.name, mebibytes(file.size)));
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      const done = Math.round((e.loaded / e.total) * 100);
      bar.value = done;
      percent.textContent = pct(done);
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      percent.textContent = pct(100);
      say(mode === "attachment" ? T.receivedAttachment : T.receivedData);
      bar.removeAttribute("value"); // indeterminate while the server ingests
    });
    request.addEventListener("load", function () {
      button.disabled = false;
      bar.value = 100;
      const body = request.response || {};
      if (request.status === 202 && body.status_url) {
        follow(body.status_url, mode, confirmed, file);
      } else if (request.status >= 200 && request.status < 300) {
        say(T.done);
        report(body, mode);
      } else if (request.status === 409 && !confirmed && Object.hasOwn(T.confirmTitle, body.code)) {
        say(T.confirmTitle[body.code] + ".");
        ask(body, file, mode);
      } else {
        say(T.failedStatus);
        const known = typeof body.code === "string" && Object.hasOwn(T.codes, body.code);
        failure(known ? T.codes[body.code] : body.description || T.error(request.status), body);
      }
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      say(T.failedStatus);
      failure(T.interrupted);
    });
    request.send(data);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    const max = Number(form.dataset.max);
    if (max && file.size > max) {
      failure(T.tooBig(mebibytes(file.size), mebibytes(max)));
      return;
    }
    send(file, form.querySelector("input[name=mode]:checked").value, false);
  });
})();
