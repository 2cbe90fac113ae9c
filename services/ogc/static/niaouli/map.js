/* Maps of the OGC API HTML pages (Leaflet, served locally).
 *
 * No inline script: the page puts its data in <script type="application/json"> blocks
 * (JSON escaped by the template, never executed) and its settings in data- attributes;
 * this file reads them. Property values are only ever inserted as text, never as HTML.
 */
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function popupFor(feature, itemsUrl) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.textContent = "Entité " + feature.id;
    link.href = itemsUrl + "/" + encodeURIComponent(feature.id) + "?f=html";
    box.appendChild(link);
    var list = document.createElement("dl");
    Object.keys(feature.properties || {}).slice(0, 12).forEach(function (key) {
      var term = document.createElement("dt");
      term.textContent = key;
      var value = document.createElement("dd");
      var raw = feature.properties[key];
      value.textContent = raw === null ? "" : String(raw);
      list.appendChild(term);
      list.appendChild(value);
    });
    box.appendChild(list);
    return box;
  }

  function draw(element) {
    var map = L.map(element);
    L.tileLayer(element.dataset.tiles, {
      maxZoom: 18,
      attribution: element.dataset.attribution || ""
    }).addTo(map);
    var features = readJson(element.dataset.source);
    var bbox = element.dataset.bbox ? JSON.parse(element.dataset.bbox) : null;
    if (features) {
      var layer = L.geoJSON(features, {
        onEachFeature: function (feature, shape) {
          if (element.dataset.items) {
            shape.bindPopup(popupFor(feature, element.dataset.items));
          }
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (bounds.isValid()) {
        map.fitBounds(bounds, { maxZoom: 15 });
        return;
      }
    }
    if (bbox) {
      var area = L.rectangle([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], { fill: false });
      area.addTo(map);
      map.fitBounds(area.getBounds());
    } else {
      map.setView([-21.3, 165.5], 7); // New Caledonia
    }
  }

  document.querySelectorAll("[data-map]").forEach(draw);

  var limits = document.getElementById("limits");
  if (limits) {
    limits.addEventListener("change", function (event) {
      var params = new URLSearchParams(document.location.search);
      params.set("limit", event.target.value);
      params.delete("offset");
      document.location.search = params.toString();
    });
  }
})();
