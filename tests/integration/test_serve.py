"""`landrec serve` end to end, on GeoPackage and PostGIS: a real server on a free port.

One server per store for the module (its start reads the CRS registry once).  The data
is a small synthetic district with personal data in ``party``/``rrr`` that must never
leave through a public endpoint.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import requests
import shapely
from shapely.geometry import MultiLineString, MultiPolygon, Point, box
from sqlalchemy import func, insert, select, text

from cadastre.register import init_register
from cadastre.schema import PUBLIC_PARCEL_FIELDS, build_metadata
from gis.crs import resolve_crs, srid_of, to_wgs84
from gis.store import open_engine
from tests.netutil import free_port

REPO = Path(__file__).resolve().parents[2]
LANDREC = REPO / ".venv" / "bin" / "landrec"
OFFICER_TOKEN = "officer-" + uuid.uuid4().hex
CITIZEN_TOKEN = "citizen-" + uuid.uuid4().hex
SECRETS = ("Nguyễn Văn Bí Mật", "001099012345", "Trần Thị Riêng", "079188000777", "GCN-SECRET-0042",
           "Số 7 ngõ Bí Mật")
X0, Y0 = 420000.0, 2350000.0  # TM-3 107-00, Bắc Giang
CRS = resolve_crs("vn2000:bac-giang")
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/9214"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def parcel_box(k: int) -> shapely.Geometry:
    """Parcel k (1..100): a 20 m square on a 10 x 10 grid, column (k-1)//10, row (k-1)%10."""
    i, j = divmod(k - 1, 10)
    return box(X0 + i * 20, Y0 + j * 20, X0 + i * 20 + 20, Y0 + j * 20 + 20)


def land_use_of(k: int) -> str:
    return ("ONT", "LUC", "CLN")[k % 3]


def build_store(url: str) -> None:
    """The sample: 100 current parcels (+1 retired version), sheets, units, base layers, owners."""
    reg = init_register(url, CRS)
    engine = reg.engine
    t = reg.metadata.tables
    at = datetime(2020, 1, 1)
    with engine.begin() as c:
        c.execute(insert(t["source"]), [{"kind": "survey", "reference": "S1", "date": at}])
        c.execute(insert(t["edit_transaction"]), [{"kind": "load", "source_id": 1, "at": at}])
        rows = []
        for k in range(1, 101):
            rows.append({"id": k, "parcel_uid": f"uid-{k}", "version": 1, "commune_code": "10001" if k <= 50 else "10002",
                             "sheet_no": "2", "parcel_no": k, "area_m2": 400.0, "land_use": land_use_of(k),
                             "address": f"Thôn {k % 10}", "begin_lifespan": at, "end_lifespan": None, "source_id": 1,
                             "transaction_id": 1, "content_hash": "h", "geom": MultiPolygon([parcel_box(k)])})
        rows.append({"id": 101, "parcel_uid": "uid-old", "version": 1, "commune_code": "10001", "sheet_no": "2", "parcel_no": 999,
                         "area_m2": 1.0, "land_use": "ODT", "address": "retired", "begin_lifespan": at,
                         "end_lifespan": datetime(2021, 1, 1), "source_id": 1, "transaction_id": 1, "content_hash": "h",
                         "geom": MultiPolygon([box(X0 - 50, Y0 - 50, X0 - 40, Y0 - 40)])})
        c.execute(insert(t["parcel"]), rows)
        c.execute(insert(t["party"]), [
            {"id": 1, "party_uid": "p1", "version": 1, "kind": "person", "name": SECRETS[0], "id_number": SECRETS[1],
             "address": "Số 7 ngõ Bí Mật", "begin_lifespan": at, "source_id": 1},
            {"id": 2, "party_uid": "p2", "version": 1, "kind": "person", "name": SECRETS[2], "id_number": SECRETS[3],
             "address": None, "begin_lifespan": at, "source_id": 1}])
        c.execute(insert(t["rrr"]), [{"id": 1, "rrr_uid": "r1", "version": 1, "type": "ownership", "share": 1.0,
                                      "certificate_no": SECRETS[4], "party_uid": "p1", "parcel_uid": "uid-1",
                                      "begin_lifespan": at, "source_id": 1, "transaction_id": 1}])
        c.execute(insert(t["admin_unit"]), [
            {"id": 1, "code": "10001", "name": "Xã Một", "level": "commune", "parent_code": "100",
             "geom": MultiPolygon([box(X0, Y0, X0 + 100, Y0 + 200)])},
            {"id": 2, "code": "10002", "name": "Xã Hai", "level": "commune", "parent_code": "100",
             "geom": MultiPolygon([box(X0 + 100, Y0, X0 + 200, Y0 + 200)])},
            {"id": 3, "code": "100", "name": "Huyện", "level": "district", "parent_code": None,
             "geom": MultiPolygon([box(X0, Y0, X0 + 200, Y0 + 200)])}])
        c.execute(insert(t["map_sheet"]), [{"id": 1, "sheet_no": "2", "scale": 1000, "commune_code": "10001",
                                            "local_no": 2, "geom": box(X0, Y0, X0 + 200, Y0 + 200)}])
        c.execute(insert(t["road"]), [{"id": 1, "name": "QL1", "kind": "national", "width_m": 12.0,
                                       "geom": MultiLineString([[(X0, Y0 + 100), (X0 + 200, Y0 + 100)]])}])
        c.execute(insert(t["monitoring_station"]), [{"id": 1, "code": "AQ1", "name": "Trạm 1", "kind": "air",
                                                     "geom": Point(X0 + 10, Y0 + 10)}])
        c.execute(insert(t["station_reading"]), [{"id": 1, "station_code": "AQ1", "at": at, "parameter": "PM2.5",
                                                  "value": 31.5, "unit": "ug/m3"}])
        c.execute(insert(t["planning_zone"]), [{"id": 1, "code": "Z1", "name": "Khu A", "land_use": "DGT",
                                                "geom": MultiPolygon([box(X0, Y0, X0 + 40, Y0 + 200)])}])
        if c.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in ("parcel", "party", "rrr", "admin_unit", "map_sheet", "road", "monitoring_station",
                         "station_reading", "planning_zone"):
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
    engine.dispose()


