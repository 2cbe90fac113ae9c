// The « fichier en préparation » page: polls the export's status (`?etat`, JSON) and
// starts the download when the file is ready. Texts come from the page itself (French
// or English), so this script holds none.
(() => {
  const box = document.getElementById("export-etat");
  if (!box) return;
  const message = document.getElementById("export-message");
  const ready = document.getElementById("export-pret");
  const progress = document.getElementById("export-progression");
  const every = Math.max(1, Number(box.dataset.retry) || 5) * 1000;

  async function poll() {
    let body;
    try {
      const response = await fetch(box.dataset.status, { headers: { Accept: "application/json" } });
      body = await response.json();
    } catch (error) {
      setTimeout(poll, every);
      return;
    }
    message.textContent = body.message + (body.error ? " " + body.error : "");
    if (body.state === "ready") {
      if (progress) progress.hidden = true;
      ready.hidden = false;
      window.location.assign(box.dataset.url);
    } else if (body.state === "failed") {
      if (progress) progress.hidden = true;
    } else {
      setTimeout(poll, every);
    }
  }
  setTimeout(poll, every);
})();
