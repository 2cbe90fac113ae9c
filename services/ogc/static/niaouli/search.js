/* The catalogue's search box (records page) shows the words being searched: the page is
 * rendered by pygeoapi, which does not hand the query to the template. */
(function () {
  "use strict";
  var box = document.getElementById("q");
  var words = new URLSearchParams(document.location.search).get("q");
  if (box && words) {
    box.value = words;
  }
})();
