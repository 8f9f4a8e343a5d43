"""Scores against a truth: PQ, number accuracy, Hausdorff, georeferencing error."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.affinity import translate
from shapely.geometry import box

from digitize.metrics import georef_error, hausdorff_targets, match_parcels, score_parcels


def _truth() -> gpd.GeoDataFrame:
    geoms = [box(i * 10, j * 10, i * 10 + 10, j * 10 + 10) for j in range(3) for i in range(3)]
    return gpd.GeoDataFrame({"parcel_no": range(1, 10), "land_use": ["LUC"] * 9,
                             "area_m2": [100.0] * 9}, geometry=geoms)


def _found(t: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"parcel_no": pd.array(t["parcel_no"].tolist(), dtype="Int64"),
                             "land_use": t["land_use"], "area_label_m2": t["area_m2"]}, geometry=t.geometry.values)


def test_a_perfect_result_scores_one():
    t = _truth()
    s = score_parcels(_found(t), t)
    assert (s.pq, s.sq, s.rq, s.number_accuracy, s.land_use_accuracy, s.area_label_accuracy) == (1, 1, 1, 1, 1, 1)
    assert s.hausdorff_median_m == 0.0


def test_merged_parcels_and_wrong_numbers_cost_what_they_should():
    t = _truth()
    f = _found(t)
    merged = f.geometry.iloc[0].union(f.geometry.iloc[1])  # two parcels read as one
    f = pd.concat([f.iloc[2:], gpd.GeoDataFrame({"parcel_no": pd.array([1], dtype="Int64"), "land_use": ["LUC"],
                                                 "area_label_m2": [200.0]}, geometry=[merged])], ignore_index=True)
    f.loc[0, "parcel_no"] = 99  # parcel 3 misread
    f = gpd.GeoDataFrame(f, geometry="geometry")
    s = score_parcels(f, t)
    # the merged polygon has IoU 0.5 with each half: no match (IoU must exceed 0.5)
    assert (s.tp, s.fp, s.fn) == (7, 1, 2)
    assert s.rq == pytest.approx(7 / (7 + 0.5 + 1))
    assert s.number_accuracy == pytest.approx(6 / 9)


def test_hausdorff_is_in_metres_and_targets_scale():
    t = _truth()
    f = _found(t)
    f = f.set_geometry([translate(g, 0.3, 0.0) for g in f.geometry])
    s = score_parcels(f, t)
    assert s.hausdorff_median_m == pytest.approx(0.3)
    assert s.pq < 1.0
    assert hausdorff_targets(1000) == (0.15, 0.5) and hausdorff_targets(2000) == (0.3, 1.0)


def test_matching_needs_iou_above_a_half():
    a = gpd.GeoSeries([box(0, 0, 10, 10)])
    assert match_parcels(a, gpd.GeoSeries([box(0, 0, 10, 20)])) == []
    assert len(match_parcels(a, gpd.GeoSeries([box(0, 0, 10, 19)]))) == 1


def test_georef_error_against_the_true_warp():
    pix = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    err = georef_error(lambda p: p * 0.1 + [0.03, 0.04], lambda p: p * 0.1, pix)
    assert err["rms_m"] == pytest.approx(0.05) and err["max_m"] == pytest.approx(0.05)
