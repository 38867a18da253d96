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
// The orthophotos under the land cover (served only: PMTiles read by byte ranges, each vintage in
// its own pane below the land cover's), a slider for the land cover's opacity (70 % at first, the
// photo showing through) and, with two vintages, a swipe: the older photo left of the handle, the
// newer one right of it. Without photos, no control: the land cover stays opaque.
const orthoControls = (map, bases) => {
  const photos = {};
  const list = useTiles && data.photos ? data.photos : [];
  if (!list.length) { return photos; }
  list.forEach((t, i) => {
    map.createPane("ortho" + i).style.zIndex = 150 + i;  // under the tile pane (200)
    photos["Ortho-photo " + t.label] = pmtiles.leafletRasterLayer(new pmtiles.PMTiles(t.url), {
      pane: "ortho" + i, minNativeZoom: t.min_zoom, maxNativeZoom: t.max_zoom, maxZoom: 22, className: "ortho-tiles",
    }).addTo(map);
  });
  const box = L.DomUtil.create("div", "leaflet-bar ortho-control");
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  const slider = (id, text, value) => {
    const label = L.DomUtil.create("label", "", box);
    label.textContent = text;
    const input = L.DomUtil.create("input", "", label);
    Object.assign(input, { type: "range", id, min: 0, max: 100, value });
    return input;
  };
  const opacity = slider("opacity", "Opacité de l'occupation du sol", 70);
  const fade = () => { for (const l of Object.values(bases)) { l.setOpacity(opacity.value / 100); } };
  opacity.addEventListener("input", fade);
  fade();
  if (list.length === 2) {
    const swipe = slider("swipe", "Ortho-photo " + list[0].label + " ◀ ▶ " + list[1].label, 50);
    const top = map.getPane("ortho1");
    const clip = () => {
      const nw = map.containerPointToLayerPoint([0, 0]);
      const se = map.containerPointToLayerPoint(map.getSize());
      const x = nw.x + (se.x - nw.x) * swipe.value / 100;
      top.style.clip = "rect(" + nw.y + "px, " + se.x + "px, " + se.y + "px, " + x + "px)";
    };
    swipe.addEventListener("input", clip);
    map.on("move zoomend resize", clip);
    map.whenReady(clip);
  }
  const Control = L.Control.extend({ onAdd: () => box });
  new Control({ position: "bottomleft" }).addTo(map);
  return photos;
};
