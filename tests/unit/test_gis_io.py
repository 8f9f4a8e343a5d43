"""gis.io: reading GeoJSON geometry objects, the one place the API servers parse them."""

from __future__ import annotations

import pytest

from gis.errors import InputError
from gis.io import read_geojson_geometry


def test_a_geojson_polygon_reads():
    g = read_geojson_geometry({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    assert g.geom_type == "Polygon" and g.area == pytest.approx(0.5)


@pytest.mark.parametrize(("obj", "words"), [
    ([1, 2], "not a GeoJSON geometry"),
    ({"coordinates": [1, 2]}, "not a GeoJSON geometry"),
    ({"type": "Pentagon", "coordinates": [1, 2]}, "malformed"),
    ({"type": "LineString", "coordinates": [[0, 0], [1]]}, "malformed"),
    ({"type": "Polygon", "coordinates": "x"}, "malformed"),
    ({"type": "MultiPoint", "coordinates": []}, "empty"),
])
def test_bad_geojson_is_an_input_error_naming_the_problem(obj, words):
    with pytest.raises(InputError, match=words) as err:
        read_geojson_geometry(obj)
    assert err.value.hint
