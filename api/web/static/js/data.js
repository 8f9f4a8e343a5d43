// All data access of the page: the landrec OGC API endpoints in one place.
// The API root comes from <meta name="landrec-api"> (relative to the page).

const meta = document.querySelector('meta[name="landrec-api"]');
export const API_ROOT = new URL(meta ? meta.content : "/", location.href).href.replace(/\/?$/, "/");
export const STYLE_URL = new URL("vendor/landuse-style.json", location.href).href;

const PARCELS = "collections/parcels";
const SHEETS = "collections/map_sheets";
/** the parcel fields the page shows: public fields only, never personal data */
export const PUBLIC_FIELDS = ["parcel_no", "sheet_no", "commune_code", "area_m2", "land_use", "address"];
const MAX_RESULTS = 20;

export class ApiError extends Error {}

async function getJSON(path, params = {}) {
  const url = new URL(path, API_ROOT);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/geo+json, application/json" } });
  } catch (err) {
    throw new ApiError(err.message);
  }
  if (response.status === 404) return null;
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).description || detail; } catch { /* not JSON */ }
    throw new ApiError(`${response.status} ${detail}`);
  }
  return response.json();
}

/** The land-use style generated from the one table; its tile URL made absolute. */
export async function loadStyle() {
  const response = await fetch(STYLE_URL);
  if (!response.ok) throw new ApiError(`${response.status} ${STYLE_URL}`);
  const style = await response.json();
  for (const source of Object.values(style.sources)) {
    if (source.tiles) source.tiles = source.tiles.map((u) => (/^https?:/.test(u) ? u : API_ROOT + u.replace(/^\//, "")));
  }
  return style;
}

/** [west, south, east, north] of the parcels (CRS84), or null. */
export async function parcelExtent() {
  const c = await getJSON(PARCELS, { f: "json" });
  const bbox = c?.extent?.spatial?.bbox?.[0];
  return Array.isArray(bbox) && bbox.length >= 4 ? bbox : null;
}

function publicProperties(feature) {
  const props = {};
  for (const k of PUBLIC_FIELDS) props[k] = feature.properties?.[k] ?? null;
  return { type: "Feature", geometry: feature.geometry, properties: props };
}

/** `{features, more}`: at most MAX_RESULTS parcels, and whether the server has more. */
async function parcelItems(params) {
  const fc = await getJSON(`${PARCELS}/items`, { f: "json", limit: MAX_RESULTS, ...params });
  const features = (fc?.features ?? []).map(publicProperties);
  const more = (fc?.links ?? []).some((l) => l.rel === "next") || (fc?.numberMatched ?? 0) > features.length;
  return { features, more };
}

/** Parcels with this Circular 25/2014 sheet number and parcel number. */
export function parcelsBySheet(sheetNo, parcelNo) {
  return parcelItems({ sheet_no: sheetNo, parcel_no: parcelNo });
}

/** Circular sheet numbers of the sheets whose local number ("tờ số N") is `localNo`. */
export async function sheetsByLocalNumber(localNo) {
  const fc = await getJSON(`${SHEETS}/items`, { f: "json", local_no: localNo, skipGeometry: "true", limit: 100 });
  return [...new Set((fc?.features ?? []).map((f) => f.properties.sheet_no).filter(Boolean))];
}

/** Parcels whose address contains `text` (CQL2 LIKE). */
export function parcelsByAddress(text) {
  const literal = `%${text.replace(/[%_]/g, "")}%`.replace(/'/g, "''");
  return parcelItems({ filter: `address LIKE '${literal}'`, "filter-lang": "cql2-text" });
}
