"""`load_file(hold_ambiguous=True)`: a sheet with a repeated number loads without it."""

from __future__ import annotations

import geopandas as gpd
import shapely

from cadastre.load import load_file
from gis.crs import resolve_crs
from gis.io import to_vector


def test_ambiguous_parcels_are_held_and_the_rest_loaded(tmp_path, store_url):
    crs = resolve_crs("vn2000:bac-giang")
    x0, y0 = 561510.0, 2359510.0  # inside sheet 361561-4-b
    src = gpd.GeoDataFrame(
        {"parcel_no": [1, 2, 2, None], "sheet_no": ["361561-4-b"] * 4, "land_use": ["ONT"] * 4},
        geometry=[shapely.box(x0 + 20 * i, y0, x0 + 20 * i + 20, y0 + 20) for i in range(4)], crs=crs,
    )
    path = tmp_path / "digitized.gpkg"
    to_vector(src, path, "parcels")

    refused = load_file(store_url, path, commune="29901")
    assert [s.status for s in refused.sheets] == ["refused"]

    report = load_file(store_url, path, commune="29901", hold_ambiguous=True)
    assert report.held == 3
    assert report.refused == []
    assert report.totals()["inserted"] == 1
