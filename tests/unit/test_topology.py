"""gis.topology: every finding code on small hand-made layers, and the safe repairs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from gis.errors import InputError
from gis.topology import (
    Finding,
    area_tolerance,
    check_linework,
    check_parcels,
    qa_flags,
    repair_parcels,
    snap_tolerance,
    summarize,
    tolerances,
)


def grid(nx: int = 3, ny: int = 3, size: float = 20.0, **cols) -> gpd.GeoDataFrame:
    """A clean tiling of squares, numbered 1.. in sheet 'A'."""
    geoms = [box(i * size, j * size, (i + 1) * size, (j + 1) * size) for j in range(ny) for i in range(nx)]
    n = len(geoms)
    data = {"parcel_no": np.arange(1, n + 1), "sheet_no": ["A"] * n,
            "area_label_m2": [size * size] * n, "land_use": ["ONT"] * n}
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:9214")


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def test_clean_coverage_has_no_findings():
    assert check_parcels(grid(), scale=1000) == []


def test_tolerances_follow_the_scale():
    assert snap_tolerance(1000) == 0.1 and snap_tolerance(500) == 0.1 and snap_tolerance(2000) == 0.2
    assert tolerances(2000).sliver_width_m == 0.4
    assert float(area_tolerance(400.0, 1000)) == pytest.approx(8.0)
    with pytest.raises(InputError):
        tolerances(3)


def test_overlap_is_found_with_both_ids_and_its_area():
    df = grid()
    df.loc[4, "geometry"] = box(20, 20, 41, 40)  # middle square pushed 1 m into its right neighbour
    found = check_parcels(df, scale=1000)
    over = [f for f in found if f.code == "overlap"]
    assert len(over) == 1
    assert set(over[0].feature_ids) == {4, 5}
    assert over[0].geometry.area == pytest.approx(20.0)


def test_polygon_drawn_twice_is_an_overlap():
    df = grid(2, 1)
    df = gpd.GeoDataFrame(pd_concat(df, df.iloc[[0]]), crs=df.crs)
    df.index = range(len(df))
    df.loc[2, "parcel_no"] = 9
    over = [f for f in check_parcels(df, scale=1000) if f.code == "overlap"]
    assert [set(f.feature_ids) for f in over] == [{0, 2}]


def pd_concat(a, b):
    import pandas as pd

    return pd.concat([a, b])


def test_gap_found_unless_a_road_explains_it():
    df = grid().drop(index=4)  # hole in the middle
    gaps = [f for f in check_parcels(df, scale=1000) if f.code == "gap"]
    assert len(gaps) == 1 and gaps[0].geometry.area == pytest.approx(400.0)
    assert set(gaps[0].feature_ids) >= {1, 3, 5, 7}
    road = gpd.GeoSeries([box(19, 19, 41, 41)])
    assert [f for f in check_parcels(df, scale=1000, allowed_gaps=road) if f.code == "gap"] == []


def test_outside_the_data_is_not_a_gap():
    df = grid()
    assert [f for f in check_parcels(df, scale=1000, sheet_extent=(0, 0, 60, 70)) if f.code == "gap"] == []


def test_sliver_polygon_is_a_warning():
    df = grid(2, 1)
    df.loc[0, "geometry"] = box(0, 0, 20, 20)
    df.loc[1, "geometry"] = box(20, 0, 40, 20)
    extra = gpd.GeoDataFrame({"parcel_no": [3], "sheet_no": ["A"]}, geometry=[box(40, 0, 40.1, 20)], crs=df.crs)
    df = gpd.GeoDataFrame(pd_concat(df, extra).reset_index(drop=True), crs=df.crs)
    sl = [f for f in check_parcels(df, scale=1000) if f.code == "sliver"]
    assert [f.feature_ids for f in sl] == [(2,)] and sl[0].severity == "warning"


def test_numbers_duplicate_and_missing():
    df = grid()
    df["parcel_no"] = df["parcel_no"].astype("Int64")
    df.loc[1, "parcel_no"] = 1
    df.loc[2, "parcel_no"] = None
    found = check_parcels(df, scale=1000)
    dup = [f for f in found if f.code == "duplicate_number"]
    assert len(dup) == 1 and set(dup[0].feature_ids) == {0, 1}
    assert [f.feature_ids for f in found if f.code == "unlabeled"] == [(2,)]


def test_same_number_in_two_sheets_is_fine():
    df = grid(2, 1)
    df["parcel_no"] = [1, 1]
    df["sheet_no"] = ["A", "B"]
    assert check_parcels(df, scale=1000) == []


def test_label_points_unlabeled_and_multiple():
    df = grid(3, 1)
    labels = gpd.GeoSeries([Point(10, 10), Point(30, 10), Point(32, 12)])
    found = check_parcels(df, scale=1000, labels=labels)
    assert [f.feature_ids for f in found if f.code == "multiple_labels"] == [(1,)]
    assert [f.feature_ids for f in found if f.code == "unlabeled"] == [(2,)]


def test_area_mismatch_uses_the_circular_tolerance():
    df = grid(3, 1)
    df["area_label_m2"] = [400.0 + 7.9, 400.0 + 8.1, None]  # allowed 8.0 m² at 1:1000 for 400 m²
    found = check_parcels(df, scale=1000)
    assert [f.feature_ids for f in found if f.code == "area_mismatch"] == [(1,)]
    assert [f for f in check_parcels(df, scale=2000) if f.code == "area_mismatch"] == []


def test_unknown_land_use():
    df = grid(2, 1)
    df["land_use"] = ["ONT+CLN", "XYZ"]
    assert [f.feature_ids for f in check_parcels(df, scale=1000) if f.code == "unknown_land_use"] == [(1,)]
    df["land_use"] = ["luc", "ONT+XYZ"]
    assert [f.feature_ids for f in check_parcels(df, scale=1000) if f.code == "unknown_land_use"] == [(1,)]


def test_invalid_geometry_is_reported_not_crashed_on():
    df = grid(2, 1)
    df.loc[1, "geometry"] = Polygon([(20, 0), (40, 20), (40, 0), (20, 20)])  # bow-tie
    found = check_parcels(df, scale=1000)
    assert "invalid_geometry" in codes(found)
    assert [f.feature_ids for f in found if f.code == "invalid_geometry"] == [(1,)]


def test_cut_by_sheet_edge():
    df = grid(3, 1)
    found = check_parcels(df, scale=1000, sheet_extent={"A": (0, -100, 50, 100)})
    cut = sorted(f.feature_ids for f in found if f.code == "cut_by_sheet_edge")
    assert cut == [(0,), (2,)]  # 0 runs along the left edge, 2 crosses the right one


def test_repair_make_valid_snap_and_sliver_merge():
    df = grid(3, 1)
    df["parcel_no"] = df["parcel_no"].astype("Int64")
    df.loc[1, "geometry"] = box(20.03, 0, 40.04, 20)  # 3 cm gap left, 4 cm overlap right
    df.loc[0, "geometry"] = Polygon([(0, 0), (20, 20), (20, 0), (0, 20)])  # bow-tie
    sliver = gpd.GeoDataFrame({"parcel_no": [None], "sheet_no": ["A"]}, geometry=[box(60, 0, 60.05, 20)], crs=df.crs)
    df = gpd.GeoDataFrame(pd_concat(df, sliver).reset_index(drop=True), crs=df.crs)
    df["parcel_no"] = df["parcel_no"].astype("Int64")
    fixed, found = repair_parcels(df, scale=1000)
    assert all(f.severity == "repaired" for f in found)
    assert {"invalid_geometry", "overlap", "sliver"} <= set(codes(found))
    assert len(fixed) == 3 and list(fixed.index) == [0, 1, 2]
    assert 399.0 < fixed.loc[1].geometry.area < 401.0  # moved by at most the snapping tolerance
    assert shapely.is_valid(np.asarray(fixed.geometry.values)).all()
    assert fixed.loc[2].geometry.area == pytest.approx(401.0)
    left = [f for f in check_parcels(fixed, scale=1000) if f.code in ("overlap", "gap", "invalid_geometry")]
    assert left == []


def test_repair_fills_a_narrow_enclosed_gap():
    df = grid(3, 3)
    df.loc[4, "geometry"] = box(20, 20, 39.9, 40)  # 10 cm slot inside the block
    fixed, found = repair_parcels(df, scale=1000)
    assert "gap" in codes(found) or "overlap" in codes(found)
    assert [f for f in check_parcels(fixed, scale=1000) if f.code == "gap"] == []
    assert fixed.geometry.area.sum() == pytest.approx(3600.0)


def test_linework_dangles():
    lines = gpd.GeoSeries([
        LineString([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]),  # closed
        LineString([(10, 5), (25, 5)]),  # starts on the square
        LineString([(25, 4.97), (25, 0)]),  # misses the previous line by 3 cm (connected), then ends in the air
        LineString([(30, 30), (40, 30)]),  # alone: two dangles
    ])
    found = check_linework(lines, scale=1000)
    assert all(f.code == "dangle" for f in found)
    ends = sorted((round(f.geometry.x, 2), round(f.geometry.y, 2)) for f in found)
    assert ends == [(25.0, 0.0), (30.0, 30.0), (40.0, 30.0)]


def test_qa_flags_and_summary():
    df = grid(2, 1)
    df.loc[1, "land_use"] = "XYZ"
    found = check_parcels(df, scale=1000)
    flags = qa_flags(found, df.index)
    assert list(flags) == ["", "unknown_land_use"]
    assert summarize(found) == {"warning": {"unknown_land_use": 1}}
    assert found[0].to_dict()["feature_ids"] == [1]


def test_finding_refuses_unknown_codes():
    with pytest.raises(ValueError):
        Finding("nonsense", "error", "x")
    with pytest.raises(ValueError):
        Finding("gap", "fatal", "x")


def test_a_parcel_cut_by_the_frame_may_have_a_larger_label_area_than_drawn():
    df = grid(3, 1)  # 20 m squares; the frame at x = 50 cuts parcel 2 (10 m of its 20 drawn)
    df.loc[2, "geometry"] = box(40, 0, 50, 20)
    df["area_label_m2"] = [400.0, 400.0, 400.0]
    found = check_parcels(df, scale=1000, sheet_extent={"A": (0, -100, 50, 100)})
    assert not [f for f in found if f.code == "area_mismatch"]  # the label gives the whole parcel
    df["area_label_m2"] = [400.0, 400.0, 100.0]
    found = check_parcels(df, scale=1000, sheet_extent={"A": (0, -100, 50, 100)})
    assert [f.feature_ids for f in found if f.code == "area_mismatch"] == [(2,)]  # drawn larger: a mismatch
