"""Repairing regions by their labels: a piece cut off a parcel by text joins it again, flagged."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from digitize.scan import PARCEL_COLUMNS, merge_pieces
from gis.topology import qa_flags


def _parcels(rows: list[tuple[object, float | None, object]]) -> gpd.GeoDataFrame:
    """Parcels from (number, area label, geometry); the other columns as the scan fills them."""
    data = {c: [None] * len(rows) for c in PARCEL_COLUMNS}
    data["parcel_no"] = [r[0] for r in rows]
    data["area_label_m2"] = [r[1] for r in rows]
    data["area_m2"] = [round(r[2].area, 1) for r in rows]
    out = gpd.GeoDataFrame(data, geometry=[r[2] for r in rows], crs="EPSG:3857")
    out["parcel_no"] = out["parcel_no"].astype("Int64")
    out["area_label_m2"] = out["area_label_m2"].astype(float)
    return out


def test_a_piece_cut_off_by_a_label_bar_joins_its_parcel_and_is_flagged():
    # parcel 7 (label 200 m², 10 x 20 m) lost its lower 10 x 2 m to a bar taken for a boundary
    p = _parcels([(7, 200.0, box(0, 2, 10, 20)), (None, None, box(0, 0, 10, 2)),
                  (8, 150.0, box(10, 0, 20, 15))])
    out, findings = merge_pieces(p, scale=1000)
    assert len(out) == 2
    seven = out.index[out["parcel_no"] == 7][0]
    assert out.geometry[seven].area == 200.0 and out.loc[seven, "area_m2"] == 200.0
    assert [f.code for f in findings] == ["merged_piece"] and findings[0].feature_ids == (seven,)
    assert qa_flags(findings, out.index)[seven] == "merged_piece"


def test_an_unlabelled_parcel_that_fits_no_label_stays():
    # an unlabelled parcel (label not read) beside labelled neighbours whose areas are right already
    p = _parcels([(7, 200.0, box(0, 0, 10, 20)), (None, None, box(10, 0, 20, 20)),
                  (8, 100.0, box(20, 0, 30, 10))])
    out, findings = merge_pieces(p, scale=1000)
    assert len(out) == 3 and findings == []


def test_a_piece_behind_a_long_line_stays_apart():
    # the union would fit the label, but the line between them is 40 mm on paper at 1:1000: a boundary
    p = _parcels([(7, 440.0, box(0, 4, 40, 14)), (None, None, box(0, 3, 40, 4))])
    out, findings = merge_pieces(p, scale=1000)
    assert len(out) == 2 and findings == []
    assert merge_pieces(p, scale=1000, line_mm=50.0)[0].shape[0] == 1  # the same pair with a longer allowance
    assert np.isclose(out.geometry.area.sum(), 440.0)
