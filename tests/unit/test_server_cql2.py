"""CQL2 text and JSON parsing and compiling: binds only, whitelisted names only."""

from __future__ import annotations

import pytest
import shapely

from api.server import cql2
from gis.errors import InputError

FIELDS = {"parcel_no": "integer", "land_use": "string", "area_m2": "number", "address": "string"}


def compile_(node, dialect="postgresql"):
    parts = cql2.SqlParts()
    sql = cql2.compile_filter(node, fields=FIELDS, geom_col="geom", dialect=dialect, srid=980700,
                              to_storage=lambda g: g, rtree="rtree_parcel_geom", id_col="id", parts=parts)
    return sql, parts.params


def test_text_and_json_give_the_same_tree():
    text = cql2.parse_text("land_use = 'ONT' AND (area_m2 >= 200.5 OR parcel_no IN (1, 2, 3))")
    js = cql2.parse_json({"op": "and", "args": [
        {"op": "=", "args": [{"property": "land_use"}, "ONT"]},
        {"op": "or", "args": [{"op": ">=", "args": [{"property": "area_m2"}, 200.5]},
                              {"op": "in", "args": [{"property": "parcel_no"}, [1, 2, 3]]}]}]})
    assert text == js


def test_compiled_sql_binds_every_literal():
    sql, params = compile_(cql2.parse_text("land_use LIKE 'O%' AND NOT parcel_no BETWEEN 5 AND 9"))
    assert sql == '(("land_use" LIKE :p0) AND (NOT ("parcel_no" BETWEEN :p1 AND :p2)))'
    assert params == {"p0": "O%", "p1": 5, "p2": 9}


def test_literal_on_the_left_is_turned_round():
    sql, params = compile_(cql2.parse_text("200 < area_m2"))
    assert sql == '("area_m2" > :p0)' and params == {"p0": 200.0}


def test_is_null_and_quoted_names():
    sql, _ = compile_(cql2.parse_text('"address" IS NOT NULL'))
    assert sql == '("address" IS NOT NULL)'


def test_spatial_predicates_on_postgis_and_geopackage():
    node = cql2.parse_text("S_INTERSECTS(geometry, POLYGON((0 0, 10 0, 10 10, 0 10, 0 0)))")
    sql, params = compile_(node)
    assert sql == 'ST_Intersects("geom", ST_GeomFromWKB(:p0, 980700))'
    assert shapely.from_wkb(params["p0"]).area == 100
    sql, params = compile_(node, dialect="sqlite")
    assert "rtree_parcel_geom" in sql and 'lr_s_intersects("geom", :p0)' in sql
    assert params["p1"] == 10 and params["p2"] == 0


def test_within_with_the_literal_first_becomes_contains():
    sql, _ = compile_(cql2.parse_text("S_WITHIN(BBOX(0, 0, 1, 1), geometry)"))
    assert sql.startswith("ST_Contains(")


def test_json_spatial_with_geojson_and_bbox():
    node = cql2.parse_json('{"op": "s_intersects", "args": [{"property": "geometry"},'
                           ' {"type": "Point", "coordinates": [1, 2]}]}')
    assert node[0] == "spatial" and node[3][1].equals(shapely.Point(1, 2))
    node = cql2.parse_json({"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [0, 0, 5, 5]}]})
    assert node[3][1].area == 25


@pytest.mark.parametrize("bad", [
    "parcel_no = 1; DROP TABLE parcel",
    "parcel_no = 1 -- comment",
    "\"parcel_no\"\"; DELETE FROM party; --\" = 1",
    "name = 'x'",  # not a public field
    "party.name = 'x'",
    "land_use = 'ONT' OR",
    "land_use LIKE 5",
    "parcel_no > 'abc'",
    "S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))",
    "S_INTERSECTS(land_use, POINT(1 2))",
    "POINT(1 2) = land_use",
    "(" * 80 + "parcel_no = 1" + ")" * 80,
    "",
    "T_AFTER(land_use, DATE('2020-01-01'))",
])
def test_bad_text_filters_are_input_errors(bad):
    with pytest.raises(InputError):
        compile_(cql2.parse_text(bad))


@pytest.mark.parametrize("bad", [
    "not json", "[]", '{"op": "=", "args": [{"property": "id_number"}, "1"]}',
    '{"op": "drop", "args": []}', '{"op": "and", "args": [true]}',
    '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", "coordinates": 5}]}',
    '{"op": "=", "args": [{"property": "parcel_no"}, {"op": "now", "args": []}]}',
])
def test_bad_json_filters_are_input_errors(bad):
    with pytest.raises(InputError):
        compile_(cql2.parse_json(bad))


def test_an_injection_string_only_ever_travels_as_a_bind():
    evil = "x'); DROP TABLE parcel; --"
    sql, params = compile_(cql2.parse_json({"op": "=", "args": [{"property": "address"}, evil]}))
    assert evil not in sql and params == {"p0": evil}
    sql, params = compile_(cql2.parse_text("address = 'x''); DROP TABLE parcel; --'"))
    assert "DROP" not in sql and params == {"p0": evil}


def test_a_self_crossing_polygon_is_made_valid_before_it_reaches_the_store():
    _, params = compile_(cql2.parse_text("S_INTERSECTS(geometry, POLYGON((0 0, 10 10, 10 0, 0 10, 0 0)))"))
    geom = shapely.from_wkb(params["p0"])
    assert geom.is_valid and geom.area == 50
