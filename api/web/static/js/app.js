// The citizens' map: parcels coloured by land use, search, parcel information, VI/EN.
import * as maplibregl from "../vendor/maplibre-gl.mjs";
import { ApiError, loadStyle, parcelExtent } from "./data.js";
import { formatNumber, language, LANGUAGES, setLanguage, t, tn } from "./i18n.js";
import { parseQuery, runQuery } from "./search.js";

const FILL_LAYER = "parcels-fill";
const SELECTED_LAYER = "parcels-selected";
const NOTHING = ["==", ["get", "parcel_no"], -1];
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

const $ = (id) => document.getElementById(id);
const state = { legend: [], other: "#D9D9D9", results: null, selected: null, visibleCodes: new Set() };
let map;

function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(asked)) return asked;
  try {
    const saved = localStorage.getItem("landrec.lang");
    if (LANGUAGES.includes(saved)) return saved;
  } catch { /* storage may be off */ }
  return "vi";
}

function landUseName(code) {
  const entry = state.legend.find((e) => e.code === String(code ?? "").toUpperCase());
  if (!entry) return code ? String(code) : t("unknown");
  return `${entry.code} – ${language() === "vi" ? entry.name_vi : entry.name_en}`;
}

function status(text) {
  $("map-status").textContent = text;
}

// --- information panel ------------------------------------------------------------

