"""Items requests: validation, SQL with binds only, paging links, OpenAPI made offline, tokens, tiles."""

from __future__ import annotations

import pytest

from api.server import features, openapi, tiles
from api.server.auth import role_of
from api.server.layers import SPECS, Layer
from gis.errors import InputError

SPEC = next(s for s in SPECS if s.id == "parcels")
LAYER = Layer(SPEC, "id", "integer", {"parcel_no": "integer", "sheet_no": "string", "land_use": "string",
                                      "area_m2": "number"},
              "geom", 980700, (420000.0, 2350000.0, 420200.0, 2350200.0), "rtree_parcel_geom", 100)
EPSG = "http://www.opengis.net/def/crs/EPSG/0/9214"


def test_defaults_and_crs_list():
    req = features.parse_items(LAYER, {})
    assert req.limit == features.DEFAULT_LIMIT and req.out.kind == "lonlat"
    assert features.supported_crs(LAYER) == [features.CRS84, features.EPSG4326, EPSG]


def test_bbox_in_lonlat_lands_in_the_store_crs():
    req = features.parse_items(LAYER, {"bbox": "106.2311,21.2425,106.2313,21.2427"})
    x0, y0, x1, y1 = req.bbox
    assert 419990 < x0 < x1 < 420030 and 2349990 < y0 < y1 < 2350030
    far = features.parse_items(LAYER, {"bbox": "0,0,1,1"})
    assert far.empty and far.bbox is None
    native = features.parse_items(LAYER, {"bbox": "420000,2350000,420050,2350050", "bbox-crs": EPSG})
    assert native.bbox == (420000, 2350000, 420050, 2350050)


@pytest.mark.parametrize("params", [
    {"limit": "10001"}, {"limit": "0"}, {"offset": "x"}, {"bbox": "1,2,3"}, {"bbox": "0,91,1,92"},
    {"crs": "EPSG:9214"}, {"sortby": "owner"}, {"properties": "parcel_no,id_number"}, {"f": "xml"},
    {"filter": "x = "}, {"filter-lang": "cql2-text"}, {"skipGeometry": "yes"}, {"whatever": "1"},
    {"cursor": "5", "sortby": "parcel_no"}, {"datetime": "2020-13"},
])
def test_bad_parameters_are_input_errors(params):
    with pytest.raises(InputError):
        features.parse_items(LAYER, params)


def test_query_binds_values_and_orders_totally():
    req = features.parse_items(LAYER, {"filter": "land_use = 'ONT'", "sortby": "-area_m2", "limit": "5",
                                       "land_use": "ONT"})
    q = features.build_query(LAYER, req, postgis=True)
    assert "'ONT'" not in q.sql and list(q.params.values()).count("ONT") == 2
    assert q.sql.endswith('ORDER BY "area_m2" DESC, "id" LIMIT :p2 OFFSET :p3')
    g = features.build_query(LAYER, features.parse_items(LAYER, {"bbox": "106.2311,21.2425,106.2313,21.2427"}),
                             postgis=False)
    assert "rtree_parcel_geom" in g.sql and "lr_s_intersects" in g.sql


def test_next_link_is_a_keyset_cursor_without_sortby():
    req = features.parse_items(LAYER, {"limit": "2"})
    links = {ln["rel"]: ln["href"] for ln in features.links("http://x", LAYER, req, 2, 7, None)}
    assert "cursor=7" in links["next"] and "offset" not in links["next"]
    req = features.parse_items(LAYER, {"limit": "2", "sortby": "parcel_no", "offset": "4"})
    links = {ln["rel"]: ln["href"] for ln in features.links("http://x", LAYER, req, 2, 7, 6)}
    assert "next" not in links and "offset=2" in links["prev"]


def test_openapi_has_no_remote_reference_left():
    doc = {"paths": {"/a": {"get": {"parameters": [
        {"$ref": "https://schemas.opengis.net/x/ogcapi-features-1.yaml#/components/parameters/featureId"},
        {"$ref": "#/components/parameters/f"}],
        "responses": {"400": {"$ref": "https://schemas.opengis.net/x.yaml#/components/responses/InvalidParameter"}}}}}}
    out = openapi.offline(doc)
    params = out["paths"]["/a"]["get"]["parameters"]
    assert params[0]["name"] == "featureId" and params[1] == {"$ref": "#/components/parameters/f"}
    assert "https://" not in str(out)


def test_tokens_and_roles():
    tokens = {"abc": "land_officer", "def": "citizen"}
    assert role_of("abc", tokens) == "land_officer" and role_of("def", tokens) == "citizen"
    assert role_of("ab", tokens) is None and role_of(None, tokens) is None


def test_tile_addresses():
    assert tiles.check_tile("WebMercatorQuad", "3", "7", "0") == (3, 7, 0)
    for bad in (("WebMercatorQuad", "3", "8", "0"), ("WorldCRS84Quad", "1", "0", "0"), ("WebMercatorQuad", "x", "0", "0"),
                ("WebMercatorQuad", "23", "0", "0")):
        with pytest.raises(InputError):
            tiles.check_tile(*bad)
    x0, y0, x1, y1 = tiles.tile_bounds_3857(1, 0, 1)
    assert x0 == 0 and y0 == 0 and x1 > 2e7 and y1 > 2e7
