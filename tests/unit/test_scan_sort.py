"""Which digitized regions are parcels: roads with numbers in their names are not."""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import box

from digitize.labels import Label
from digitize.scan import _sort_regions
from gis.sheets import parse_sheet

SHEET = parse_sheet("361561-5-(7)", northing_hint=2_360_000)  # 1:500, 250 m x 250 m


def _regions(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"region": list(range(1, len(geoms) + 1))}, geometry=list(geoms), crs=None)


def _street_network(x0: float, y0: float, width: float) -> shapely.Geometry:
    """Streets 4 m wide: one along the sheet, three side streets off it (a comb)."""
    main = box(x0, y0, x0 + 240, y0 + width)
    sides = [box(x0 + dx, y0 + width, x0 + dx + width, y0 + 100) for dx in (20, 110, 200)]
    return shapely.union_all([main, *sides])


def test_a_street_network_with_a_number_in_its_name_is_no_parcel():
    x0, y0 = SHEET.extent[0] + 5, SHEET.extent[1] + 20
    streets = _street_network(x0, y0, 4.0)
    block = box(x0, y0 + 120, x0 + 30, y0 + 140)
    regions = _regions(streets, block)
    labels = {1: Label(1, parcel_no=9299, land_use="ONT", confidence=0.2),  # "Đường tỉnh 299"
              2: Label(2, parcel_no=12, area_label_m2=600.0, land_use="ONT", confidence=0.9)}
    parcels, others = _sort_regions(regions, labels, SHEET, px_m=0.05)
    assert parcels["parcel_no"].tolist() == [12]
    assert others["reason"].str.contains("road or water network").tolist() == [True]


def test_a_long_canal_labelled_with_its_own_area_stays_a_parcel():
    x0, y0 = SHEET.extent[0] + 5, SHEET.extent[1] + 20
    canal = _street_network(x0, y0, 4.0)
    labels = {1: Label(1, parcel_no=40, area_label_m2=round(canal.area, 1), land_use="DTL", confidence=0.9)}
    parcels, _ = _sort_regions(_regions(canal), labels, SHEET, px_m=0.05)
    assert parcels["parcel_no"].tolist() == [40]
