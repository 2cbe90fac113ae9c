// Upload page (/jeux-de-donnees/{slug}/envoyer): send the file to the writing API with
// the session and the CSRF header, show the upload progress, then the ingestion report.
// Text only goes through textContent: nothing from the server is parsed as HTML.
(function () {
  "use strict";
  const form = document.getElementById("envoi");
  if (!form) return;
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

  function mebibytes(count) {
    return (count / 1048576).toLocaleString("fr-FR", { maximumFractionDigits: 1 }) + " Mio";
  }

  function report(body, mode) {
    result.replaceChildren();
    add(result, "h2", "Résultat");
    if (mode === "attachment") {
      add(result, "p", "Fichier « " + body.title + " » ajouté (" + mebibytes(body.size) + ").");
      add(result, "p", "Empreinte : " + body.checksum);
      return;
    }
    const count = body.feature_count.toLocaleString("fr-FR");
    add(result, "p", count + " objet(s) intégré(s) en " + body.seconds.toLocaleString("fr-FR") + " s.");
    add(result, "p", "Empreinte du fichier : " + body.checksum);
    if (body.repaired) add(result, "p", body.repaired + " géométrie(s) invalide(s) réparée(s).");
    const list = add(result, "ul");
    for (const layer of body.layers) {
      const item = add(list, "li", "Couche « " + layer.name + " » : " + layer.feature_count.toLocaleString("fr-FR") + " objet(s)");
      if (layer.notes.length) {
        const notes = add(item, "ul");
        for (const note of layer.notes) add(notes, "li", note);
      }
    }
    const link = add(add(result, "p"), "a", "Publier ou modifier la fiche");
    link.href = "/jeux-de-donnees/" + form.dataset.slug + "/modifier";
  }

  function failure(text) {
    result.replaceChildren();
    add(result, "h2", "Échec");
    const alert = add(result, "p", text);
    alert.className = "alert";
    alert.setAttribute("role", "alert");
    add(result, "p", "Rien n'a été modifié : les données précédentes restent en ligne.");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    const max = Number(form.dataset.max);
    if (max && file.size > max) {
      failure("Fichier trop gros : " + mebibytes(file.size) + " pour " + mebibytes(max) + " au plus.");
      return;
    }
    const mode = form.querySelector("input[name=mode]:checked").value;
    const base = "/api/datasets/" + encodeURIComponent(form.dataset.slug);
    const url = mode === "attachment" ? base + "/resources" : base + "/layers?mode=" + mode;
    const data = new FormData();
    data.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.responseType = "json";
    state.hidden = false;
    bar.value = 0;
    percent.textContent = "0 %";
    result.replaceChildren();
    button.disabled = true;
    say("Envoi de « " + file.name + " » (" + mebibytes(file.size) + ")…");
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      const done = Math.round((e.loaded / e.total) * 100);
      bar.value = done;
      percent.textContent = done + " %";
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      percent.textContent = "100 %";
      say(mode === "attachment" ? "Fichier reçu, enregistrement…" : "Fichier reçu, intégration des données en cours…");
      bar.removeAttribute("value"); // indeterminate while the server ingests
    });
    request.addEventListener("load", function () {
      button.disabled = false;
      bar.value = 100;
      const body = request.response || {};
      if (request.status >= 200 && request.status < 300) {
        say("Terminé.");
        report(body, mode);
      } else {
        say("Échec.");
        failure(body.description || "Erreur " + request.status + ".");
      }
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      say("Échec.");
      failure("La connexion a été interrompue pendant l'envoi.");
    });
    request.send(data);
  });
})();
