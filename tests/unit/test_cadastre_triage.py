"""Triage before the register: ambiguous numbers are held for a human."""

from __future__ import annotations

import geopandas as gpd
import shapely

from cadastre.triage import hold_ambiguous


def test_repeated_and_unread_numbers_are_held_per_sheet():
    df = gpd.GeoDataFrame(
        {"parcel_no": [1, 2, 2, None, 2, 3], "sheet_no": ["a", "a", "a", "a", "b", "b"]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(6)],
    )
    ok, held = hold_ambiguous(df)
    assert sorted(zip(ok["sheet_no"], ok["parcel_no"])) == [("a", 1), ("b", 2), ("b", 3)]
    assert held["hold_reason"].tolist() == ["duplicate number", "duplicate number", "number not read"]
    assert len(ok) + len(held) == len(df)
    assert "hold_reason" not in ok.columns
