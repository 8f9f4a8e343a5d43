"""The citizens' web map in a real headless Chromium against the real landrec server."""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import pytest
import shapely.geometry
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from gis.landuse import land_use

pytestmark = pytest.mark.browser

WAIT_IDLE = """
const done = arguments[arguments.length - 1];
(function wait() {
  if (window.landrec) window.landrec.idle().then(() => done(true));
  else setTimeout(wait, 50);
})();
"""


def open_map(browser, site, query: str = "", *, at: dict | None = None, zoom: float = 17) -> None:
    """Load the page afresh; ``at`` (a GeoJSON feature) opens it there through the #zoom/lat/lon link."""
    browser.get("about:blank")
    view = ""
    if at is not None:
        pt = shapely.geometry.shape(at["geometry"]).representative_point()
        view = f"#{zoom}/{pt.y:.6f}/{pt.x:.6f}"
    browser.get(f"{site.base}/map/{query}{view}")
    browser.execute_async_script(WAIT_IDLE)
    drain_logs(browser)


def drain_logs(browser) -> tuple[list[dict], list[str]]:
    """(console entries, URLs requested) since the last call."""
    console = browser.get_log("browser")
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return console, urls


def text(browser, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def field(browser, name: str) -> str:
    return text(browser, f'#info dd[data-field="{name}"]')


def vi_number(value: float) -> str:
    """A number as the page writes it in Vietnamese: 1.234,5 (at most one decimal)."""
    text = f"{round(value, 1):,.1f}".removesuffix(".0")
    return text.translate(str.maketrans(",.", ".,"))


def en_number(value: float) -> str:
    return f"{round(value, 1):,.1f}".removesuffix(".0")


@pytest.fixture(scope="module")
def targets(site) -> dict:
    """Parcels to look for, chosen from the loaded layer: large ones, on different sheets.

    ``found``: the largest parcel of a sheet whose local number ("tờ số N") no other
    commune uses; ``clicked``: the largest parcel of another sheet that has an owner.
    """
    df = site.parcels
    communes_of = df.groupby("sheet_local_no")["commune_code"].nunique()
    local = int(communes_of[communes_of == 1].index[0])
    on_sheet = df[df["sheet_local_no"] == local]
    found = on_sheet.loc[on_sheet["area_m2"].idxmax()]
    others = df[(df["sheet_no"] != found.sheet_no) & df["owner_name"].notna() & df["owner_id"].notna()]
    clicked = others.loc[others["area_m2"].idxmax()]
    return {"found": found, "clicked": clicked, "local": local,
            "found_feature": site.feature(found.sheet_no, int(found.parcel_no)),
            "clicked_feature": site.feature(clicked.sheet_no, int(clicked.parcel_no))}


def search(browser, query: str) -> None:
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query, Keys.ENTER)
    WebDriverWait(browser, 30).until(
        lambda b: b.find_element(By.ID, "results-status").text not in ("", "Đang tìm…", "Searching…"))
    browser.execute_async_script(WAIT_IDLE)


def screen_xy(browser, lon: float, lat: float) -> tuple[float, float]:
    """Viewport CSS pixel of a lon/lat on the map."""
    return tuple(browser.execute_script(
        "const p = window.landrec.map.project([arguments[0], arguments[1]]);"
        "const r = document.getElementById('map').getBoundingClientRect();"
        "return [r.left + p.x, r.top + p.y];", lon, lat))


