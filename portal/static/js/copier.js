// "Copier" buttons for the code snippets of dataset pages (progressive enhancement:
// without JavaScript the snippets are plain selectable text). Each `pre[data-copier]`
// gets a button that copies its text and says so in a live region.
const LANG = document.documentElement.lang === "en" ? "en" : "fr";
const MESSAGES = {
  fr: {
    copy: "Copier",
    copied: "Copié dans le presse-papiers.",
    failed: "Copie impossible : sélectionnez le texte.",
  },
  en: {
    copy: "Copy",
    copied: "Copied to the clipboard.",
    failed: "Could not copy: please select the text.",
  },
}[LANG];

function fallbackCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } finally {
    area.remove();
  }
  return ok;
}

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: try the old way
    }
  }
  return fallbackCopy(text);
}

for (const pre of document.querySelectorAll("pre[data-copier]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy-button";
  button.textContent = MESSAGES.copy;
  const status = document.createElement("span");
  status.className = "copy-status";
  status.setAttribute("role", "status");
  if (pre.id) button.setAttribute("aria-controls", pre.id);
  button.addEventListener("click", async () => {
    const ok = await copy(pre.textContent);
    status.textContent = ok ? MESSAGES.copied : MESSAGES.failed;
    button.dataset.copied = ok ? "oui" : "non";
  });
  const bar = document.createElement("div");
  bar.className = "copy-bar";
  bar.append(button, status);
  pre.before(bar);
}
