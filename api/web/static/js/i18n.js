// Every string of the page, in Vietnamese and English: the one dictionary.
export const LANGUAGES = ["vi", "en"];

export const STRINGS = {
  vi: {
    "title": "Bản đồ địa chính",
    "search.label": "Tìm thửa đất",
    "search.placeholder": "tờ 12 thửa 45, 12/45 hoặc địa chỉ",
    "search.help": "Nhập số tờ và số thửa (tờ 12 thửa 45, 12/45, số hiệu tờ theo Thông tư 25 + số thửa) hoặc địa chỉ.",
    "search.button": "Tìm",
    "language": "Ngôn ngữ",
    "map.label": "Bản đồ thửa đất tô màu theo mục đích sử dụng. Nhấn vào một thửa để xem thông tin.",
    "results.title": "Kết quả tìm kiếm",
    "results.searching": "Đang tìm…",
    "results.none": "Không tìm thấy thửa đất nào.",
    "results.count.other": "Tìm thấy {n} thửa đất.",
    "results.more.other": "Hiển thị {n} thửa đầu tiên; hãy tìm cụ thể hơn.",
    "results.empty": "Hãy nhập số tờ, số thửa hoặc địa chỉ.",
    "results.item": "Tờ {sheet}, thửa {parcel}",
    "error.server": "Không kết nối được máy chủ dữ liệu: {msg}",
    "info.title": "Thông tin thửa đất",
    "field.parcel_no": "Số thửa",
    "field.sheet_no": "Số hiệu tờ bản đồ",
    "field.commune_code": "Mã xã",
    "field.area_m2": "Diện tích",
    "field.land_use": "Mục đích sử dụng",
    "field.address": "Địa chỉ",
    "close": "Đóng",
    "legend.title": "Chú giải",
    "legend.other": "Khác / chưa rõ",
    "map.loading": "Đang tải bản đồ…",
    "map.ready": "Bản đồ đã sẵn sàng.",
    "map.selected": "Đã chọn thửa {parcel}, tờ {sheet}.",
    "map.canvas": "Bản đồ",
    "map.zoomIn": "Phóng to",
    "map.zoomOut": "Thu nhỏ",
    "unknown": "—",
  },
  en: {
    "title": "Cadastral map",
    "search.label": "Find a parcel",
    "search.placeholder": "sheet 12 parcel 45, 12/45 or an address",
    "search.help": "Type a sheet and parcel number (tờ 12 thửa 45, 12/45, a Circular 25 sheet number + parcel number) or an address.",
    "search.button": "Search",
    "language": "Language",
    "map.label": "Map of parcels coloured by land use. Click a parcel to see its information.",
    "results.title": "Search results",
    "results.searching": "Searching…",
    "results.none": "No parcel found.",
    "results.count.one": "{n} parcel found.",
    "results.count.other": "{n} parcels found.",
    "results.more.one": "Showing the first parcel; narrow the search.",
    "results.more.other": "Showing the first {n} parcels; narrow the search.",
    "results.empty": "Type a sheet and parcel number or an address.",
    "results.item": "Sheet {sheet}, parcel {parcel}",
    "error.server": "The data server could not be reached: {msg}",
    "info.title": "Parcel information",
    "field.parcel_no": "Parcel number",
    "field.sheet_no": "Map sheet",
    "field.commune_code": "Commune code",
    "field.area_m2": "Area",
    "field.land_use": "Land use",
    "field.address": "Address",
    "close": "Close",
    "legend.title": "Legend",
    "legend.other": "Other / unknown",
    "map.loading": "Loading the map…",
    "map.ready": "The map is ready.",
    "map.selected": "Selected parcel {parcel}, sheet {sheet}.",
    "map.canvas": "Map",
    "map.zoomIn": "Zoom in",
    "map.zoomOut": "Zoom out",
    "unknown": "—",
  },
};

let current = "vi";

export function language() {
  return current;
}

/** The string `key` in the current language, with {name} placeholders filled. */
export function t(key, values = {}) {
  const text = STRINGS[current][key] ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** A string that depends on a count: `key.one`, `key.other`... by the language's plural rules. */
export function tn(key, n, values = {}) {
  const form = new Intl.PluralRules(current).select(n);
  const chosen = STRINGS[current][`${key}.${form}`] !== undefined ? `${key}.${form}` : `${key}.other`;
  return t(chosen, { n: formatNumber(n, 0), ...values });
}

/** Switch the language and translate every element marked with data-i18n*. */
export function setLanguage(lang, root = document) {
  current = LANGUAGES.includes(lang) ? lang : "vi";
  document.documentElement.lang = current;
  document.title = t("title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll("[data-lang]")) el.setAttribute("aria-pressed", String(el.dataset.lang === current));
  return current;
}

/** Number formatting in the current language (vi: 1.234,5; en: 1,234.5). */
export function formatNumber(value, digits = 1) {
  return new Intl.NumberFormat(current === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: digits }).format(value);
}