def test_page_loads_offline_with_land_use_colours_and_no_console_errors(browser, site):
    drain_logs(browser)
    browser.get(f"{site.base}/map/")
    browser.execute_async_script(WAIT_IDLE)
    console, urls = drain_logs(browser)
    assert [e for e in console if e["level"] == "SEVERE"] == []
    origin = urlsplit(site.base).netloc
    network = [u for u in urls if urlsplit(u).scheme not in ("data", "blob", "chrome")]
    outside = [u for u in network if urlsplit(u).scheme != "http" or urlsplit(u).netloc != origin]
    assert outside == [], "requests left the machine"
    assert any(u.endswith("/map/vendor/maplibre-gl.mjs") for u in network)
    # and the browser really has no way out: an outside request fails
    assert browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('http://tile.openstreetmap.org/0/0/0.png').then(() => done('reached'), () => done('refused'));"
    ) == "refused"
    drain_logs(browser)
    rendered = browser.execute_script(
        "return window.landrec.map.queryRenderedFeatures({layers: ['parcels-fill']})"
        ".map(f => [f.properties.parcel_no, f.properties.land_use]);")
    assert len(rendered) > 1000  # the whole district, from the server's vector tiles
    assert {code for _, code in rendered} <= set(site.parcels["land_use"])
    legend = [li.get_attribute("data-code") for li in browser.find_elements(By.CSS_SELECTOR, "#legend-list li")]
    assert legend and set(legend) <= set(site.parcels["land_use"])
    assert text(browser, "h1") == "Bản đồ địa chính"
    assert browser.execute_script("return document.documentElement.lang") == "vi"


def test_search_by_local_sheet_and_parcel_number_zooms_to_it(browser, site, targets):
    open_map(browser, site, at=targets["clicked_feature"])
    target, feature = targets["found"], targets["found_feature"]
    search(browser, f"tờ {targets['local']} thửa {target.parcel_no}")
    assert text(browser, "#results-status") == "Tìm thấy 1 thửa đất."
    assert field(browser, "parcel_no") == str(target.parcel_no)
    assert field(browser, "sheet_no") == target.sheet_no
    assert field(browser, "commune_code") == target.commune_code
    assert field(browser, "land_use") == f"{target.land_use} – {land_use(target.land_use).name_vi}"
    assert field(browser, "area_m2") == f"{vi_number(feature['properties']['area_m2'])} m²"
    assert field(browser, "address") == target.address
    assert browser.switch_to.active_element.get_attribute("id") == "info"  # focus moves to the answer
    lon, lat, zoom = browser.execute_script(
        "const m = window.landrec.map; const c = m.getCenter(); return [c.lng, c.lat, m.getZoom()];")
    x0, y0, x1, y1 = shapely.geometry.shape(feature["geometry"]).bounds
    assert x0 < lon < x1 and y0 < lat < y1
    assert zoom > 16
    selected = browser.execute_script("return window.landrec.map.getFilter('parcels-selected')")
    assert ["==", ["to-number", ["get", "parcel_no"]], int(target.parcel_no)] in selected
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not browser.find_element(By.ID, "info").is_displayed()
    assert browser.switch_to.active_element.get_attribute("id") == "q"


def test_search_by_circular_sheet_number_and_by_address(browser, site, targets):
    open_map(browser, site, at=targets["found_feature"])
    target = targets["clicked"]
    search(browser, f"{target.sheet_no}/{target.parcel_no}")
    assert text(browser, "#results-status") == "Tìm thấy 1 thửa đất."
    assert field(browser, "parcel_no") == str(target.parcel_no)
    assert field(browser, "sheet_no") == target.sheet_no
    address = site.parcels["address"].value_counts().index[0]
    search(browser, address.split(",")[0])
    items = browser.find_elements(By.CSS_SELECTOR, "#results-list button")
    assert text(browser, "#results-status") == "Hiển thị 20 thửa đầu tiên; hãy tìm cụ thể hơn."  # at most 20
    assert len(items) == 20 and all(address.split(",")[0] in item.text for item in items)
    items[3].click()
    browser.execute_async_script(WAIT_IDLE)
    assert items[3].text.startswith(f"Tờ {field(browser, 'sheet_no')}, thửa {field(browser, 'parcel_no')}")
    search(browser, f"tờ {targets['local']} thửa 99999")
    assert text(browser, "#results-status") == "Không tìm thấy thửa đất nào."
    search(browser, "Không có địa chỉ này")
    assert text(browser, "#results-status") == "Không tìm thấy thửa đất nào."
    search(browser, "Ngõ 5 % _ 'O'Brien'")  # quotes and wildcards reach the server as plain text
    assert text(browser, "#results-status") == "Không tìm thấy thửa đất nào."
    console, _ = drain_logs(browser)
    assert [e for e in console if e["level"] == "SEVERE"] == []


