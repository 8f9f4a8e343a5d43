"""Which digitized regions are parcels: roads with numbers in their names are not."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box

from digitize.georef import ControlPoints, fit_georeference
from digitize.labels import Label
from digitize.scan import EDGE_PIECE, _sort_regions, regions_on_frame
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


def test_the_regions_the_frame_runs_through():
    """A scan of 1000 px with the frame at pixels 100-900: the region across it, not those inside or outside."""
    e0, n0, e1, n1 = SHEET.extent
    corners = np.array([[100.0, 100.0], [900.0, 100.0], [900.0, 900.0], [100.0, 900.0]])
    world = np.array([[e0, n1], [e1, n1], [e1, n0], [e0, n0]])
    georef = fit_georeference(ControlPoints(corners, world), method="affine", scale=500, image_size=(1000, 1000))
    regions = np.full((1000, 1000), 3, dtype=np.int32)  # outside the frame
    regions[50:950, 50:950] = 2  # parcels the frame cuts
    regions[200:800, 200:800] = 1  # a parcel inside
    regions[120:130, 120:880] = 0  # line-work
    assert regions_on_frame(regions, SHEET, georef, px_per_mm=4.0) == {2}


def test_a_thin_unlabelled_sliver_along_the_frame_waits_as_a_piece_not_a_road():
    """The last 3 m of a neighbour's parcel, cut by the frame: long and narrow like a road, but along the frame."""
    e0, n0, e1, _ = SHEET.extent
    sliver = box(e1 - 3, n0 + 100, e1, n0 + 140)
    road = box(e0 + 100, n0 + 2, e0 + 104, n0 + 150)  # crosses the frame into the sheet: a road
    parcels, others = _sort_regions(_regions(sliver, road), {}, SHEET, px_m=0.05)
    assert len(parcels) == 0
    assert others["reason"].tolist() == [EDGE_PIECE, "road or water (long, narrow, no parcel number)"]
