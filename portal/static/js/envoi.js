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
      mebibytes: "Mio",
      result: "Résultat",
      fileAdded: (title, size) => "Fichier « " + title + " » ajouté (" + size + ").",
      checksum: "Empreinte : ",
      loaded: (count, seconds) => count + " objet(s) intégré(s) en " + seconds + " s.",
      fileChecksum: "Empreinte du fichier : ",
      repaired: (n) => n + " géométrie(s) invalide(s) réparée(s).",
      layer: (name, count) => "Couche « " + name + " » : " + count + " objet(s)",
      edit: "Publier ou modifier la fiche",
      failed: "Échec",
      failedStatus: "Échec.",
      unchanged: "Rien n'a été modifié : les données précédentes restent en ligne.",
      tooBig: (size, max) => "Fichier trop gros : " + size + " pour " + max + " au plus.",
      sending: (name, size) => "Envoi de « " + name + " » (" + size + ")…",
      receivedAttachment: "Fichier reçu, enregistrement…",
      receivedData: "Fichier reçu, intégration des données en cours…",
      done: "Terminé.",
      error: (status) => "Erreur " + status + ".",
      interrupted: "La connexion a été interrompue pendant l'envoi.",
      // The API's own descriptions are French: nothing to replace.
      codes: {},
    },
    en: {
      mebibytes: "MiB",
      result: "Result",
      fileAdded: (title, size) => "File “" + title + "” added (" + size + ").",
      checksum: "Checksum: ",
      loaded: (count, seconds) =>
        count + (count === "1" ? " feature" : " features") + " loaded in " + seconds + " s.",
      fileChecksum: "File checksum: ",
      repaired: (n) => n + (n === 1 ? " invalid geometry repaired." : " invalid geometries repaired."),
      layer: (name, count) => "Layer “" + name + "”: " + count + (count === "1" ? " feature" : " features"),
      edit: "Publish or edit the record",
      failed: "Failed",
      failedStatus: "Failed.",
      unchanged: "Nothing was changed: the previous data stay online.",
      tooBig: (size, max) => "File too large: " + size + ", the limit is " + max + ".",
      sending: (name, size) => "Sending “" + name + "” (" + size + ")…",
      receivedAttachment: "File received, saving…",
      receivedData: "File received, loading the data…",
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

  function mebibytes(count) {
    return (count / 1048576).toLocaleString(LOCALE, { maximumFractionDigits: 1 }) + " " + T.mebibytes;
  }

  function report(body, mode) {
    result.replaceChildren();
    add(result, "h2", T.result);
    if (mode === "attachment") {
      add(result, "p", T.fileAdded(body.title, mebibytes(body.size)));
      add(result, "p", T.checksum + body.checksum);
      return;
    }
    add(result, "p", T.loaded(number(body.feature_count), number(body.seconds)));
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
    const link = add(add(result, "p"), "a", T.edit);
    link.href = "/jeux-de-donnees/" + form.dataset.slug + "/modifier";
  }

  function failure(text) {
    result.replaceChildren();
    add(result, "h2", T.failed);
    const alert = add(result, "p", text);
    alert.className = "alert";
    alert.setAttribute("role", "alert");
    add(result, "p", T.unchanged);
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
    const mode = form.querySelector("input[name=mode]:checked").value;
    const base = "/api/datasets/" + encodeURIComponent(form.dataset.slug);
    const url =
      (mode === "attachment" ? base + "/resources?" : base + "/layers?mode=" + mode + "&") +
      "lang=" + LANG;
    const data = new FormData();
    data.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.responseType = "json";
    state.hidden = false;
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
      if (request.status >= 200 && request.status < 300) {
        say(T.done);
        report(body, mode);
      } else {
        say(T.failedStatus);
        const known = typeof body.code === "string" && Object.hasOwn(T.codes, body.code);
        failure(known ? T.codes[body.code] : body.description || T.error(request.status));
      }
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      say(T.failedStatus);
      failure(T.interrupted);
    });
    request.send(data);
  });
})();
