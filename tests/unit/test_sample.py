"""The committed sample district: its ground truth is a clean cadastral fabric."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import shapely

from gis.crs import resolve_crs
from gis.io import list_layers, read_vector
from gis.landuse import is_land_use_code
from gis.sheets import parse_sheet, sheet_at
from sample_data import district
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def parcels():
    return read_vector(SAMPLE / "truth" / "parcels.gpkg", layer="parcels")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SAMPLE / "district.json").read_text(encoding="utf-8"))


def test_parcels_have_the_contract_columns_and_crs(parcels):
    for col in district.PARCEL_COLUMNS:
        assert col in parcels.columns
    assert parcels.crs.name == resolve_crs("vn2000:bac-giang").name  # GDAL files it as EPSG:9214
    assert len(parcels) > 2000
    minx, miny, maxx, maxy = parcels.total_bounds
    assert 560_000 < minx and maxx < 575_000 and 2_355_000 < miny and maxy < 2_365_000


def test_fabric_is_an_exact_coverage(parcels):
    geoms = parcels.geometry.values
    assert all(g.is_valid and g.geom_type == "Polygon" for g in geoms)
    assert shapely.coverage_is_valid(geoms)  # no gaps along shared edges, no overlaps
    coords = shapely.get_coordinates(geoms)
    assert np.allclose(coords, np.round(coords, 3), atol=1e-7)  # millimetre vertices


def test_roads_and_water_are_gaps_not_parcels(parcels):
    gaps = shapely.union_all([
        g.buffer(w / 2 - 0.01, cap_style="flat")
        for df in (district.roads(), district.waterways()) for g, w in zip(df.geometry, df["width_m"])])
    overlap = shapely.area(shapely.intersection(parcels.geometry.values, gaps))
    assert overlap.max() < 0.05


def test_numbering_areas_codes_and_owners(parcels):
    for sheet_no, group in parcels.groupby("sheet_no"):
        assert sorted(group["parcel_no"]) == list(range(1, len(group) + 1)), sheet_no
    assert np.allclose(parcels["area_m2"], parcels.geometry.area.round(1))
    assert all(is_land_use_code(c) for c in parcels["land_use"])
    mix = Counter(parcels["land_use"])
    for code in ("LUC", "ONT", "CLN", "BHK", "NTS", "DGD", "NTD", "TMD"):
        assert mix[code] > 0, code
    ids = parcels["owner_id"].dropna()
    assert ids.str.fullmatch(r"\d{12}").all()
    assert parcels["owner_name"].str.contains("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]").mean() > 0.5
    res = parcels.loc[parcels["land_use"] == "ONT", "area_m2"]
    assert ((res >= 80) & (res <= 450)).mean() > 0.9
    paddy = parcels.loc[parcels["land_use"] == "LUC", "area_m2"]
    assert ((paddy >= 300) & (paddy <= 3000)).mean() > 0.9


def test_manifest_sheets_scales_and_edges(manifest):
    sheets = manifest["sheets"]
    assert Counter(s["scale"] for s in sheets) == {500: 2, 1000: 2, 2000: 2}
    for s in sheets:
        sheet = parse_sheet(s["number"], northing_hint=2_359_000)
        e0, n0, e1, n1 = sheet.extent
        assert sheet_at((e0 + e1) / 2, (n0 + n1) / 2, sheet.scale).number == s["number"]
        for key in ("scan", "gcps", "truth_warp", "truth", "sheet_json"):
            assert (SAMPLE / s[key]).is_file(), s[key]
    assert {"province", "district", "commune"} <= set(list_layers(SAMPLE / "truth" / "admin.gpkg"))


def test_adjacent_sheets_share_cut_parcels(parcels):
    """Parcels cut by a shared sheet edge: the edge-matching cases."""
    for a, b in (("361561-7", "361561-8"), ("361561-4-b", "361561-4-d"), ("361561-5-(6)", "361561-5-(7)")):
        sa, sb = (parse_sheet(n, northing_hint=2_359_000) for n in (a, b))
        edge = shapely.box(*sa.extent).boundary.intersection(shapely.box(*sb.extent).boundary)
        cut = parcels[parcels.geometry.crosses(edge)]
        assert len(cut) >= 5, (a, b)
        assert set(cut["sheet_no"]) == {a, b}


def test_gcps_files_are_the_grid_at_true_positions(manifest):
    s = manifest["sheets"][0]
    text = (SAMPLE / s["gcps"]).read_text()
    assert text.splitlines()[0] == "pixel_x,pixel_y,map_x,map_y"
    import pandas as pd

    gcps = pd.read_csv(SAMPLE / s["gcps"])
    warp = pd.read_csv(SAMPLE / s["truth_warp"])
    assert len(gcps) == 36
    merged = gcps.merge(warp, on=["map_x", "map_y"], suffixes=("", "_true"))
    assert len(merged) == 36
    err = np.hypot(merged.pixel_x - merged.pixel_x_true, merged.pixel_y - merged.pixel_y_true)
    assert 0.1 < err.mean() < 1.5


def test_base_layers(parcels):
    roads = read_vector(SAMPLE / "base" / "roads.gpkg", layer="roads")
    assert {"road_id", "name", "road_class", "width_m"} <= set(roads.columns)
    assert (roads.geom_type == "LineString").all()
    stations = read_vector(SAMPLE / "base" / "environment.gpkg", layer="stations")
    assert set(stations["kind"]) == {"air", "water", "noise"}
    import pyogrio

    readings = pyogrio.read_dataframe(SAMPLE / "base" / "environment.gpkg", layer="readings", read_geometry=False)
    assert {"station_id", "observed_at", "parameter", "value", "unit"} <= set(readings.columns)
    assert set(readings["station_id"]) == set(stations["station_id"])
    assert {"PM2.5", "NO2", "pH", "DO", "noise_dB"} <= set(readings["parameter"])
    zones = read_vector(SAMPLE / "base" / "planning.gpkg", layer="zones")
    assert all(is_land_use_code(c) for c in zones["planned_use"])
    corridor = zones.loc[zones["planned_use"] == "DGT"].geometry.iloc[0]
    assert parcels.geometry.intersects(corridor).sum() > 50