def test_click_on_a_parcel_shows_its_public_information(browser, site, targets):
    target, feature = targets["clicked"], targets["clicked_feature"]
    open_map(browser, site, at=feature, zoom=18)
    pt = shapely.geometry.shape(feature["geometry"]).representative_point()
    x, y = screen_xy(browser, pt.x, pt.y)
    canvas = browser.find_element(By.CSS_SELECTOR, "#map canvas")
    rect = canvas.rect
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x - rect["x"] - rect["width"] / 2), int(y - rect["y"] - rect["height"] / 2)).click().perform()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "info").is_displayed())
    assert field(browser, "parcel_no") == str(target.parcel_no)
    assert field(browser, "sheet_no") == target.sheet_no
    assert field(browser, "land_use") == f"{target.land_use} – {land_use(target.land_use).name_vi}"
    assert field(browser, "commune_code") == target.commune_code
    page = browser.find_element(By.TAG_NAME, "body").text
    assert str(target.owner_name) not in page and str(target.owner_id) not in page  # no personal data
    props = browser.execute_script(
        "return window.landrec.map.queryRenderedFeatures({layers: ['parcels-fill']}).map(f => f.properties)")
    assert props and set().union(*props) <= {"parcel_no", "sheet_no", "commune_code", "area_m2", "land_use", "address"}


def test_language_switch_translates_the_page_and_is_remembered(browser, site, targets):
    open_map(browser, site, at=targets["found_feature"])
    target, feature = targets["found"], targets["found_feature"]
    search(browser, f"tờ {targets['local']} thửa {target.parcel_no}")
    browser.find_element(By.CSS_SELECTOR, '[data-lang="en"]').click()
    assert browser.execute_script("return document.documentElement.lang") == "en"
    assert text(browser, "h1") == "Cadastral map"
    assert browser.title == "Cadastral map"
    assert text(browser, "#info-title") == "Parcel information"
    assert [dt.text for dt in browser.find_elements(By.CSS_SELECTOR, "#info dt")] == [
        "Parcel number", "Map sheet", "Commune code", "Area", "Land use", "Address"]
    assert field(browser, "land_use") == f"{target.land_use} – {land_use(target.land_use).name_en}"
    assert field(browser, "area_m2") == f"{en_number(feature['properties']['area_m2'])} m²"
    assert text(browser, "#results-status") == "1 parcel found."
    assert browser.find_element(By.ID, "q").get_attribute("placeholder") == "sheet 12 parcel 45, 12/45 or an address"
    legend = text(browser, "#legend")
    assert legend.startswith("Legend") and land_use(target.land_use).name_en in legend
    assert browser.find_element(By.CSS_SELECTOR, '[data-lang="en"]').get_attribute("aria-pressed") == "true"
    assert browser.find_element(By.CSS_SELECTOR, '[data-lang="vi"]').get_attribute("aria-pressed") == "false"
    assert browser.find_element(By.CSS_SELECTOR, ".maplibregl-ctrl-zoom-in").get_attribute("aria-label") == "Zoom in"
    open_map(browser, site, at=targets["found_feature"])  # reload: the choice is remembered
    assert text(browser, "h1") == "Cadastral map"
    browser.find_element(By.CSS_SELECTOR, '[data-lang="vi"]').click()
    assert text(browser, "h1") == "Bản đồ địa chính"
    assert text(browser, "#legend-title") == "Chú giải"
    assert browser.find_element(By.CSS_SELECTOR, ".maplibregl-ctrl-zoom-in").get_attribute("aria-label") == "Phóng to"
    open_map(browser, site, "?lang=en", at=targets["found_feature"])
    assert text(browser, "#legend-title") == "Legend"
    browser.find_element(By.CSS_SELECTOR, '[data-lang="vi"]').click()


