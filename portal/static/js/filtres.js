// Search filters (/recherche, /jeux-de-donnees): on phones they fold into one line,
// « Filtres (2 actifs) », above the results instead of pushing them down the page; on wide
// screens they are always open beside the results (the CSS hides their toggle there).
// The page sends them open, so without JavaScript they are simply shown everywhere.
const WIDE = window.matchMedia("(min-width: 60rem)"); // the search layout's breakpoint

function follow(panel) {
  panel.open = WIDE.matches;
}

const panel = document.getElementById("filtres");
if (panel) {
  follow(panel);
  WIDE.addEventListener("change", () => follow(panel));
}