@dataclass
class Served:
    kind: str
    url: str  # the store
    base: str  # the server

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, timeout=60, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.base + path, timeout=60, **kw)


def start_server(store: str, tokens: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`landrec serve` in a subprocess (its output to ``log``: a full pipe would block it)."""
    port = free_port()
    env = {**os.environ, "LANDREC_API_TOKENS": json.dumps(tokens)}
    with open(log, "w") as out:
        proc = subprocess.Popen([str(LANDREC), "serve", "--db", store, "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"landrec serve exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(base + "/conformance", timeout=5).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    proc.kill()
    pytest.fail("landrec serve did not answer within 240 s")


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def served(request, tmp_path_factory) -> Iterator[Served]:
    """A running `landrec serve` on each store in turn."""
    work = tmp_path_factory.mktemp("serve")
    if request.param == "gpkg":
        store = str(work / "store.gpkg")
        name = None
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name = "serve_" + uuid.uuid4().hex[:10]
        store = cluster.create_database(name)
    build_store(store)
    proc, base = start_server(store, {OFFICER_TOKEN: "land_officer", CITIZEN_TOKEN: "citizen"}, work / "serve.log")
    yield Served(request.param, store, base)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    if name:
        request.getfixturevalue("pg_cluster").drop_database(name)


def items(s: Served, collection: str = "parcels", **params) -> dict:
    r = s.get(f"/collections/{collection}/items", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(fc: dict) -> list:
    return [f["id"] for f in fc["features"]]


# --- Features ------------------------------------------------------------------------

def test_every_collection_is_listed_and_readable(served):
    cols = {c["id"] for c in served.get("/collections").json()["collections"]}
    want = {"parcels", "map_sheets", "admin_units", "land_use_classes", "roads", "monitoring_stations",
            "station_readings", "planning_zones"}
    assert want <= cols
    for cid in want:
        fc = items(served, cid, limit=100)
        assert fc["features"], cid
    assert items(served, "station_readings")["features"][0]["properties"]["parameter"] == "PM2.5"


def test_only_current_parcels_with_public_fields(served):
    fc = items(served, limit=1000)
    assert sorted(ids(fc)) == list(range(1, 101))  # the retired version (id 101) is not served
    assert fc["numberMatched"] == 100 and fc["numberReturned"] == 100
    assert all(set(f["properties"]) == set(PUBLIC_PARCEL_FIELDS) for f in fc["features"])


def test_paging_walks_every_parcel_once(served):
    seen, url, pages = [], served.base + "/collections/parcels/items?limit=7", 0
    while url:
        page = requests.get(url, timeout=60).json()
        seen += ids(page)
        url = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
        pages += 1
    assert sorted(seen) == list(range(1, 101)) and len(seen) == 100 and pages == 15
    by_offset = items(served, limit=10, offset=90, sortby="-parcel_no")
    assert ids(by_offset) == list(range(10, 0, -1))
    assert by_offset["numberMatched"] == 100


def test_cql2_text_json_and_simple_equality_agree(served):
    text = items(served, limit=1000, filter="land_use = 'ONT' AND parcel_no < 30")
    js = items(served, limit=1000, **{"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "and", "args": [{"op": "=", "args": [{"property": "land_use"}, "ONT"]},
                               {"op": "<", "args": [{"property": "parcel_no"}, 30]}]})})
    expected = [k for k in range(1, 30) if land_use_of(k) == "ONT"]
    assert sorted(ids(text)) == sorted(ids(js)) == expected
    assert sorted(ids(items(served, limit=1000, land_use="ONT"))) == [k for k in range(1, 101) if land_use_of(k) == "ONT"]
    like = items(served, limit=1000, filter="address LIKE 'Thôn 3' AND parcel_no BETWEEN 1 AND 40")
    assert sorted(ids(like)) == [3, 13, 23, 33]
    assert ids(items(served, filter="parcel_no IN (5, 7) AND NOT land_use IS NULL", sortby="parcel_no")) == [5, 7]


def lonlat(x: float, y: float) -> tuple[float, float]:
    return to_wgs84(CRS).transform(x, y)


def test_spatial_filters_and_bbox(served):
    lon, lat = lonlat(X0 + 25, Y0 + 45)  # inside parcel 13 (column 1, row 2)
    hit = items(served, filter=f"S_INTERSECTS(geometry, POINT({lon} {lat}))")
    assert ids(hit) == [13]
    hit = items(served, **{"filter-lang": "cql2-json", "filter": json.dumps(
        {"op": "s_contains", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [lon, lat]}]})})
    assert ids(hit) == [13]
    # a box in TM-3 inside parcels 1, 2, 11, 12 (corners shrunk by 1 m)
    x0, y0, x1, y1 = X0 + 1, Y0 + 1, X0 + 39, Y0 + 39
    fc = items(served, limit=100, bbox=f"{x0},{y0},{x1},{y1}", **{"bbox-crs": EPSG_URI})
    assert sorted(ids(fc)) == [1, 2, 11, 12]
    a, b = lonlat(x0, y0)
    c, d = lonlat(x1, y1)
    assert sorted(ids(items(served, limit=100, bbox=f"{a},{b},{c},{d}"))) == [1, 2, 11, 12]
    within = items(served, limit=100, filter=f"S_WITHIN(geometry, BBOX({X0 - 1}, {Y0 - 1}, {X0 + 41}, {Y0 + 21}))",
                   **{"filter-crs": EPSG_URI})
    assert sorted(ids(within)) == [1, 11]
    assert items(served, bbox="-10,-10,-9,-9")["features"] == []


def test_crs_negotiation_uses_landrec_datum_shift(served):
    native = served.get("/collections/parcels/items", params={"limit": 1, "crs": EPSG_URI, "sortby": "parcel_no"})
    assert native.headers["Content-Crs"] == f"<{EPSG_URI}>"
    ring = np.array(native.json()["features"][0]["geometry"]["coordinates"][0][0])
    assert shapely.Polygon(ring).normalize().equals_exact(parcel_box(1).normalize(), 1e-6)
    wgs = served.get("/collections/parcels/items", params={"limit": 1, "sortby": "parcel_no"})
    assert wgs.headers["Content-Crs"] == f"<{CRS84}>"
    got = np.array(wgs.json()["features"][0]["geometry"]["coordinates"][0][0])
    want = np.column_stack(to_wgs84(CRS).transform(ring[:, 0], ring[:, 1]))
    assert np.abs(got - want).max() < 2e-8  # ~2 mm: the 05/2007 shift, not PROJ's EPSG:9214 pipeline
    latlon = served.get("/collections/parcels/items", params={
        "limit": 1, "sortby": "parcel_no", "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}).json()
    assert np.allclose(np.array(latlon["features"][0]["geometry"]["coordinates"][0][0])[:, ::-1], got, atol=1e-9)
    item = served.get("/collections/parcels/items/1", params={"crs": EPSG_URI, "f": "json"})
    assert item.status_code == 200
    assert shapely.geometry.shape(item.json()["geometry"]).equals_exact(MultiPolygon([parcel_box(1)]), 1e-6)


def test_sortby_properties_skip_geometry(served):
    fc = items(served, limit=3, sortby="-land_use,parcel_no", properties="parcel_no,land_use", skipGeometry="true")
    assert [f["properties"] for f in fc["features"]] == [
        {"parcel_no": k, "land_use": "ONT"} for k in (3, 6, 9)]
    assert all(f["geometry"] is None for f in fc["features"])


BAD = [
    {"bbox": "1,2,3"}, {"bbox": "200,0,201,1"}, {"bbox": "0,95,1,96"}, {"bbox": "a,b,c,d"},
    {"bbox": "1,2,3,4", "bbox-crs": "EPSG:0;DROP"}, {"bbox-crs": EPSG_URI},
    {"limit": "100000000"}, {"limit": "0"}, {"limit": "-5"}, {"limit": "1e3"}, {"offset": "-1"},
    {"filter": "parcel_no = 1; DROP TABLE parcel"}, {"filter": "land_use = 'ONT' OR 1=1 --"},
    {"filter": "name = 'x'"}, {"filter": "S_INTERSECTS(geometry, POINT(1))"}, {"filter": "parcel_no >"},
    {"filter": '{"op": "=", "args": [{"property": "party.name"}, "x"]}', "filter-lang": "cql2-json"},
    {"filter": "{bad json", "filter-lang": "cql2-json"}, {"filter": "parcel_no = 1", "filter-lang": "sql"},
    {"sortby": "parcel_no; DROP TABLE parcel"}, {"sortby": "name"}, {"sortby": "(SELECT 1)"},
    {"properties": "parcel_no,name"}, {"properties": "*"}, {"properties": "id_number"},
    {"crs": "EPSG:4326"}, {"crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
    {"datetime": "yesterday"}, {"skipGeometry": "maybe"}, {"cursor": "1 OR 1=1"}, {"parcel_no": "x'--"},
    {"unknown_param": "1"}, {"filter": "address = 'x''); DROP TABLE parcel; --' AND parcel_no > 'a'"},
]


@pytest.mark.parametrize("params", BAD, ids=[json.dumps(p)[:60] for p in BAD])
def test_bad_input_is_400_with_an_ogc_exception(served, params):
    r = served.get("/collections/parcels/items", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] and body["description"]


def test_injection_attempts_changed_nothing(served):
    for params in BAD:
        served.get("/collections/parcels/items", params=params)
    engine = open_engine(served.url, create=False)
    md = build_metadata(srid_of(CRS))
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(md.tables["parcel"])).scalar_one() == 101
        assert c.execute(select(func.count()).select_from(md.tables["party"])).scalar_one() == 2
    engine.dispose()


def test_html_pages_and_the_web_map_are_served(served):
    page = served.get("/collections/parcels/items", params={"f": "html", "limit": 5})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Thôn" in page.content.decode("utf-8")
    assert served.get("/collections/parcels/items/3", params={"f": "html"}).status_code == 200
    web = served.get("/map")  # api.web.mount(app): the citizens' map
    assert web.status_code == 200 and "text/html" in web.headers["content-type"]


def test_unknown_collection_and_item_are_404(served):
    assert served.get("/collections/party/items").status_code == 404
    assert served.get("/collections/parcels/items/999999", params={"f": "json"}).status_code == 404


# --- Tiles ---------------------------------------------------------------------------

def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_vector_tiles_of_parcels(served):
    import mapbox_vector_tile
    lon, lat = lonlat(X0 + 100, Y0 + 100)
    x, y = tile_of(lon, lat, 14)
    r = served.get(f"/collections/parcels/tiles/WebMercatorQuad/14/{y}/{x}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(r.content)
    feats = tile["parcels"]["features"]
    assert len(feats) == 100
    assert all(set(f["properties"]) <= set(PUBLIC_PARCEL_FIELDS) for f in feats)
    assert {f["properties"]["land_use"] for f in feats} == {"ONT", "LUC", "CLN"}
    empty = served.get(f"/collections/parcels/tiles/WebMercatorQuad/14/{y + 50}/{x + 50}")
    assert empty.status_code == 200 and not mapbox_vector_tile.decode(empty.content)
    assert served.get("/collections/parcels/tiles/WebMercatorQuad/3/99/0").status_code == 400
    assert served.get("/collections/parcels/tiles/WorldCRS84Quad/1/0/0").status_code == 400
    meta = served.get("/collections/parcels/tiles", params={"f": "json"})
    assert meta.status_code == 200 and "WebMercatorQuad" in meta.text


# --- Processes -----------------------------------------------------------------------

def execute(s: Served, pid: str, inputs: dict, **kw) -> requests.Response:
    return s.post(f"/processes/{pid}/execution", json={"inputs": inputs}, **kw)


def test_plot_lookup_by_number_and_by_point(served):
    r = execute(served, "plot-lookup", {"commune_code": "10001", "sheet_no": "2", "parcel_no": 13})
    assert r.status_code == 200, r.text
    sheet = r.json()["parcel"]
    assert sheet["parcel_no"] == 13 and sheet["commune_name"] == "Xã Một" and sheet["land_use"] == land_use_of(13)
    assert sheet["land_use_name"] and set(sheet) >= set(PUBLIC_PARCEL_FIELDS)
    lon, lat = lonlat(X0 + 25, Y0 + 45)
    r = execute(served, "plot-lookup", {"point": [lon, lat]})
    assert r.status_code == 200 and r.json()["parcel"]["parcel_no"] == 13
    assert execute(served, "plot-lookup", {"commune_code": "10001", "sheet_no": "2", "parcel_no": 4242}).status_code in (400, 404)
    assert execute(served, "plot-lookup", {"parcel_no": "13; DROP TABLE parcel"}).status_code == 400


def test_affected_parcels_by_corridor_and_zone(served):
    a = lonlat(X0 - 10, Y0 + 100)
    b = lonlat(X0 + 210, Y0 + 100)
    r = execute(served, "affected-parcels", {"geometry": {"type": "LineString", "coordinates": [a, b]}, "buffer_m": 5})
    assert r.status_code == 200, r.text
    out = r.json()
    # the corridor (10 m wide, along the row boundary y = 100) takes 5 m x 20 m of rows 4 and 5
    assert out["count"] == 20 and all(abs(p["affected_m2"] - 100) < 0.5 for p in out["parcels"])
    assert all(abs(p["share"] - 0.25) < 0.002 for p in out["parcels"])
    r = execute(served, "affected-parcels", {"planning_zone": "Z1"})
    assert r.status_code == 200
    zone = r.json()
    assert zone["count"] == 20 and abs(zone["affected_m2"] - 8000) < 1e-6
    assert {p["share"] for p in zone["parcels"]} == {1.0}
    assert execute(served, "affected-parcels", {"geometry": {"type": "LineString", "coordinates": [a, b]}}).status_code == 400
    assert execute(served, "affected-parcels", {"geometry": "POLYGON((0 0))"}).status_code == 400


def test_land_use_statistics_per_unit(served):
    r = execute(served, "land-use-statistics", {})
    assert r.status_code == 200
    units = {u["admin_unit"]: u for u in r.json()["units"]}
    assert set(units) == {"10001", "10002"} and units["10001"]["parcels"] == 50
    district = execute(served, "land-use-statistics", {"admin_unit": "100"}).json()["units"][0]
    shares = {lu["code"]: lu["parcels"] for lu in district["land_use"]}
    assert shares == {c: sum(1 for k in range(1, 101) if land_use_of(k) == c) for c in ("ONT", "LUC", "CLN")}
    assert district["area_m2"] == 40000.0


# --- Auth and personal data ----------------------------------------------------------

def test_changes_need_a_land_officer(served):
    feature = {"type": "Feature", "geometry": None, "properties": {"parcel_no": 1}}
    hdr = {"Content-Type": "application/geo+json"}
    assert served.post("/collections/parcels/items", data=json.dumps(feature), headers=hdr).status_code == 401
    r = served.post("/collections/parcels/items", data=json.dumps(feature),
                    headers={**hdr, "Authorization": f"Bearer {CITIZEN_TOKEN}"})
    assert r.status_code == 403
    assert requests.delete(served.base + "/collections/parcels/items/1", timeout=30).status_code == 401
    assert requests.delete(served.base + "/collections/parcels/items/1", timeout=30,
                           headers={"X-API-Key": "wrong"}).status_code == 401


def _crawl(s: Served) -> list[str]:
    """Every public GET answer: landing page, collections, items, queryables, schemas, tiles, processes."""
    bodies = []
    for path in ("/", "/conformance", "/openapi?f=json", "/collections", "/processes"):
        bodies.append(s.get(path).content.decode("utf-8"))
    for c in s.get("/collections").json()["collections"]:
        cid = c["id"]
        for path in (f"/collections/{cid}", f"/collections/{cid}/queryables", f"/collections/{cid}/schema",
                     f"/collections/{cid}/items?limit=1000", f"/collections/{cid}/items?limit=1000&f=html",
                     f"/collections/{cid}/items/1?f=json"):
            bodies.append(s.get(path).content.decode("utf-8"))
    lon, lat = lonlat(X0 + 100, Y0 + 100)
    x, y = tile_of(lon, lat, 14)
    bodies.append(s.get(f"/collections/parcels/tiles/WebMercatorQuad/14/{y}/{x}").content.decode("latin-1"))
    for k in (1, 2):
        bodies.append(execute(s, "plot-lookup", {"commune_code": "10001", "sheet_no": "2", "parcel_no": k}).content.decode("utf-8"))
    bodies.append(execute(s, "affected-parcels", {"planning_zone": "Z1"}).content.decode("utf-8"))
    bodies.append(execute(s, "land-use-statistics", {}).content.decode("utf-8"))
    return bodies


def test_personal_data_never_leaves_through_a_public_endpoint(served):
    bodies = _crawl(served)
    assert len(bodies) >= 58
    text = "\n".join(bodies)
    assert "Xã Một" in text and "Thôn 3" in text  # the crawl did reach the public data
    escaped = "\n".join(json.dumps(b) for b in bodies)  # \uXXXX-escaped JSON too
    for secret in SECRETS:
        assert secret not in text and json.dumps(secret)[1:-1] not in escaped, secret
    # and no way to ask for them
    for params in ({"properties": "name"}, {"filter": "id_number = '001099012345'"}, {"sortby": "certificate_no"}):
        assert served.get("/collections/parcels/items", params=params).status_code == 400
    assert served.get("/collections/party").status_code == 404
    assert served.get("/collections/rrr/items").status_code == 404


# --- clients no one here wrote ------------------------------------------------------

def test_owslib_features_client_reads_every_collection(served):
    from owslib.ogcapi.features import Features
    api = Features(served.base, timeout=60)
    cids = [c["id"] for c in api.collections()["collections"]]
    assert "parcels" in cids and "conformsTo" in api.conformance()
    for cid in cids:
        fc = api.collection_items(cid, limit=500)
        assert fc["type"] == "FeatureCollection" and fc["features"], cid
    parcels = api.collection_items("parcels", limit=500, land_use="ONT")
    assert sorted(ids(parcels)) == [k for k in range(1, 101) if land_use_of(k) == "ONT"]
    assert api.collection_item("parcels", "7")["properties"]["parcel_no"] == 7
    assert set(api.collection_queryables("parcels")["properties"]) >= set(PUBLIC_PARCEL_FIELDS)


def test_gdal_oapif_driver_reads_every_collection(served):
    import pyogrio
    cids = [c["id"] for c in served.get("/collections").json()["collections"]]
    for cid in cids:
        df = pyogrio.read_dataframe(f"OAPIF:{served.base}/collections/{cid}")
        assert len(df) > 0, cid
    parcels = pyogrio.read_dataframe(f"OAPIF:{served.base}/collections/parcels")
    assert len(parcels) == 100 and set(PUBLIC_PARCEL_FIELDS) <= set(parcels.columns)
    # GDAL reads storageCrs (Features Part 2) and asks for the store's own TM-3 coordinates
    assert parcels.crs.to_epsg() == 9214
    centre = parcels.geometry.union_all().centroid
    assert abs(centre.x - (X0 + 100)) < 1e-6 and abs(centre.y - (Y0 + 100)) < 1e-6
    # GDAL's spatial filter, in the layer CRS, goes to the server as bbox + bbox-crs
    some = pyogrio.read_dataframe(f"OAPIF:{served.base}/collections/parcels",
                                  bbox=(X0 + 1, Y0 + 1, X0 + 39, Y0 + 39))
    assert sorted(some["parcel_no"]) == [1, 2, 11, 12]


# --- editing (last: it changes the register) -----------------------------------------

def test_land_officer_edits_through_the_edit_process(served):
    inputs = {"operation": "set_land_use", "parcels": ["10001/2/13"], "expect_versions": [1], "land_use": "ODT",
              "source_kind": "decision", "source_reference": "QĐ-13/2026"}
    assert execute(served, "parcel-edit", inputs).status_code == 401
    assert execute(served, "parcel-edit", inputs,
                   headers={"Authorization": f"Bearer {CITIZEN_TOKEN}"}).status_code == 403
    officer = {"Authorization": f"Bearer {OFFICER_TOKEN}"}
    r = execute(served, "parcel-edit", inputs, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["created"][0]["version"] == 2 and r.json()["created"][0]["land_use"] == "ODT"
    now = items(served, parcel_no="13")
    assert [f["properties"]["land_use"] for f in now["features"]] == ["ODT"]
    assert items(served, limit=1000)["numberMatched"] == 100  # the old version is history, not served
    stale = execute(served, "parcel-edit", inputs, headers=officer)  # still says version 1
    assert stale.status_code in (400, 409) and "version" in stale.text
    # split parcel 100 (column 9, row 9) by a north-south line through its middle
    a, b = lonlat(X0 + 190, Y0 + 170), lonlat(X0 + 190, Y0 + 210)
    split = {"operation": "split", "parcels": ["10002/2/100"], "expect_versions": [1],
             "line": {"type": "LineString", "coordinates": [a, b]}, "source_kind": "survey",
             "source_reference": "BB-100"}
    r = execute(served, "parcel-edit", split, headers={"X-API-Key": OFFICER_TOKEN})
    assert r.status_code == 200, r.text
    assert sorted(round(c["area_m2"]) for c in r.json()["created"]) == [200, 200]
    assert items(served, limit=1000)["numberMatched"] == 101
    assert "Bí Mật" not in r.text
    bad = execute(served, "parcel-edit", {**inputs, "operation": "drop"}, headers=officer)
    assert bad.status_code == 400
