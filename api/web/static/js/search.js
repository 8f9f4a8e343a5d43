// Reading what a citizen types into the search box, and running the search.
import { parcelsByAddress, parcelsBySheet, sheetsByLocalNumber } from "./data.js";

const SHEET = String.raw`(\d[\dA-Za-z()\-]*)`;
const WORDS_SHEET = String.raw`(?:tờ|to|sheet|t)(?:\s*bản\s*đồ|\s*ban\s*do)?(?:\s*(?:số|so|no\.?))?`;
const WORDS_PARCEL = String.raw`(?:thửa|thua|parcel|plot|th)(?:\s*đất|\s*dat)?(?:\s*(?:số|so|no\.?))?`;
const LABELLED = new RegExp(String.raw`^${WORDS_SHEET}\s*${SHEET}\s*[,;]?\s*${WORDS_PARCEL}\s*(\d+)$`, "iu");
const REVERSED = new RegExp(String.raw`^${WORDS_PARCEL}\s*(\d+)\s*[,;]?\s*${WORDS_SHEET}\s*${SHEET}$`, "iu");
const BARE = new RegExp(String.raw`^${SHEET}\s*(?:/|\s)\s*(\d+)$`, "u");

/**
 * What the query asks for: a sheet and parcel number, or an address.
 * A sheet of at most 4 digits is the commune's local sheet number ("tờ số 12");
 * anything longer is a Circular 25/2014 sheet number (e.g. 629582-3-a).
 */
export function parseQuery(text) {
  const q = text.normalize("NFC").trim().replace(/\s+/g, " ");
  if (!q) return { kind: "empty" };
  let m = q.match(LABELLED) || q.match(BARE);
  let sheet, parcel;
  if (m) [sheet, parcel] = [m[1], m[2]];
  else if ((m = q.match(REVERSED))) [parcel, sheet] = [m[1], m[2]];
  if (sheet !== undefined) {
    return { kind: "parcel", sheet, parcel: Number(parcel), local: /^\d{1,4}$/.test(sheet) };
  }
  return { kind: "address", text: q };
}

/** Run a parsed query against the API; resolves to `{features, more}` (GeoJSON features). */
export async function runQuery(query) {
  if (query.kind === "parcel") {
    const sheets = query.local ? await sheetsByLocalNumber(query.sheet) : [];
    if (!sheets.includes(query.sheet)) sheets.push(query.sheet);
    const found = await Promise.all(sheets.map((s) => parcelsBySheet(s, query.parcel)));
    return { features: found.flatMap((r) => r.features), more: found.some((r) => r.more) };
  }
  if (query.kind === "address") return parcelsByAddress(query.text);
  return { features: [], more: false };
}
