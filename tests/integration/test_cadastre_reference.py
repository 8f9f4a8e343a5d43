"""Reference layers (admin units, roads, stations, readings, zones) on both stores."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import select, text

from cadastre.reference import load_reference
from cadastre.register import init_register
from gis.crs import resolve_crs
from gis.errors import InputError
from gis.io import to_vector

CRS_BG = resolve_crs("vn2000:bac-giang")


def _base(tmp_path: Path) -> Path:
    d = tmp_path / "base"
    d.mkdir()
    box = shapely.box(560000, 2359000, 562000, 2360000)
    to_vector(gpd.GeoDataFrame({"code": ["24"], "name": ["Bắc Giang"]}, geometry=[box.buffer(5000)], crs=CRS_BG),
              d / "admin.gpkg", "province")
    to_vector(gpd.GeoDataFrame({"code": ["299"], "name": ["Huyện A"]}, geometry=[box.buffer(1000)], crs=CRS_BG),
              d / "admin.gpkg", "district")
    to_vector(gpd.GeoDataFrame({"code": ["29901", "29902"], "name": ["Xã Tân Hòa", "Xã Phúc Lâm"]},
                               geometry=[shapely.box(560000, 2359000, 561000, 2360000),
                                         shapely.box(561000, 2359000, 562000, 2360000)], crs=CRS_BG),
              d / "admin.gpkg", "commune")
    to_vector(gpd.GeoDataFrame({"road_id": ["R1"], "name": ["QL 31"], "road_class": ["national"], "width_m": [12.0]},
                               geometry=[shapely.LineString([(560000, 2359500), (562000, 2359500)])], crs=CRS_BG),
              d / "roads.gpkg", "roads")
    to_vector(gpd.GeoDataFrame({"station_id": ["S1"], "name": ["Trạm 1"], "kind": ["air"]},
                               geometry=[shapely.Point(560500, 2359500)], crs=CRS_BG), d / "environment.gpkg", "stations")
    readings = gpd.pd.DataFrame({"station_id": ["S1", "S1"], "observed_at": ["2024-03-01T07:00:00+07:00",
                                                                           "2024-03-01T08:00:00+07:00"],
                                 "parameter": ["pm25", "pm25"], "value": [31.5, 28.0], "unit": ["ug/m3"] * 2})
    to_vector(gpd.GeoDataFrame(readings, geometry=[None, None], crs=CRS_BG), d / "environment.gpkg", "readings")
    to_vector(gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["Khu dân cư mới"], "planned_use": ["ONT"]},
                               geometry=[shapely.box(560100, 2359100, 560400, 2359400)], crs=CRS_BG),
              d / "planning.gpkg", "zones")
    return d


def test_reference_layers_load_and_reload(store_url: str, tmp_path: Path):
    reg = init_register(store_url, CRS_BG)
    base = _base(tmp_path)
    counts = load_reference(reg, base)
    assert counts == {"admin_unit": 4, "road": 1, "monitoring_station": 1, "station_reading": 2, "planning_zone": 1}
    assert load_reference(reg, base) == counts  # a reload replaces, it does not add
    with reg.engine.connect() as conn:
        units = conn.execute(text("SELECT code, level, parent_code FROM admin_unit ORDER BY code")).all()
        assert [tuple(u) for u in units] == [("24", "province", None), ("299", "district", "24"),
                                            ("29901", "commune", "299"), ("29902", "commune", "299")]
        at = conn.execute(select(reg.table("station_reading").c.at).order_by(reg.table("station_reading").c.at)
                          ).scalars().first()
        assert at.isoformat() == "2024-03-01T00:00:00"  # stored in UTC
        road = conn.execute(select(reg.table("road").c.geom)).scalar_one()
        assert road.geom_type == "MultiLineString" and road.length == pytest.approx(2000)
    reg.dispose()


def test_a_directory_without_reference_layers_is_refused(store_url: str, tmp_path: Path):
    reg = init_register(store_url, CRS_BG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no reference layer"):
        load_reference(reg, tmp_path / "empty")
    reg.dispose()