def test_screenshot_shows_the_land_use_colour_of_the_found_parcel(browser, site, targets, tmp_path):
    open_map(browser, site, at=targets["clicked_feature"])
    target, feature = targets["found"], targets["found_feature"]
    search(browser, f"tờ {targets['local']} thửa {target.parcel_no}")
    pt = shapely.geometry.shape(feature["geometry"]).representative_point()
    x, y = screen_xy(browser, pt.x, pt.y)
    png = browser.get_screenshot_as_png()
    (tmp_path / "map.png").write_bytes(png)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    want = tuple(int(land_use(target.land_use).color[i:i + 2], 16) for i in (1, 3, 5))
    got = img.getpixel((int(x), int(y)))
    assert all(abs(a - b) <= 6 for a, b in zip(got, want)), (got, want)
    colours = img.getcolors(maxcolors=1 << 20)
    red = sum(n for n, c in colours if abs(c[0] - 0xD7) < 30 and c[1] < 60 and c[2] < 60)
    assert red > 200  # the selected parcel's outline
    fills = {tuple(int(land_use(c).color[i:i + 2], 16) for i in (1, 3, 5)) for c in set(site.parcels["land_use"])}
    seen = {c for n, c in colours if c in fills and n > 500}
    assert len(seen) >= 2  # its neighbours in their own colours: not a blank page


def test_search_box_reads_the_ways_people_write_a_parcel(browser, site, targets):
    open_map(browser, site, at=targets["found_feature"])
    queries = ["tờ 12 thửa 45", "Tờ bản đồ số 12, thửa đất số 45", "to 12 thua 45", "12/45", "thửa 45 tờ 12",
               "629582-3-a 45", "10-629-582/3", "thôn Đông, xã Tân Mỹ", "  "]
    got = browser.execute_async_script(
        "const [qs, done] = arguments;"
        "import(new URL('js/search.js', location.href)).then(m => done(qs.map(q => m.parseQuery(q))));", queries)
    local = {"kind": "parcel", "sheet": "12", "parcel": 45, "local": True}
    assert got[:5] == [local] * 5
    assert got[5] == {"kind": "parcel", "sheet": "629582-3-a", "parcel": 45, "local": False}
    assert got[6] == {"kind": "parcel", "sheet": "10-629-582", "parcel": 3, "local": False}
    assert got[7] == {"kind": "address", "text": "thôn Đông, xã Tân Mỹ"}
    assert got[8] == {"kind": "empty"}


def test_every_control_has_an_accessible_name_and_works_from_the_keyboard(browser, site, targets):
    open_map(browser, site, at=targets["found_feature"])
    unnamed = browser.execute_script("""
        return [...document.querySelectorAll('button, input, [role=group], #map canvas')]
          .filter(el => !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                          || el.textContent.trim() || (el.id && document.querySelector(`label[for="${el.id}"]`))))
          .map(el => el.outerHTML.slice(0, 80));""")
    assert unnamed == []
    assert browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Tìm thửa đất"
    # keyboard only: type, Enter, Tab to the first result, Enter on it
    target = targets["found"]
    box = browser.find_element(By.ID, "q")
    box.send_keys(f"tờ {targets['local']} thửa {target.parcel_no}")
    box.send_keys(Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "info").is_displayed())
    browser.find_element(By.ID, "info-close").send_keys(Keys.ENTER)
    assert not browser.find_element(By.ID, "info").is_displayed()
    assert browser.switch_to.active_element.get_attribute("id") == "q"
    for _ in range(5):  # search button, language buttons, then the results
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("class") == "result":
            break
    assert browser.switch_to.active_element.get_attribute("class") == "result"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "info").is_displayed())
    assert field(browser, "parcel_no") == str(target.parcel_no)


def test_every_string_of_the_page_is_in_both_languages(browser, site, targets):
    open_map(browser, site, at=targets["found_feature"])
    keys = browser.execute_async_script(
        "const done = arguments[0];"
        "import(new URL('js/i18n.js', location.href)).then(m => done({vi: Object.keys(m.STRINGS.vi),"
        " en: Object.keys(m.STRINGS.en), page: [...document.querySelectorAll('[data-i18n], [data-i18n-placeholder],"
        " [data-i18n-aria-label]')].map(e => e.dataset.i18n || e.dataset.i18nPlaceholder || e.dataset.i18nAriaLabel)}));")
    plural = {"results.count.one", "results.count.other", "results.more.one", "results.more.other"}
    assert set(keys["vi"]) - plural == set(keys["en"]) - plural
    assert set(keys["page"]) <= set(keys["vi"]) and set(keys["page"]) <= set(keys["en"])
