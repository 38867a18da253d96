// Shared by the commune pages and carte.html. Served (costa serve): the PMTiles archives, read by
// byte ranges, down to the raster's own pixels. From file:// a page cannot read the files beside
// it: the downsampled overlay inlined in the page instead.
const served = location.protocol === "http:" || location.protocol === "https:";
const useTiles = served && data.tiles.length > 0 && typeof pmtiles !== "undefined";
const landcover = () => {
  const bases = {};
  if (useTiles) {
    for (const t of data.tiles) {
      bases["Occupation du sol " + t.label] = pmtiles.leafletRasterLayer(new pmtiles.PMTiles(t.url), {
        minNativeZoom: t.min_zoom, maxNativeZoom: t.max_zoom, maxZoom: 22, className: "landcover-tiles",
      });
    }
  } else {
    for (const o of data.overlays) {
      bases["Occupation du sol " + o.label] = L.imageOverlay(o.url, o.bounds, {
        className: "landcover", alt: "Occupation du sol " + o.label,
      });
    }
  }
  return bases;
};
// Figures in a popup, built as DOM nodes (never HTML strings: names come from the data).
const table = (title, rows, link) => {
  const box = document.createElement("div");
  const h = document.createElement("strong");
  h.textContent = title;
  const t = document.createElement("table");
  t.className = "popup";
  for (const [k, v] of rows) {
    const tr = t.insertRow();
    const th = document.createElement("th");
    th.textContent = k;
    tr.appendChild(th);
    tr.insertCell().textContent = v;
  }
  box.append(h, t);
  if (link) {
    const a = document.createElement("a");
    a.href = link;
    a.textContent = "Page de la commune";
    box.append(a);
  }
  return box;
};
const fr = (v, unit) => v.toLocaleString("fr-FR") + " " + unit;
const parcelLayer = (geojson, communeName) => L.geoJSON(geojson, {
  style: (f) => ({ color: data.colors[f.properties.statut], weight: 1.5, fillOpacity: 0.04 }),
  onEachFeature: (f, layer) => {
    const p = f.properties;
    const tip = document.createElement("span");
    tip.textContent = p.id + " — " + p.statut + " (" + p.artif_pct + " %)";
    layer.bindTooltip(tip);
    layer.bindPopup(table("Parcelle " + p.id, [
      ["Statut", p.statut], ["Surface", fr(p.surface_m2, "m²")],
      ["Surface artificialisée", fr(p.artif_m2, "m²")], ["Part artificialisée", fr(p.artif_pct, "%")],
      ["Commune", communeName],
    ]), { maxWidth: 420 });
  },
});
