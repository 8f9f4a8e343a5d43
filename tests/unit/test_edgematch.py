"""digitize.edgematch: parcels cut by the edge between two sheets, joined again."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from digitize.edgematch import join_across_sheets
from gis.sheets import parse_sheet

A = parse_sheet("361561-4-a", northing_hint=2.36e6)  # west of B; they share E = 561500
B = parse_sheet("361561-4-b", northing_hint=2.36e6)
EXTENTS = {A.number: A.extent, B.number: B.extent}
E, N = 561500.0, 2359700.0


def layer(rows):
    return gpd.GeoDataFrame(
        {"parcel_no": pd.array([r[0] for r in rows], dtype="Int64"), "sheet_no": [r[1] for r in rows],
         "land_use": ["ONT"] * len(rows)},
        geometry=[r[2] for r in rows], crs="EPSG:9214")


def test_labelled_piece_takes_the_unlabelled_one():
    df = layer([(5, A.number, box(E - 30, N, E, N + 20)),  # the larger part, labelled on A
                (None, B.number, box(E, N, E + 10, N + 20)),  # its piece on B, unlabelled
                (1, B.number, box(E + 10, N, E + 30, N + 20))])  # B's own parcel beside it
    out, found = join_across_sheets(df, EXTENTS, scale=1000)
    assert len(out) == 2
    joined = out[out["parcel_no"] == 5].iloc[0]
    assert joined.geometry.area == pytest.approx(800.0)
    assert joined.geometry.geom_type == "Polygon" and len(joined.geometry.interiors) == 0
    assert joined["sheet_no"] == A.number
    assert [f.code for f in found] == ["cut_by_sheet_edge"] and found[0].severity == "repaired"
    assert found[0].feature_ids == (int(out.index[out["parcel_no"] == 5][0]),)


def test_pieces_a_few_millimetres_apart_still_join():
    df = layer([(5, A.number, box(E - 30, N, E - 0.004, N + 20)), (None, B.number, box(E + 0.003, N, E + 10, N + 20))])
    out, _ = join_across_sheets(df, EXTENTS, scale=1000)
    assert len(out) == 1 and out.geometry.iloc[0].geom_type == "Polygon"
    assert out.geometry.iloc[0].area == pytest.approx(800.0, abs=0.3)


def test_different_numbers_stay_apart():
    df = layer([(5, A.number, box(E - 30, N, E, N + 20)), (7, B.number, box(E, N, E + 10, N + 20))])
    out, found = join_across_sheets(df, EXTENTS, scale=1000)
    assert len(out) == 2 and found == []


def test_touching_at_a_corner_or_inside_one_sheet_is_not_a_join():
    df = layer([(5, A.number, box(E - 30, N, E, N + 20)), (None, B.number, box(E, N + 20, E + 10, N + 40)),
                (None, A.number, box(E - 30, N - 20, E, N))])
    out, found = join_across_sheets(df, EXTENTS, scale=1000)
    assert len(out) == 3 and found == []


def test_a_piece_joins_only_where_the_label_s_area_fits():
    """Beside a cut parcel lies its neighbour's piece too: the area label tells them apart."""
    df = layer([(5, A.number, box(E - 30, N, E, N + 20)),  # 600 m² drawn on A, label says 800
                (None, B.number, box(E, N, E + 10, N + 20)),  # its 200 m² piece on B
                (6, A.number, box(E - 30, N + 20, E, N + 40)),  # whole on A: label 600 = drawn
                (None, B.number, box(E, N + 20, E + 10, N + 40))])  # a piece of something else beside it
    df["area_label_m2"] = [800.0, None, 600.0, None]
    out, found = join_across_sheets(df, EXTENTS, scale=1000)
    assert sorted(out["parcel_no"].dropna().tolist()) == [5, 6] and len(out) == 3 and len(found) == 1
    assert out.loc[out["parcel_no"] == 5].geometry.iloc[0].area == pytest.approx(800.0)
    assert out.loc[out["parcel_no"] == 6].geometry.iloc[0].area == pytest.approx(600.0)


def test_pieces_traced_a_hand_apart_on_two_scans_are_welded_whole():
    """Each scan traces the sheet edge a little apart (8 cm at 1:1000), its corners elsewhere: one polygon still."""
    head = Polygon([(E - 30, N), (E - 0.04, N), (E - 0.04, N + 20), (E - 30, N + 20)])
    piece = Polygon([(E + 0.04, N + 0.3), (E + 10, N), (E + 10, N + 20), (E + 0.04, N + 19.7)])
    df = layer([(5, A.number, head), (None, B.number, piece)])
    out, _ = join_across_sheets(df, EXTENTS, scale=1000)
    g = out.geometry.iloc[0]
    assert len(out) == 1 and g.geom_type == "Polygon" and len(g.interiors) == 0
    assert g.area == pytest.approx(head.area + piece.area, abs=2.0)


def test_a_slit_that_widens_along_the_edge_is_closed_to_its_end():
    """One sheet traced the edge half a millimetre askew at its far end (0.5 m at 1:1000): no notch is left."""
    head = Polygon([(E - 30, N), (E - 0.02, N), (E - 0.02, N + 20), (E - 30, N + 20)])
    piece = Polygon([(E + 0.02, N), (E + 10, N), (E + 10, N + 20), (E + 0.5, N + 20)])
    out, _ = join_across_sheets(layer([(5, A.number, head), (None, B.number, piece)]), EXTENTS, scale=1000)
    g = out.geometry.iloc[0]
    assert len(out) == 1 and g.geom_type == "Polygon"
    assert shapely.hausdorff_distance(g.boundary, box(E - 30, N, E + 10, N + 20).boundary) < 0.3