function renderInfo() {
  const p = state.selected;
  const panel = $("info");
  if (!p) {
    panel.hidden = true;
    return;
  }
  const rows = [
    ["parcel_no", p.parcel_no],
    ["sheet_no", p.sheet_no],
    ["commune_code", p.commune_code],
    ["area_m2", p.area_m2 == null ? null : `${formatNumber(Number(p.area_m2))} m²`],
    ["land_use", landUseName(p.land_use)],
    ["address", p.address],
  ];
  const dl = $("info-fields");
  dl.replaceChildren();
  for (const [key, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = t(`field.${key}`);
    const dd = document.createElement("dd");
    dd.textContent = value == null || value === "" ? t("unknown") : String(value);
    dd.dataset.field = key;
    dl.append(dt, dd);
  }
  panel.hidden = false;
}

function select(props, { focus = false } = {}) {
  state.selected = props;
  const conds = ["all", ["==", ["to-number", ["get", "parcel_no"]], Number(props.parcel_no)],
                 ["==", ["get", "sheet_no"], String(props.sheet_no)]];
  if (props.commune_code != null) conds.push(["==", ["get", "commune_code"], String(props.commune_code)]);
  map.setFilter(SELECTED_LAYER, conds);
  renderInfo();
  status(t("map.selected", { parcel: props.parcel_no, sheet: props.sheet_no }));
  if (focus) $("info").focus();
}

function clearSelection() {
  state.selected = null;
  map.setFilter(SELECTED_LAYER, NOTHING);
  renderInfo();
}

// --- search -------------------------------------------------------------------------

function bounds(geometry) {
  const b = new maplibregl.LngLatBounds();
  const walk = (c) => (typeof c[0] === "number" ? b.extend(c) : c.forEach(walk));
  walk(geometry.coordinates);
  return b;
}

function zoomTo(feature) {
  if (!feature.geometry) return;
  // keep the parcel clear of the results (left) and information (right) panels
  const padding = window.innerWidth > 900 ? { top: 60, bottom: 60, left: 350, right: 370 } : 40;
  map.fitBounds(bounds(feature.geometry), { padding, maxZoom: 19, duration: reducedMotion ? 0 : 600 });
}

function choose(feature) {
  zoomTo(feature);
  select(feature.properties, { focus: true });
}

function renderResults() {
  const section = $("results");
  const list = $("results-list");
  list.replaceChildren();
  const r = state.results;
  if (!r) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  if (r.error) {
    $("results-status").textContent = t("error.server", { msg: r.error });
    return;
  }
  if (r.pending) {
    $("results-status").textContent = t("results.searching");
    return;
  }
  if (r.empty) {
    $("results-status").textContent = t("results.empty");
    return;
  }
  $("results-status").textContent = !r.features.length ? t("results.none")
    : r.more ? tn("results.more", r.features.length) : tn("results.count", r.features.length);
  for (const f of r.features) {
    const p = f.properties;
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "result";
    const head = document.createElement("strong");
    head.textContent = t("results.item", { sheet: p.sheet_no, parcel: p.parcel_no });
    const sub = document.createElement("span");
    sub.textContent = [landUseName(p.land_use), p.address].filter(Boolean).join(" · ");
    button.append(head, sub);
    button.addEventListener("click", () => choose(f));
    li.append(button);
    list.append(li);
  }
}

async function onSearch(event) {
  event.preventDefault();
  const query = parseQuery($("q").value);
  if (query.kind === "empty") {
    state.results = { empty: true };
    renderResults();
    return;
  }
  state.results = { pending: true };
  renderResults();
  try {
    const { features, more } = await runQuery(query);
    state.results = { features, more };
    renderResults();
    if (features.length === 1) choose(features[0]);
  } catch (err) {
    state.results = { error: err instanceof ApiError ? err.message : String(err) };
    renderResults();
  }
}

// --- legend -------------------------------------------------------------------------

function renderLegend() {
  const list = $("legend-list");
  list.replaceChildren();
  const shown = state.legend.filter((e) => state.visibleCodes.has(e.code));
  const entries = shown.length ? shown : state.legend;
  const rows = entries.map((e) => [e.color, `${e.code} – ${language() === "vi" ? e.name_vi : e.name_en}`, e.code]);
  if ([...state.visibleCodes].some((c) => !state.legend.some((e) => e.code === c))) {
    rows.push([state.other, t("legend.other"), ""]);
  }
  for (const [color, text, code] of rows) {
    const li = document.createElement("li");
    li.dataset.code = code;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color;
    swatch.setAttribute("aria-hidden", "true");
    li.append(swatch, document.createTextNode(text));
    list.append(li);
  }
}

function updateVisibleCodes() {
  const codes = new Set(map.queryRenderedFeatures({ layers: [FILL_LAYER] })
    .map((f) => String(f.properties.land_use ?? "").toUpperCase()));
  const same = codes.size === state.visibleCodes.size && [...codes].every((c) => state.visibleCodes.has(c));
  if (!same) {
    state.visibleCodes = codes;
    renderLegend();
  }
}

// --- language -----------------------------------------------------------------------

/** MapLibre's own controls carry English strings: give them ours. */
function translateControls() {
  const label = (selector, key) => {
    for (const el of document.querySelectorAll(selector)) {
      el.title = t(key);
      el.setAttribute("aria-label", t(key));
    }
  };
  label(".maplibregl-ctrl-zoom-in", "map.zoomIn");
  label(".maplibregl-ctrl-zoom-out", "map.zoomOut");
  label(".maplibregl-canvas", "map.canvas");
}

function applyLanguage(lang) {
  setLanguage(lang);
  translateControls();
  try { localStorage.setItem("landrec.lang", language()); } catch { /* storage may be off */ }
  renderLegend();
  renderResults();
  renderInfo();
}

// --- start --------------------------------------------------------------------------

async function start() {
  applyLanguage(initialLanguage());
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => applyLanguage(b.dataset.lang));
  $("search").addEventListener("submit", onSearch);
  $("info-close").addEventListener("click", () => { clearSelection(); $("q").focus(); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && state.selected) { clearSelection(); $("q").focus(); }
  });
  status(t("map.loading"));

  const style = await loadStyle();
  const fill = style.layers.find((l) => l.id === FILL_LAYER);
  state.legend = fill.metadata["landrec:legend"];
  state.other = fill.metadata["landrec:other"];
  renderLegend();

  let extent = null;
  try { extent = await parcelExtent(); } catch (err) { status(t("error.server", { msg: err.message })); }
  // the view is kept in the address (#zoom/lat/lon): a link opens the same place
  const linked = /^#[\d.]+\/-?[\d.]+\/-?[\d.]+/.test(location.hash);
  map = new maplibregl.Map({
    container: "map",
    style,
    hash: true,
    bounds: !linked && extent ? [[extent[0], extent[1]], [extent[2], extent[3]]] : undefined,
    center: !linked && !extent ? [106.2, 21.27] : undefined,
    zoom: !linked && !extent ? 13 : undefined,
    fitBoundsOptions: { padding: 40 },
    attributionControl: false,
    maxZoom: 21,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  translateControls();
  map.on("click", FILL_LAYER, (e) => select(e.features[0].properties));
  map.on("mouseenter", FILL_LAYER, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", FILL_LAYER, () => { map.getCanvas().style.cursor = ""; });
  map.on("idle", updateVisibleCodes);
  map.once("load", () => status(t("map.ready")));
  map.on("error", (e) => console.error("map error:", e.error?.status ?? "", e.error?.message ?? e.error, e.error?.url ?? ""));
  // for tests and debugging in the console: the map, and a promise of its next idle moment
  window.landrec = {
    map,
    idle: () => new Promise((resolve) => {
      if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) resolve();
      else map.once("idle", () => resolve());
    }),
  };
}

start().catch((err) => status(t("error.server", { msg: err.message })));
